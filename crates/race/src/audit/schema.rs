//! Where the fields of a service's audit entries are ([`AuditSchema`]), and reading entries
//! with it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{AuditEntry, core_actions, core_roles};
use crate::extract::json_text;
use crate::wire::Response;

/// Where the fields of an audit entry are, and what the service's action and role names mean
/// to the core's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSchema {
    /// JSON pointer to the array of entries in the response body (`/entries`).
    pub entries: String,
    /// JSON pointers, within an entry: its sequence number (an integer that grows with commit
    /// order), the user whose authority the write claims, the action, the user whose record was
    /// written, the actor's role read when the write committed (`null`: the actor was gone).
    pub seq: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub role: String,
    /// The actor's credential epoch when the write committed and the one the request
    /// authenticated with. `None`: the service keeps no epochs, and the rule is given equal
    /// ones (it cannot then see a write made with credentials changed since the login).
    pub epochs: Option<(String, String)>,
    /// The service's action name -> the core's (`promote`, `demote`, `change_password`,
    /// `update_email`).
    pub actions: BTreeMap<String, String>,
    /// The service's role name -> the core's (`admin`, `user`).
    pub roles: BTreeMap<String, String>,
    /// The service's actions the rule has nothing to say about (listed, not judged).
    pub ignore: Vec<String>,
}

impl Default for AuditSchema {
    /// raceproof's server: `{"entries":[{"seq","actor","action","target",
    /// "actor_role_at_commit","actor_epoch_at_commit","authenticated_epoch"}]}`, with the core's
    /// own names.
    fn default() -> Self {
        AuditSchema {
            entries: "/entries".to_owned(),
            seq: "/seq".to_owned(),
            actor: "/actor".to_owned(),
            action: "/action".to_owned(),
            target: "/target".to_owned(),
            role: "/actor_role_at_commit".to_owned(),
            epochs: Some((
                "/actor_epoch_at_commit".to_owned(),
                "/authenticated_epoch".to_owned(),
            )),
            actions: core_actions()
                .into_iter()
                .map(|name| (name.to_owned(), name.to_owned()))
                .collect(),
            roles: core_roles()
                .into_iter()
                .map(|name| (name.clone(), name))
                .collect(),
            ignore: Vec::new(),
        }
    }
}

impl AuditSchema {
    /// The entries of an audit response, in the order listed.
    pub fn parse(&self, response: &Response) -> Result<Vec<AuditEntry>, String> {
        if !response.is_success() {
            return Err(format!("audit answered {}", response.status));
        }
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|error| format!("audit body is not JSON: {error}"))?;
        let entries = body
            .pointer(&self.entries)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("audit body has no array at `{}`", self.entries))?;
        entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                self.entry(entry)
                    .map_err(|error| format!("audit entry {}: {error}", index + 1))
            })
            .collect()
    }

    fn entry(&self, entry: &Value) -> Result<AuditEntry, String> {
        let field = |pointer: &str| {
            entry
                .pointer(pointer)
                .ok_or_else(|| format!("no `{pointer}`"))
        };
        let text = |pointer: &str| -> Result<String, String> {
            match field(pointer)? {
                value @ (Value::String(_) | Value::Number(_)) => Ok(json_text(value)),
                other => Err(format!("`{pointer}` is {other}, not a string")),
            }
        };
        let number = |pointer: &str| -> Result<u64, String> {
            field(pointer)?
                .as_u64()
                .ok_or_else(|| format!("`{pointer}` is not a non-negative integer"))
        };
        // The role must be there: an audit that does not say cannot be judged. `null`: the
        // actor was gone.
        let actor_role_at_commit = match field(&self.role)? {
            Value::Null => None,
            Value::String(role) => Some(role.clone()),
            other => return Err(format!("`{}` is {other}, not a role", self.role)),
        };
        let (actor_epoch_at_commit, authenticated_epoch) = match &self.epochs {
            Some((at_commit, authenticated)) => (number(at_commit)?, number(authenticated)?),
            None => (0, 0),
        };
        Ok(AuditEntry {
            seq: number(&self.seq)?,
            actor: text(&self.actor)?,
            action: text(&self.action)?,
            target: text(&self.target)?,
            actor_role_at_commit,
            actor_epoch_at_commit,
            authenticated_epoch,
            email: entry
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_owned),
            version: entry.get("version").and_then(Value::as_u64),
        })
    }
}
