//! The verified-credential cache: after a password verifies against a stored hash, a keyed
//! digest of the credentials and the credential epoch they were verified under, so that the
//! next request with the same credentials skips the slow verification.
//!
//! [`CredentialCache`] is what [`crate::service::Accounts::authenticate`] consults, between
//! reading the user's record and verifying the password; [`VerifiedCache`] is the one
//! production uses. Why it cannot serve a revoked password:
//!
//! - the key is HMAC-SHA256, under a random per-process key, of the user, the password *and
//!   the stored hash it verified against* (its costs, salt and digest): a password change
//!   stores a new hash under a fresh salt, so the old password's entry is never looked up
//!   again;
//! - each entry keeps the credential epoch it was verified under, and a hit needs the epoch
//!   of the record the request has just read: whatever a slow verification fills in after a
//!   password change, no later request can hit it;
//! - a hit answers with the record's standing as just read (never a cached role), and every
//!   write re-checks role and epoch where it commits anyway.
//!
//! Failures are never cached (a wrong password always costs a full verification), the key
//! never leaves memory, and the password is never stored. Entries live for a fixed lifetime
//! from their verification, on the injected [`Clock`] (so models drive it), and the oldest
//! verified entry is evicted when the cache is full.
//!
//! What it costs in security: for as long as an entry lives, the process's memory holds a
//! fast (SHA-256) verifier of a recently used password instead of only the slow Argon2id
//! one; someone who can read that memory can try guesses at SHA-256 speed against the
//! entries (they could also read the passwords of requests in flight). Keep the lifetime
//! short; [`CacheConfig::OFF`] turns it off.

use super::password::PasswordHash;
use crate::authority::Standing;
use crate::clock::{Clock, SystemClock};
use crate::sync::Mutex;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::fmt;

type HmacSha256 = hmac::Hmac<Sha256>;
type Key = [u8; 32];

/// Entries kept by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Seconds an entry lives by default, from its verification.
pub const DEFAULT_CACHE_LIFETIME_SECS: i64 = 60;
/// Most entries a cache may be configured with (about 100 bytes each).
pub const MAX_CACHE_CAPACITY: usize = 1_000_000;
/// Longest configurable lifetime: one hour.
pub const MAX_CACHE_LIFETIME_SECS: i64 = 3600;

/// Why a cache could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("credential cache capacity is above {MAX_CACHE_CAPACITY}")]
    Capacity,
    #[error("credential cache lifetime is negative or above {MAX_CACHE_LIFETIME_SECS} s")]
    Lifetime,
    #[error("the operating system's random source failed")]
    Randomness,
}

/// How many entries, for how long. A capacity or a lifetime of 0 turns the cache off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    capacity: usize,
    lifetime_secs: i64,
}

impl CacheConfig {
    /// No cache: every login verifies its password.
    pub const OFF: Self = Self {
        capacity: 0,
        lifetime_secs: 0,
    };

    /// Checks the bounds ([`MAX_CACHE_CAPACITY`], [`MAX_CACHE_LIFETIME_SECS`]).
    pub fn new(capacity: usize, lifetime_secs: i64) -> Result<Self, CacheError> {
        if capacity > MAX_CACHE_CAPACITY {
            return Err(CacheError::Capacity);
        }
        if !(0..=MAX_CACHE_LIFETIME_SECS).contains(&lifetime_secs) {
            return Err(CacheError::Lifetime);
        }
        Ok(Self {
            capacity,
            lifetime_secs,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    pub fn is_off(&self) -> bool {
        self.capacity == 0 || self.lifetime_secs == 0
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CACHE_CAPACITY,
            lifetime_secs: DEFAULT_CACHE_LIFETIME_SECS,
        }
    }
}

/// What [`crate::service::Accounts`] asks of a cache of verified credentials.
///
/// `authenticate` calls [`Self::lookup`] for every login, after reading the record and
/// before verifying (for an unknown user with the hasher's dummy hash, the answer
/// discarded, so the lookup costs the same whoever asks), and [`Self::remember`] after a
/// successful verification. Writes that change what a login yields (a password change, a
/// demotion) call [`Self::forget`] once they have committed.
pub trait CredentialCache: Send + Sync {
    /// The standing to log in with when `password` is known to match `stored`, the hash
    /// just read with `current` (the record's role and epoch as read); `None`: verify.
    fn lookup(
        &self,
        user_id: &str,
        password: &str,
        stored: &PasswordHash,
        current: Standing,
    ) -> Option<Standing>;

    /// `password` verified against `stored`, read at `verified` (role and epoch).
    fn remember(&self, user_id: &str, password: &str, stored: &PasswordHash, verified: Standing);

    /// `user_id`'s password or role changed (committed). A cache whose hits check the
    /// stored hash and epoch they were verified under, as [`VerifiedCache`] does, needs
    /// nothing here; one that trusts its entries and relies on this hook to drop them is
    /// racy (a verification that started before the change fills after it).
    fn forget(&self, _user_id: &str) {}
}

/// A borrowed, boxed or shared cache caches alike.
macro_rules! forward_through_pointers {
    ($($ptr:ty),*) => {$(
        impl<C: CredentialCache + ?Sized> CredentialCache for $ptr {
            fn lookup(
                &self,
                user_id: &str,
                password: &str,
                stored: &PasswordHash,
                current: Standing,
            ) -> Option<Standing> {
                (**self).lookup(user_id, password, stored, current)
            }

            fn remember(
                &self,
                user_id: &str,
                password: &str,
                stored: &PasswordHash,
                verified: Standing,
            ) {
                (**self).remember(user_id, password, stored, verified)
            }

            fn forget(&self, user_id: &str) {
                (**self).forget(user_id)
            }
        }
    )*};
}

forward_through_pointers!(&C, Box<C>, crate::sync::Arc<C>);

/// Counts since the cache was made (and the entries held now), for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Logins answered from the cache.
    pub hits: u64,
    /// Lookups that found no live entry for the credentials at the record's epoch (wrong
    /// passwords and unknown users included).
    pub misses: u64,
    /// Entries added after a successful verification.
    pub fills: u64,
    /// Live entries dropped because the cache was full (oldest verification first).
    pub evictions: u64,
    /// Entries dropped because their lifetime was over.
    pub expirations: u64,
    /// Entries held now.
    pub entries: usize,
}

/// One remembered verification.
#[derive(Debug, Clone, Copy)]
struct Entry {
    credential_epoch: u64,
    verified_at: i64,
    /// Tells this entry from an older one under the same key in the eviction queue.
    seq: u64,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<Key, Entry>,
    /// Keys in the order they were verified (entries replaced since stay here, stale,
    /// until they reach the front): eviction and expiry pop from the front.
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
    stats: CacheStats,
}

impl Entries {
    /// Whether `order`'s front is the live entry it names.
    fn front_is_live(&self) -> Option<(Key, Entry)> {
        let &(key, seq) = self.order.front()?;
        self.by_key
            .get(&key)
            .filter(|e| e.seq == seq)
            .map(|e| (key, *e))
    }

    /// Drops expired entries (and stale queue slots) from the front of the queue.
    fn expire(&mut self, now: i64, lifetime: i64) {
        while let Some(&(key, _)) = self.order.front() {
            match self.front_is_live() {
                Some((_, entry)) if alive(entry, now, lifetime) => break,
                Some(_) => {
                    self.by_key.remove(&key);
                    self.stats.expirations += 1;
                }
                None => {}
            }
            self.order.pop_front();
        }
    }

    /// Drops the oldest live entry; false when there was none.
    fn evict_oldest(&mut self) -> bool {
        while let Some(&(key, _)) = self.order.front() {
            let live = self.front_is_live().is_some();
            self.order.pop_front();
            if live {
                self.by_key.remove(&key);
                self.stats.evictions += 1;
                return true;
            }
        }
        false
    }
}

/// Whether an entry verified at `verified_at` still counts at `now`: within its lifetime,
/// and not verified "in the future" (a clock that steps back must not stretch lifetimes).
fn alive(entry: Entry, now: i64, lifetime: i64) -> bool {
    entry.verified_at <= now && now < entry.verified_at.saturating_add(lifetime)
}

/// The production cache: keyed digests in a bounded map behind one facade lock (the digest
/// is computed before taking it). See the module docs for why it cannot serve a revoked
/// password.
pub struct VerifiedCache {
    /// HMAC-SHA256 keyed with 32 random bytes, prepared once; `None` when off.
    key: Option<HmacSha256>,
    config: CacheConfig,
    clock: Box<dyn Clock>,
    entries: Mutex<Entries>,
}

impl fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("config", &self.config)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl VerifiedCache {
    /// A cache that remembers nothing (every login verifies).
    pub fn off() -> Self {
        Self {
            key: None,
            config: CacheConfig::OFF,
            clock: Box::new(SystemClock),
            entries: Mutex::named("credential_cache", Entries::default()),
        }
    }

    /// A cache on the system clock, keyed with fresh random bytes.
    pub fn new(config: CacheConfig) -> Result<Self, CacheError> {
        Self::with_clock(config, Box::new(SystemClock))
    }

    /// A cache whose lifetimes run on `clock` (models and tests move it by hand).
    pub fn with_clock(config: CacheConfig, clock: Box<dyn Clock>) -> Result<Self, CacheError> {
        if config.is_off() {
            return Ok(Self {
                clock,
                ..Self::off()
            });
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| CacheError::Randomness)?;
        let key = HmacSha256::new_from_slice(&secret).map_err(|_| CacheError::Randomness)?;
        Ok(Self {
            key: Some(key),
            config,
            clock,
            entries: Mutex::named("credential_cache", Entries::default()),
        })
    }

    pub fn config(&self) -> CacheConfig {
        self.config
    }

    pub fn stats(&self) -> CacheStats {
        let entries = self.entries.lock();
        CacheStats {
            entries: entries.by_key.len(),
            ..entries.stats
        }
    }

    /// HMAC of the user, the password and the stored hash's identity, each length-prefixed
    /// so that no two distinct inputs encode alike.
    fn digest(key: &HmacSha256, user_id: &str, password: &str, stored: &PasswordHash) -> Key {
        let mut mac = key.clone();
        for field in [user_id.as_bytes(), password.as_bytes()] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        let (m_cost, t_cost, p_cost) = stored.params();
        for cost in [m_cost, t_cost, p_cost] {
            mac.update(&cost.to_be_bytes());
        }
        mac.update(stored.salt());
        mac.update(stored.digest());
        mac.finalize().into_bytes().into()
    }
}

impl CredentialCache for VerifiedCache {
    fn lookup(
        &self,
        user_id: &str,
        password: &str,
        stored: &PasswordHash,
        current: Standing,
    ) -> Option<Standing> {
        let key = Self::digest(self.key.as_ref()?, user_id, password, stored);
        let now = self.clock.now();
        let lifetime = self.config.lifetime_secs;
        let mut entries = self.entries.lock();
        // `HashMap` compares keys in variable time: they are MACs under a key no client
        // knows, so timing tells a client only whether its own credentials hit, which the
        // response tells anyway.
        let hit = match entries.by_key.get(&key) {
            Some(&entry) if !alive(entry, now, lifetime) => {
                entries.by_key.remove(&key);
                entries.stats.expirations += 1;
                false
            }
            Some(entry) => entry.credential_epoch == current.credential_epoch,
            None => false,
        };
        if hit {
            entries.stats.hits += 1;
            // The record's standing as just read: a demotion counts from the next request.
            Some(current)
        } else {
            entries.stats.misses += 1;
            None
        }
    }

    fn remember(&self, user_id: &str, password: &str, stored: &PasswordHash, verified: Standing) {
        let Some(mac) = self.key.as_ref() else {
            return;
        };
        let key = Self::digest(mac, user_id, password, stored);
        let now = self.clock.now();
        let lifetime = self.config.lifetime_secs;
        let capacity = self.config.capacity;
        let mut entries = self.entries.lock();
        entries.expire(now, lifetime);
        if let Some(&held) = entries.by_key.get(&key)
            && held.credential_epoch == verified.credential_epoch
            && alive(held, now, lifetime)
        {
            // Already remembered: the lifetime counts from the first verification.
            return;
        }
        if !entries.by_key.contains_key(&key) {
            while entries.by_key.len() >= capacity && entries.evict_oldest() {}
        }
        let seq = entries.next_seq;
        entries.next_seq += 1;
        entries.by_key.insert(
            key,
            Entry {
                credential_epoch: verified.credential_epoch,
                verified_at: now,
                seq,
            },
        );
        entries.order.push_back((key, seq));
        entries.stats.fills += 1;
        // Replaced entries leave stale slots behind: keep the queue within twice the
        // capacity (a rare linear pass, on a path that has just paid a full verification).
        if entries.order.len() > capacity.saturating_mul(2) {
            let Entries { by_key, order, .. } = &mut *entries;
            order.retain(|(k, s)| by_key.get(k).is_some_and(|e| e.seq == *s));
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "cache_tests.rs"]
mod tests;
