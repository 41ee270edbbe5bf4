#![cfg(not(loom))]
//! Making an `Argon2Hasher` draws a random secret for its dummy: every constructor reports a
//! failing random source as an error instead of panicking, and yields the documented
//! parameters when it succeeds.

use raceproof_core::auth::{Argon2Hasher, PasswordError, PasswordHasher};

#[test]
fn constructors_return_results_with_their_parameters() -> Result<(), PasswordError> {
    let owasp: Result<Argon2Hasher, PasswordError> = Argon2Hasher::owasp();
    assert_eq!(owasp?.dummy().params(), (19 * 1024, 2, 1));
    let fast: Result<Argon2Hasher, PasswordError> = Argon2Hasher::insecure_fast();
    let fast = fast?;
    assert_eq!(fast.dummy().params(), (8, 1, 1));
    let hash = fast.hash("hunter2")?;
    assert!(fast.verify("hunter2", &hash));
    Ok(())
}
