//! The versioned user store.
//!
//! Each user has a password hash, a role, an email and two counters: `version` (the record's
//! ETag, bumped by every write) and `credential_epoch` (bumped when the password changes, so
//! that a request authenticated before the change can be told apart from one after).
//!
//! Every write is an *atomic operation*: the check (the acting user's authority *now*, the
//! expected version) and the effect are one critical section, and the write is appended to
//! the store's [`AuditLog`] in that same section.

use crate::audit::{Action, AuditLog, Commit, Pending};
use crate::auth::{Credentials, PasswordHash, PasswordHasher, verify_or_dummy};
use crate::table::{GlobalMutex, Table};
use std::fmt;

/// Longest user-id stored, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;
/// Longest email stored, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::User => "user",
            Role::Admin => "admin",
        })
    }
}

/// A stored user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub password: PasswordHash,
    pub role: Role,
    pub email: String,
    pub version: u64,
    pub credential_epoch: u64,
}

/// A user who proved their password: who, with which role, as of which credential epoch.
///
/// Only [`UserStore::authenticate`] makes one, so holding a `Principal` means a password
/// was checked. The role is what it was *at authentication*; the atomic operations re-check
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    user_id: String,
    role: Role,
    credential_epoch: u64,
}

impl Principal {
    /// For repositories in this crate that verified the password themselves
    /// ([`crate::backend::authenticate_with`]).
    pub(crate) fn new(user_id: &str, role: Role, credential_epoch: u64) -> Self {
        Self {
            user_id: user_id.to_owned(),
            role,
            credential_epoch,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The role at authentication (possibly stale by now).
    pub fn role(&self) -> Role {
        self.role
    }

    pub fn credential_epoch(&self) -> u64 {
        self.credential_epoch
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

/// The actor's authority as read inside a write's critical section.
#[derive(Debug, Clone, Copy)]
struct Witness {
    role: Role,
    credential_epoch: u64,
}

impl Witness {
    /// The audit entry of `actor`'s write, made with this authority.
    fn commit(self, actor: &Principal, action: Action) -> Pending {
        Pending {
            actor: actor.user_id.clone(),
            action,
            actor_role_at_commit: Some(self.role),
            actor_epoch_at_commit: self.credential_epoch,
            authenticated_epoch: actor.credential_epoch,
        }
    }
}

/// The actor's authority *now*: same credentials as at authentication, and the role.
fn check_actor(
    actor: &Principal,
    record: Option<&User>,
    need: Role,
) -> Result<Witness, StoreError> {
    let record = record.ok_or(StoreError::CredentialsRevoked)?;
    if record.credential_epoch != actor.credential_epoch {
        return Err(StoreError::CredentialsRevoked);
    }
    if need == Role::Admin && record.role != Role::Admin {
        return Err(StoreError::Forbidden);
    }
    Ok(Witness {
        role: record.role,
        credential_epoch: record.credential_epoch,
    })
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

    /// Checks Basic credentials: one snapshot of the hash, then one slow verification
    /// *outside* the lock. Unknown users cost the same verification as known ones.
    pub fn authenticate<H: PasswordHasher + ?Sized>(
        &self,
        hasher: &H,
        credentials: &Credentials,
    ) -> Result<Principal, StoreError> {
        let user_id = credentials.user_id();
        let snapshot = self.table.read(user_id, |user| {
            user.map(|u| (u.password.clone(), u.role, u.credential_epoch))
        });
        let ok = verify_or_dummy(
            hasher,
            credentials.password(),
            snapshot.as_ref().map(|(hash, _, _)| hash),
        );
        match snapshot {
            Some((hash, role, credential_epoch)) if ok => {
                if hasher.needs_rehash(&hash) {
                    self.upgrade_hash(hasher, credentials, &hash, credential_epoch);
                }
                Ok(Principal {
                    user_id: user_id.to_owned(),
                    role,
                    credential_epoch,
                })
            }
            _ => Err(StoreError::InvalidCredentials),
        }
    }

    /// Upgrade on login (the needs-rehash pattern): the password just verified is hashed
    /// again with the hasher's current parameters, outside any lock, and stored only if the
    /// record still holds the hash it was verified against (a password change in between
    /// wins). Same password, so neither the credential epoch nor the version moves: no
    /// login is revoked and no ETag goes stale. A failed hash leaves the old one in place.
    ///
    /// Until a user logs in once after a cost upgrade, their old hash stays at the old cost:
    /// `verify_or_dummy` pads such logins to the current cost, so timing does not tell them
    /// from unknown users, but the old digest is as crackable offline as its parameters.
    fn upgrade_hash<H: PasswordHasher + ?Sized>(
        &self,
        hasher: &H,
        credentials: &Credentials,
        verified: &PasswordHash,
        epoch: u64,
    ) {
        let Ok(upgraded) = hasher.hash(credentials.password()) else {
            return;
        };
        self.replace_hash_if_unchanged(credentials.user_id(), epoch, verified, upgraded);
    }

    /// Stores `upgraded` if `user_id` still holds `verified` at `epoch`; whether it did.
    pub(crate) fn replace_hash_if_unchanged(
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
        self.table
            .write_pair(&actor.user_id, target, |actor_record, target_record| {
                let witness = check_actor(actor, actor_record.as_deref(), Role::Admin)?;
                // For a self-promotion the pair holds one entry, passed first.
                let record = if actor.user_id == target {
                    actor_record
                } else {
                    target_record
                };
                let record = record.ok_or(StoreError::NotFound)?;
                record.role = Role::Admin;
                record.version += 1;
                let action = Action::Promote {
                    target: target.to_owned(),
                };
                self.audit.append(witness.commit(actor, action));
                Ok(())
            })
    }

    /// Makes `target` a plain user, if `actor` is an admin now and at least one other admin
    /// would remain: the admin count is read in the same critical section as the write, so
    /// two admins demoting each other cannot both succeed (no write skew).
    pub fn demote(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        self.table.write_all(|entries| {
            let witness = check_actor(
                actor,
                entries.get_mut(&actor.user_id).map(|u| &*u),
                Role::Admin,
            )?;
            let mut admins = 0usize;
            entries.for_each(&mut |_, user| admins += usize::from(user.role == Role::Admin));
            let record = entries.get_mut(target).ok_or(StoreError::NotFound)?;
            if record.role == Role::Admin && admins <= 1 {
                return Err(StoreError::LastAdmin);
            }
            record.role = Role::User;
            record.version += 1;
            // A self-demotion commits with the role the actor had when it decided.
            let action = Action::Demote {
                target: target.to_owned(),
            };
            self.audit.append(witness.commit(actor, action));
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
        self.table
            .write_pair(&actor.user_id, user, |actor_record, user_record| {
                let own = actor.user_id == user;
                let witness = check_actor(
                    actor,
                    actor_record.as_deref(),
                    if own { Role::User } else { Role::Admin },
                )?;
                let record = if own { actor_record } else { user_record };
                let record = record.ok_or(StoreError::NotFound)?;
                record.password = new_password;
                record.credential_epoch += 1;
                record.version += 1;
                let action = Action::ChangePassword {
                    user: user.to_owned(),
                };
                self.audit.append(witness.commit(actor, action));
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
        let user = actor.user_id.as_str();
        // Refusals (revoked credentials, stale version) are decided by `check`, which a
        // read-sharing strategy can run under its read lock.
        let check = |record: Option<&User>| {
            check_actor(actor, record, Role::User)?;
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
            let witness = check_actor(actor, record.as_deref(), Role::User)?;
            let record = record.ok_or(StoreError::NotFound)?;
            record.email = email.to_owned();
            record.version += 1;
            let action = Action::UpdateEmail {
                user: user.to_owned(),
                email: email.to_owned(),
                version: record.version,
            };
            self.audit.append(witness.commit(actor, action));
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
