//! A service's audit log (`GET /audit`), and `commit_order`: the writes committed during a
//! burst, each judged on the authority its actor held when it committed.

use serde::{Deserialize, Serialize};

use crate::wire::Response;

/// The body of `GET /audit`: the committed writes, in commit order.
#[derive(Debug, Deserialize)]
pub struct AuditListing {
    pub entries: Vec<AuditEntry>,
}

/// One committed write, as raceproof's server records it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub actor_role_at_commit: Option<String>,
    #[serde(default)]
    pub actor_epoch_at_commit: Option<u64>,
    #[serde(default)]
    pub authenticated_epoch: Option<u64>,
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

/// Which role an action needs (raceproof's server: admin for promote, demote, and changing
/// another user's password).
fn needs_admin(entry: &AuditEntry) -> bool {
    match entry.action.as_str() {
        "promote" | "demote" => true,
        "change_password" => entry
            .target
            .as_deref()
            .is_some_and(|target| target != entry.actor),
        _ => false,
    }
}

/// `commit_order`: what is wrong with the writes committed after `before`, if anything.
pub fn commit_order(
    before: u64,
    after: &Result<Response, String>,
    revokes: &[String],
) -> Option<String> {
    let log = match after
        .as_ref()
        .map_err(Clone::clone)
        .and_then(AuditListing::parse)
    {
        Ok(log) => log,
        Err(error) => return Some(format!("cannot read the audit after the burst: {error}")),
    };
    let window: Vec<&AuditEntry> = log
        .entries
        .iter()
        .filter(|entry| entry.seq > before)
        .collect();
    let mut problems = Vec::new();
    for (position, entry) in window.iter().enumerate() {
        let revoked = window[..position].iter().find(|earlier| {
            revokes.contains(&earlier.action)
                && earlier.target.as_deref() == Some(entry.actor.as_str())
        });
        if let Some(revocation) = revoked {
            problems.push(format!(
                "{} by {} (seq {}) committed after {}'s {} (seq {})",
                entry.action,
                entry.actor,
                entry.seq,
                entry.actor,
                revocation.action,
                revocation.seq
            ));
        }
        if needs_admin(entry)
            && let Some(role) = entry
                .actor_role_at_commit
                .as_deref()
                .filter(|role| *role != "admin")
        {
            problems.push(format!(
                "{} by {} (seq {}) committed while {} was {role}",
                entry.action, entry.actor, entry.seq, entry.actor
            ));
        }
        if let (Some(at_commit), Some(authenticated)) =
            (entry.actor_epoch_at_commit, entry.authenticated_epoch)
            && at_commit != authenticated
        {
            problems.push(format!(
                "{} by {} (seq {}) committed at credential epoch {at_commit}, authenticated at {authenticated}",
                entry.action, entry.actor, entry.seq
            ));
        }
    }
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

    fn revokes() -> Vec<String> {
        vec!["demote".to_owned(), "change_password".to_owned()]
    }

    #[test]
    fn commit_order_flags_writes_after_revocation_and_unauthorized_commits() {
        let racy = r#"{"entries":[
            {"seq":1,"actor":"root","action":"promote","target":"admin","actor_role_at_commit":"admin","actor_epoch_at_commit":0,"authenticated_epoch":0},
            {"seq":2,"actor":"root","action":"demote","target":"admin","actor_role_at_commit":"admin","actor_epoch_at_commit":0,"authenticated_epoch":0},
            {"seq":3,"actor":"admin","action":"promote","target":"alice","actor_role_at_commit":"user","actor_epoch_at_commit":0,"authenticated_epoch":0}]}"#;
        let found = commit_order(1, &audit(racy), &revokes());
        assert!(
            found.as_deref().is_some_and(
                |d| d.contains("after admin's demote") && d.contains("while admin was user")
            ),
            "{found:?}"
        );
        let fine = r#"{"entries":[
            {"seq":2,"actor":"admin","action":"promote","target":"alice","actor_role_at_commit":"admin","actor_epoch_at_commit":0,"authenticated_epoch":0},
            {"seq":3,"actor":"root","action":"demote","target":"admin","actor_role_at_commit":"admin","actor_epoch_at_commit":0,"authenticated_epoch":0}]}"#;
        assert_eq!(commit_order(1, &audit(fine), &revokes()), None);
        // Entries before the burst are not judged.
        assert_eq!(commit_order(3, &audit(racy), &revokes()), None);
        let stale_epoch = r#"{"entries":[{"seq":9,"actor":"admin","action":"update_email","actor_epoch_at_commit":2,"authenticated_epoch":1}]}"#;
        assert!(commit_order(0, &audit(stale_epoch), &revokes()).is_some());
        assert!(commit_order(0, &audit("not json"), &revokes()).is_some());
    }
}
