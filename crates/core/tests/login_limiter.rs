//! The login limiter's counters (`raceproof_core::throttle`): each counter's limit and
//! honest `Retry-After`, what a right password gives back, known clients, the table's bound.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

use raceproof_core::throttle::{
    AttemptLimiter, ClientId, LimitPolicy, LoginLimiter, Outcome, Scope, Throttled,
};

const NOW: i64 = 1_700_000_000;

fn ip(text: &str) -> ClientId {
    ClientId::of(text.parse().unwrap())
}

fn policy() -> LimitPolicy {
    LimitPolicy {
        window_secs: 60,
        per_pair: 2,
        per_user: 3,
        per_client: 4,
        known_secs: 3600,
        max_entries: 100,
    }
}

fn fail(l: &LoginLimiter, user: &str, client: ClientId, now: i64) -> Result<(), Throttled> {
    let ticket = l.begin(user, client, now)?;
    l.end(ticket, Outcome::Failed, now);
    Ok(())
}

#[test]
fn ipv6_clients_count_by_64_and_mapped_ipv4_as_ipv4() {
    assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
    assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
    assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    assert_eq!(ip("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
}

#[test]
fn a_pair_gets_its_failures_then_an_honest_retry_after() {
    let l = LoginLimiter::new(policy());
    let c = ip("192.0.2.1");
    fail(&l, "alice", c, NOW).unwrap();
    fail(&l, "alice", c, NOW + 10).unwrap();
    let refused = l.begin("alice", c, NOW + 20).unwrap_err();
    assert_eq!(refused.scope, Scope::Pair);
    // The window opened at NOW and lasts 60 s.
    assert_eq!(refused.retry_after_secs, 40);
    assert_eq!(l.would_refuse("alice", c, NOW + 20), Some(refused));
    // The window ends: admitted again.
    fail(&l, "alice", c, NOW + 60).unwrap();
    assert!(!l.limits("alice", NOW + 60).over_limit());
}

#[test]
fn a_right_password_gives_the_reservation_back_and_forgives_typos() {
    let l = LoginLimiter::new(policy());
    let c = ip("192.0.2.1");
    fail(&l, "alice", c, NOW).unwrap();
    let ticket = l.begin("alice", c, NOW).unwrap();
    l.end(ticket, Outcome::Succeeded, NOW);
    let limits = l.limits("alice", NOW);
    assert!(limits.clients.is_empty(), "{limits:?}");
    assert_eq!(limits.failures, 1);
    // Undecided gives back too, without making the client known.
    let other = ip("192.0.2.2");
    let ticket = l.begin("bob", other, NOW).unwrap();
    l.end(ticket, Outcome::Undecided, NOW);
    assert_eq!(l.limits("bob", NOW).failures, 0);
}

#[test]
fn guessing_from_many_clients_stops_at_the_user_cap_but_not_the_owner() {
    let l = LoginLimiter::new(policy());
    let home = ip("198.51.100.7");
    let ticket = l.begin("alice", home, NOW).unwrap();
    l.end(ticket, Outcome::Succeeded, NOW);
    for n in 0..3 {
        fail(&l, "alice", ip(&format!("203.0.113.{n}")), NOW).unwrap();
    }
    let refused = l.begin("alice", ip("203.0.113.9"), NOW).unwrap_err();
    assert_eq!(refused.scope, Scope::User);
    // Her own machine is known: only its own counter applies.
    let ticket = l.begin("alice", home, NOW).unwrap();
    l.end(ticket, Outcome::Succeeded, NOW);
    assert_eq!(l.limits("alice", NOW).failures, 3);
    // An operator clears the user's counters.
    l.clear("alice");
    fail(&l, "alice", ip("203.0.113.9"), NOW).unwrap();
}

#[test]
fn spraying_many_users_from_one_client_stops_at_the_client_cap() {
    let l = LoginLimiter::new(policy());
    let c = ip("203.0.113.1");
    for n in 0..4 {
        fail(&l, &format!("user{n}"), c, NOW).unwrap();
    }
    assert_eq!(l.begin("user9", c, NOW).unwrap_err().scope, Scope::Client);
}

#[test]
fn a_full_table_drops_finished_windows_and_otherwise_refuses_new_keys() {
    let l = LoginLimiter::new(LimitPolicy {
        max_entries: 2,
        per_client: 100,
        ..policy()
    });
    let c = ip("203.0.113.1");
    fail(&l, "a", c, NOW).unwrap();
    fail(&l, "b", c, NOW).unwrap();
    assert_eq!(l.begin("c", c, NOW).unwrap_err().scope, Scope::Table);
    // Existing keys still count.
    fail(&l, "a", c, NOW).unwrap();
    // Once their windows are over, the old counters make room.
    fail(&l, "c", c, NOW + 61).unwrap();
    assert!(l.entries() <= 6);
}

#[test]
fn a_reservation_from_a_finished_window_is_not_given_back_to_the_next() {
    let l = LoginLimiter::new(policy());
    let c = ip("192.0.2.1");
    let early = l.begin("alice", c, NOW).unwrap();
    fail(&l, "alice", c, NOW + 61).unwrap();
    l.end(early, Outcome::Undecided, NOW + 61);
    assert_eq!(l.limits("alice", NOW + 61).clients[0].failures, 1);
}
