//! `POST /promote`: an admin makes another user an admin (seed 000).
//!
//! The race: the acting admin's authority is checked, then the write happens later; a
//! demotion or password change that lands in between does not stop the write.

use super::Accounts;
use crate::auth::{Credentials, PasswordHasher};
use crate::observe::Probe;
use crate::store::{Role, StoreError, User};
use crate::table::Table;

impl<T: Table<User>, P: Probe, H: PasswordHasher> Accounts<T, P, H> {
    /// The pattern the seed warns about: authenticate, then read the target record, then
    /// write it back, with the role decided at authentication.
    pub fn promote_seed_vulnerable(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let actor = self.seed_authenticate(credentials)?;
        if actor.role != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        // RACE WINDOW: the actor can be demoted or its password changed from here on.
        let mut record = self
            .store
            .unguarded()
            .get(target)
            .ok_or(StoreError::NotFound)?;
        record.role = Role::Admin;
        // RACE WINDOW: and here; the whole record is written back from the stale read.
        self.store
            .unguarded()
            .put(target, record, credentials.user_id())
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
    pub fn promote_seed_fix(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let user = credentials.user_id();
        self.seed_authenticate(credentials)?;
        // The "fresh snapshot" of the role, read through the live record.
        let role = self
            .store
            .unguarded()
            .role(user)
            .ok_or(StoreError::InvalidCredentials)?;
        // RACE WINDOW: the snapshot is already stale for any demotion from here on.
        if role != Role::Admin {
            return Err(StoreError::Forbidden);
        }
        if !self.store.unguarded().exists(target) {
            return Err(StoreError::NotFound);
        }
        // RACE WINDOW
        self.store.unguarded().set_role(target, Role::Admin, user)
    }

    /// Ours: authenticate outside any lock, then re-check the actor's role and credential
    /// epoch in the same critical section as the write.
    pub fn promote_proven_fix(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        self.narrate_refusal("promote", target, self.store.promote(&actor, target))
    }
}
