//! The versioned user store.
//!
//! Each user has a password hash, a role, an email and two counters: `version` (the record's
//! ETag, bumped by every write) and `credential_epoch` (bumped when the password changes, so
//! that a request authenticated before the change can be told apart from one after).
//!
//! Every write is an *atomic operation*: the check (the acting user's authority *now*, the
//! expected version) and the effect are one critical section, and the write is appended to
//! the store's [`AuditLog`] in that same section.

use crate::audit::{Action, AuditLog, AuditPage, AuditQuery, Commit, Pending};
use crate::auth::PasswordHash;
pub use crate::authority::{Principal, Role};
use crate::authority::{Standing, Unauthorized};
use crate::table::{GlobalMutex, Table};

/// Longest user-id stored, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;
/// Longest email stored, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A stored user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub password: PasswordHash,
    pub role: Role,
    pub email: String,
    pub version: u64,
    pub credential_epoch: u64,
}

impl User {
    /// The role and credential epoch, as a write authorizes against them.
    pub fn standing(&self) -> Standing {
        Standing {
            role: self.role,
            credential_epoch: self.credential_epoch,
        }
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

impl CredentialSnapshot {
    pub fn standing(&self) -> Standing {
        Standing {
            role: self.role,
            credential_epoch: self.credential_epoch,
        }
    }
}

/// Why a store operation refused. Each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// 401: unknown user or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 401: the password changed after this request authenticated.
    #[error("credentials were revoked while the request was in flight")]
    CredentialsRevoked,
    /// 403: the acting user lacks the role at the moment of the write.
    #[error("the acting user is not an admin")]
    Forbidden,
    /// 404: the user named in the request does not exist.
    #[error("user not found")]
    NotFound,
    /// 409: a user with this id already exists.
    #[error("user already exists")]
    AlreadyExists,
    /// 412 (409 in the seed): the record is no longer at the expected version.
    #[error("precondition failed: the record is at version {current}")]
    PreconditionFailed { current: u64 },
    /// 428: this store requires an expected version and none was given.
    #[error("an expected version (If-Match) is required")]
    PreconditionRequired,
    /// 409: the change would leave no admin.
    #[error("the last admin cannot be demoted")]
    LastAdmin,
    /// 400: a field is empty, too long or contains control characters.
    #[error("invalid {field}")]
    InvalidInput { field: &'static str },
    /// 500: the operation could not run (e.g. the OS random source failed); nothing was
    /// written.
    #[error("internal error; nothing was changed")]
    Internal,
}

/// A write refused by the authorization rule, as the client is told: a gone actor or a
/// changed password is 401 (authenticate again), a missing role 403.
impl From<Unauthorized> for StoreError {
    fn from(e: Unauthorized) -> Self {
        match e {
            Unauthorized::ActorGone | Unauthorized::CredentialsRevoked => {
                StoreError::CredentialsRevoked
            }
            Unauthorized::NotAdmin => StoreError::Forbidden,
        }
    }
}

/// The user store, generic over its lock strategy `T`.
pub struct UserStore<T = GlobalMutex<User>> {
    table: T,
    audit: AuditLog,
    require_precondition: bool,
}

impl UserStore {
    /// A store with the default strategy.
    pub fn new() -> Self {
        Self::with_table(GlobalMutex::default())
    }
}

impl Default for UserStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks a text field: not empty, at most `max` bytes, no control characters.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput { field });
    }
    Ok(())
}

/// The actor's authority *now*, by the authorization rule, against its record as read in
/// this critical section.
fn check_actor(
    actor: &Principal,
    record: Option<&User>,
    need: Role,
) -> Result<Standing, StoreError> {
    Ok(actor.authorize(need, record.map(User::standing))?)
}

impl<T: Table<User>> UserStore<T> {
    pub fn with_table(table: T) -> Self {
        Self {
            table,
            audit: AuditLog::default(),
            require_precondition: false,
        }
    }

    /// Replaces the audit log (its capacity, a listener).
    pub fn audit_log(mut self, audit: AuditLog) -> Self {
        self.audit = audit;
        self
    }

    /// Refuse email updates without an expected version (428) instead of applying them.
    pub fn require_precondition(mut self, required: bool) -> Self {
        self.require_precondition = required;
        self
    }

    /// Whether email updates need an expected version.
    pub fn requires_precondition(&self) -> bool {
        self.require_precondition
    }

    /// The committed writes kept, in commit order.
    pub fn audit(&self) -> Vec<Commit> {
        self.audit.entries()
    }

    /// One page of the committed writes kept.
    pub fn audit_page(&self, query: AuditQuery) -> AuditPage {
        self.audit.page(query)
    }

    /// Adds a new user at version 1. An existing user is never replaced: that would reset
    /// its counters and make revoked credentials and stale versions valid again.
    pub fn insert(
        &self,
        user_id: &str,
        password: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), StoreError> {
        check_text("user-id", user_id, MAX_USER_ID_LEN)?;
        check_text("email", email, MAX_EMAIL_LEN)?;
        let user = User {
            password,
            role,
            email: email.to_owned(),
            version: 1,
            credential_epoch: 0,
        };
        if self.table.insert_new(user_id, user) {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    /// A copy of a user's record (one critical section).
    pub fn get(&self, user_id: &str) -> Option<User> {
        self.table.read(user_id, |user| user.cloned())
    }

    /// The hash, role and epoch of `user_id`, read in one critical section (for
    /// [`crate::service::Accounts::authenticate`], which verifies outside any lock).
    pub fn credentials(&self, user_id: &str) -> Option<CredentialSnapshot> {
        self.table.read(user_id, |user| {
            user.map(|u| CredentialSnapshot {
                password: u.password.clone(),
                role: u.role,
                credential_epoch: u.credential_epoch,
            })
        })
    }

    /// Upgrade on login (see [`crate::service::Accounts::authenticate`]): stores `upgraded`
    /// if `user_id` still holds `verified` at `epoch`, so that a password change in between
    /// wins; whether it did. Neither the epoch nor the version moves: same password.
    pub fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> bool {
        self.table.write(user_id, |user| match user {
            Some(user) if user.password == *verified && user.credential_epoch == epoch => {
                user.password = upgraded;
                true
            }
            _ => false,
        })
    }

    /// Makes `target` an admin, if `actor` is an admin with unchanged credentials *at the
    /// moment of the write*: check and write are one critical section.
    pub fn promote(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        let action = Action::Promote {
            target: target.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.table
            .write_pair(actor.user_id(), target, |actor_record, target_record| {
                let witness = check_actor(actor, actor_record.as_deref(), need)?;
                // For a self-promotion the pair holds one entry, passed first.
                let record = if actor.user_id() == target {
                    actor_record
                } else {
                    target_record
                };
                let record = record.ok_or(StoreError::NotFound)?;
                record.role = Role::Admin;
                record.version += 1;
                self.audit.append(Pending::new(actor, witness, action));
                Ok(())
            })
    }

    /// Makes `target` a plain user, if `actor` is an admin now and at least one other admin
    /// would remain: the admin count is read in the same critical section as the write, so
    /// two admins demoting each other cannot both succeed (no write skew).
    pub fn demote(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        let action = Action::Demote {
            target: target.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.table.write_all(|entries| {
            let witness = check_actor(actor, entries.get_mut(actor.user_id()).map(|u| &*u), need)?;
            let mut admins = 0usize;
            entries.for_each(&mut |_, user| admins += usize::from(user.role == Role::Admin));
            let record = entries.get_mut(target).ok_or(StoreError::NotFound)?;
            if record.role == Role::Admin && admins <= 1 {
                return Err(StoreError::LastAdmin);
            }
            record.role = Role::User;
            record.version += 1;
            // A self-demotion commits with the role the actor had when it decided.
            self.audit.append(Pending::new(actor, witness, action));
            Ok(())
        })
    }

    /// Replaces `user`'s password; allowed for the user themself or an admin, checked in the
    /// same critical section. Every request authenticated before this returns is revoked.
    pub fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new_password: PasswordHash,
    ) -> Result<(), StoreError> {
        let action = Action::ChangePassword {
            user: user.to_owned(),
        };
        let need = action.needs(actor.user_id());
        self.table
            .write_pair(actor.user_id(), user, |actor_record, user_record| {
                let witness = check_actor(actor, actor_record.as_deref(), need)?;
                // For one's own password the pair holds one entry, passed first.
                let record = if actor.user_id() == user {
                    actor_record
                } else {
                    user_record
                };
                let record = record.ok_or(StoreError::NotFound)?;
                record.password = new_password;
                record.credential_epoch += 1;
                record.version += 1;
                self.audit.append(Pending::new(actor, witness, action));
                Ok(())
            })
    }

    /// Compare-and-set of the actor's own email: applied only if the record is at
    /// `expected_version` (If-Match), in the same critical section as the write. Returns the
    /// new version.
    pub fn update_email(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError> {
        check_text("email", email, MAX_EMAIL_LEN)?;
        if expected_version.is_none() && self.require_precondition {
            return Err(StoreError::PreconditionRequired);
        }
        let user = actor.user_id();
        // One's own record: `Action::UpdateEmail`'s need, without building the action (and
        // its strings) for a refusal.
        let need = Role::User;
        // Refusals (revoked credentials, stale version) are decided by `check`, which a
        // read-sharing strategy can run under its read lock.
        let check = |record: Option<&User>| {
            check_actor(actor, record, need)?;
            let record = record.ok_or(StoreError::NotFound)?;
            match expected_version {
                Some(expected) if record.version != expected => {
                    Err(StoreError::PreconditionFailed {
                        current: record.version,
                    })
                }
                _ => Ok(()),
            }
        };
        self.table.write_checked(user, check, |record| {
            let witness = check_actor(actor, record.as_deref(), need)?;
            let record = record.ok_or(StoreError::NotFound)?;
            record.email = email.to_owned();
            record.version += 1;
            let action = Action::UpdateEmail {
                user: user.to_owned(),
                email: email.to_owned(),
                version: record.version,
            };
            self.audit.append(Pending::new(actor, witness, action));
            Ok(record.version)
        })
    }
}

/// A failed hash of a new password: the client's fault only when it is too long.
impl From<crate::auth::PasswordError> for StoreError {
    fn from(e: crate::auth::PasswordError) -> Self {
        use crate::auth::PasswordError;
        match e {
            PasswordError::TooLong => StoreError::InvalidInput { field: "password" },
            PasswordError::InvalidParams
            | PasswordError::Randomness
            | PasswordError::MalformedHash => StoreError::Internal,
        }
    }
}
