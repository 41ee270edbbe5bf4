//! The versioned user store.
//!
//! Each user has a password hash, a role, an email and two counters: `version` (the record's
//! ETag, bumped by every write) and `credential_epoch` (bumped when the password changes, so
//! that a request authenticated before the change can be told apart from one after).
//!
//! Two kinds of operation live here:
//! - the **atomic operations** ([`UserStore::promote`], [`UserStore::update_email`],
//!   [`UserStore::demote`], [`UserStore::change_password`]): check and effect in one critical
//!   section, the check including the acting user's *current* authority;
//! - **statement-level access** through [`UserStore::unguarded`]: one critical section per
//!   call, exactly like the seeds' Python statements. A sequence of these calls is not
//!   atomic; it exists so that vulnerable code can be ported faithfully and caught.

use crate::auth::{Credentials, PasswordHash, PasswordHasher, verify_or_dummy};
use crate::observe::{Event, Fact, NoProbe, Probe};
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
/// The role is what it was *at authentication*; the atomic operations re-check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub credential_epoch: u64,
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
}

/// The user store, generic over its lock strategy `T` and its probe `P`.
pub struct UserStore<T = GlobalMutex<User>, P = NoProbe> {
    table: T,
    probe: P,
    require_precondition: bool,
}

impl UserStore {
    /// A store with the default strategy and no probe.
    pub fn new() -> Self {
        Self::with(GlobalMutex::default(), NoProbe)
    }
}

impl Default for UserStore {
    fn default() -> Self {
        Self::new()
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput { field });
    }
    Ok(())
}

/// The actor's authority *now*: same credentials as at authentication, and the role.
fn check_actor(actor: &Principal, record: Option<&User>, need: Role) -> Result<(), StoreError> {
    let record = record.ok_or(StoreError::CredentialsRevoked)?;
    if record.credential_epoch != actor.credential_epoch {
        return Err(StoreError::CredentialsRevoked);
    }
    if need == Role::Admin && record.role != Role::Admin {
        return Err(StoreError::Forbidden);
    }
    Ok(())
}

impl<T: Table<User>, P: Probe> UserStore<T, P> {
    pub fn with(table: T, probe: P) -> Self {
        Self {
            table,
            probe,
            require_precondition: false,
        }
    }

    /// Refuse email updates without an expected version (428) instead of applying them.
    pub fn require_precondition(mut self, required: bool) -> Self {
        self.require_precondition = required;
        self
    }

    pub fn probe(&self) -> &P {
        &self.probe
    }

    /// Adds or replaces a user at version 1.
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
        self.table.upsert(user_id, user);
        self.probe.record(|| {
            Event::new(
                format!("insert {user_id} (role {role})"),
                Fact::RoleSet {
                    user: user_id.to_owned(),
                    role,
                },
            )
        });
        Ok(())
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
            Some((_, role, credential_epoch)) if ok => {
                self.probe
                    .record(|| Event::note(format!("authenticate {user_id}: ok (role {role})")));
                Ok(Principal {
                    user_id: user_id.to_owned(),
                    role,
                    credential_epoch,
                })
            }
            _ => {
                self.probe
                    .record(|| Event::note(format!("authenticate {user_id}: rejected")));
                Err(StoreError::InvalidCredentials)
            }
        }
    }

    /// Makes `target` an admin, if `actor` is an admin with unchanged credentials *at the
    /// moment of the write*: check and write are one critical section.
    pub fn promote(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        let probe = &self.probe;
        self.table
            .write_pair(&actor.user_id, target, |actor_record, target_record| {
                check_actor(actor, actor_record.as_deref(), Role::Admin)?;
                // For a self-promotion the pair holds one entry, passed first.
                let record = if actor.user_id == target {
                    actor_record
                } else {
                    target_record
                };
                let record = record.ok_or(StoreError::NotFound)?;
                record.role = Role::Admin;
                record.version += 1;
                probe.record(|| role_written(target, Role::Admin, &actor.user_id));
                Ok(())
            })
    }

    /// Makes `target` a plain user, if `actor` is an admin now and at least one other admin
    /// would remain: the admin count is read in the same critical section as the write, so
    /// two admins demoting each other cannot both succeed (no write skew).
    pub fn demote(&self, actor: &Principal, target: &str) -> Result<(), StoreError> {
        let probe = &self.probe;
        self.table.write_all(|entries| {
            check_actor(
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
            probe.record(|| role_written(target, Role::User, &actor.user_id));
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
        let probe = &self.probe;
        self.table
            .write_pair(&actor.user_id, user, |actor_record, user_record| {
                let own = actor.user_id == user;
                check_actor(
                    actor,
                    actor_record.as_deref(),
                    if own { Role::User } else { Role::Admin },
                )?;
                let record = if own { actor_record } else { user_record };
                let record = record.ok_or(StoreError::NotFound)?;
                record.password = new_password;
                record.credential_epoch += 1;
                record.version += 1;
                probe.record(|| {
                    Event::new(
                        format!("write {user}.password (credentials revoked)"),
                        Fact::PasswordChanged {
                            user: user.to_owned(),
                        },
                    )
                });
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
        let probe = &self.probe;
        // Refusals (revoked credentials, stale version) are decided by `check`, which a
        // read-sharing strategy can run under its read lock.
        let check = |record: Option<&User>| {
            check_actor(actor, record, Role::User)?;
            let record = record.ok_or(StoreError::NotFound)?;
            match expected_version {
                Some(expected) if record.version != expected => {
                    probe.record(|| {
                        Event::note(format!(
                            "compare {user}.version = {} with expected {expected}: conflict",
                            record.version
                        ))
                    });
                    Err(StoreError::PreconditionFailed {
                        current: record.version,
                    })
                }
                _ => Ok(()),
            }
        };
        self.table.write_checked(user, check, |record| {
            let record = record.ok_or(StoreError::NotFound)?;
            record.email = email.to_owned();
            record.version += 1;
            probe.record(|| email_written(user, email, record.version));
            Ok(record.version)
        })
    }

    /// Statement-level access: each call its own critical section, as in the seeds.
    pub fn unguarded(&self) -> Unguarded<'_, T, P> {
        Unguarded { store: self }
    }
}

fn role_written(target: &str, role: Role, by: &str) -> Event {
    Event::new(
        format!("write {target}.role = {role} (by {by})"),
        Fact::RoleSet {
            user: target.to_owned(),
            role,
        },
    )
}

fn email_written(user: &str, email: &str, version: u64) -> Event {
    Event::new(
        format!("write {user}.email = {email} (version {version})"),
        Fact::EmailSet {
            user: user.to_owned(),
            email: email.to_owned(),
            version,
        },
    )
}

/// One critical section per call, nothing held between calls: the Python dict the seeds
/// use, with its statements as methods. Sequences of these calls are where races live.
pub struct Unguarded<'a, T, P> {
    store: &'a UserStore<T, P>,
}

impl<T: Table<User>, P: Probe> Unguarded<'_, T, P> {
    /// `USERS.get(user)`: the whole record, copied.
    pub fn get(&self, user_id: &str) -> Option<User> {
        let probe = &self.store.probe;
        self.store.table.read(user_id, |user| {
            probe.record(|| match user {
                Some(u) => Event::note(format!(
                    "read {user_id} = {{role {}, email {}, version {}}}",
                    u.role, u.email, u.version
                )),
                None => Event::note(format!("read {user_id} = none")),
            });
            user.cloned()
        })
    }

    /// `user in USERS`
    pub fn exists(&self, user_id: &str) -> bool {
        let probe = &self.store.probe;
        self.store.table.read(user_id, |user| {
            probe.record(|| Event::note(format!("read {user_id} exists = {}", user.is_some())));
            user.is_some()
        })
    }

    /// `USERS[user]["role"]`
    pub fn role(&self, user_id: &str) -> Option<Role> {
        let probe = &self.store.probe;
        self.store.table.read(user_id, |user| {
            let role = user.map(|u| u.role);
            probe.record(|| match role {
                Some(role) => Event::note(format!("read {user_id}.role = {role}")),
                None => Event::note(format!("read {user_id}.role = none")),
            });
            role
        })
    }

    /// `USERS[user]["_v"]`
    pub fn version(&self, user_id: &str) -> Option<u64> {
        let probe = &self.store.probe;
        self.store.table.read(user_id, |user| {
            let version = user.map(|u| u.version);
            probe.record(|| match version {
                Some(v) => Event::note(format!("read {user_id}.version = {v}")),
                None => Event::note(format!("read {user_id}.version = none")),
            });
            version
        })
    }

    /// `len([u for u in USERS.values() if u["role"] == "admin"])`
    pub fn admin_count(&self) -> usize {
        let probe = &self.store.probe;
        self.store.table.write_all(|entries| {
            let mut admins = 0usize;
            entries.for_each(&mut |_, user| admins += usize::from(user.role == Role::Admin));
            probe.record(|| Event::note(format!("count admins = {admins}")));
            admins
        })
    }

    /// `USERS[user]["role"] = role` (acting as `by`, for the trace).
    pub fn set_role(&self, user_id: &str, role: Role, by: &str) -> Result<(), StoreError> {
        let probe = &self.store.probe;
        self.store.table.write(user_id, |user| {
            let user = user.ok_or(StoreError::NotFound)?;
            user.role = role;
            probe.record(|| role_written(user_id, role, by));
            Ok(())
        })
    }

    /// `USERS[user]["email"] = email` (the version is left alone, as in the seed).
    pub fn set_email(&self, user_id: &str, email: &str) -> Result<(), StoreError> {
        let probe = &self.store.probe;
        self.store.table.write(user_id, |user| {
            let user = user.ok_or(StoreError::NotFound)?;
            user.email = email.to_owned();
            probe.record(|| email_written(user_id, email, user.version));
            Ok(())
        })
    }

    /// `USERS[user]["_v"] += 1`: one statement, so one critical section.
    pub fn increment_version(&self, user_id: &str) -> Result<u64, StoreError> {
        let probe = &self.store.probe;
        self.store.table.write(user_id, |user| {
            let user = user.ok_or(StoreError::NotFound)?;
            user.version += 1;
            probe.record(|| Event::note(format!("write {user_id}.version = {}", user.version)));
            Ok(user.version)
        })
    }

    /// `USERS[user] = record`: write a whole (possibly stale) record back, acting as `by`.
    pub fn put(&self, user_id: &str, record: User, by: &str) -> Result<(), StoreError> {
        let probe = &self.store.probe;
        self.store.table.write(user_id, |user| {
            let user = user.ok_or(StoreError::NotFound)?;
            probe.record(|| {
                if record.role == user.role {
                    email_written(user_id, &record.email, record.version)
                } else {
                    role_written(user_id, record.role, by)
                }
            });
            *user = record;
            Ok(())
        })
    }
}
