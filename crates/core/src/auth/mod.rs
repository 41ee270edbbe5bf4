//! Authentication building blocks: Basic credentials and password storage.

mod basic;
mod password;

pub use basic::{BasicAuthError, Credentials, MAX_HEADER_LEN};
pub use password::{
    Argon2Hasher, DIGEST_LEN, MAX_PASSWORD_LEN, MAX_PHC_LEN, PasswordError, PasswordHash,
    PasswordHasher, SALT_LEN, verify_or_dummy,
};
