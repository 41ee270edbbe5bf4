//! Authentication building blocks: Basic credentials, password storage, and the cache of
//! verified credentials.

mod basic;
mod cache;
mod password;

pub use basic::{BasicAuthError, Credentials, MAX_HEADER_LEN};
pub use cache::{
    CacheConfig, CacheError, CacheStats, CredentialCache, DEFAULT_CACHE_CAPACITY,
    DEFAULT_CACHE_LIFETIME_SECS, MAX_CACHE_CAPACITY, MAX_CACHE_LIFETIME_SECS, VerifiedCache,
};
pub use password::{
    Argon2Hasher, DIGEST_LEN, MAX_PASSWORD_LEN, MAX_PHC_LEN, PasswordError, PasswordHash,
    PasswordHasher, SALT_LEN, verify_or_dummy,
};
