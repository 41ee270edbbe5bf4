//! The Basic-auth endpoints (seed 000): `/promote`, `/update-email`, and the rival actors
//! `/demote` and `/password`, behind one trait.
//!
//! - promote's race: the acting admin's authority is checked, then the write happens
//!   later; a demotion or password change that lands in between does not stop the write.
//! - update-email's race: the version is compared, then the email written, then the version
//!   bumped, as three statements; two requests with the same expected version both pass.
//! - demote's race (not in the seeds, same family): two admins demoting each other both see
//!   "another admin remains", and both writes land (write skew).

use crate::Narrator;
use crate::seed_users::{SeedActor, SeedUsers};
use raceproof_core::audit::{Action, AuditLog, Commit};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError, User, UserStore};
use raceproof_core::table::{GlobalMutex, Table};
use std::collections::HashMap;

/// The Basic-auth endpoints, whatever the variant.
pub trait AccountFlows: Send + Sync {
    /// `POST /promote`: the caller, an admin, makes `target` an admin.
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError>;

    /// `POST /demote`: the caller, an admin, makes `target` a plain user.
    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError>;

    /// `POST /password`: the caller replaces their own password.
    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), StoreError>;

    /// `POST /update-email`: the caller sets their email, expecting their record at
    /// `expected_version`. Returns the new version.
    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError>;

    /// `GET /users/{id}`: a copy of the record.
    fn user(&self, user_id: &str) -> Option<User>;

    /// `GET /audit`: the committed writes, in commit order.
    fn audit(&self) -> Vec<Commit>;
}

/// A user to create: id, password hash, role, email.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub id: String,
    pub password: PasswordHash,
    pub role: Role,
    pub email: String,
}

/// The seed variants, over the seed's `USERS` dict, verifying passwords with `H`.
pub struct SeedAccounts<H = Argon2Hasher> {
    fixed: bool,
    users: SeedUsers,
    hasher: H,
}

impl<H: PasswordHasher> SeedAccounts<H> {
    /// `fixed`: the seed's fixed endpoints (`seed_fix`) rather than the vulnerable ones.
    pub fn new(fixed: bool, users: &[UserSpec], hasher: H, log: Narrator) -> Self {
        let users = users
            .iter()
            .map(|u| {
                let record = User {
                    password: u.password.clone(),
                    role: u.role,
                    email: u.email.clone(),
                    version: 1,
                    credential_epoch: 0,
                };
                (u.id.clone(), record)
            })
            .collect::<HashMap<_, _>>();
        Self {
            fixed,
            users: SeedUsers::new(users, log),
            hasher,
        }
    }

    fn authenticate(&self, credentials: &Credentials) -> Result<SeedActor, StoreError> {
        self.users.get_current_user(&self.hasher, credentials)
    }

    /// The pattern the seed warns about: authenticate, then read the target record, then
    /// write it back, with the role decided at authentication.
    fn promote_seed_vulnerable(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        if actor.role != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        // RACE WINDOW: the actor can be demoted or its password changed from here on.
        let mut record = self.users.get(target).ok_or(StoreError::NotFound)?;
        record.role = Role::Admin;
        // RACE WINDOW: and here; the whole record is written back from the stale read.
        let action = Action::Promote {
            target: target.to_owned(),
        };
        self.users.put(target, record, &actor, action)
    }

    /// The seed's fix, statement by statement:
    ///
    /// ```python
    /// def get_current_user(...):            # user = USERS.get(...); compare_digest(...)
    ///     return {"username": ..., "role": user["role"], ...}   # "fresh snapshot"
    /// def promote_user(target, current_user = Depends(get_current_user)):
    ///     if current_user["role"] != "admin": raise HTTPException(403)
    ///     if target not in USERS: raise HTTPException(404)
    ///     USERS[target]["role"] = "admin"
    /// ```
    fn promote_seed_fix(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        // The "fresh snapshot" of the role, read through the live record.
        let role = self
            .users
            .role(&actor.user_id)
            .ok_or(StoreError::InvalidCredentials)?;
        // RACE WINDOW: the snapshot is already stale for any demotion from here on.
        if role != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        if !self.users.exists(target) {
            return Err(StoreError::NotFound);
        }
        // RACE WINDOW
        self.users.set_role(target, Role::Admin, &actor)
    }

    /// Read-modify-write of the whole record with no version at all: the classic lost
    /// update. The client's expected version is ignored.
    fn update_email_seed_vulnerable(
        &self,
        credentials: &Credentials,
        email: &str,
    ) -> Result<u64, StoreError> {
        let actor = self.authenticate(credentials)?;
        let mut record = self.users.get(&actor.user_id).ok_or(StoreError::NotFound)?;
        // RACE WINDOW: another update can read the same record here.
        record.email = email.to_owned();
        record.version += 1;
        let version = record.version;
        let action = Action::UpdateEmail {
            user: actor.user_id.clone(),
            email: email.to_owned(),
            version,
        };
        self.users.put(&actor.user_id, record, &actor, action)?;
        Ok(version)
    }

    /// The seed's fix, statement by statement:
    ///
    /// ```python
    /// stored = USERS_WITH_VERSION.get(current_user["username"])
    /// if not stored: raise HTTPException(404)
    /// if stored["_v"] != expected_version: raise HTTPException(409)
    /// stored["email"] = new_email
    /// stored["_v"] += 1
    /// return {"email": stored["email"], "version": stored["_v"]}
    /// ```
    fn update_email_seed_fix(
        &self,
        credentials: &Credentials,
        expected_version: u64,
        email: &str,
    ) -> Result<u64, StoreError> {
        let actor = self.authenticate(credentials)?;
        let user = actor.user_id.as_str();
        if !self.users.exists(user) {
            return Err(StoreError::NotFound);
        }
        let current = self.users.version(user).ok_or(StoreError::NotFound)?;
        if current != expected_version {
            return Err(StoreError::PreconditionFailed { current });
        }
        // RACE WINDOW: a second request with the same expected version passes too.
        self.users.set_email(user, email, &actor)?;
        // RACE WINDOW
        self.users.increment_version(user)?;
        // RACE WINDOW: the response reads the record again.
        self.users.version(user).ok_or(StoreError::NotFound)
    }
}

impl<H: PasswordHasher> AccountFlows for SeedAccounts<H> {
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        if self.fixed {
            self.promote_seed_fix(credentials, target)
        } else {
            self.promote_seed_vulnerable(credentials, target)
        }
    }

    /// Check the actor's role, count the admins, write: three critical sections (the seed
    /// has no demote; this is how its style writes one).
    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        if self.users.role(&actor.user_id) != Some(Role::Admin) {
            return Err(StoreError::Forbidden);
        }
        if self.users.admin_count() < 2 {
            return Err(StoreError::LastAdmin);
        }
        // RACE WINDOW: the other admin, counted above, may be demoting us right now.
        self.users.set_role(target, Role::User, &actor)
    }

    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        let hash = self.hasher.hash(new_password)?;
        self.users.set_password(&actor.user_id, hash, &actor)
    }

    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError> {
        match (self.fixed, expected_version) {
            (false, _) => self.update_email_seed_vulnerable(credentials, email),
            (true, Some(expected)) => self.update_email_seed_fix(credentials, expected, email),
            // The seed's body model requires `expected_version`.
            (true, None) => Err(StoreError::PreconditionRequired),
        }
    }

    fn user(&self, user_id: &str) -> Option<User> {
        self.users.get(user_id)
    }

    fn audit(&self) -> Vec<Commit> {
        self.users.audit()
    }
}

/// Ours: [`raceproof_core::service::Accounts`] (authenticate outside any lock, then check
/// and write in one critical section), under lock strategy `T`.
pub struct ProvenAccounts<T = GlobalMutex<User>, H = Argon2Hasher> {
    accounts: Accounts<T, H>,
}

impl<T: Table<User> + Default, H: PasswordHasher> ProvenAccounts<T, H> {
    pub fn new(
        users: &[UserSpec],
        hasher: H,
        require_precondition: bool,
        log: &Narrator,
    ) -> Result<Self, StoreError> {
        let audit = match log.commit_listener() {
            Some(listener) => AuditLog::default().with_listener(listener),
            None => AuditLog::default(),
        };
        let store = UserStore::with_table(T::default())
            .audit_log(audit)
            .require_precondition(require_precondition);
        for u in users {
            store.insert(&u.id, u.password.clone(), u.role, &u.email)?;
        }
        Ok(Self {
            accounts: Accounts::new(store, hasher),
        })
    }

    pub fn accounts(&self) -> &Accounts<T, H> {
        &self.accounts
    }
}

impl<T: Table<User>, H: PasswordHasher> AccountFlows for ProvenAccounts<T, H> {
    fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        self.accounts.promote(credentials, target)
    }

    fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), StoreError> {
        self.accounts.demote(credentials, target)
    }

    fn change_password(
        &self,
        credentials: &Credentials,
        new_password: &str,
    ) -> Result<(), StoreError> {
        self.accounts
            .change_password(credentials, credentials.user_id(), new_password)
    }

    fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError> {
        self.accounts
            .update_email(credentials, expected_version, email)
    }

    fn user(&self, user_id: &str) -> Option<User> {
        self.accounts.store().get(user_id)
    }

    fn audit(&self) -> Vec<Commit> {
        self.accounts.store().audit()
    }
}
