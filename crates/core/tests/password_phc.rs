#![cfg(not(loom))]
//! Stored hashes travel as PHC strings: ours round-trip, and a hash made by an independent
//! Argon2 implementation (Python's argon2-cffi, committed as a constant) verifies.

use argon2::Params;
use raceproof_core::auth::{
    Argon2Hasher, MAX_PHC_LEN, PasswordError, PasswordHash, PasswordHasher,
};

/// `argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, hash_len=32,
/// salt_len=16).hash("hunter2")`, argon2-cffi 23.
const FROM_ARGON2_CFFI: &str = "$argon2id$v=19$m=16,t=2,p=1$W8JBgpDmR7GwtHKAJrB8Mg$53ZXoHmbNxwSIAcagG0Ek81aWm7V/+eJz4ZkbF3IDM0";

fn hasher() -> Argon2Hasher {
    Argon2Hasher::with_params(Params::new(16, 2, 1, None).expect("legal")).expect("random source")
}

#[test]
fn a_hash_from_another_implementation_verifies() {
    let stored = PasswordHash::from_phc(FROM_ARGON2_CFFI).expect("parses");
    assert_eq!(stored.params(), (16, 2, 1));
    let hasher = hasher();
    assert!(hasher.verify("hunter2", &stored));
    assert!(!hasher.verify("hunter3", &stored));
    assert_eq!(stored.to_phc().expect("formats"), FROM_ARGON2_CFFI);
}

#[test]
fn our_hashes_round_trip() {
    let hasher = hasher();
    for password in ["hunter2", "", "p:ss wörd"] {
        let hash = hasher.hash(password).expect("hashable");
        let text = hash.to_phc().expect("formats");
        assert!(text.starts_with("$argon2id$v=19$m=16,t=2,p=1$"), "{text}");
        let back = PasswordHash::from_phc(&text).expect("parses");
        assert_eq!(back, hash);
        assert!(hasher.verify(password, &back));
    }
}

#[test]
fn malformed_strings_are_refused_without_echo() {
    let long = format!("{FROM_ARGON2_CFFI}{}", "A".repeat(MAX_PHC_LEN));
    for bad in [
        "",
        "argon2id",
        &FROM_ARGON2_CFFI.replace("argon2id", "argon2i"),
        &FROM_ARGON2_CFFI.replace("v=19", "v=16"),
        &FROM_ARGON2_CFFI.replace("m=16,", ""),
        &FROM_ARGON2_CFFI.replace("m=16", "m=1"),
        // A 12-byte salt and a 16-byte digest.
        "$argon2id$v=19$m=16,t=2,p=1$W8JBgpDmR7GwtHKA$53ZXoHmbNxwSIAcagG0Ek8",
        &long,
    ] {
        let err = PasswordHash::from_phc(bad).expect_err(bad);
        assert_eq!(err, PasswordError::MalformedHash);
        assert!(!err.to_string().contains("W8JB"));
    }
}
