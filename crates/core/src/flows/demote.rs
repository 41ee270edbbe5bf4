//! `POST /demote`: an admin makes another admin a plain user, as long as one admin remains.
//!
//! Not in the seeds, but the same family: two admins demoting each other at once both see
//! "another admin remains", and both writes land, leaving no admin (write skew).

use super::Accounts;
use crate::auth::{Credentials, PasswordHasher};
use crate::observe::Probe;
use crate::store::{Role, StoreError, User};
use crate::table::Table;

impl<T: Table<User>, P: Probe, H: PasswordHasher> Accounts<T, P, H> {
    /// Check the actor's role, count the admins, write: three critical sections.
    pub fn demote_vulnerable(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        let unguarded = self.store.unguarded();
        if unguarded.role(&actor.user_id) != Some(Role::Admin) {
            return Err(StoreError::Forbidden);
        }
        if unguarded.admin_count() < 2 {
            return Err(StoreError::LastAdmin);
        }
        // RACE WINDOW: the other admin, counted above, may be demoting us right now.
        unguarded.set_role(target, Role::User, &actor.user_id)
    }

    /// Ours: authority, admin count and write in one critical section.
    pub fn demote_proven_fix(
        &self,
        credentials: &Credentials,
        target: &str,
    ) -> Result<(), StoreError> {
        let actor = self.authenticate(credentials)?;
        self.narrate_refusal("demote", target, self.store.demote(&actor, target))
    }
}
