//! Where the Basic-auth endpoints keep their users: in this process (every variant, the
//! default), or in a shared [`UserRepository`] (PostgreSQL, `--users-db`, `proven_fix`
//! only), which several server processes use at once.
//!
//! Both sit behind [`AccountEndpoints`], whose errors are [`BackendError`]s: a shared
//! repository can also answer "unavailable", which the handlers turn into a 503 (nothing
//! was confirmed; retry). The in-memory flows never do.

use raceproof_core::audit::Commit;
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHasher, verify_or_dummy};
use raceproof_core::backend::{BackendError, UserRepository};
use raceproof_core::service::SharedAccounts;
use raceproof_core::store::{Role, StoreError, User};
use raceproof_flows::AccountFlows;
use std::sync::Arc;

/// The Basic-auth endpoints, whatever keeps the users. Calls may block (password hashing,
/// network I/O): handlers run them off the async runtime.
pub trait AccountEndpoints: Send + Sync {
    /// `POST /promote`.
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError>;

    /// `POST /demote`.
    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError>;

    /// `POST /password`: the caller replaces their own password.
    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), BackendError>;

    /// `POST /update-email`: compare-and-set of the caller's email; the new version.
    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError>;

    /// `GET /users/{id}`: a copy of the record.
    fn user(&self, user_id: &str) -> Result<Option<User>, BackendError>;

    /// `GET /audit`: the committed writes in commit order, for an admin only (checked
    /// against the stored record, so a demoted admin is refused from the next request on).
    fn audit(&self, credentials: &Credentials) -> Result<Vec<Commit>, BackendError>;

    /// Whether a plain read ([`Self::user`]) does network I/O, so that it must run off the
    /// async runtime too.
    fn blocks(&self) -> bool;
}

/// The users in this process's memory, in any variant (the seeds' racy flows included).
pub struct InMemory {
    flows: Arc<dyn AccountFlows>,
    /// `GET /audit`'s own authentication (the flows have no authenticate call).
    hasher: Argon2Hasher,
}

impl InMemory {
    pub fn new(flows: Arc<dyn AccountFlows>, hasher: Argon2Hasher) -> Self {
        Self { flows, hasher }
    }
}

impl AccountEndpoints for InMemory {
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        Ok(self.flows.promote(credentials, target)?)
    }

    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        Ok(self.flows.demote(credentials, target)?)
    }

    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), BackendError> {
        Ok(self.flows.change_password(credentials, new_password)?)
    }

    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        Ok(self
            .flows
            .update_email(credentials, expected_version, email)?)
    }

    fn user(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        Ok(self.flows.user(user_id))
    }

    fn audit(&self, credentials: &Credentials) -> Result<Vec<Commit>, BackendError> {
        // Verified against the live record; unknown users cost one verification too.
        let record = self.flows.user(credentials.user_id());
        let ok = verify_or_dummy(
            &self.hasher,
            credentials.password(),
            record.as_ref().map(|u| &u.password),
        );
        match record {
            Some(u) if ok && u.role == Role::Admin => Ok(self.flows.audit()),
            Some(_) if ok => Err(StoreError::Forbidden.into()),
            _ => Err(StoreError::InvalidCredentials.into()),
        }
    }

    fn blocks(&self) -> bool {
        false
    }
}

/// The users in a shared repository (PostgreSQL): each write is one transaction that
/// re-checks the actor's authority, so the proof holds across processes.
impl<R: UserRepository, H: PasswordHasher> AccountEndpoints for SharedAccounts<R, H> {
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        SharedAccounts::promote(self, credentials, target)
    }

    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        SharedAccounts::demote(self, credentials, target)
    }

    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), BackendError> {
        let own = credentials.user_id().to_owned();
        SharedAccounts::change_password(self, credentials, &own, new_password)
    }

    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        SharedAccounts::update_email(self, credentials, expected_version, email)
    }

    fn user(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        self.repository().get(user_id)
    }

    fn audit(&self, credentials: &Credentials) -> Result<Vec<Commit>, BackendError> {
        let actor = self.authenticate(credentials)?;
        if actor.role() != Role::Admin {
            return Err(StoreError::Forbidden.into());
        }
        self.repository().audit()
    }

    fn blocks(&self) -> bool {
        true
    }
}
