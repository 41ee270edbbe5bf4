//! The seeds' `USERS` dict: one critical section per Python statement, nothing held between
//! statements. Sequences of these calls are where the races live.
//!
//! Every write also appends to an [`AuditLog`] in its own critical section, with the
//! actor's role and credential epoch read there: the seed has no audit, but a service that
//! serves it needs one to make the promote race visible from outside (`GET /audit`), and
//! the models judge commits with the same rule as the proven fix.

use crate::Narrator;
use raceproof_core::audit::{Action, AuditLog, Commit, Pending};
use raceproof_core::auth::{Credentials, PasswordHash, PasswordHasher, verify_or_dummy};
use raceproof_core::store::{Role, StoreError, User};
use raceproof_core::sync::Mutex;
use std::collections::HashMap;

/// Who a seed request acts as: the record `get_current_user` returned.
#[derive(Debug, Clone)]
pub(crate) struct SeedActor {
    pub user_id: String,
    /// The role in the snapshot (stale as soon as it is read).
    pub role: Role,
    pub credential_epoch: u64,
}

pub(crate) struct SeedUsers {
    users: Mutex<HashMap<String, User>>,
    audit: AuditLog,
    pub log: Narrator,
}

impl SeedUsers {
    pub fn new(users: HashMap<String, User>, log: Narrator) -> Self {
        let audit = match log.commit_listener() {
            Some(listener) => AuditLog::default().with_listener(listener),
            None => AuditLog::default(),
        };
        Self {
            users: Mutex::new(users),
            audit,
            log,
        }
    }

    pub fn audit(&self) -> Vec<Commit> {
        self.audit.entries()
    }

    /// The seed's `get_current_user` dependency:
    ///
    /// ```python
    /// user = USERS.get(credentials.username)
    /// if user is None or not secrets.compare_digest(user["password"], credentials.password):
    ///     raise HTTPException(401)
    /// ```
    ///
    /// One read of the record, then the comparison (slow hash, outside any lock).
    pub fn get_current_user(
        &self,
        hasher: &impl PasswordHasher,
        credentials: &Credentials,
    ) -> Result<SeedActor, StoreError> {
        let user_id = credentials.user_id();
        let user = self.users.lock().get(user_id).cloned();
        let ok = verify_or_dummy(
            hasher,
            credentials.password(),
            user.as_ref().map(|u| &u.password),
        );
        match user {
            Some(u) if ok => {
                self.log
                    .note(|| format!("get_current_user {user_id}: ok (snapshot role {})", u.role));
                Ok(SeedActor {
                    user_id: user_id.to_owned(),
                    role: u.role,
                    credential_epoch: u.credential_epoch,
                })
            }
            _ => {
                self.log.note(|| format!("get_current_user {user_id}: 401"));
                Err(StoreError::InvalidCredentials)
            }
        }
    }

    /// `USERS.get(user)`: the whole record, copied.
    pub fn get(&self, user_id: &str) -> Option<User> {
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
    pub fn exists(&self, user_id: &str) -> bool {
        let exists = self.users.lock().contains_key(user_id);
        self.log
            .note(|| format!("read {user_id} exists = {exists}"));
        exists
    }

    /// `USERS[user]["role"]`
    pub fn role(&self, user_id: &str) -> Option<Role> {
        let role = self.users.lock().get(user_id).map(|u| u.role);
        self.log.note(|| match role {
            Some(role) => format!("read {user_id}.role = {role}"),
            None => format!("read {user_id}.role = none"),
        });
        role
    }

    /// `USERS[user]["_v"]`
    pub fn version(&self, user_id: &str) -> Option<u64> {
        let version = self.users.lock().get(user_id).map(|u| u.version);
        self.log.note(|| match version {
            Some(v) => format!("read {user_id}.version = {v}"),
            None => format!("read {user_id}.version = none"),
        });
        version
    }

    /// `len([u for u in USERS.values() if u["role"] == "admin"])`
    pub fn admin_count(&self) -> usize {
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
    /// commit is logged with `actor`'s authority read in the same critical section.
    fn write(
        &self,
        user_id: &str,
        actor: &SeedActor,
        write: impl FnOnce(&mut User) -> Action,
    ) -> Result<(), StoreError> {
        let mut users = self.users.lock();
        // The actor's authority as the write finds it (before the write: a password change
        // revokes requests after it, not itself).
        let by = users
            .get(&actor.user_id)
            .map(|u| (u.role, u.credential_epoch));
        let record = users.get_mut(user_id).ok_or(StoreError::NotFound)?;
        let action = write(record);
        self.audit.append(Pending {
            actor: actor.user_id.clone(),
            action,
            actor_role_at_commit: by.map(|(role, _)| role),
            actor_epoch_at_commit: by.map_or(0, |(_, epoch)| epoch),
            authenticated_epoch: actor.credential_epoch,
        });
        Ok(())
    }

    /// `USERS[user]["role"] = role`
    pub fn set_role(&self, user_id: &str, role: Role, actor: &SeedActor) -> Result<(), StoreError> {
        self.write(user_id, actor, |user| {
            user.role = role;
            role_action(user_id, role)
        })
    }

    /// `USERS[user]["email"] = email` (the version is left alone, as in the seed).
    pub fn set_email(
        &self,
        user_id: &str,
        email: &str,
        actor: &SeedActor,
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
    pub fn set_password(
        &self,
        user_id: &str,
        password: PasswordHash,
        actor: &SeedActor,
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
    pub fn increment_version(&self, user_id: &str) -> Result<u64, StoreError> {
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
    pub fn put(
        &self,
        user_id: &str,
        record: User,
        actor: &SeedActor,
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
