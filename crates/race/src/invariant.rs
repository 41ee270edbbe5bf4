//! Judging one burst: each invariant of the scenario over what the burst recorded.

use std::collections::BTreeMap;

use raceproof_history::Linearizability;

use crate::audit;
use crate::burst::{Finding, Observation, Recorded};
use crate::judged::Judged;
use crate::linearizable::{self, Searched};
use crate::scenario::{ActorSpec, Expectation, InvariantSpec, SpecKind};
use crate::wire::Response;

/// What the invariants found in one burst.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    pub violations: Vec<Finding>,
    /// Invariants that could not decide.
    pub undecided: Vec<Finding>,
}

/// Why an invariant that reads state after the burst cannot decide when the burst's reads used
/// two connections.
const READS_SPLIT: &str = "the reads of this burst used two connections (the server closed the first), which may have reached different workers; pin them with --read-target";

/// Checks every invariant of a burst. `reads_split`: the burst's reads were not all on one
/// connection, so the invariants that compare them cannot decide.
pub fn judge(
    invariants: &[InvariantSpec],
    actors: &[ActorSpec],
    records: &[Recorded],
    observations: &[Observation],
    initial: &[Option<String>],
    reads_split: bool,
) -> Judgement {
    let mut judgement = Judgement::default();
    for (index, invariant) in invariants.iter().enumerate() {
        let observation = observations.get(index).cloned().unwrap_or_default();
        let initial = initial.get(index).cloned().flatten();
        let finding = |detail| Finding {
            invariant: invariant.name().to_owned(),
            detail,
        };
        let reads = matches!(
            invariant,
            InvariantSpec::CommitOrder { .. } | InvariantSpec::FinalState { .. }
        );
        let judged = if reads && reads_split {
            Judged::Undecided(READS_SPLIT.to_owned())
        } else {
            judge_one(invariant, actors, records, &observation, initial)
        };
        match judged {
            Judged::Held => {}
            Judged::Broken(detail) => judgement.violations.push(finding(detail)),
            Judged::Undecided(detail) => judgement.undecided.push(finding(detail)),
        }
    }
    judgement
}

fn selected<'a>(
    names: &'a [String],
    actors: &'a [ActorSpec],
    records: &'a [Recorded],
) -> impl Iterator<Item = &'a Recorded> {
    records.iter().filter(move |record| {
        actors
            .get(record.actor)
            .is_some_and(|actor| names.contains(&actor.name))
    })
}

fn name(actors: &[ActorSpec], record: &Recorded) -> String {
    actors
        .get(record.actor)
        .map_or_else(|| "?".to_owned(), |actor| actor.name.clone())
}

fn success(record: &Recorded) -> Option<&Response> {
    record.outcome.success()
}

fn judge_one(
    invariant: &InvariantSpec,
    actors: &[ActorSpec],
    records: &[Recorded],
    observation: &Observation,
    initial: Option<String>,
) -> Judged {
    let broken = match invariant {
        InvariantSpec::AtMostOneSuccess { actors: names } => {
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
        InvariantSpec::DistinctVersions {
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
        InvariantSpec::Linearizable {
            model,
            fail_statuses,
            ..
        } => return linearizable(*model, fail_statuses, actors, records, initial),
        InvariantSpec::CommitOrder { schema, .. } => match observation {
            Observation::Audit { before, after } => {
                return audit::commit_order(schema, before, after);
            }
            _ => Some("internal: no audit observation".to_owned()),
        },
        InvariantSpec::FinalState { expect, .. } => match observation {
            Observation::Final { response, values } => final_state(response, expect, values),
            _ => Some("internal: no final-state observation".to_owned()),
        },
    };
    broken.map_or(Judged::Held, Judged::Broken)
}

fn linearizable(
    model: SpecKind,
    fail_statuses: &[u16],
    actors: &[ActorSpec],
    records: &[Recorded],
    initial: Option<String>,
) -> Judged {
    let searched = linearizable::search(model, fail_statuses, actors, records, initial.as_deref());
    match searched {
        Err(detail) => Judged::Broken(detail),
        Ok(Searched {
            result: Linearizability::Linearizable { .. },
            ..
        }) => Judged::Held,
        Ok(Searched {
            operations,
            result: Linearizability::NotLinearizable,
        }) => Judged::Broken(format!(
            "no serial order of the {operations} recorded operations is legal for a {} starting at {}",
            model.name(),
            initial.as_deref().unwrap_or("nothing")
        )),
        Ok(Searched {
            result: Linearizability::GaveUp(why),
            ..
        }) => Judged::Undecided(why.to_string()),
    }
}

fn final_state(
    response: &Result<Response, String>,
    expect: &[Expectation],
    values: &[Result<serde_json::Value, String>],
) -> Option<String> {
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
        .zip(values)
        .filter_map(|(expectation, value)| {
            let value = match value {
                Ok(value) => value,
                Err(error) => return Some(format!("`{}`: {error}", expectation.source)),
            };
            let actual = json.pointer(&expectation.pointer);
            let holds = (actual == Some(value)) == expectation.equal;
            (!holds).then(|| {
                let actual = actual.map_or_else(|| "absent".to_owned(), ToString::to_string);
                format!(
                    "`{}` does not hold (found {actual}, compared with {value})",
                    expectation.source
                )
            })
        })
        .collect();
    (!broken.is_empty()).then(|| broken.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: &str) -> Result<Response, String> {
        Ok(Response {
            status: 200,
            headers: Vec::new(),
            body: bytes::Bytes::from(json.to_owned()),
        })
    }

    #[test]
    fn final_state_compares_json_pointers() {
        let expect = [Expectation::parse("/role == \"user\"", &[])];
        let expect: Vec<Expectation> = expect.into_iter().flatten().collect();
        let values = [Ok(serde_json::json!("user"))];
        let judge = |body: Result<Response, String>| final_state(&body, &expect, &values);
        assert_eq!(judge(response(r#"{"role":"user"}"#)), None);
        assert!(judge(response(r#"{"role":"admin"}"#)).is_some());
        assert!(judge(response(r#"{}"#)).is_some());
        assert!(judge(Err("down".to_owned())).is_some());
    }

    #[test]
    fn final_state_compares_with_a_captured_variable() {
        let expect: Vec<Expectation> = Expectation::parse("/_v == {{var.version}}", &[])
            .into_iter()
            .collect();
        let credentials = BTreeMap::new();
        let vars = BTreeMap::from([("version".to_owned(), "3".to_owned())]);
        let cx = crate::template::Context {
            request_uuid: "",
            burst_uuid: "",
            burst_index: 1,
            now_s: 0,
            credentials: &credentials,
            vars: &vars,
        };
        let values: Vec<_> = expect
            .iter()
            .map(|expectation| expectation.value.resolve(&cx))
            .collect();
        assert_eq!(values, vec![Ok(serde_json::json!(3))]);
        assert_eq!(
            final_state(&response(r#"{"_v":3}"#), &expect, &values),
            None
        );
        assert!(
            final_state(&response(r#"{"_v":4}"#), &expect, &values)
                .is_some_and(|why| why.contains("compared with 3"))
        );
        // Text that is not JSON is compared as a string.
        let email = Expectation::parse("/email == {{var.version}}@x", &[]);
        let value = email.map(|expectation| expectation.value.resolve(&cx));
        assert_eq!(value, Ok(Ok(serde_json::json!("3@x"))));
    }
}
