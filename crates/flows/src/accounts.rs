//! The Basic-auth endpoints (seed 000): `/promote`, `/update-email`, and the rival actors
//! `/demote` and `/password`, in every variant behind [`raceproof_core::service::Accounts`].
//!
//! `proven_fix` is the service over the in-memory [`UserStore`]. The seed variants are the
//! service over [`SeedUsers`], whose writes are the seed's statements:
//!
//! - promote's race: the acting admin's authority is checked, then the write happens
//!   later; a demotion or password change that lands in between does not stop the write.
//! - update-email's race: the version is compared, then the email written, then the version
//!   bumped, as three statements; two requests with the same expected version both pass.
//! - demote's race (not in the seeds, same family): two admins demoting each other both see
//!   "another admin remains", and both writes land (write skew).

use crate::{Narrator, SeedUsers, UserSpec, Variant};
use raceproof_core::audit::{Action, AuditPage, AuditQuery, Commit};
use raceproof_core::auth::PasswordHash;
use raceproof_core::backend::{BackendError, CredentialSnapshot, UserRepository};
use raceproof_core::store::{Principal, Role, StoreError, User, UserStore};
use raceproof_core::table::{GlobalMutex, Table};

/// The in-memory store of `proven_fix` under lock strategy `T`, holding `users`, its audit
/// log narrated into `log`.
pub fn proven_store<T: Table<User> + Default>(
    users: &[UserSpec],
    require_precondition: bool,
    log: &Narrator,
) -> Result<UserStore<T>, StoreError> {
    let store = UserStore::with_table(T::default())
        .audit_log(log.audit_log())
        .require_precondition(require_precondition);
    for u in users {
        store.insert(&u.id, u.password.clone(), u.role, &u.email)?;
    }
    Ok(store)
}

/// The user records of `variant` in this process: the seed's dict (seed variants, which
/// take no If-Match setting: the seed's fix always needs a version, its vulnerable
/// endpoint never reads one) or the store with the default strategy (`proven_fix`).
pub fn users_repository(
    variant: Variant,
    users: &[UserSpec],
    require_precondition: bool,
    log: &Narrator,
) -> Result<Box<dyn UserRepository>, StoreError> {
    Ok(match variant {
        Variant::ProvenFix => Box::new(proven_store::<GlobalMutex<User>>(
            users,
            require_precondition,
            log,
        )?),
        seed => Box::new(SeedUsers::new(seed == Variant::SeedFix, users, log.clone())),
    })
}

impl SeedUsers {
    /// The pattern the seed warns about: the role decided at authentication, then the
    /// target record read, then written back whole.
    fn promote_seed_vulnerable(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        if actor.role() != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        // RACE WINDOW: the actor can be demoted or its password changed from here on.
        let mut record = self.get(target).ok_or(StoreError::NotFound)?;
        record.role = Role::Admin;
        // RACE WINDOW: and here; the whole record is written back from the stale read.
        let action = Action::Promote {
            target: target.to_owned(),
        };
        self.put(target, record, actor, action)
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
    fn promote_seed_fix(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        // The "fresh snapshot" of the role, read through the live record.
        let role = self
            .role(actor.user_id())
            .ok_or(StoreError::InvalidCredentials)?;
        // RACE WINDOW: the snapshot is already stale for any demotion from here on.
        if role != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        if !self.exists(target) {
            return Err(StoreError::NotFound);
        }
        // RACE WINDOW
        self.set_role(target, Role::Admin, actor)
    }

    /// Read-modify-write of the whole record with no version at all: the classic lost
    /// update. The client's expected version is ignored.
    fn update_email_seed_vulnerable(
        &self,
        actor: &Principal,
        email: &str,
    ) -> Result<u64, StoreError> {
        let user = actor.user_id();
        let mut record = self.get(user).ok_or(StoreError::NotFound)?;
        // RACE WINDOW: another update can read the same record here.
        record.email = email.to_owned();
        record.version += 1;
        let version = record.version;
        let action = Action::UpdateEmail {
            user: user.to_owned(),
            email: email.to_owned(),
            version,
        };
        self.put(user, record, actor, action)?;
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
        actor: &Principal,
        expected_version: u64,
        email: &str,
    ) -> Result<u64, StoreError> {
        let user = actor.user_id();
        if !self.exists(user) {
            return Err(StoreError::NotFound);
        }
        let current = self.version(user).ok_or(StoreError::NotFound)?;
        if current != expected_version {
            return Err(StoreError::PreconditionFailed { current });
        }
        // RACE WINDOW: a second request with the same expected version passes too.
        self.set_email(user, email, actor)?;
        // RACE WINDOW
        self.increment_version(user)?;
        // RACE WINDOW: the response reads the record again.
        self.version(user).ok_or(StoreError::NotFound)
    }
}

/// The seed's endpoints as a repository: each write is the seed's statements, with the
/// race windows between them; authentication is the service's, as in the seed.
impl UserRepository for SeedUsers {
    fn insert(
        &self,
        user_id: &str,
        password: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        let record = User {
            password,
            role,
            email: email.to_owned(),
            version: 1,
            credential_epoch: 0,
        };
        Ok(SeedUsers::insert(self, user_id, record)?)
    }

    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        Ok(SeedUsers::get(self, user_id))
    }

    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        Ok(self.get_current_user(user_id))
    }

    fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        credential_epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> Result<bool, BackendError> {
        Ok(SeedUsers::replace_hash_if_unchanged(
            self,
            user_id,
            credential_epoch,
            verified,
            upgraded,
        ))
    }

    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        Ok(if self.fixed {
            self.promote_seed_fix(actor, target)
        } else {
            self.promote_seed_vulnerable(actor, target)
        }?)
    }

    /// Check the actor's role, count the admins, write: three critical sections (the seed
    /// has no demote; this is how its style writes one).
    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        if self.role(actor.user_id()) != Some(Role::Admin) {
            return Err(StoreError::Forbidden.into());
        }
        if self.admin_count() < 2 {
            return Err(StoreError::LastAdmin.into());
        }
        // RACE WINDOW: the other admin, counted above, may be demoting us right now.
        Ok(self.set_role(target, Role::User, actor)?)
    }

    /// `USERS[user]["password"] = new_password`, for one's own password only (the seed has
    /// no such endpoint; the server's `/password` changes the caller's).
    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new_password: PasswordHash,
    ) -> Result<(), BackendError> {
        if user != actor.user_id() {
            return Err(StoreError::Forbidden.into());
        }
        Ok(self.set_password(user, new_password, actor)?)
    }

    fn update_email(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        Ok(match (self.fixed, expected_version) {
            (false, _) => self.update_email_seed_vulnerable(actor, email),
            (true, Some(expected)) => self.update_email_seed_fix(actor, expected, email),
            // The seed's body model requires `expected_version`.
            (true, None) => Err(StoreError::PreconditionRequired),
        }?)
    }

    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        Ok(SeedUsers::audit(self))
    }

    fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, BackendError> {
        Ok(SeedUsers::audit_page(self, query))
    }
}
