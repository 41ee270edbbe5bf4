//! The cache's own rules, counted on a clock the tests hold: keys, lifetimes, eviction.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::auth::{Argon2Hasher, PasswordHasher};
use crate::authority::Role;
use crate::clock::ManualClock;
use std::sync::Arc;

const AT: i64 = 1_700_000_000;

fn standing(epoch: u64) -> Standing {
    Standing {
        role: Role::User,
        credential_epoch: epoch,
    }
}

/// A cache on a clock the test holds.
fn cache(capacity: usize, lifetime: i64) -> (VerifiedCache, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(AT));
    let config = CacheConfig::new(capacity, lifetime).unwrap();
    (
        VerifiedCache::with_clock(config, Box::new(Arc::clone(&clock))).unwrap(),
        clock,
    )
}

fn hash(pw: &str) -> PasswordHash {
    Argon2Hasher::insecure_fast().unwrap().hash(pw).unwrap()
}

#[test]
fn a_hit_needs_the_same_user_password_hash_and_epoch() {
    let (cache, _) = cache(8, 60);
    let stored = hash("pw");
    assert_eq!(cache.lookup("ann", "pw", &stored, standing(0)), None);
    cache.remember("ann", "pw", &stored, standing(0));
    assert_eq!(
        cache.lookup("ann", "pw", &stored, standing(0)),
        Some(standing(0))
    );
    // The record's standing as read now, never the one remembered.
    let admin = Standing {
        role: Role::Admin,
        ..standing(0)
    };
    assert_eq!(cache.lookup("ann", "pw", &stored, admin), Some(admin));
    assert_eq!(cache.lookup("ann", "pw", &stored, standing(1)), None);
    assert_eq!(cache.lookup("ann", "pW", &stored, standing(0)), None);
    assert_eq!(cache.lookup("bob", "pw", &stored, standing(0)), None);
    assert_eq!(cache.lookup("ann", "pw", &hash("pw"), standing(0)), None);
    // Length prefixes: moving the boundary between user and password is another key.
    cache.remember("an", "npw", &stored, standing(0));
    assert_eq!(cache.stats().entries, 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.fills), (2, 5, 2));
}

#[test]
fn entries_live_for_the_lifetime_from_their_verification() {
    let (cache, clock) = cache(8, 60);
    let stored = hash("pw");
    cache.remember("ann", "pw", &stored, standing(0));
    clock.advance(59);
    // Re-remembering does not extend the lifetime.
    cache.remember("ann", "pw", &stored, standing(0));
    assert!(cache.lookup("ann", "pw", &stored, standing(0)).is_some());
    clock.advance(1);
    assert_eq!(cache.lookup("ann", "pw", &stored, standing(0)), None);
    assert_eq!(cache.stats().expirations, 1);
    assert_eq!(cache.stats().entries, 0);
    // A clock that steps back does not revive or stretch an entry.
    cache.remember("ann", "pw", &stored, standing(0));
    clock.advance(-10);
    assert_eq!(cache.lookup("ann", "pw", &stored, standing(0)), None);
}

#[test]
fn a_full_cache_evicts_the_oldest_verification() {
    let (cache, clock) = cache(2, 60);
    let stored = hash("pw");
    for user in ["a", "b", "c"] {
        cache.remember(user, "pw", &stored, standing(0));
        clock.advance(1);
    }
    assert_eq!(cache.lookup("a", "pw", &stored, standing(0)), None);
    assert!(cache.lookup("b", "pw", &stored, standing(0)).is_some());
    assert!(cache.lookup("c", "pw", &stored, standing(0)).is_some());
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.evictions), (2, 1));
    // A new epoch replaces an entry in place; the queue stays bounded.
    for epoch in 1..100 {
        cache.remember("c", "pw", &stored, standing(epoch));
    }
    assert!(cache.lookup("c", "pw", &stored, standing(99)).is_some());
    assert!(cache.entries.lock().order.len() <= 4);
    assert_eq!(cache.stats().entries, 2);
}

#[test]
fn off_remembers_nothing_and_bounds_are_checked() {
    let cache = VerifiedCache::off();
    let stored = hash("pw");
    cache.remember("ann", "pw", &stored, standing(0));
    assert_eq!(cache.lookup("ann", "pw", &stored, standing(0)), None);
    assert_eq!(cache.stats(), CacheStats::default());
    assert!(CacheConfig::new(0, 60).unwrap().is_off());
    assert!(CacheConfig::new(10, 0).unwrap().is_off());
    assert_eq!(
        CacheConfig::new(MAX_CACHE_CAPACITY + 1, 60),
        Err(CacheError::Capacity)
    );
    assert_eq!(CacheConfig::new(1, -1), Err(CacheError::Lifetime));
    assert_eq!(
        CacheConfig::new(1, MAX_CACHE_LIFETIME_SECS + 1),
        Err(CacheError::Lifetime)
    );
    assert!(!format!("{cache:?}").contains("Hmac"));
}
