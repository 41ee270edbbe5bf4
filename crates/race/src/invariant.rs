//! Judging one burst: the invariants of issue 10 over the recorded history.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::linearizability::{self, Counter, CounterOp, Entry, Register, RegisterOp};
use crate::mode::Outcome;
use crate::scenario::{Actor, Expectation, Invariant, ModelKind, OpSpec, ValueSpec};
use crate::wire::Response;

/// One request of a burst, as recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub actor: usize,
    /// `expect` and `value` of the actor's op, expanded when the request was prepared.
    pub op_expect: Option<String>,
    pub op_value: Option<String>,
    pub outcome: Outcome,
}

/// What the invariants need besides the burst itself, per invariant (same index).
#[derive(Debug, Clone, Default)]
pub enum Observation {
    #[default]
    None,
    /// `commit_order`: the audit's last sequence number before the burst, and the audit after.
    Audit {
        before: u64,
        after: Result<Response, String>,
    },
    /// `final_state`: the response to the GET after the burst.
    Final(Result<Response, String>),
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// raceproof's `GET /audit` body.
#[derive(Debug, Deserialize)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// One committed write, as raceproof's server records it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
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

/// Parses an audit response.
pub fn parse_audit(response: &Response) -> Result<AuditLog, String> {
    if !response.is_success() {
        return Err(format!("audit answered {}", response.status));
    }
    serde_json::from_slice(&response.body)
        .map_err(|error| format!("audit body is not {{\"entries\":[...]}}: {error}"))
}

/// Checks every invariant of a burst.
pub fn judge(
    invariants: &[Invariant],
    actors: &[Actor],
    records: &[Recorded],
    observations: &[Observation],
    initial: &[Option<String>],
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, invariant) in invariants.iter().enumerate() {
        let observation = observations.get(index).cloned().unwrap_or_default();
        let initial = initial.get(index).cloned().flatten();
        if let Some(detail) = judge_one(invariant, actors, records, &observation, initial) {
            violations.push(Violation {
                invariant: invariant.name(),
                detail,
            });
        }
    }
    violations
}

fn selected<'a>(
    names: &'a [String],
    actors: &'a [Actor],
    records: &'a [Recorded],
) -> impl Iterator<Item = &'a Recorded> {
    records.iter().filter(move |record| {
        actors
            .get(record.actor)
            .is_some_and(|actor| names.contains(&actor.name))
    })
}

fn name(actors: &[Actor], record: &Recorded) -> String {
    actors
        .get(record.actor)
        .map_or_else(|| "?".to_owned(), |actor| actor.name.clone())
}

fn success(record: &Recorded) -> Option<&Response> {
    record
        .outcome
        .result
        .as_ref()
        .ok()
        .filter(|response| response.is_success())
}

fn judge_one(
    invariant: &Invariant,
    actors: &[Actor],
    records: &[Recorded],
    observation: &Observation,
    initial: Option<String>,
) -> Option<String> {
    match invariant {
        Invariant::AtMostOneSuccess { actors: names } => {
            let winners: Vec<String> = selected(names, actors, records)
                .filter_map(|record| {
                    success(record)
                        .map(|response| format!("{} -> {}", name(actors, record), response.status))
                })
                .collect();
            (winners.len() > 1).then(|| {
                format!(
                    "{} successes where at most one may succeed: {}",
                    winners.len(),
                    winners.join(", ")
                )
            })
        }
        Invariant::DistinctVersions {
            actors: names,
            version_from,
        } => {
            let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for record in selected(names, actors, records) {
                if let Some(version) =
                    success(record).and_then(|response| version_from.apply(response))
                {
                    seen.entry(version).or_default().push(name(actors, record));
                }
            }
            let repeated: Vec<String> = seen
                .into_iter()
                .filter(|(_, who)| who.len() > 1)
                .map(|(version, who)| {
                    format!("version {version} returned to {}", who.join(" and "))
                })
                .collect();
            (!repeated.is_empty()).then(|| {
                format!(
                    "two successful writes got the same new version: {}",
                    repeated.join("; ")
                )
            })
        }
        Invariant::Linearizable {
            model,
            fail_statuses,
            ..
        } => linearizable(*model, fail_statuses, actors, records, initial),
        Invariant::CommitOrder { revokes, .. } => match observation {
            Observation::Audit { before, after } => commit_order(*before, after, revokes),
            _ => Some("internal: no audit observation".to_owned()),
        },
        Invariant::FinalState { expect, .. } => match observation {
            Observation::Final(response) => final_state(response, expect),
            _ => Some("internal: no final-state observation".to_owned()),
        },
    }
}

enum Kind {
    Ok,
    Fail,
    Info,
}

fn classify(outcome: &Outcome, fail_statuses: &[u16]) -> Kind {
    match &outcome.result {
        Ok(response) if response.is_success() => Kind::Ok,
        Ok(response) if fail_statuses.contains(&response.status) => Kind::Fail,
        _ => Kind::Info,
    }
}

fn linearizable(
    model: ModelKind,
    fail_statuses: &[u16],
    actors: &[Actor],
    records: &[Recorded],
    initial: Option<String>,
) -> Option<String> {
    let mut register = Vec::new();
    let mut counter = Vec::new();
    for record in records {
        let Some(op) = actors.get(record.actor).and_then(|actor| actor.op.as_ref()) else {
            continue;
        };
        let kind = classify(&record.outcome, fail_statuses);
        if matches!(kind, Kind::Fail) {
            continue;
        }
        let response = record
            .outcome
            .result
            .as_ref()
            .ok()
            .filter(|_| matches!(kind, Kind::Ok));
        let complete = response.map(|_| record.outcome.complete_ns);
        let invoke = record.outcome.invoke_ns;
        let value = |spec: &ValueSpec| match spec {
            ValueSpec::Template(_) => record.op_value.clone(),
            ValueSpec::Response(extract) => response.and_then(|response| extract.apply(response)),
        };
        match (model, op) {
            (ModelKind::Register, OpSpec::Read { value_from }) => {
                // A read whose result is unknown constrains nothing.
                if let Some(response) = response {
                    register.push(Entry {
                        op: RegisterOp::Read(value_from.apply(response)),
                        invoke,
                        complete,
                    });
                }
            }
            (ModelKind::Register, OpSpec::Write { value: spec }) => {
                if let Some(value) = value(spec) {
                    register.push(Entry {
                        op: RegisterOp::Write(value),
                        invoke,
                        complete,
                    });
                }
            }
            (ModelKind::Register, OpSpec::Cas { value: spec, .. }) => {
                if let (Some(expect), Some(new)) = (record.op_expect.clone(), value(spec)) {
                    register.push(Entry {
                        op: RegisterOp::Cas { expect, new },
                        invoke,
                        complete,
                    });
                }
            }
            (ModelKind::Counter, OpSpec::Add { delta }) => counter.push(Entry {
                op: CounterOp::Add(*delta),
                invoke,
                complete,
            }),
            (ModelKind::Counter, OpSpec::Read { value_from }) => {
                if let Some(seen) = response.and_then(|response| value_from.apply(response)) {
                    let Ok(seen) = seen.trim().parse() else {
                        return Some(format!("counter read `{seen}` is not an integer"));
                    };
                    counter.push(Entry {
                        op: CounterOp::Read(seen),
                        invoke,
                        complete,
                    });
                }
            }
            (model, op) => return Some(format!("op {op:?} does not apply to a {model:?}")),
        }
    }
    let verdict = match model {
        ModelKind::Register => {
            linearizability::check(&Register(initial.clone()), &register).is_some()
        }
        ModelKind::Counter => {
            let start = initial
                .as_deref()
                .map_or(Ok(0), |text| text.trim().parse::<i64>());
            let Ok(start) = start else {
                return Some("counter initial value is not an integer".to_owned());
            };
            linearizability::check(&Counter(start), &counter).is_some()
        }
    };
    (!verdict).then(|| {
        format!(
            "no serial order of the {} recorded operations is legal for a {} starting at {}",
            register.len() + counter.len(),
            match model {
                ModelKind::Register => "register",
                ModelKind::Counter => "counter",
            },
            initial.as_deref().unwrap_or("nothing")
        )
    })
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

fn commit_order(
    before: u64,
    after: &Result<Response, String>,
    revokes: &[String],
) -> Option<String> {
    let log = match after.as_ref().map_err(Clone::clone).and_then(parse_audit) {
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

fn final_state(response: &Result<Response, String>, expect: &[Expectation]) -> Option<String> {
    let response = match response {
        Ok(response) => response,
        Err(error) => return Some(format!("final-state request failed: {error}")),
    };
    let json: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(json) => json,
        Err(_) => {
            return Some(format!(
                "final-state response ({}) is not JSON",
                response.status
            ));
        }
    };
    let broken: Vec<String> = expect
        .iter()
        .filter_map(|expectation| {
            let actual = json.pointer(&expectation.pointer);
            let holds = (actual == Some(&expectation.value)) == expectation.equal;
            (!holds).then(|| {
                let actual = actual.map_or_else(|| "absent".to_owned(), ToString::to_string);
                format!("`{}` does not hold (found {actual})", expectation.source)
            })
        })
        .collect();
    (!broken.is_empty()).then(|| broken.join("; "))
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

    #[test]
    fn final_state_compares_json_pointers() {
        let expect = [crate::scenario::parse_expectation("/role == \"user\"")];
        let expect: Vec<Expectation> = expect.into_iter().flatten().collect();
        assert_eq!(final_state(&audit(r#"{"role":"user"}"#), &expect), None);
        assert!(final_state(&audit(r#"{"role":"admin"}"#), &expect).is_some());
        assert!(final_state(&audit(r#"{}"#), &expect).is_some());
        assert!(final_state(&Err("down".to_owned()), &expect).is_some());
    }
}
