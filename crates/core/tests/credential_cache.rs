#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]
//! The verified-credential cache behind `Accounts::authenticate`, counted rather than timed:
//! a repeated right password skips the verification; a wrong password and an unknown user
//! each cost one lookup and one full verification, every time; a password change or a
//! demotion counts from the next request, cache or not. (The races are the catalogue's
//! `credential_cache` models.)

use proptest::prelude::*;
use raceproof_core::auth::{
    Argon2Hasher, CacheConfig, CacheStats, Credentials, PasswordError, PasswordHash,
    PasswordHasher, VerifiedCache,
};
use raceproof_core::backend::BackendError;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError, UserStore};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts verifications.
struct Counting<H> {
    inner: H,
    verifications: AtomicUsize,
}

impl<H: PasswordHasher> PasswordHasher for Counting<H> {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        self.inner.hash(password)
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, stored)
    }

    fn dummy(&self) -> &PasswordHash {
        self.inner.dummy()
    }
}

static HASHER: LazyLock<Argon2Hasher> =
    LazyLock::new(|| Argon2Hasher::insecure_fast().expect("random source"));

type Service<'a> = Accounts<&'a UserStore, &'a Counting<Argon2Hasher>, VerifiedCache>;

/// ann (admin, "right") and bob (admin, "b0b") over a counting hasher, with a cache.
struct World {
    store: UserStore,
    hasher: Counting<Argon2Hasher>,
}

impl World {
    fn new() -> Self {
        let store = UserStore::new();
        for (user, pw) in [("ann", "right"), ("bob", "b0b")] {
            let hash = HASHER.hash(pw).expect("hashable");
            store
                .insert(user, hash, Role::Admin, "x@example.com")
                .expect("valid");
        }
        let hasher = Counting {
            inner: HASHER.clone(),
            verifications: AtomicUsize::new(0),
        };
        Self { store, hasher }
    }

    fn accounts(&self) -> Service<'_> {
        let cache = VerifiedCache::new(CacheConfig::default()).expect("random source");
        Accounts::new(&self.store, &self.hasher).with_cache(cache)
    }

    /// Verifications since the last call.
    fn verifications(&self) -> usize {
        self.hasher.verifications.swap(0, Ordering::SeqCst)
    }
}

fn creds(user: &str, pw: &str) -> Credentials {
    Credentials::new(user, pw).expect("valid credentials")
}

fn lookups(stats: CacheStats) -> u64 {
    stats.hits + stats.misses
}

const REFUSED: Result<(), BackendError> = Err(BackendError::Store(StoreError::InvalidCredentials));

#[derive(Debug, Clone, Copy)]
enum Case {
    Right,
    Wrong,
    UnknownUser,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The first login of any kind costs one lookup and one verification; repeated, only
    /// the right password stops verifying. A failure is never remembered.
    #[test]
    fn only_a_repeated_right_password_skips_the_verification(
        case in prop_oneof![Just(Case::Right), Just(Case::Wrong), Just(Case::UnknownUser)],
        repeats in 1usize..4,
    ) {
        let world = World::new();
        let accounts = world.accounts();
        let login = match case {
            Case::Right => creds("ann", "right"),
            Case::Wrong => creds("ann", "wrong"),
            Case::UnknownUser => creds("nobody", "right"),
        };
        let first = accounts.authenticate(&login).map(|_| ());
        prop_assert_eq!(world.verifications(), 1, "{:?}", case);
        prop_assert_eq!(lookups(accounts.cache().stats()), 1);
        for n in 0..repeats {
            let again = accounts.authenticate(&login).map(|_| ());
            prop_assert_eq!(&again, &first);
            let want = match case {
                Case::Right => 0,
                Case::Wrong | Case::UnknownUser => 1,
            };
            prop_assert_eq!(world.verifications(), want, "{:?} repeat {}", case, n);
        }
        let stats = accounts.cache().stats();
        prop_assert_eq!(lookups(stats), 1 + repeats as u64);
        match case {
            Case::Right => {
                prop_assert_eq!(first, Ok(()));
                prop_assert_eq!((stats.hits, stats.fills), (repeats as u64, 1));
            }
            Case::Wrong | Case::UnknownUser => {
                prop_assert_eq!(first, REFUSED);
                prop_assert_eq!((stats.hits, stats.fills, stats.entries), (0, 0, 0));
            }
        }
    }
}

/// After a password change returns, the old password fails (with a full verification) even
/// though it was remembered; the new one verifies once, then hits.
#[test]
fn a_password_change_counts_from_the_next_login() {
    let world = World::new();
    let accounts = world.accounts();
    let old = creds("ann", "right");
    accounts.authenticate(&old).unwrap();
    accounts.authenticate(&old).unwrap();
    // The change's own login hits, then the new password is hashed, not verified.
    accounts.change_password(&old, "ann", "n3w").unwrap();
    assert_eq!(world.verifications(), 1);
    assert_eq!(accounts.authenticate(&old).map(|_| ()), REFUSED);
    assert_eq!(world.verifications(), 1);
    let new = creds("ann", "n3w");
    assert_eq!(accounts.authenticate(&new).unwrap().credential_epoch(), 1);
    assert_eq!(accounts.authenticate(&new).unwrap().credential_epoch(), 1);
    assert_eq!(world.verifications(), 1);
}

/// A hit answers with the role read now: a demoted admin's next request is a user's.
#[test]
fn a_demotion_counts_from_the_next_login() {
    let world = World::new();
    let accounts = world.accounts();
    let ann = creds("ann", "right");
    assert!(accounts.audit(&ann).is_ok());
    accounts.demote(&creds("bob", "b0b"), "ann").unwrap();
    world.verifications();
    assert_eq!(
        accounts.audit(&ann),
        Err(BackendError::Store(StoreError::Forbidden))
    );
    assert_eq!(world.verifications(), 0, "a hit, with the role read now");
}

/// Off, every login verifies.
#[test]
fn off_every_login_verifies() {
    let world = World::new();
    let accounts = Accounts::new(&world.store, &world.hasher);
    for _ in 0..3 {
        accounts.authenticate(&creds("ann", "right")).unwrap();
    }
    assert_eq!(world.verifications(), 3);
    assert_eq!(accounts.cache().stats(), CacheStats::default());
}
