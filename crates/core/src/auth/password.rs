//! Password storage: slow salted hashes (Argon2id from RustCrypto) compared in constant time.
//!
//! The [`PasswordHasher`] trait is small on purpose: production uses OWASP-level Argon2id
//! parameters, tests and loom models use the cheapest legal Argon2id parameters (or any
//! hasher they like), and the store never knows the difference.

use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;
use subtle::ConstantTimeEq;

/// Salt length in bytes (RFC 9106 recommends 16).
pub const SALT_LEN: usize = 16;
/// Digest length in bytes.
pub const DIGEST_LEN: usize = 32;
/// Longest password accepted, in bytes: hashing cost must not be chosen by the client.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is longer than {MAX_PASSWORD_LEN} bytes")]
    TooLong,
    #[error("password hashing parameters are invalid")]
    InvalidParams,
    #[error("the operating system's random source failed")]
    Randomness,
    #[error("not an Argon2id PHC string with a 16-byte salt and a 32-byte digest")]
    MalformedHash,
}

/// Longest PHC string parsed, in bytes (an Argon2id one is under 120).
pub const MAX_PHC_LEN: usize = 256;

/// A stored password: Argon2id cost parameters, salt and digest.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: [u8; SALT_LEN],
    digest: [u8; DIGEST_LEN],
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PasswordHash(argon2id m={} t={} p={}, <digest redacted>)",
            self.m_cost, self.t_cost, self.p_cost
        )
    }
}

impl PasswordHash {
    /// A hash made by some other [`PasswordHasher`]: its salt and digest (cost fields 0).
    pub fn from_parts(salt: [u8; SALT_LEN], digest: [u8; DIGEST_LEN]) -> Self {
        Self {
            m_cost: 0,
            t_cost: 0,
            p_cost: 0,
            salt,
            digest,
        }
    }

    /// A stored hash read back: the Argon2id costs it was made with (all 0 for other
    /// hashers), its salt and digest.
    pub fn from_stored(
        costs: (u32, u32, u32),
        salt: [u8; SALT_LEN],
        digest: [u8; DIGEST_LEN],
    ) -> Self {
        Self {
            m_cost: costs.0,
            t_cost: costs.1,
            p_cost: costs.2,
            salt,
            digest,
        }
    }

    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The digest, to store the hash outside the process (it is what an attacker would
    /// crack offline: keep it where the password database is kept).
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// The Argon2id cost parameters it was made with: memory in KiB, passes, lanes (all 0
    /// for [`Self::from_parts`]).
    pub fn params(&self) -> (u32, u32, u32) {
        (self.m_cost, self.t_cost, self.p_cost)
    }

    /// Whether every cost parameter is at least `other`'s, so that verifying against it
    /// costs at least as much (without a cost model for trading one parameter for another).
    fn costs_at_least(&self, other: &Self) -> bool {
        self.m_cost >= other.m_cost && self.t_cost >= other.t_cost && self.p_cost >= other.p_cost
    }

    /// Compares digests in constant time.
    pub fn digest_matches(&self, digest: &[u8; DIGEST_LEN]) -> bool {
        self.digest.ct_eq(digest).into()
    }

    /// The hash as a PHC string, `$argon2id$v=19$m=..,t=..,p=..$<salt>$<digest>`, the
    /// format other Argon2 libraries read and write: how a hash is stored in a file or a
    /// database column.
    pub fn to_phc(&self) -> Result<String, PasswordError> {
        let malformed = |_| PasswordError::MalformedHash;
        let mut params = phc::ParamsString::new();
        params.add_decimal("m", self.m_cost).map_err(malformed)?;
        params.add_decimal("t", self.t_cost).map_err(malformed)?;
        params.add_decimal("p", self.p_cost).map_err(malformed)?;
        let hash = phc::PasswordHash {
            algorithm: phc::Ident::new("argon2id").map_err(malformed)?,
            version: Some(0x13),
            params,
            salt: Some(phc::Salt::new(&self.salt).map_err(malformed)?),
            hash: Some(phc::Output::new(&self.digest).map_err(malformed)?),
        };
        Ok(hash.to_string())
    }

    /// Parses a PHC string made by [`Self::to_phc`] or any Argon2id implementation (version
    /// 19, 16-byte salt, 32-byte digest). The error never echoes the input.
    pub fn from_phc(text: &str) -> Result<Self, PasswordError> {
        if text.len() > MAX_PHC_LEN {
            return Err(PasswordError::MalformedHash);
        }
        let hash = phc::PasswordHash::new(text).map_err(|_| PasswordError::MalformedHash)?;
        if hash.algorithm.as_ref() != "argon2id" || hash.version != Some(0x13) {
            return Err(PasswordError::MalformedHash);
        }
        let cost = |name| {
            hash.params
                .get_decimal(name)
                .ok_or(PasswordError::MalformedHash)
        };
        let (m_cost, t_cost, p_cost) = (cost("m")?, cost("t")?, cost("p")?);
        // Costs a verification can run with: refuse what argon2 would refuse anyway.
        Params::new(m_cost, t_cost, p_cost, None).map_err(|_| PasswordError::MalformedHash)?;
        let mut salt = [0u8; SALT_LEN];
        let salt_bytes = hash
            .salt
            .as_ref()
            .map(|s| s.as_ref().to_vec())
            .ok_or(PasswordError::MalformedHash)?;
        if salt_bytes.len() != SALT_LEN {
            return Err(PasswordError::MalformedHash);
        }
        salt.copy_from_slice(&salt_bytes);
        let digest: [u8; DIGEST_LEN] = hash
            .hash
            .as_ref()
            .and_then(|h| h.as_bytes().try_into().ok())
            .ok_or(PasswordError::MalformedHash)?;
        Ok(Self {
            m_cost,
            t_cost,
            p_cost,
            salt,
            digest,
        })
    }
}

/// Hashes and verifies passwords.
pub trait PasswordHasher: Send + Sync {
    /// Hashes `password` under a fresh random salt.
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError>;

    /// True when `password` matches `stored`; the digest comparison is constant-time.
    fn verify(&self, password: &str, stored: &PasswordHash) -> bool;

    /// A hash of no one's password, made with the hasher's current parameters: verifying
    /// against it when a user does not exist makes "unknown user" cost what "wrong
    /// password" costs.
    fn dummy(&self) -> &PasswordHash;

    /// True when `stored` was made with other parameters than the current ones (the
    /// dummy's). Upgrade on login: after `verify` accepts a password, store
    /// `hash(password)` in place of a hash that needs a rehash, so that the user stops
    /// paying for [`verify_or_dummy`]'s padding and their digest stops being crackable at
    /// the old cost.
    fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        stored.params() != self.dummy().params()
    }
}

/// A borrowed hasher hashes alike (`Accounts::new(&store, &hasher)` in tests and benches).
impl<H: PasswordHasher + ?Sized> PasswordHasher for &H {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        (**self).hash(password)
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        (**self).verify(password, stored)
    }

    fn dummy(&self) -> &PasswordHash {
        (**self).dummy()
    }

    fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        (**self).needs_rehash(stored)
    }
}

/// Verifies `password` against `stored`, or against the hasher's dummy when there is no
/// stored hash, so that no login costs less than one verification at the current
/// parameters, whether or not the user exists.
///
/// A stored hash is verified with the parameters it was made with (a cost upgrade must not
/// lock anyone out). When they are weaker than the current ones in any parameter, the
/// dummy is verified too and its answer discarded: otherwise a known user with an old,
/// cheap hash would answer faster than an unknown user, who costs a full verification at
/// the current parameters, and timing would tell which users exist. Hashes at or above
/// the current parameters cost one verification, their own.
///
/// What remains: a user whose hash predates the upgrade pays old + current, an unknown
/// user current alone; they differ by the old verification, which is cheaper than a
/// current one but not free. That lasts until the user's next successful login stores a
/// rehash (see [`PasswordHasher::needs_rehash`]); until then their digest also stays at
/// the old parameters, as cheap to crack offline as those make it if the store leaks.
pub fn verify_or_dummy<H: PasswordHasher + ?Sized>(
    hasher: &H,
    password: &str,
    stored: Option<&PasswordHash>,
) -> bool {
    match stored {
        Some(hash) => {
            let accepted = hasher.verify(password, hash);
            // Decided by the parameters alone, never by the answer.
            if !hash.costs_at_least(hasher.dummy()) {
                std::hint::black_box(hasher.verify(password, hasher.dummy()));
            }
            accepted
        }
        None => {
            // The result is discarded: the user does not exist, the answer is "no".
            let _ = hasher.verify(password, hasher.dummy());
            false
        }
    }
}

/// Argon2id (RFC 9106) through the RustCrypto `argon2` crate.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    dummy: PasswordHash,
}

// No `Default`: making a hasher draws a random secret for its dummy, and the operating
// system's random source can fail, so every constructor returns a `Result`.
impl Argon2Hasher {
    /// OWASP's first recommendation: Argon2id, 19 MiB, 2 passes, 1 lane. The production
    /// choice.
    pub fn owasp() -> Result<Self, PasswordError> {
        Self::with_params(Params::DEFAULT)
    }

    /// The cheapest legal Argon2id (8 KiB, 1 pass): for tests and models only.
    pub fn insecure_fast() -> Result<Self, PasswordError> {
        let params = Params::new(Params::MIN_M_COST, 1, 1, None)
            .map_err(|_| PasswordError::InvalidParams)?;
        Self::with_params(params)
    }

    /// Argon2id with `params`; errs when the random source fails (the dummy's password is
    /// random) or the parameters are refused.
    pub fn with_params(params: Params) -> Result<Self, PasswordError> {
        let mut hasher = Self {
            dummy: PasswordHash {
                m_cost: params.m_cost(),
                t_cost: params.t_cost(),
                p_cost: params.p_cost(),
                salt: [0; SALT_LEN],
                digest: [0; DIGEST_LEN],
            },
            params,
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| PasswordError::Randomness)?;
        hasher.dummy = hasher.hash(&hex::encode(secret))?;
        Ok(hasher)
    }

    fn digest(
        params: &Params,
        password: &str,
        salt: &[u8; SALT_LEN],
    ) -> Result<[u8; DIGEST_LEN], PasswordError> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
        let mut out = [0u8; DIGEST_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into(password.as_bytes(), salt, &mut out)
            .map_err(|_| PasswordError::InvalidParams)?;
        Ok(out)
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<PasswordHash, PasswordError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| PasswordError::Randomness)?;
        let digest = Self::digest(&self.params, password, &salt)?;
        Ok(PasswordHash {
            m_cost: self.params.m_cost(),
            t_cost: self.params.t_cost(),
            p_cost: self.params.p_cost(),
            salt,
            digest,
        })
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        // Verify with the parameters the hash was made with, so a cost upgrade does not lock
        // out users whose hashes predate it.
        let Ok(params) = Params::new(stored.m_cost, stored.t_cost, stored.p_cost, None) else {
            return false;
        };
        match Self::digest(&params, password, &stored.salt) {
            Ok(digest) => stored.digest_matches(&digest),
            Err(_) => false,
        }
    }

    fn dummy(&self) -> &PasswordHash {
        &self.dummy
    }
}
