//! A service's audit log (`GET /audit`), and `commit_order`: every write committed during a
//! burst, judged by raceproof's one authorization rule,
//! [`raceproof_core::audit::Commit::authorized`], as the catalogue's `authorized_at_commit`
//! judges a model's commits.
//!
//! The tester does not restate the rule: [`AuditEntry::commit`] maps an entry onto the core's
//! `Commit`, action and role names included (the core's own `Action::name` and `Role` display),
//! and the core decides. That mapping is the one place that knows the audit's schema.

use std::fmt;

use raceproof_core::audit::{Action, Commit, Unauthorized};
use raceproof_core::store::Role;
use serde::{Deserialize, Serialize};

use crate::wire::Response;

/// The body of `GET /audit`: the committed writes, in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuditListing {
    pub entries: Vec<AuditEntry>,
}

/// One committed write, as raceproof's server lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// The user whose authority the write claims.
    pub actor: String,
    /// `promote`, `demote`, `change_password`, `update_email`.
    pub action: String,
    /// The user whose record was written.
    pub target: String,
    /// The actor's role read when the write committed; `null` when the actor was gone. The
    /// field must be there: an audit that does not say cannot be judged.
    #[serde(deserialize_with = "Option::deserialize")]
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
    /// The commit raceproof's rule judges.
    pub fn commit(&self) -> Result<Commit, EntryProblem> {
        let target = self.target.clone();
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
            .find(|action| action.name() == self.action)
            .ok_or_else(|| {
                EntryProblem::Unjudgeable(format!("unknown action `{}`", self.action))
            })?;
        let role = match self.actor_role_at_commit.as_deref() {
            None => None,
            Some(name) => Some(
                [Role::Admin, Role::User]
                    .into_iter()
                    .find(|role| role.to_string() == name)
                    .ok_or_else(|| EntryProblem::Unjudgeable(format!("unknown role `{name}`")))?,
            ),
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
    pub fn authorized(&self) -> Result<(), EntryProblem> {
        self.commit()?
            .authorized()
            .map_err(EntryProblem::Unauthorized)
    }
}

impl AuditListing {
    /// Parses an audit response.
    pub fn parse(response: &Response) -> Result<Self, String> {
        if !response.is_success() {
            return Err(format!("audit answered {}", response.status));
        }
        serde_json::from_slice(&response.body)
            .map_err(|error| format!("audit body is not {{\"entries\":[...]}}: {error}"))
    }

    /// The last sequence number, 0 when empty.
    pub fn last_seq(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| entry.seq)
            .max()
            .unwrap_or(0)
    }

    /// The entries committed after `before`.
    pub fn after(self, before: u64) -> Vec<AuditEntry> {
        self.entries
            .into_iter()
            .filter(|entry| entry.seq > before)
            .collect()
    }
}

/// `commit_order`: each write committed after `before` that raceproof's rule does not
/// authorize, with the last earlier write of the burst to the actor's own record (a demotion,
/// a password change) for context.
pub fn commit_order(before: u64, after: &Result<Response, String>) -> Option<String> {
    let window = match after
        .as_ref()
        .map_err(Clone::clone)
        .and_then(AuditListing::parse)
    {
        Ok(listing) => listing.after(before),
        Err(error) => return Some(format!("cannot read the audit after the burst: {error}")),
    };
    let problems: Vec<String> = window
        .iter()
        .enumerate()
        .filter_map(|(position, entry)| {
            let problem = entry.authorized().err()?;
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
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(json: &str) -> Result<Response, String> {
        Ok(Response {
            status: 200,
            headers: Vec::new(),
            body: bytes::Bytes::from(json.to_owned()),
        })
    }

    /// An entry by `actor` on `target`, with the actor's role at commit and both epochs.
    fn entry(
        seq: u64,
        actor: &str,
        action: &str,
        target: &str,
        role: &str,
        epochs: (u64, u64),
    ) -> String {
        let role = if role == "null" {
            role.to_owned()
        } else {
            format!("\"{role}\"")
        };
        format!(
            r#"{{"seq":{seq},"actor":"{actor}","action":"{action}","target":"{target}","actor_role_at_commit":{role},"actor_epoch_at_commit":{},"authenticated_epoch":{}}}"#,
            epochs.0, epochs.1
        )
    }

    fn listing(entries: &[String]) -> Result<Response, String> {
        audit(&format!(r#"{{"entries":[{}]}}"#, entries.join(",")))
    }

    #[test]
    fn commit_order_flags_unauthorized_commits_with_their_context() {
        let racy = listing(&[
            entry(1, "root", "promote", "admin", "admin", (0, 0)),
            entry(2, "root", "demote", "admin", "admin", (0, 0)),
            entry(3, "admin", "promote", "alice", "user", (0, 0)),
        ]);
        let found = commit_order(1, &racy);
        assert_eq!(
            found.as_deref(),
            Some(
                "promote by admin (seq 3): the actor is not an admin at this instant (after admin's demote, seq 2)"
            )
        );
        let fine = listing(&[
            entry(2, "admin", "promote", "alice", "admin", (0, 0)),
            entry(3, "root", "demote", "admin", "admin", (0, 0)),
        ]);
        assert_eq!(commit_order(1, &fine), None);
        // Entries before the burst are not judged.
        assert_eq!(commit_order(3, &racy), None);
        assert!(commit_order(0, &audit("not json")).is_some());
        assert!(commit_order(0, &Err("connection reset".to_owned())).is_some());
    }

    #[test]
    fn the_core_rule_decides_not_the_order_of_the_log() {
        // admin, demoted at seq 2, then changes its own password: that needs no admin role, so
        // it is authorized although it follows the demotion.
        let own = listing(&[
            entry(2, "root", "demote", "admin", "admin", (0, 0)),
            entry(3, "admin", "change_password", "admin", "user", (0, 0)),
        ]);
        assert_eq!(commit_order(1, &own), None);
        // Changing another user's email needs an admin.
        let others = listing(&[entry(4, "bob", "update_email", "alice", "user", (0, 0))]);
        assert_eq!(
            commit_order(1, &others).as_deref(),
            Some("update_email by bob (seq 4): the actor is not an admin at this instant")
        );
        let stale_epoch = listing(&[entry(9, "admin", "update_email", "admin", "admin", (2, 1))]);
        assert!(commit_order(0, &stale_epoch).is_some_and(|d| d.contains("password changed")),);
        let gone = listing(&[entry(9, "ghost", "update_email", "ghost", "null", (0, 0))]);
        assert!(commit_order(0, &gone).is_some_and(|d| d.contains("no longer exists")));
    }

    #[test]
    fn an_entry_the_rule_cannot_read_is_flagged_not_passed() {
        let unknown_action = listing(&[entry(1, "root", "delete", "bob", "admin", (0, 0))]);
        assert!(
            commit_order(0, &unknown_action)
                .is_some_and(|d| d.contains("cannot be judged: unknown action `delete`"))
        );
        let unknown_role = listing(&[entry(1, "root", "promote", "bob", "owner", (0, 0))]);
        assert!(
            commit_order(0, &unknown_role)
                .is_some_and(|d| d.contains("cannot be judged: unknown role `owner`"))
        );
        // No role field at all is not "the actor is gone": the audit cannot be read.
        let silent = audit(
            r#"{"entries":[{"seq":1,"actor":"root","action":"promote","target":"bob","actor_epoch_at_commit":0,"authenticated_epoch":0}]}"#,
        );
        assert!(commit_order(0, &silent).is_some_and(
            |d| d.contains("cannot read the audit") && d.contains("actor_role_at_commit")
        ));
    }
}
