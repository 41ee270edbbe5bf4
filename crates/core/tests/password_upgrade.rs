#![cfg(not(loom))]
//! A login costs at least one verification at the *current* parameters whether or not the
//! user exists, even when the user's stored hash predates a cost upgrade; and such a hash
//! is flagged for rehashing. Work is counted by the parameters each verification ran with,
//! never timed.

use argon2::Params;
use raceproof_core::auth::{
    Argon2Hasher, Credentials, PasswordError, PasswordHash, PasswordHasher, verify_or_dummy,
};
use raceproof_core::backend::BackendError;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError, UserStore};
use std::sync::Mutex;

/// Argon2id parameters: memory (KiB), passes, lanes.
type Cost = (u32, u32, u32);

/// The current parameters in these tests: cheap, but above the weakest legal ones.
const CURRENT: Cost = (16, 2, 1);
/// What older hashes were made with: the weakest legal Argon2id.
const WEAK: Cost = (8, 1, 1);
/// Stronger than current in every parameter.
const STRONG: Cost = (32, 3, 1);

fn hasher(cost: Cost) -> Argon2Hasher {
    let params = Params::new(cost.0, cost.1, cost.2, None).expect("legal parameters");
    Argon2Hasher::with_params(params).expect("random source")
}

/// Records the parameters of every hash it verifies against.
struct Recording<H> {
    inner: H,
    verified: Mutex<Vec<Cost>>,
}

impl<H> Recording<H> {
    fn new(inner: H) -> Self {
        Self {
            inner,
            verified: Mutex::new(Vec::new()),
        }
    }

    /// The costs verified at since the last call.
    fn take(&self) -> Vec<Cost> {
        std::mem::take(&mut *self.verified.lock().expect("not poisoned"))
    }
}

impl<H: PasswordHasher> PasswordHasher for Recording<H> {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        self.inner.hash(password)
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        self.verified
            .lock()
            .expect("not poisoned")
            .push(stored.params());
        self.inner.verify(password, stored)
    }

    fn dummy(&self) -> &PasswordHash {
        self.inner.dummy()
    }
}

/// A known user whose hash has weaker parameters pays a verification at the current ones,
/// as an unknown user does, with the right password and with a wrong one.
#[test]
fn weak_stored_hash_also_costs_a_current_verification() {
    let current = Recording::new(hasher(CURRENT));
    let stored = hasher(WEAK).hash("hunter2").expect("hashable");
    assert!(!verify_or_dummy(&current, "hunter2", None));
    let unknown = current.take();
    assert_eq!(unknown, [CURRENT]);

    for (password, want) in [("hunter2", true), ("hunter3", false)] {
        assert_eq!(verify_or_dummy(&current, password, Some(&stored)), want);
        let known = current.take();
        assert_eq!(known, [WEAK, CURRENT], "password {password:?}");
        assert!(unknown.iter().all(|cost| known.contains(cost)));
    }
}

/// The same through the store's login.
#[test]
fn store_login_with_a_weak_hash_costs_a_current_verification() {
    let current = Recording::new(hasher(CURRENT));
    let store = UserStore::new();
    let weak = hasher(WEAK).hash("hunter2").expect("hashable");
    store
        .insert("alice", weak, Role::User, "alice@example.com")
        .expect("valid");
    let login = |user: &str, password: &str| {
        let credentials = Credentials::new(user, password).expect("valid credentials");
        let ok = Accounts::new(&store, &current)
            .authenticate(&credentials)
            .is_ok();
        (ok, current.take())
    };
    // A wrong password first: a successful login upgrades the hash (tested below).
    assert_eq!(login("alice", "nope"), (false, vec![WEAK, CURRENT]));
    assert_eq!(login("alice", "hunter2"), (true, vec![WEAK, CURRENT]));
    assert_eq!(login("mallory", "hunter2"), (false, vec![CURRENT]));
    assert_eq!(
        Accounts::new(&store, &current)
            .authenticate(&Credentials::new("mallory", "x").expect("valid")),
        Err(BackendError::Store(StoreError::InvalidCredentials))
    );
}

/// Hashes at or above the current parameters cost exactly one verification, their own.
#[test]
fn current_and_stronger_hashes_are_not_padded() {
    let current = Recording::new(hasher(CURRENT));
    for cost in [CURRENT, STRONG] {
        let stored = hasher(cost).hash("hunter2").expect("hashable");
        assert!(verify_or_dummy(&current, "hunter2", Some(&stored)));
        assert!(!verify_or_dummy(&current, "hunter3", Some(&stored)));
        assert_eq!(current.take(), [cost, cost]);
    }
}

/// Weaker in one parameter and stronger in another is not "at least current": padded.
#[test]
fn mixed_parameters_are_padded() {
    let current = Recording::new(hasher(CURRENT));
    let stored = hasher((64, 1, 1)).hash("hunter2").expect("hashable");
    assert!(verify_or_dummy(&current, "hunter2", Some(&stored)));
    assert_eq!(current.take(), [(64, 1, 1), CURRENT]);
}

/// Upgrade on login: any hash whose parameters differ from the current ones needs a rehash,
/// and the rehash does not.
#[test]
fn needs_rehash_flags_other_parameters() {
    let current = hasher(CURRENT);
    for cost in [WEAK, STRONG, (16, 1, 1), (16, 2, 2)] {
        let stored = hasher(cost).hash("hunter2").expect("hashable");
        assert!(current.needs_rehash(&stored), "{cost:?}");
        // What the caller does after a successful login.
        assert!(current.verify("hunter2", &stored));
        let upgraded = current.hash("hunter2").expect("hashable");
        assert!(!current.needs_rehash(&upgraded));
        assert_eq!(upgraded.params(), CURRENT);
        assert!(current.verify("hunter2", &upgraded));
    }
    assert!(!current.needs_rehash(current.dummy()));
    // Through a wrapper that does not override it, the default answers the same.
    let wrapped = Recording::new(hasher(CURRENT));
    let weak = hasher(WEAK).hash("x").expect("hashable");
    assert!(wrapped.needs_rehash(&weak));
    assert!(!wrapped.needs_rehash(&wrapped.hash("x").expect("hashable")));
}

/// The store upgrades a weak hash on the first successful login, and only then: the same
/// password still works, nothing is revoked, no version moves, and the next login costs
/// one verification at the current parameters.
#[test]
fn store_login_upgrades_a_weak_hash_in_place() {
    let current = Recording::new(hasher(CURRENT));
    let store = UserStore::new();
    let weak = hasher(WEAK).hash("hunter2").expect("hashable");
    store
        .insert("alice", weak, Role::User, "alice@example.com")
        .expect("valid");
    let before = store.get("alice").expect("alice");
    let wrong = Credentials::new("alice", "nope").expect("valid");
    let accounts = Accounts::new(&store, &current);
    assert!(accounts.authenticate(&wrong).is_err());
    assert_eq!(store.get("alice").expect("alice").password.params(), WEAK);

    let right = Credentials::new("alice", "hunter2").expect("valid");
    let first = accounts.authenticate(&right).expect("login");
    let after = store.get("alice").expect("alice");
    assert_eq!(after.password.params(), CURRENT);
    assert_eq!(after.version, before.version);
    assert_eq!(after.credential_epoch, before.credential_epoch);
    current.take();
    let second = accounts.authenticate(&right).expect("login again");
    assert_eq!(current.take(), [CURRENT]);
    assert_eq!(first, second);
}
