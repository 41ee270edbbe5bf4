//! The proven operations, as a server calls them: credentials in, one atomic operation, a
//! typed result out. Each is the `proven_fix` of a flow that raceproof's model catalogue
//! checks under loom (authenticate outside any lock, then check and act in one critical
//! section), so a handler that calls these inherits the proof.
//!
//! Password hashing is slow on purpose: call these off an async runtime's worker threads
//! (e.g. tokio's `spawn_blocking`), with a bound on how many run at once.

use crate::auth::{Argon2Hasher, Credentials, PasswordHasher};
use crate::backend::{BackendError, ReplayStore, UserRepository};
use crate::replay::{
    Clock, DEFAULT_TOLERANCE_SECS, HmacKey, ReplayError, ReplayGuard, SignedFields, SystemClock,
    Tag,
};
use crate::store::{Principal, StoreError, User, UserStore};
use crate::table::{GlobalMutex, Table};

/// The state of the Basic-auth endpoints: the user store and the password hasher.
pub struct Accounts<T = GlobalMutex<User>, H = Argon2Hasher> {
    store: UserStore<T>,
    hasher: H,
}

impl<T: Table<User>, H: PasswordHasher> Accounts<T, H> {
    pub fn new(store: UserStore<T>, hasher: H) -> Self {
        Self { store, hasher }
    }

    pub fn store(&self) -> &UserStore<T> {
        &self.store
    }

    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    /// Checks Basic credentials: a principal whose authority the operations re-check at
    /// commit.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Principal, StoreError> {
        self.store.authenticate(&self.hasher, credentials)
    }

    /// `POST /promote`: make `target` an admin.
    pub fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        self.store.promote(&actor, target)
    }

    /// `POST /demote`: make `target` a plain user, keeping at least one admin.
    pub fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        self.store.demote(&actor, target)
    }

    /// `POST /password`: replace `user`'s password (one's own, or anyone's as an admin),
    /// revoking every request authenticated with the old one. The new password is hashed
    /// before any lock is taken.
    pub fn change_password(
        &self,
        credentials: &Credentials,
        user: &str,
        new_password: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        let hash = self.hasher.hash(new_password).map_err(StoreError::from)?;
        self.store.change_password(&actor, user, hash)
    }

    /// `POST /update-email`: compare-and-set of the caller's own email (If-Match). Returns
    /// the record's new version.
    pub fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError> {
        let actor = self.authenticate(credentials)?;
        self.store.update_email(&actor, expected_version, email)
    }
}

/// The state of `POST /operate`: signed requests, each admitted at most once.
pub struct Operations<C = SystemClock> {
    guard: ReplayGuard<C>,
}

impl<C: Clock> Operations<C> {
    pub fn new(guard: ReplayGuard<C>) -> Self {
        Self { guard }
    }

    pub fn guard(&self) -> &ReplayGuard<C> {
        &self.guard
    }

    /// Verifies the signature and the timestamp, admits the request's identity into the
    /// replay set if absent (one critical section), and only then runs `process`: at most
    /// once per signed request, never for a forged or stale one.
    pub fn operate<R>(
        &self,
        fields: &SignedFields,
        signature: &str,
        process: impl FnOnce(&SignedFields) -> R,
    ) -> Result<R, ReplayError> {
        self.guard.admit(fields, signature)?;
        Ok(process(fields))
    }
}

/// `POST /operate` over a shared [`ReplayStore`] (Redis in production, so that every
/// server process refuses what any of them admitted): the same checks as [`Operations`],
/// with the replay set outside the process.
pub struct SharedOperations<S, C = SystemClock> {
    key: HmacKey,
    clock: C,
    tolerance: i64,
    store: S,
}

impl<S: ReplayStore> SharedOperations<S> {
    /// The system clock and the default tolerance.
    pub fn new(key: HmacKey, store: S) -> Self {
        Self::with(key, SystemClock, store)
    }
}

impl<S: ReplayStore, C: Clock> SharedOperations<S, C> {
    pub fn with(key: HmacKey, clock: C, store: S) -> Self {
        Self {
            key,
            clock,
            tolerance: DEFAULT_TOLERANCE_SECS,
            store,
        }
    }

    /// Accept timestamps within `secs` of the clock, both ways (negative values count as 0).
    pub fn tolerance(mut self, secs: i64) -> Self {
        self.tolerance = secs.max(0);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Verifies the signature and the timestamp, admits the request's identity into the
    /// shared store if absent (one atomic backend command), and only then runs `process`.
    /// When the store cannot be reached the answer is [`BackendError::Unavailable`] and
    /// `process` does not run: nothing is admitted that was not recorded.
    pub fn operate<R>(
        &self,
        fields: &SignedFields,
        signature: &str,
        process: impl FnOnce(&SignedFields) -> R,
    ) -> Result<R, BackendError> {
        self.admit(fields, signature)?;
        Ok(process(fields))
    }

    /// The checks of [`ReplayGuard::admit`], against the shared store.
    pub fn admit(&self, fields: &SignedFields, signature: &str) -> Result<Tag, BackendError> {
        let tag = Tag::from_hex(signature)?;
        self.key.verify_fields(fields, &tag)?;
        let now = self.clock.now();
        if fields.timestamp.abs_diff(now) > self.tolerance.unsigned_abs() {
            return Err(ReplayError::Stale.into());
        }
        let expires_at = fields.timestamp.saturating_add(self.tolerance);
        self.store.insert_if_absent(&tag, expires_at, now)?;
        Ok(tag)
    }
}

/// The Basic-auth endpoints over a shared [`UserRepository`] (PostgreSQL in production):
/// the same operations as [`Accounts`], each one transaction in the backend.
pub struct SharedAccounts<R, H = Argon2Hasher> {
    repo: R,
    hasher: H,
}

impl<R: UserRepository, H: PasswordHasher> SharedAccounts<R, H> {
    pub fn new(repo: R, hasher: H) -> Self {
        Self { repo, hasher }
    }

    pub fn repository(&self) -> &R {
        &self.repo
    }

    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    /// Checks Basic credentials against the shared records (verification outside any
    /// transaction).
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Principal, BackendError> {
        self.repo.authenticate(&self.hasher, credentials)
    }

    /// `POST /promote`.
    pub fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.promote(&actor, target)
    }

    /// `POST /demote`.
    pub fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.demote(&actor, target)
    }

    /// `POST /password`: the new password is hashed before the backend is touched.
    pub fn change_password(
        &self,
        credentials: &Credentials,
        user: &str,
        new_password: &str,
    ) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        let hash = self.hasher.hash(new_password).map_err(StoreError::from)?;
        self.repo.change_password(&actor, user, hash)
    }

    /// `POST /update-email`: compare-and-set of the caller's own email.
    pub fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.update_email(&actor, expected_version, email)
    }
}
