//! A service's audit log, and `commit_order`: every write committed during a burst, judged by
//! raceproof's one authorization rule, [`raceproof_core::audit::Commit::authorized`], as the
//! catalogue's `authorized_at_commit` judges a model's commits.
//!
//! The tester does not restate the rule: [`AuditEntry::commit`] maps an entry onto the core's
//! `Commit` (the service's action and role names through the [`AuditSchema`]'s mapping onto the
//! core's own `Action::name` and `Role` display), and the core decides. The schema says where
//! each field of an entry is (JSON pointers), so any service that keeps an audit log of who
//! wrote what, with the writer's role when it committed, can be judged; its default is
//! raceproof's own server's `GET /audit`.

mod mark;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt;

use raceproof_core::audit::{Action, Commit, Unauthorized};
use raceproof_core::store::Role;
use serde::{Deserialize, Serialize};

use crate::judged::Judged;

pub use mark::AuditMark;
pub use schema::AuditSchema;

/// The core's actions, by the names the rule knows them by (`Action::name`).
pub fn core_actions() -> [&'static str; 4] {
    ["promote", "demote", "change_password", "update_email"]
}

/// The core's roles, by their display names.
pub fn core_roles() -> [String; 2] {
    [Role::Admin.to_string(), Role::User.to_string()]
}

/// One committed write, as the service listed it (its own action and role names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// The user whose authority the write claims.
    pub actor: String,
    pub action: String,
    /// The user whose record was written.
    pub target: String,
    /// The actor's role read when the write committed; `None` when the actor was gone.
    pub actor_role_at_commit: Option<String>,
    /// The actor's credential epoch when the write committed.
    pub actor_epoch_at_commit: u64,
    /// The credential epoch the request authenticated with.
    pub authenticated_epoch: u64,
    /// `update_email` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// Why an entry is flagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// raceproof's rule says the actor lacked the authority when the write committed.
    Unauthorized(Unauthorized),
    /// The entry names an action or a role the rule does not know.
    Unjudgeable(String),
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::Unauthorized(why) => write!(f, "{why}"),
            EntryProblem::Unjudgeable(why) => write!(f, "cannot be judged: {why}"),
        }
    }
}

impl AuditEntry {
    /// The commit raceproof's rule judges, the service's names mapped by `schema`.
    pub fn commit(&self, schema: &AuditSchema) -> Result<Commit, EntryProblem> {
        let target = self.target.clone();
        let core_action = schema.actions.get(&self.action).ok_or_else(|| {
            EntryProblem::Unjudgeable(format!("unknown action `{}`", self.action))
        })?;
        // The rule reads neither the email nor the version.
        let actions = [
            Action::Promote {
                target: target.clone(),
            },
            Action::Demote {
                target: target.clone(),
            },
            Action::ChangePassword {
                user: target.clone(),
            },
            Action::UpdateEmail {
                user: target,
                email: self.email.clone().unwrap_or_default(),
                version: self.version.unwrap_or_default(),
            },
        ];
        let action = actions
            .into_iter()
            .find(|action| action.name() == core_action)
            .ok_or_else(|| {
                EntryProblem::Unjudgeable(format!("unknown action `{}`", self.action))
            })?;
        let role = match self.actor_role_at_commit.as_deref() {
            None => None,
            Some(name) => {
                let unknown = || EntryProblem::Unjudgeable(format!("unknown role `{name}`"));
                let core = schema.roles.get(name).ok_or_else(unknown)?;
                Some(
                    [Role::Admin, Role::User]
                        .into_iter()
                        .find(|role| role.to_string() == *core)
                        .ok_or_else(unknown)?,
                )
            }
        };
        Ok(Commit {
            seq: self.seq,
            actor: self.actor.clone(),
            action,
            actor_role_at_commit: role,
            actor_epoch_at_commit: self.actor_epoch_at_commit,
            authenticated_epoch: self.authenticated_epoch,
        })
    }

    /// Whether the actor held the authority this write needs when it committed:
    /// [`Commit::authorized`] on [`Self::commit`].
    pub fn authorized(&self, schema: &AuditSchema) -> Result<(), EntryProblem> {
        self.commit(schema)?
            .authorized()
            .map_err(EntryProblem::Unauthorized)
    }

    /// Whether `other` is this entry as listed again (the same write).
    pub(crate) fn same_write(&self, other: &AuditEntry) -> bool {
        (&self.actor, &self.action, &self.target) == (&other.actor, &other.action, &other.target)
    }
}

/// `commit_order`: each write committed since `before` that raceproof's rule does not
/// authorize, with the last earlier write of the burst to the actor's own record (a demotion, a
/// password change) for context. Undecided when the two reads are not of one log.
pub fn commit_order(
    schema: &AuditSchema,
    before: &AuditMark,
    after: &Result<Vec<AuditEntry>, String>,
) -> Judged {
    let after = match after {
        Ok(after) => after,
        Err(error) => {
            return Judged::Broken(format!("cannot read the audit after the burst: {error}"));
        }
    };
    if let Some(why) = before.not_the_same_log(after) {
        return Judged::Undecided(why);
    }
    let window = before.window(after);
    let problems: Vec<String> = window
        .iter()
        .enumerate()
        .filter(|(_, entry)| !schema.ignore.contains(&entry.action))
        .filter_map(|(position, entry)| {
            let problem = entry.authorized(schema).err()?;
            let context = window[..position]
                .iter()
                .rev()
                .find(|earlier| earlier.target == entry.actor)
                .map(|earlier| {
                    format!(
                        " (after {}'s {}, seq {})",
                        entry.actor, earlier.action, earlier.seq
                    )
                })
                .unwrap_or_default();
            Some(format!(
                "{} by {} (seq {}): {problem}{context}",
                entry.action, entry.actor, entry.seq
            ))
        })
        .collect();
    if problems.is_empty() {
        Judged::Held
    } else {
        Judged::Broken(problems.join("; "))
    }
}
