//! Who may make a write: roles, the principal a login yields, and the one authorization rule.
//!
//! A write needs a role ([`crate::audit::Action::needs`]) and is made on the authority of a
//! [`Principal`]. [`Principal::authorize`] decides it from the actor's record *as read at
//! the write*: the record must still exist, at the credential epoch the request
//! authenticated with (a password change in between revokes the request), with the role
//! the write needs. Every repository calls it inside the critical section (or transaction)
//! that writes, and [`crate::audit::Commit::authorized`] judges a logged commit with the
//! same rule afterwards, so the rule a write is held to and the rule its audit entry is
//! judged by cannot drift apart.

use std::fmt;

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

/// What an actor's record says at one instant: its role and credential epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Standing {
    pub role: Role,
    pub credential_epoch: u64,
}

/// Why a write (or a commit) was not authorized at the instant it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    #[error("the actor no longer exists")]
    ActorGone,
    #[error("the actor's password changed before this commit")]
    CredentialsRevoked,
    #[error("the actor is not an admin at this instant")]
    NotAdmin,
}

/// The authorization rule: an actor that authenticated at `authenticated_epoch`, whose
/// record reads `now` at the write (`None`: gone), may make a write that needs `need`.
/// Returns the standing it was authorized on (what the audit entry records).
pub fn authorize(
    need: Role,
    authenticated_epoch: u64,
    now: Option<Standing>,
) -> Result<Standing, Unauthorized> {
    let standing = now.ok_or(Unauthorized::ActorGone)?;
    if standing.credential_epoch != authenticated_epoch {
        return Err(Unauthorized::CredentialsRevoked);
    }
    if need == Role::Admin && standing.role != Role::Admin {
        return Err(Unauthorized::NotAdmin);
    }
    Ok(standing)
}

/// A user who proved their password: who, with which role, as of which credential epoch.
///
/// Only [`crate::service::Accounts::authenticate`] makes one, so holding a `Principal`
/// means a password was checked, and a repository's write can only be reached through it.
/// The role is what it was *at authentication*; every write re-checks it with
/// [`Principal::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    user_id: String,
    standing: Standing,
}

impl Principal {
    /// For the service's `authenticate`, once the password verified.
    pub(crate) fn new(user_id: &str, standing: Standing) -> Self {
        Self {
            user_id: user_id.to_owned(),
            standing,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The role at authentication (possibly stale by now).
    pub fn role(&self) -> Role {
        self.standing.role
    }

    pub fn credential_epoch(&self) -> u64 {
        self.standing.credential_epoch
    }

    /// The role and epoch at authentication.
    pub fn standing(&self) -> Standing {
        self.standing
    }

    /// [`authorize`]s a write by this principal that needs `need`, against its record as
    /// read at the write.
    pub fn authorize(&self, need: Role, now: Option<Standing>) -> Result<Standing, Unauthorized> {
        authorize(need, self.standing.credential_epoch, now)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const ADMIN: Standing = Standing {
        role: Role::Admin,
        credential_epoch: 3,
    };

    #[test]
    fn the_rule_reads_presence_then_epoch_then_role() {
        assert_eq!(authorize(Role::User, 3, None), Err(Unauthorized::ActorGone));
        assert_eq!(
            authorize(Role::User, 2, Some(ADMIN)),
            Err(Unauthorized::CredentialsRevoked)
        );
        let user = Standing {
            role: Role::User,
            ..ADMIN
        };
        assert_eq!(
            authorize(Role::Admin, 3, Some(user)),
            Err(Unauthorized::NotAdmin)
        );
        assert_eq!(authorize(Role::User, 3, Some(user)), Ok(user));
        assert_eq!(authorize(Role::Admin, 3, Some(ADMIN)), Ok(ADMIN));
    }
}
