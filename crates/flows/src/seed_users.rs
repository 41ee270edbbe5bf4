//! The seeds' `USERS` dict: one critical section per Python statement, nothing held between
//! statements. Sequences of these calls are where the races live.
//!
//! `/promote` and `/update-email` are `def` routes: FastAPI runs them on its thread pool,
//! one request a thread, whatever the number of event loops, so their ports are blocking
//! flows (the catalogue's `.actor`), judged with every statement a switch point.
//!
//! Every write also appends to an [`AuditLog`] in its own critical section, with the
//! actor's role and credential epoch read there: the seed has no audit, but a service that
//! serves it needs one to make the promote race visible from outside (`GET /audit`), and
//! the models judge commits with the same rule as the proven fix.
//!
//! Who a request acts as is the [`Principal`] the service's `authenticate` made from
//! [`SeedUsers::get_current_user`]'s read: the seed's snapshot, stale as soon as it is read.

use crate::Narrator;
use crate::UserSpec;
use raceproof_core::audit::{Action, AuditLog, AuditPage, AuditQuery, Commit, Pending};
use raceproof_core::auth::PasswordHash;
use raceproof_core::backend::CredentialSnapshot;
use raceproof_core::store::{Principal, Role, StoreError, User};
use raceproof_core::sync::Mutex;
use std::collections::HashMap;

/// The seed's `USERS` dict, and its endpoints' writes as the seed makes them
/// ([`SeedUsers`]' `UserRepository` implementation, in `accounts.rs`).
pub struct SeedUsers {
    /// The seed's fixed endpoints (`seed_fix`) rather than the vulnerable ones.
    pub(crate) fixed: bool,
    users: Mutex<HashMap<String, User>>,
    audit: AuditLog,
    pub(crate) log: Narrator,
}

impl SeedUsers {
    /// The dict holding `users`, each at version 1; `fixed` picks `seed_fix`'s endpoints.
    pub fn new(fixed: bool, users: &[UserSpec], log: Narrator) -> Self {
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
            .collect();
        Self {
            fixed,
            users: Mutex::new(users),
            audit: log.audit_log(),
            log,
        }
    }

    pub fn audit(&self) -> Vec<Commit> {
        self.audit.entries()
    }

    /// One page of the committed writes kept.
    pub fn audit_page(&self, query: AuditQuery) -> AuditPage {
        self.audit.page(query)
    }

    /// `USERS[user] = {...}` for a new user (the seed's dict literal, one entry).
    pub(crate) fn insert(&self, user_id: &str, record: User) -> Result<(), StoreError> {
        let mut users = self.users.lock();
        if users.contains_key(user_id) {
            return Err(StoreError::AlreadyExists);
        }
        users.insert(user_id.to_owned(), record);
        Ok(())
    }

    /// The read of the seed's `get_current_user` dependency:
    ///
    /// ```python
    /// user = USERS.get(credentials.username)
    /// if user is None or not secrets.compare_digest(user["password"], credentials.password):
    ///     raise HTTPException(401)
    /// ```
    ///
    /// One read of the record; the comparison (a slow hash) is the service's
    /// `authenticate`, outside any lock, as in the seed.
    pub(crate) fn get_current_user(&self, user_id: &str) -> Option<CredentialSnapshot> {
        let user = self.users.lock().get(user_id).map(|u| CredentialSnapshot {
            password: u.password.clone(),
            role: u.role,
            credential_epoch: u.credential_epoch,
        });
        self.log.note(|| match &user {
            Some(u) => format!(
                "get_current_user {user_id}: read (snapshot role {})",
                u.role
            ),
            None => format!("get_current_user {user_id}: no such user"),
        });
        user
    }

    /// `USERS.get(user)`: the whole record, copied.
    pub(crate) fn get(&self, user_id: &str) -> Option<User> {
        let user = self.users.lock().get(user_id).cloned();
        self.log.note(|| match &user {
            Some(u) => format!(
                "read {user_id} = {{role {}, email {}, version {}}}",
                u.role, u.email, u.version
            ),
            None => format!("read {user_id} = none"),
        });
        user
    }

    /// `user in USERS`
    pub(crate) fn exists(&self, user_id: &str) -> bool {
        let exists = self.users.lock().contains_key(user_id);
        self.log
            .note(|| format!("read {user_id} exists = {exists}"));
        exists
    }

    /// `USERS[user]["role"]`
    pub(crate) fn role(&self, user_id: &str) -> Option<Role> {
        let role = self.users.lock().get(user_id).map(|u| u.role);
        self.log.note(|| match role {
            Some(role) => format!("read {user_id}.role = {role}"),
            None => format!("read {user_id}.role = none"),
        });
        role
    }

    /// `USERS[user]["_v"]`
    pub(crate) fn version(&self, user_id: &str) -> Option<u64> {
        let version = self.users.lock().get(user_id).map(|u| u.version);
        self.log.note(|| match version {
            Some(v) => format!("read {user_id}.version = {v}"),
            None => format!("read {user_id}.version = none"),
        });
        version
    }

    /// `len([u for u in USERS.values() if u["role"] == "admin"])`
    pub(crate) fn admin_count(&self) -> usize {
        let admins = self
            .users
            .lock()
            .values()
            .filter(|u| u.role == Role::Admin)
            .count();
        self.log.note(|| format!("count admins = {admins}"));
        admins
    }

    /// One write statement: `write` changes `user_id`'s record and says what it did; the
    /// commit is logged with `actor`'s authority read in the same critical section (the
    /// seed checks nothing there: the audit entry is how a model sees what it let through).
    fn write(
        &self,
        user_id: &str,
        actor: &Principal,
        write: impl FnOnce(&mut User) -> Action,
    ) -> Result<(), StoreError> {
        let mut users = self.users.lock();
        // The actor's authority as the write finds it (before the write: a password change
        // revokes requests after it, not itself).
        let by = users
            .get(actor.user_id())
            .map(|u| (u.role, u.credential_epoch));
        let record = users.get_mut(user_id).ok_or(StoreError::NotFound)?;
        let action = write(record);
        self.audit.append(Pending {
            actor: actor.user_id().to_owned(),
            action,
            actor_role_at_commit: by.map(|(role, _)| role),
            actor_epoch_at_commit: by.map_or(0, |(_, epoch)| epoch),
            authenticated_epoch: actor.credential_epoch(),
        });
        Ok(())
    }

    /// `USERS[user]["role"] = role`
    pub(crate) fn set_role(
        &self,
        user_id: &str,
        role: Role,
        actor: &Principal,
    ) -> Result<(), StoreError> {
        self.write(user_id, actor, |user| {
            user.role = role;
            role_action(user_id, role)
        })
    }

    /// `USERS[user]["email"] = email` (the version is left alone, as in the seed).
    pub(crate) fn set_email(
        &self,
        user_id: &str,
        email: &str,
        actor: &Principal,
    ) -> Result<(), StoreError> {
        self.write(user_id, actor, |user| {
            user.email = email.to_owned();
            Action::UpdateEmail {
                user: user_id.to_owned(),
                email: email.to_owned(),
                version: user.version,
            }
        })
    }

    /// `USERS[user]["password"] = new_password`
    pub(crate) fn set_password(
        &self,
        user_id: &str,
        password: PasswordHash,
        actor: &Principal,
    ) -> Result<(), StoreError> {
        self.write(user_id, actor, |user| {
            user.password = password;
            user.credential_epoch += 1;
            Action::ChangePassword {
                user: user_id.to_owned(),
            }
        })
    }

    /// `USERS[user]["_v"] += 1`: one statement, so one critical section.
    pub(crate) fn increment_version(&self, user_id: &str) -> Result<u64, StoreError> {
        let version = {
            let mut users = self.users.lock();
            let user = users.get_mut(user_id).ok_or(StoreError::NotFound)?;
            user.version += 1;
            user.version
        };
        self.log
            .note(|| format!("write {user_id}.version = {version}"));
        Ok(version)
    }

    /// `USERS[user] = record`: write a whole (possibly stale) record back. `action` says
    /// what the request meant to do (the audit's label: a promotion that finds the target
    /// already an admin is still a promotion).
    pub(crate) fn put(
        &self,
        user_id: &str,
        record: User,
        actor: &Principal,
        action: Action,
    ) -> Result<(), StoreError> {
        self.write(user_id, actor, |user| {
            *user = record;
            action
        })
    }
}

fn role_action(user_id: &str, role: Role) -> Action {
    let target = user_id.to_owned();
    match role {
        Role::Admin => Action::Promote { target },
        Role::User => Action::Demote { target },
    }
}

impl SeedUsers {
    /// The service's hash upgrade on login, as one statement: the seed stores plain
    /// passwords and has no such step, so this only keeps the seed's records usable behind
    /// the service (it never fires with the hasher the users were made with).
    pub(crate) fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> bool {
        let mut users = self.users.lock();
        match users.get_mut(user_id) {
            Some(u) if u.password == *verified && u.credential_epoch == epoch => {
                u.password = upgraded;
                true
            }
            _ => false,
        }
    }
}
