//! Two instances on one PostgreSQL schema, each with its own cache of verified credentials
//! (issue 19): a password changed through one is refused by the other from the next login,
//! whatever the other's cache holds; and even a cache that trusts a stale entry (one that
//! only hears of its own instance's changes) cannot make a write commit, because each write's
//! transaction re-checks the credential epoch. Opt in with `RACEPROOF_BACKEND_TESTS=1`.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use common::{Sha256Hasher, TEST_SALT, backend_up, database_url, digest, opted_in, unique};
use raceproof_backends::PoolConfig;
use raceproof_backends::postgres::PgUserRepository;
use raceproof_core::auth::{
    CacheConfig, CredentialCache, Credentials, PasswordHash, VerifiedCache,
};
use raceproof_core::authority::Standing;
use raceproof_core::backend::{BackendError, UserRepository};
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// A repository on `schema`: one instance's connection pool.
fn instance(schema: &str) -> PgUserRepository {
    PgUserRepository::with_schema(&database_url(), schema, PoolConfig::default()).unwrap()
}

/// Drops the schema when the test ends, passed or not.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&database_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }
}

/// A fresh schema with alice (user, password "pw"), or `None` when not opted in.
fn schema(test: &str) -> Option<Schema> {
    if !opted_in(test) {
        return None;
    }
    let schema = Schema(unique("rp_cache"));
    let repo = instance(&schema.0);
    if !backend_up(test, "postgres", repo.ping().is_ok()) {
        return None;
    }
    repo.migrate().unwrap();
    repo.insert_parts(
        "alice",
        &TEST_SALT,
        &digest(&TEST_SALT, "pw"),
        Role::User,
        "a@x",
    )
    .unwrap();
    Some(schema)
}

fn alice(password: &str) -> Credentials {
    Credentials::new("alice", password).unwrap()
}

const REVOKED: Result<u64, BackendError> = Err(BackendError::Store(StoreError::CredentialsRevoked));

#[test]
fn a_password_changed_on_one_instance_is_refused_by_the_others_cache() {
    let Some(schema) = schema("a_password_changed_on_one_instance_is_refused_by_the_others_cache")
    else {
        return;
    };
    let cached = |repo| {
        let cache = VerifiedCache::new(CacheConfig::default()).unwrap();
        Accounts::new(repo, Sha256Hasher::default()).with_cache(cache)
    };
    let (a, b) = (cached(instance(&schema.0)), cached(instance(&schema.0)));
    a.authenticate(&alice("pw")).unwrap();
    let stale = a.authenticate(&alice("pw")).unwrap();
    assert_eq!(a.cache().stats().hits, 1, "the second login on a is a hit");

    b.change_password(&alice("pw"), "alice", "pw2").unwrap();
    // a's cache still holds the old password's entry; a login reads the record first.
    assert_eq!(
        a.authenticate(&alice("pw")),
        Err(BackendError::Store(StoreError::InvalidCredentials))
    );
    assert_eq!(a.cache().stats().hits, 1);
    // A principal a hit made before the change cannot write after it.
    assert_eq!(a.repository().update_email(&stale, None, "x@y"), REVOKED);
    assert_eq!(a.authenticate(&alice("pw2")).unwrap().credential_epoch(), 1);
}

/// The cache an instance would have if it trusted its entries and dropped them only when
/// its own service changed a password: it never hears of the other instance's change.
#[derive(Default)]
struct Trusting(Mutex<HashMap<(String, String), Standing>>);

impl CredentialCache for Trusting {
    fn lookup(&self, user: &str, pw: &str, _: &PasswordHash, _: Standing) -> Option<Standing> {
        let entries = self.0.lock().unwrap();
        entries.get(&(user.to_owned(), pw.to_owned())).copied()
    }

    fn remember(&self, user: &str, pw: &str, _: &PasswordHash, verified: Standing) {
        let mut entries = self.0.lock().unwrap();
        entries.insert((user.to_owned(), pw.to_owned()), verified);
    }

    fn forget(&self, user: &str) {
        self.0.lock().unwrap().retain(|(u, _), _| u != user);
    }
}

#[test]
fn a_stale_cache_on_one_instance_never_lets_a_write_commit() {
    let Some(schema) = schema("a_stale_cache_on_one_instance_never_lets_a_write_commit") else {
        return;
    };
    let a =
        Accounts::new(instance(&schema.0), Sha256Hasher::default()).with_cache(Trusting::default());
    let b =
        Accounts::new(instance(&schema.0), Sha256Hasher::default()).with_cache(Trusting::default());
    a.update_email(&alice("pw"), Some(1), "first@x").unwrap();
    b.change_password(&alice("pw"), "alice", "pw2").unwrap();

    // a's stale entry authenticates the old password (the flaw of trusting caches)...
    let stale = a.authenticate(&alice("pw")).unwrap();
    assert_eq!(stale.credential_epoch(), 0);
    // ...but every write's transaction re-checks the epoch: nothing commits with it.
    assert_eq!(a.update_email(&alice("pw"), None, "stale@x"), REVOKED);
    assert_eq!(
        a.promote(&alice("pw"), "alice"),
        Err(BackendError::Store(StoreError::CredentialsRevoked))
    );
    let record = b.repository().get("alice").unwrap().unwrap();
    assert_eq!(
        (record.email.as_str(), record.credential_epoch),
        ("first@x", 1)
    );
    let audit = b.repository().audit().unwrap();
    assert_eq!(
        audit.len(),
        2,
        "the first update and the password change only"
    );
}
