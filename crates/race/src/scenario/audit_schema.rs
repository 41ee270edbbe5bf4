//! Compiling `commit_order`'s `schema` table into an [`AuditSchema`].

use std::collections::BTreeMap;

use crate::audit::{AuditSchema, core_actions, core_roles};
use crate::error::RaceError;

use super::raw::RawAuditSchema;
use super::source::{Source, Span};

/// `commit_order`'s schema: raceproof's own audit, with what `raw` (the file's `schema` table)
/// changes; every pointer and name checked.
pub(super) fn audit_schema(
    source: &Source<'_>,
    span: &Span,
    raw: Option<&RawAuditSchema>,
) -> Result<AuditSchema, RaceError> {
    let mut schema = AuditSchema::default();
    let Some(raw) = raw else {
        return Ok(schema);
    };
    let pointer = |value: &Option<String>, slot: &mut String| {
        if let Some(value) = value {
            if !(value.is_empty() || value.starts_with('/')) {
                return Err(source.error_near(
                    span,
                    value,
                    format!("schema: `{value}` is not a JSON pointer (they start with `/`)"),
                ));
            }
            *slot = value.clone();
        }
        Ok(())
    };
    pointer(&raw.entries, &mut schema.entries)?;
    pointer(&raw.seq, &mut schema.seq)?;
    pointer(&raw.actor, &mut schema.actor)?;
    pointer(&raw.action, &mut schema.action)?;
    pointer(&raw.target, &mut schema.target)?;
    pointer(&raw.role, &mut schema.role)?;
    if let Some((at_commit, authenticated)) = schema.epochs.as_mut() {
        pointer(&raw.actor_epoch, at_commit)?;
        pointer(&raw.authenticated_epoch, authenticated)?;
    }
    if raw.epochs == Some(false) {
        if raw.actor_epoch.is_some() || raw.authenticated_epoch.is_some() {
            return Err(source.error_near(
                span,
                "epochs",
                "schema: `epochs = false` takes no epoch pointers",
            ));
        }
        schema.epochs = None;
    }
    let onto = |names: &BTreeMap<String, String>, known: &[String], what: &str| {
        for (theirs, ours) in names {
            if !known.contains(ours) {
                return Err(source.error_near(
                    span,
                    theirs,
                    format!(
                        "schema: {what} `{theirs}` maps to `{ours}`, which the rule does not know (known: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(names.clone())
    };
    if let Some(actions) = &raw.actions {
        let known: Vec<String> = core_actions().iter().map(|name| name.to_string()).collect();
        schema.actions = onto(actions, &known, "action")?;
    }
    if let Some(roles) = &raw.roles {
        schema.roles = onto(roles, &core_roles(), "role")?;
    }
    schema.ignore = raw.ignore.clone();
    Ok(schema)
}
