//! A login limiter as it is usually first written, racy **on purpose**: the check and the
//! count are two critical sections around the slow password check,
//!
//! ```python
//! if FAILURES[(user, client)] >= LIMIT:      # check
//!     raise HTTPException(429)
//! # RACE WINDOW: the password check takes milliseconds; every guess in flight has passed
//! if not verify(password, USERS[user]):      # ... the same check before any of them counts
//!     FAILURES[(user, client)] += 1          # act
//! ```
//!
//! so a burst of guesses that arrive together all pass the check: the catalogue's
//! `login_limit / read_then_increment` finds it, and the seed variants of the server serve
//! it for the race tester. The same counters as the core's
//! [`raceproof_core::throttle::LoginLimiter`] per (user, client) and per user, without its
//! reservation.

use crate::Narrator;
use raceproof_core::sync::Mutex;
use raceproof_core::throttle::{
    AttemptLimiter, ClientId, ClientLimits, LimitPolicy, Outcome, Scope, Throttled, Ticket,
    UserLimits,
};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
}

impl Window {
    fn current(self, now: i64, length: i64) -> Window {
        if now >= self.start.saturating_add(length) || now < self.start {
            Window {
                start: now,
                failures: 0,
            }
        } else {
            self
        }
    }

    fn retry_after(self, now: i64, length: i64) -> u64 {
        u64::try_from(self.start.saturating_add(length).saturating_sub(now))
            .unwrap_or(0)
            .max(1)
    }
}

#[derive(Default)]
struct Counters {
    pairs: BTreeMap<(String, ClientId), Window>,
    users: BTreeMap<String, Window>,
}

impl Counters {
    /// `user`'s own counter at `now`.
    fn user(&self, user: &str, now: i64, length: i64) -> Window {
        self.users
            .get(user)
            .copied()
            .unwrap_or_default()
            .current(now, length)
    }
}

/// Reads the counters, lets the password check run, and counts a failure afterwards.
pub struct ReadThenIncrement {
    counters: Mutex<Counters>,
    policy: LimitPolicy,
    log: Narrator,
}

impl ReadThenIncrement {
    pub fn new(policy: LimitPolicy, log: Narrator) -> Self {
        Self {
            counters: Mutex::named("failures", Counters::default()),
            policy: LimitPolicy {
                window_secs: policy.window_secs.max(1),
                ..policy
            },
            log,
        }
    }

    fn refusal(&self, c: &Counters, user: &str, client: ClientId, now: i64) -> Option<Throttled> {
        let w = self.policy.window_secs;
        let pair = c
            .pairs
            .get(&(user.to_owned(), client))
            .copied()
            .unwrap_or_default()
            .current(now, w);
        let per_user = c.user(user, now, w);
        self.log.note(|| {
            format!(
                "read failures[{user}, {client}] = {}, failures[{user}] = {}",
                pair.failures, per_user.failures
            )
        });
        if pair.failures >= self.policy.per_pair {
            return Some(Throttled {
                scope: Scope::Pair,
                retry_after_secs: pair.retry_after(now, w),
            });
        }
        (per_user.failures >= self.policy.per_user).then(|| Throttled {
            scope: Scope::User,
            retry_after_secs: per_user.retry_after(now, w),
        })
    }
}

impl AttemptLimiter for ReadThenIncrement {
    fn begin(&self, user: &str, client: ClientId, now: i64) -> Result<Ticket, Throttled> {
        let counters = self.counters.lock();
        match self.refusal(&counters, user, client, now) {
            Some(refused) => Err(refused),
            // RACE WINDOW: nothing is counted until the password check is over.
            None => Ok(Ticket::unreserved(user, client)),
        }
    }

    fn end(&self, ticket: Ticket, outcome: Outcome, now: i64) {
        if outcome != Outcome::Failed {
            return;
        }
        let w = self.policy.window_secs;
        let mut c = self.counters.lock();
        let pair = c
            .pairs
            .entry((ticket.user.clone(), ticket.client))
            .or_default();
        *pair = pair.current(now, w);
        pair.failures += 1;
        let failures = pair.failures;
        let per_user = c.users.entry(ticket.user.clone()).or_default();
        *per_user = per_user.current(now, w);
        per_user.failures += 1;
        self.log.note(|| {
            format!(
                "write failures[{}, {}] = {failures}",
                ticket.user, ticket.client
            )
        });
    }

    fn would_refuse(&self, user: &str, client: ClientId, now: i64) -> Option<Throttled> {
        let counters = self.counters.lock();
        self.refusal(&counters, user, client, now)
    }

    fn limits(&self, user: &str, now: i64) -> UserLimits {
        let w = self.policy.window_secs;
        let c = self.counters.lock();
        let per_user = c.user(user, now, w);
        UserLimits {
            user: user.to_owned(),
            failures: per_user.failures,
            limit: self.policy.per_user,
            resets_in_secs: if per_user.failures > 0 {
                per_user.retry_after(now, w)
            } else {
                0
            },
            clients: c
                .pairs
                .iter()
                .filter(|((u, _), _)| u == user)
                .map(|((_, client), win)| (client, win.current(now, w)))
                .filter(|(_, win)| win.failures > 0)
                .map(|(client, win)| ClientLimits {
                    client: *client,
                    failures: win.failures,
                    limit: self.policy.per_pair,
                    known: false,
                    resets_in_secs: win.retry_after(now, w),
                })
                .collect(),
        }
    }

    fn clear(&self, user: &str) {
        let mut c = self.counters.lock();
        c.users.remove(user);
        c.pairs.retain(|(u, _), _| u != user);
    }
}
