//! What the backend tests share: the opt-in, the services' addresses, unique names, and a
//! cheap password hasher whose stored digest a test can compute.
#![allow(dead_code, clippy::unwrap_used)]

use raceproof_core::auth::{PasswordError, PasswordHash, PasswordHasher};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Backend tests run when `RACEPROOF_BACKEND_TESTS=1` (`.ci/run` sets it) or in CI.
pub fn opted_in(test: &str) -> bool {
    let on = std::env::var("RACEPROOF_BACKEND_TESTS").is_ok_and(|v| v == "1") || in_ci();
    if !on {
        eprintln!("{test}: skipped; set RACEPROOF_BACKEND_TESTS=1 to run the backend tests");
    }
    on
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| raceproof_backends::DEFAULT_REDIS_URL.into())
}

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| raceproof_backends::DEFAULT_DATABASE_URL.into())
}

/// Whether the backend answered: in CI a missing backend fails the test; locally the test
/// says how to start it and returns early.
pub fn backend_up(test: &str, name: &str, answered: bool) -> bool {
    if answered {
        return true;
    }
    let how = match name {
        "redis" => {
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
        }
        _ => "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    };
    assert!(
        !in_ci(),
        "{test}: {name} is not answering in CI (REDIS_URL / DATABASE_URL)"
    );
    eprintln!("{test}: skipped, {name} is not answering; start it with: {how}");
    false
}

/// A name no other test run uses: `<prefix>_<pid>_<nanos>_<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap()
}

/// Stored digest = SHA-256(salt || password): cheap, and a test can compute it to seed a
/// database directly.
pub struct Sha256Hasher(PasswordHash);

pub const TEST_SALT: [u8; 16] = [5; 16];

pub fn digest(salt: &[u8], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self(PasswordHash::from_parts(
            [0; 16],
            digest(&[0; 16], "\u{0}dummy"),
        ))
    }
}

impl PasswordHasher for Sha256Hasher {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        Ok(PasswordHash::from_parts(
            TEST_SALT,
            digest(&TEST_SALT, password),
        ))
    }
    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        stored.digest_matches(&digest(stored.salt(), password))
    }
    fn dummy(&self) -> &PasswordHash {
        &self.0
    }
}
