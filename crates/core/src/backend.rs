//! Storage backends behind store-level traits, so that several server processes can share
//! the replay set and the user records (issue 11).
//!
//! - [`ReplayStore`]: admit a request identity once, until it expires.
//! - [`UserRepository`]: the user records and their atomic authorize-and-act operations.
//!
//! The in-memory [`ReplaySet`] and [`UserStore`] implement both traits and are the
//! executable specification; `raceproof-backends` implements them over Redis and
//! PostgreSQL. The traits are synchronous on purpose: an async server calls them from
//! `spawn_blocking`, as it already does for password hashing.
//!
//! Every operation either returns the outcome the in-memory store would have returned, or
//! [`BackendError::Unavailable`]: the backend could not be reached or did not answer in
//! time, and *nothing is known to have been written*. A server answers 503 to that and
//! never runs the request's effect (fail closed).

use crate::audit::{AuditPage, AuditQuery, Commit};
use crate::auth::PasswordHash;
use crate::replay::{ReplayError, ReplaySet, Tag};
pub use crate::store::CredentialSnapshot;
use crate::store::{Principal, Role, StoreError, User, UserStore};
use crate::sync::Arc;
use crate::table::Table;

/// Longest message kept in [`BackendError::Unavailable`], in bytes.
pub const MAX_UNAVAILABLE_LEN: usize = 200;

/// Why a backend operation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The store's own refusal (401, 403, 404, 409, 412, ...): the same as in memory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replay guard's refusal (replayed, stale, ...).
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// 503: the backend is down, timed out or answered something unexpected. Nothing was
    /// admitted or written. The message names the backend and the kind of failure, never a
    /// URL, a password or a key.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
}

impl BackendError {
    /// An [`BackendError::Unavailable`] with `message` cut to [`MAX_UNAVAILABLE_LEN`] bytes.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_UNAVAILABLE_LEN {
            let mut end = MAX_UNAVAILABLE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        BackendError::Unavailable(message)
    }

    /// Whether the server should answer 503 (and admit nothing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }
}

/// Where [`crate::service::Operations::admit`] records what it admitted: the replay set,
/// in this process or shared by every process that admits signed requests.
pub trait ReplayStore: Send + Sync {
    /// Admits `identity` unless it is already held, keeping it until `expires_at` (Unix
    /// seconds, inclusive: a request whose clock reads `expires_at` may still be fresh).
    /// Check and insert are one atomic step in the backend. `now` is the caller's clock:
    /// an identity that expires before it is refused as [`ReplayError::Stale`].
    fn insert_if_absent(
        &self,
        identity: &Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), BackendError>;
}

/// The instant, in Unix milliseconds, at which a shared store may forget an identity
/// admitted until `expires_at` (seconds, inclusive): the freshness check reads whole
/// seconds, so the request stays acceptable until `(expires_at + 1) * 1000` ms. An identity
/// that expired before `now` is [`ReplayError::Stale`].
pub fn forget_at_millis(expires_at: i64, now: i64) -> Result<i64, BackendError> {
    if expires_at < now {
        return Err(ReplayError::Stale.into());
    }
    expires_at
        .checked_add(1)
        .and_then(|s| s.checked_mul(1000))
        .ok_or(BackendError::Replay(ReplayError::Stale))
}

impl ReplayStore for ReplaySet {
    fn insert_if_absent(
        &self,
        identity: &Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), BackendError> {
        ReplaySet::insert_if_absent(self, *identity, expires_at, now).map_err(BackendError::from)
    }
}

/// The user records behind [`crate::service::Accounts`]: in this process ([`UserStore`],
/// any lock strategy) or shared by every process that serves the Basic-auth endpoints
/// (PostgreSQL).
///
/// Each write is atomic in the backend: the actor's authority *at the write* (by
/// [`Principal::authorize`]), the precondition and the effect are checked and applied
/// together, and the write's [`Commit`] is recorded with them. Writes take a [`Principal`],
/// which only the service's `authenticate` makes.
pub trait UserRepository: Send + Sync {
    /// Adds a new user at version 1; an existing user is never replaced.
    fn insert(
        &self,
        user_id: &str,
        password: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), BackendError>;

    /// A copy of a user's record.
    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError>;

    /// The hash, role and epoch of `user_id`, read in one step (no lock held afterwards).
    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError>;

    /// Upgrade on login: stores `upgraded` (the password just verified, hashed at the
    /// hasher's current cost) if `user_id` still holds `verified` at `credential_epoch`, so
    /// that a password change in between wins. Neither the epoch nor the version moves, and
    /// nothing is audited: the password is the same. `Ok(false)`: the record had changed.
    fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        credential_epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> Result<bool, BackendError>;

    /// Makes `target` an admin if `actor` is an admin with unchanged credentials at the write.
    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError>;

    /// Makes `target` a plain user if `actor` is an admin now and another admin remains.
    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError>;

    /// Replaces `user`'s password (one's own, or anyone's as an admin), revoking every
    /// request authenticated before.
    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new_password: PasswordHash,
    ) -> Result<(), BackendError>;

    /// Compare-and-set of the actor's own email; returns the new version.
    fn update_email(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError>;

    /// The committed writes kept, in commit order.
    fn audit(&self) -> Result<Vec<Commit>, BackendError>;

    /// One page of the committed writes (see [`crate::audit::AuditLog::page`]). By default
    /// a page of [`Self::audit`]; a backend that can seek by sequence number does better.
    fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, BackendError> {
        Ok(AuditPage::from_entries(self.audit()?, query))
    }
}

impl<T: Table<User>> UserRepository for UserStore<T> {
    fn insert(
        &self,
        user_id: &str,
        password: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        Ok(UserStore::insert(self, user_id, password, role, email)?)
    }

    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        Ok(UserStore::get(self, user_id))
    }

    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        Ok(UserStore::credentials(self, user_id))
    }

    fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        credential_epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> Result<bool, BackendError> {
        Ok(UserStore::replace_hash_if_unchanged(
            self,
            user_id,
            credential_epoch,
            verified,
            upgraded,
        ))
    }

    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        Ok(UserStore::promote(self, actor, target)?)
    }

    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        Ok(UserStore::demote(self, actor, target)?)
    }

    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new_password: PasswordHash,
    ) -> Result<(), BackendError> {
        Ok(UserStore::change_password(self, actor, user, new_password)?)
    }

    fn update_email(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        Ok(UserStore::update_email(
            self,
            actor,
            expected_version,
            email,
        )?)
    }

    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        Ok(UserStore::audit(self))
    }

    fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, BackendError> {
        Ok(UserStore::audit_page(self, query))
    }
}

/// A reference or a shared pointer to a repository (or a replay store) is one too: the
/// server holds `Arc<dyn UserRepository>`, the catalogue `Box<dyn UserRepository>`, tests
/// `&UserStore`.
macro_rules! forward_through_pointers {
    ($($ptr:ty),*) => {$(
        impl<R: UserRepository + ?Sized> UserRepository for $ptr {
            fn insert(
                &self,
                user_id: &str,
                password: PasswordHash,
                role: Role,
                email: &str,
            ) -> Result<(), BackendError> {
                (**self).insert(user_id, password, role, email)
            }

            fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
                (**self).get(user_id)
            }

            fn credentials(
                &self,
                user_id: &str,
            ) -> Result<Option<CredentialSnapshot>, BackendError> {
                (**self).credentials(user_id)
            }

            fn replace_hash_if_unchanged(
                &self,
                user_id: &str,
                credential_epoch: u64,
                verified: &PasswordHash,
                upgraded: PasswordHash,
            ) -> Result<bool, BackendError> {
                (**self).replace_hash_if_unchanged(user_id, credential_epoch, verified, upgraded)
            }

            fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
                (**self).promote(actor, target)
            }

            fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
                (**self).demote(actor, target)
            }

            fn change_password(
                &self,
                actor: &Principal,
                user: &str,
                new_password: PasswordHash,
            ) -> Result<(), BackendError> {
                (**self).change_password(actor, user, new_password)
            }

            fn update_email(
                &self,
                actor: &Principal,
                expected_version: Option<u64>,
                email: &str,
            ) -> Result<u64, BackendError> {
                (**self).update_email(actor, expected_version, email)
            }

            fn audit(&self) -> Result<Vec<Commit>, BackendError> {
                (**self).audit()
            }

            fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, BackendError> {
                (**self).audit_page(query)
            }
        }

        impl<R: ReplayStore + ?Sized> ReplayStore for $ptr {
            fn insert_if_absent(
                &self,
                identity: &Tag,
                expires_at: i64,
                now: i64,
            ) -> Result<(), BackendError> {
                (**self).insert_if_absent(identity, expires_at, now)
            }
        }
    )*};
}

forward_through_pointers!(&R, Box<R>, Arc<R>);

/// A hash read back from storage: its Argon2id costs (all 0 for other hashers), salt and
/// digest; wrong lengths are refused.
pub fn password_from_parts(
    costs: (u32, u32, u32),
    salt: &[u8],
    digest: &[u8],
) -> Result<PasswordHash, BackendError> {
    let salt = salt
        .try_into()
        .map_err(|_| BackendError::unavailable("stored password salt has the wrong length"))?;
    let digest = digest
        .try_into()
        .map_err(|_| BackendError::unavailable("stored password digest has the wrong length"))?;
    Ok(PasswordHash::from_stored(costs, salt, digest))
}

/// The costs, salt and digest of a hash, to store it outside the process.
pub fn password_to_parts(hash: &PasswordHash) -> ((u32, u32, u32), Vec<u8>, Vec<u8>) {
    (hash.params(), hash.salt().to_vec(), hash.digest().to_vec())
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replay_set_through_the_trait() {
        let set = ReplaySet::new(8);
        let store: &dyn ReplayStore = &set;
        let tag = Tag([7; 32]);
        store.insert_if_absent(&tag, 10, 0).unwrap();
        assert_eq!(
            store.insert_if_absent(&tag, 10, 0),
            Err(BackendError::Replay(ReplayError::Replayed))
        );
    }

    #[test]
    fn unavailable_is_capped() {
        assert_eq!(forget_at_millis(10, 10), Ok(11_000));
        assert_eq!(
            forget_at_millis(9, 10),
            Err(BackendError::Replay(ReplayError::Stale))
        );
        assert!(forget_at_millis(i64::MAX, 0).is_err());
        let e = BackendError::unavailable("é".repeat(300));
        let BackendError::Unavailable(m) = &e else {
            panic!("wrong variant")
        };
        assert!(m.len() <= MAX_UNAVAILABLE_LEN);
        assert!(e.is_unavailable());
    }
}

#[cfg(all(test, not(loom)))]
mod parts {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::auth::{Argon2Hasher, PasswordHasher};

    /// An Argon2id hash survives storage with its costs: it still verifies.
    #[test]
    fn a_stored_hash_keeps_its_costs() {
        let hasher = Argon2Hasher::insecure_fast().unwrap();
        let hash = hasher.hash("pw").unwrap();
        let (costs, salt, digest) = password_to_parts(&hash);
        let back = password_from_parts(costs, &salt, &digest).unwrap();
        assert_eq!(back, hash);
        assert!(hasher.verify("pw", &back));
        assert!(password_from_parts(costs, &salt[1..], &digest).is_err());
    }
}
