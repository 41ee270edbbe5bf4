//! Login throttling: how many failed password checks a client may cause, counted in fixed
//! windows, so that guessing costs the guesser time instead of costing the server Argon2id.
//!
//! Three counters bound the failures admitted in a window:
//!
//! - per *(user, client)*: the tight one (`per_pair`, default 5). A user who mistypes from
//!   their own machine meets only this, and a success from that client clears it;
//! - per *user*, over clients that never logged in as that user (`per_user`, default 20):
//!   guessing one account from many addresses stops here;
//! - per *client*, over users that client never logged in as (`per_client`, default 50):
//!   spraying one password over many accounts stops here.
//!
//! The trade-off, stated: an attacker can make the per-user counter refuse *unknown*
//! clients of a user for one window (at most `window_secs`), but not the user's *known*
//! clients (those it logged in from successfully, remembered for `known_secs`), which meet
//! only their own (user, client) counter. So a real user is never locked out from a machine
//! they used before, and an attacker gets at most `per_user` guesses per window at any one
//! account, from however many addresses.
//!
//! The check and the count are one step: [`LoginLimiter::begin`] checks every counter and
//! *reserves* a failure in the same critical section, and [`LoginLimiter::end`] gives the
//! reservation back when the password was right. Reading the counters, verifying, and
//! incrementing afterwards (two critical sections) admits as many concurrent guesses as
//! arrive together: the catalogue's `login_limit` models show both.
//!
//! Memory is bounded: at most `max_entries` counters of each kind; a full table first drops
//! counters whose window is over, and otherwise refuses attempts by new keys (fail closed)
//! until a window ends.

use crate::sync::Mutex;
use std::collections::BTreeMap;
use std::net::IpAddr;

mod client;
pub use client::ClientId;

/// How many failures each counter admits per window, and the table's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    /// Length of a counting window, in seconds (at least 1).
    pub window_secs: i64,
    /// Failures per (user, client) per window.
    pub per_pair: u32,
    /// Failures per user per window, from clients not known for that user.
    pub per_user: u32,
    /// Failures per client per window, at users it is not known for.
    pub per_client: u32,
    /// How long a successful login makes a client known for that user, in seconds.
    pub known_secs: i64,
    /// Counters kept of each kind.
    pub max_entries: usize,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            window_secs: 300,
            per_pair: 5,
            per_user: 20,
            per_client: 50,
            known_secs: 30 * 24 * 3600,
            max_entries: 100_000,
        }
    }
}

/// Which counter refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Too many failures for this user from this client.
    Pair,
    /// Too many failures for this user from clients it never logged in from.
    User,
    /// Too many failures from this client.
    Client,
    /// The limiter's table is full of live counters.
    Table,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Pair => "user_from_client",
            Scope::User => "user",
            Scope::Client => "client",
            Scope::Table => "table",
        }
    }
}

/// An attempt refused before any password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins ({}); retry in {retry_after_secs} s", scope.name())]
pub struct Throttled {
    pub scope: Scope,
    /// Seconds until the refusing counter's window ends (at least 1): an honest
    /// `Retry-After`.
    pub retry_after_secs: u64,
}

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password was wrong (or the user unknown): the reserved failure stays.
    Failed,
    /// The password was right: the reservation is given back, the client becomes known
    /// for this user and its (user, client) failures are forgiven.
    Succeeded,
    /// No password verdict (a backend down, a request revoked in flight): the reservation
    /// is given back.
    Undecided,
}

/// Failures counted in one fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Window {
    start: i64,
    failures: u32,
}

impl Window {
    /// The count at `now` (a window that is over counts 0 from `now`).
    fn roll(&mut self, now: i64, length: i64) {
        if now >= self.start.saturating_add(length) || now < self.start {
            *self = Window {
                start: now,
                failures: 0,
            };
        }
    }

    fn retry_after(&self, now: i64, length: i64) -> u64 {
        u64::try_from(self.start.saturating_add(length).saturating_sub(now))
            .unwrap_or(0)
            .max(1)
    }

    fn is_over(&self, now: i64, length: i64) -> bool {
        now >= self.start.saturating_add(length)
    }
}

/// What an admitted attempt reserved, handed back to [`AttemptLimiter::end`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub user: String,
    pub client: ClientId,
    /// The windows the reservation was counted in (`None`: nothing reserved there), so a
    /// reservation is given back only to the window that holds it.
    reserved: Reserved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Reserved {
    pair: Option<i64>,
    user: Option<i64>,
    client: Option<i64>,
}

impl Ticket {
    /// A ticket that reserved nothing (a limiter that counts after the fact).
    pub fn unreserved(user: &str, client: ClientId) -> Self {
        Self {
            user: user.to_owned(),
            client,
            reserved: Reserved::default(),
        }
    }
}

/// One user's counters at a moment, for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLimits {
    pub user: String,
    /// Failures counted against the user (unknown clients) in the current window.
    pub failures: u32,
    pub limit: u32,
    /// Seconds left in that window (0: no window open).
    pub resets_in_secs: u64,
    /// The (user, client) counters with failures in their current window.
    pub clients: Vec<ClientLimits>,
}

impl UserLimits {
    /// Whether any counter holds more failures than it admits: a limiter that keeps its
    /// bound never shows this.
    pub fn over_limit(&self) -> bool {
        self.failures > self.limit || self.clients.iter().any(|c| c.failures > c.limit)
    }
}

/// One (user, client) counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    pub client: ClientId,
    pub failures: u32,
    pub limit: u32,
    pub known: bool,
    pub resets_in_secs: u64,
}

/// Admits or refuses login attempts by their failure counters. [`LoginLimiter`] is the
/// one production code uses; the catalogue also runs a racy one against the same service.
pub trait AttemptLimiter: Send + Sync {
    /// Whether `user` may try a password from `client` at `now`; an admitted attempt must
    /// be ended with [`Self::end`].
    fn begin(&self, user: &str, client: ClientId, now: i64) -> Result<Ticket, Throttled>;

    /// Records how the attempt of `ticket` ended.
    fn end(&self, ticket: Ticket, outcome: Outcome, now: i64);

    /// Whether [`Self::begin`] would refuse now, without reserving anything: a cheap early
    /// refusal before queueing for a password check. Advisory: only `begin` decides.
    fn would_refuse(&self, user: &str, client: ClientId, now: i64) -> Option<Throttled>;

    /// `user`'s counters, for an operator.
    fn limits(&self, user: &str, now: i64) -> UserLimits;

    /// Forgets `user`'s failures (an operator unlocking an account).
    fn clear(&self, user: &str);
}

#[derive(Debug, Default)]
struct Pair {
    window: Window,
    /// Until when this client is known for this user (a past success).
    known_until: Option<i64>,
}

#[derive(Debug, Default)]
struct Counters {
    pairs: BTreeMap<(String, ClientId), Pair>,
    users: BTreeMap<String, Window>,
    clients: BTreeMap<ClientId, Window>,
    /// When the tables were last swept for finished windows.
    swept_at: Option<i64>,
}

/// The production limiter: every check and its reservation in one critical section.
#[derive(Debug)]
pub struct LoginLimiter {
    counters: Mutex<Counters>,
    policy: LimitPolicy,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LimitPolicy::default())
    }
}

impl LoginLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        Self {
            counters: Mutex::named("login_limiter", Counters::default()),
            policy: LimitPolicy {
                window_secs: policy.window_secs.max(1),
                max_entries: policy.max_entries.max(1),
                ..policy
            },
        }
    }

    pub fn policy(&self) -> &LimitPolicy {
        &self.policy
    }

    /// Counters kept now, of all kinds (for tests and memory checks).
    pub fn entries(&self) -> usize {
        let c = self.counters.lock();
        c.pairs.len() + c.users.len() + c.clients.len()
    }
}

impl Counters {
    /// Drops counters whose window is over (and pairs no longer known), at most once a
    /// second: a full table under attack must not make every attempt a full scan.
    fn sweep(&mut self, now: i64, policy: &LimitPolicy) {
        if self.swept_at == Some(now) {
            return;
        }
        self.swept_at = Some(now);
        let w = policy.window_secs;
        self.pairs.retain(|_, p| {
            !p.window.is_over(now, w) || p.known_until.is_some_and(|until| until > now)
        });
        self.users.retain(|_, win| !win.is_over(now, w));
        self.clients.retain(|_, win| !win.is_over(now, w));
    }

    /// Whether a new key fits in a table of `len` entries (sweeping once if not).
    fn room(&mut self, now: i64, policy: &LimitPolicy, full: impl Fn(&Self) -> bool) -> bool {
        if !full(self) {
            return true;
        }
        self.sweep(now, policy);
        !full(self)
    }

    /// The refusal `begin` would give, if any; `known`: the pair's client is known.
    fn refusal(
        &self,
        user: &str,
        client: ClientId,
        now: i64,
        p: &LimitPolicy,
    ) -> Option<Throttled> {
        let w = p.window_secs;
        let over = |win: Option<&Window>, limit: u32| {
            win.filter(|win| !win.is_over(now, w) && win.failures >= limit)
                .map(|win| win.retry_after(now, w))
        };
        let pair = self.pairs.get(&(user.to_owned(), client));
        let known = pair.is_some_and(|p| p.known_until.is_some_and(|until| until > now));
        if let Some(secs) = over(pair.map(|p| &p.window), p.per_pair) {
            return Some(Throttled {
                scope: Scope::Pair,
                retry_after_secs: secs,
            });
        }
        if known {
            return None;
        }
        if let Some(secs) = over(self.users.get(user), p.per_user) {
            return Some(Throttled {
                scope: Scope::User,
                retry_after_secs: secs,
            });
        }
        over(self.clients.get(&client), p.per_client).map(|secs| Throttled {
            scope: Scope::Client,
            retry_after_secs: secs,
        })
    }
}

impl AttemptLimiter for LoginLimiter {
    fn begin(&self, user: &str, client: ClientId, now: i64) -> Result<Ticket, Throttled> {
        let p = &self.policy;
        let mut c = self.counters.lock();
        if let Some(refused) = c.refusal(user, client, now, p) {
            return Err(refused);
        }
        let key = (user.to_owned(), client);
        let table_full = Throttled {
            scope: Scope::Table,
            retry_after_secs: u64::try_from(p.window_secs).unwrap_or(1).max(1),
        };
        let max = p.max_entries;
        if !c.pairs.contains_key(&key) && !c.room(now, p, |c| c.pairs.len() >= max) {
            return Err(table_full);
        }
        let known = c
            .pairs
            .get(&key)
            .is_some_and(|pair| pair.known_until.is_some_and(|until| until > now));
        let new_user = !known && !c.users.contains_key(user);
        let new_client = !known && !c.clients.contains_key(&client);
        if (new_user && !c.room(now, p, |c| c.users.len() >= max))
            || (new_client && !c.room(now, p, |c| c.clients.len() >= max))
        {
            return Err(table_full);
        }
        // Checked above, reserved here, in the same critical section.
        let mut reserved = Reserved::default();
        let pair = c.pairs.entry(key).or_default();
        pair.window.roll(now, p.window_secs);
        pair.window.failures += 1;
        reserved.pair = Some(pair.window.start);
        if !known {
            let win = c.users.entry(user.to_owned()).or_default();
            win.roll(now, p.window_secs);
            win.failures += 1;
            reserved.user = Some(win.start);
            let win = c.clients.entry(client).or_default();
            win.roll(now, p.window_secs);
            win.failures += 1;
            reserved.client = Some(win.start);
        }
        Ok(Ticket {
            user: user.to_owned(),
            client,
            reserved,
        })
    }

    fn end(&self, ticket: Ticket, outcome: Outcome, now: i64) {
        if outcome == Outcome::Failed {
            return;
        }
        let give_back = |win: &mut Window, start: Option<i64>| {
            if start == Some(win.start) {
                win.failures = win.failures.saturating_sub(1);
            }
        };
        let mut c = self.counters.lock();
        if let Some(win) = c.users.get_mut(&ticket.user) {
            give_back(win, ticket.reserved.user);
        }
        if let Some(win) = c.clients.get_mut(&ticket.client) {
            give_back(win, ticket.reserved.client);
        }
        if let Some(pair) = c.pairs.get_mut(&(ticket.user, ticket.client)) {
            give_back(&mut pair.window, ticket.reserved.pair);
            if outcome == Outcome::Succeeded {
                pair.window.failures = 0;
                pair.known_until = Some(now.saturating_add(self.policy.known_secs));
            }
        }
    }

    fn would_refuse(&self, user: &str, client: ClientId, now: i64) -> Option<Throttled> {
        self.counters
            .lock()
            .refusal(user, client, now, &self.policy)
    }

    fn limits(&self, user: &str, now: i64) -> UserLimits {
        let p = &self.policy;
        let c = self.counters.lock();
        limits_of(user, now, p, &c.users, &c.pairs)
    }

    fn clear(&self, user: &str) {
        let mut c = self.counters.lock();
        c.users.remove(user);
        for ((_, _), pair) in c.pairs.range_mut(range_of(user)) {
            pair.window.failures = 0;
        }
    }
}

/// The pair keys of `user`, as a range of the pairs' table.
fn range_of(user: &str) -> std::ops::RangeInclusive<(String, ClientId)> {
    let lowest = ClientId(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let highest = ClientId(IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)));
    (user.to_owned(), lowest)..=(user.to_owned(), highest)
}

/// `user`'s counters as [`AttemptLimiter::limits`] reports them, from the tables of any
/// limiter laid out like [`LoginLimiter`]'s.
fn limits_of(
    user: &str,
    now: i64,
    p: &LimitPolicy,
    users: &BTreeMap<String, Window>,
    pairs: &BTreeMap<(String, ClientId), Pair>,
) -> UserLimits {
    let w = p.window_secs;
    let live = |win: &Window| !win.is_over(now, w) && win.failures > 0;
    let user_window = users.get(user).filter(|win| live(win));
    UserLimits {
        user: user.to_owned(),
        failures: user_window.map_or(0, |win| win.failures),
        limit: p.per_user,
        resets_in_secs: user_window.map_or(0, |win| win.retry_after(now, w)),
        clients: pairs
            .range(range_of(user))
            .filter(|(_, pair)| live(&pair.window))
            .map(|((_, client), pair)| ClientLimits {
                client: *client,
                failures: pair.window.failures,
                limit: p.per_pair,
                known: pair.known_until.is_some_and(|until| until > now),
                resets_in_secs: pair.window.retry_after(now, w),
            })
            .collect(),
    }
}

/// A shared or boxed limiter is one too: the server holds `Arc<dyn AttemptLimiter>`, the
/// catalogue `Box<dyn AttemptLimiter>`.
macro_rules! forward_limiter {
    ($ptr:ty) => {
        impl<L: AttemptLimiter + ?Sized> AttemptLimiter for $ptr {
            fn begin(&self, user: &str, client: ClientId, now: i64) -> Result<Ticket, Throttled> {
                (**self).begin(user, client, now)
            }
            fn end(&self, ticket: Ticket, outcome: Outcome, now: i64) {
                (**self).end(ticket, outcome, now);
            }
            fn would_refuse(&self, user: &str, client: ClientId, now: i64) -> Option<Throttled> {
                (**self).would_refuse(user, client, now)
            }
            fn limits(&self, user: &str, now: i64) -> UserLimits {
                (**self).limits(user, now)
            }
            fn clear(&self, user: &str) {
                (**self).clear(user);
            }
        }
    };
}

forward_limiter!(crate::sync::Arc<L>);
forward_limiter!(Box<L>);
