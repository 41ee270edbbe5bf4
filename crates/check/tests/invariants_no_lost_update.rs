#![cfg(not(loom))]
//! `no_lost_update` on hand-built histories: two successes for one expected version, two
//! commits producing one version, and final records the successful updates do not explain
//! must all *fail*; serial updates and conflicts must pass.
//!
//! `cargo test -p raceproof-check --test invariants_no_lost_update`

mod common;

use common::*;
use raceproof_check::{Invariant, NoLostUpdate, Recording, Ret};

/// The final record, as `read_final` returns it.
struct Record(Option<(String, u64)>);

fn record(email: &str, version: u64) -> Record {
    Record(Some((email.to_owned(), version)))
}

fn no_lost_update() -> NoLostUpdate<Record> {
    NoLostUpdate::new("alice", 1, |r: &Record| r.0.clone())
}

/// T1 sets a1 expecting 1 (-> v2), then T2 sets a2 expecting 2 (-> v3).
fn serial_updates() -> Recording {
    recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            email_set("T1", 1, "alice", "a1", 2),
            ret("T1", 1, updated(2)),
            call("T2", 2, update("alice", Some(2), "a2")),
            email_set("T2", 2, "alice", "a2", 3),
            ret("T2", 2, updated(3)),
        ],
        two_writers(),
    )
}

#[test]
fn no_lost_update_passes_serial_updates() {
    assert_eq!(
        no_lost_update().check(&record("a2", 3), &serial_updates()),
        Ok(())
    );
}

#[test]
fn no_lost_update_fails_two_successes_for_one_expected_version() {
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, update("alice", Some(1), "a2")),
            ret("T1", 1, updated(2)),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    let breach = no_lost_update()
        .check(&record("a2", 2), &h)
        .expect_err("both accepted version 1");
    assert_eq!(breach.step, Some(3), "the second success breaks it");
    assert!(breach.why.contains("T1"), "why names the first: {breach:?}");
    assert!(breach.why.contains("expected version 1"), "{breach:?}");
}

#[test]
fn no_lost_update_fails_two_writes_to_one_version() {
    let h = recording(
        vec![
            note("T1", "read alice.version = 1"),
            note("T2", "read alice.version = 1"),
            email_set("T1", 1, "alice", "a1", 2),
            email_set("T2", 2, "alice", "a2", 2),
        ],
        two_writers(),
    );
    let breach = no_lost_update()
        .check(&record("a2", 2), &h)
        .expect_err("T2 overwrote T1's v2");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.contains("T1"), "{breach:?}");
    assert!(breach.why.contains("version 2"), "{breach:?}");
}

#[test]
fn no_lost_update_only_watches_its_user() {
    // bob's record reaching v2 twice is not alice's business; neither are bob's returns.
    let h = recording(
        vec![
            call("T1", 1, update("bob", Some(1), "b1")),
            call("T2", 2, update("bob", Some(1), "b2")),
            email_set("T1", 1, "bob", "b1", 2),
            email_set("T2", 2, "bob", "b2", 2),
            ret("T1", 1, updated(2)),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    assert_eq!(no_lost_update().check(&record("a0", 1), &h), Ok(()));
}

#[test]
fn no_lost_update_counts_conflicts_as_no_update() {
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, update("alice", Some(1), "a2")),
            email_set("T1", 1, "alice", "a1", 2),
            ret("T1", 1, updated(2)),
            ret("T2", 2, Ret::Conflict),
        ],
        two_writers(),
    );
    assert_eq!(no_lost_update().check(&record("a1", 2), &h), Ok(()));
    // ... and a final state that applied the conflicting write anyway is caught.
    let breach = no_lost_update()
        .check(&record("a2", 3), &h)
        .expect_err("only one update succeeded");
    assert_eq!(breach.step, None);
}

#[test]
fn no_lost_update_fails_a_final_version_the_successes_do_not_explain() {
    // Both serial updates returned success, but the record only moved once.
    let breach = no_lost_update()
        .check(&record("a2", 2), &serial_updates())
        .expect_err("two successes from v1 give v3");
    assert_eq!(breach.step, None, "only the final state shows it");
    assert!(breach.why.contains("final version 2"), "{breach:?}");
    assert!(breach.why.contains('3'), "{breach:?}");
}

#[test]
fn no_lost_update_fails_a_wrong_final_email() {
    let breach = no_lost_update()
        .check(&record("a1", 3), &serial_updates())
        .expect_err("the last success wrote a2");
    assert_eq!(breach.step, None);
    assert!(breach.why.contains("a1"), "{breach:?}");
    assert!(breach.why.contains("a2"), "{breach:?}");
}

#[test]
fn no_lost_update_fails_a_vanished_record() {
    let breach = no_lost_update()
        .check(&Record(None), &serial_updates())
        .expect_err("alice must still exist");
    assert_eq!(breach.step, None);
    assert!(breach.why.contains("alice"), "{breach:?}");
}
