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

use crate::audit::Commit;
use crate::auth::{Credentials, PasswordHash, PasswordHasher, verify_or_dummy};
use crate::replay::{ReplayError, ReplaySet, Tag};
use crate::store::{Principal, Role, StoreError, User, UserStore};
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

/// The replay set, shared by every process that admits signed requests.
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

/// What authentication needs of a stored user: its hash, role and credential epoch, read
/// in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSnapshot {
    pub password: PasswordHash,
    pub role: Role,
    pub credential_epoch: u64,
}

/// The user records, shared by every process that serves the Basic-auth endpoints.
///
/// Each write is atomic in the backend: the actor's authority *at the write* (same
/// credential epoch as at authentication, and the role the write needs), the precondition
/// and the effect are checked and applied together, and the write's [`Commit`] is recorded
/// with them.
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

    /// Checks Basic credentials: one snapshot, then one slow verification outside any lock
    /// or transaction. Unknown users cost the same verification as known ones.
    fn authenticate(
        &self,
        hasher: &dyn PasswordHasher,
        credentials: &Credentials,
    ) -> Result<Principal, BackendError> {
        authenticate_with(self, hasher, credentials)
    }

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
}

/// [`UserRepository::authenticate`] for any repository: one snapshot of the stored hash,
/// then [`verify_or_dummy`] outside the backend, so a missing user costs one verification.
/// A hash below the hasher's current cost is upgraded, as [`UserStore::authenticate`] does
/// in memory; the upgrade is best effort (a backend failure there leaves the old hash and
/// does not fail the login, which the snapshot already decided).
pub fn authenticate_with<R: UserRepository + ?Sized>(
    repo: &R,
    hasher: &dyn PasswordHasher,
    credentials: &Credentials,
) -> Result<Principal, BackendError> {
    let user_id = credentials.user_id();
    let snapshot = repo.credentials(user_id)?;
    let ok = verify_or_dummy(
        hasher,
        credentials.password(),
        snapshot.as_ref().map(|s| &s.password),
    );
    match snapshot {
        Some(s) if ok => {
            if hasher.needs_rehash(&s.password)
                && let Ok(upgraded) = hasher.hash(credentials.password())
            {
                let _ = repo.replace_hash_if_unchanged(
                    user_id,
                    s.credential_epoch,
                    &s.password,
                    upgraded,
                );
            }
            Ok(Principal::new(user_id, s.role, s.credential_epoch))
        }
        _ => Err(StoreError::InvalidCredentials.into()),
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
        Ok(UserStore::get(self, user_id).map(|u| CredentialSnapshot {
            password: u.password,
            role: u.role,
            credential_epoch: u.credential_epoch,
        }))
    }

    fn authenticate(
        &self,
        hasher: &dyn PasswordHasher,
        credentials: &Credentials,
    ) -> Result<Principal, BackendError> {
        Ok(UserStore::authenticate(self, hasher, credentials)?)
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
}

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
    use crate::auth::Argon2Hasher;

    #[test]
    fn a_repository_principal_matches_the_stores() {
        let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
        let store = UserStore::new();
        store
            .insert("ann", hasher.hash("pw").unwrap(), Role::Admin, "a@x")
            .unwrap();
        let creds = Credentials::new("ann", "pw").unwrap();
        let p = UserStore::authenticate(&store, &hasher, &creds).unwrap();
        store
            .change_password(&p, "ann", hasher.hash("pw").unwrap())
            .unwrap();
        let real = UserStore::authenticate(&store, &hasher, &creds).unwrap();
        let via_repo = authenticate_with(&store, &hasher, &creds).unwrap();
        assert_eq!(real, via_repo);
        assert_eq!(via_repo.credential_epoch(), 1);
        let wrong = Credentials::new("ann", "nope").unwrap();
        assert_eq!(
            authenticate_with(&store, &hasher, &wrong),
            Err(BackendError::Store(StoreError::InvalidCredentials))
        );
    }

    /// The generic path (the one PostgreSQL takes) upgrades a hash below the current cost,
    /// moves neither epoch nor version, and leaves a record changed since the snapshot alone.
    #[test]
    fn a_repository_login_upgrades_a_weak_hash_unless_the_password_changed() {
        let weak = Argon2Hasher::insecure_fast().unwrap();
        let current = Argon2Hasher::with_params(
            argon2::Params::new(argon2::Params::MIN_M_COST * 2, 1, 1, None).unwrap(),
        )
        .unwrap();
        let store = UserStore::new();
        let stored = weak.hash("pw").unwrap();
        store
            .insert("ann", stored.clone(), Role::User, "a@x")
            .unwrap();
        let creds = Credentials::new("ann", "pw").unwrap();
        authenticate_with(&store, &current, &creds).unwrap();
        let after = UserStore::get(&store, "ann").unwrap();
        assert_eq!(after.password.params(), current.dummy().params());
        assert!(current.verify("pw", &after.password));
        assert_eq!((after.version, after.credential_epoch), (1, 0));
        assert!(UserStore::audit(&store).is_empty());
        // A snapshot taken before a password change cannot overwrite the new hash.
        assert_eq!(
            UserRepository::replace_hash_if_unchanged(
                &store,
                "ann",
                0,
                &stored,
                weak.hash("pw").unwrap()
            ),
            Ok(false)
        );
        assert_eq!(
            UserStore::get(&store, "ann").unwrap().password,
            after.password
        );
    }

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
    use crate::auth::Argon2Hasher;

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
