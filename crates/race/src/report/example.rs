//! The first anomalous burst of a run, as Jepsen would print its history, secrets masked.

use raceproof_history::Kind;

use crate::burst::{Burst, Finding, Observation};
use crate::scenario::RaceScenario;
use crate::signer::Keys;

use super::json::{BurstExample, HistoryEntry};

const SHOWN_BODY: usize = 400;

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_BODY) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

impl BurstExample {
    pub(crate) fn new(burst: usize, scenario: &RaceScenario, done: &Burst, keys: &Keys) -> Self {
        let first_stamp = done
            .records
            .iter()
            .filter_map(|record| {
                record
                    .outcome
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|response| response.handler_start_ns())
            })
            .min();
        let history = done
            .prepared
            .iter()
            .zip(&done.records)
            .map(|(request, record)| {
                let outcome = &record.outcome;
                let headers: Vec<String> = request
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        let value = String::from_utf8_lossy(value.as_bytes());
                        let secret = [
                            http::header::AUTHORIZATION.as_str(),
                            "webhook-signature",
                            "cookie",
                        ]
                        .contains(&name.as_str());
                        format!(
                            "{name}: {}",
                            if secret {
                                "***".into()
                            } else {
                                keys.mask(&value)
                            }
                        )
                    })
                    .collect();
                let body = String::from_utf8_lossy(&request.body);
                let request_text = format!(
                    "{} {} [{}] {}",
                    request.method,
                    request.path,
                    headers.join(", "),
                    keys.mask(&shorten(&body))
                );
                let (kind, status, response) = match &outcome.result {
                    Ok(response) => (
                        if response.is_success() {
                            Kind::Ok
                        } else {
                            Kind::Fail
                        },
                        Some(response.status),
                        keys.mask(&shorten(&String::from_utf8_lossy(&response.body))),
                    ),
                    Err(failure) => (Kind::Info, None, keys.mask(&failure.message)),
                };
                let server_start_us = outcome
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|response| response.handler_start_ns())
                    .zip(first_stamp)
                    .map(|(stamp, first)| stamp.saturating_sub(first) as f64 / 1000.0);
                HistoryEntry {
                    actor: scenario
                        .actors
                        .get(record.actor)
                        .map_or_else(|| "?".to_owned(), |actor| actor.name.clone()),
                    request: request_text,
                    invoke_us: outcome.invoke_ns as f64 / 1000.0,
                    complete_us: outcome.complete_ns as f64 / 1000.0,
                    kind,
                    status,
                    response,
                    server_start_us,
                }
            })
            .collect();
        let audit = done
            .observations
            .iter()
            .filter_map(|observation| match observation {
                Observation::Audit {
                    before,
                    after: Ok(after),
                } => Some(before.window(after)),
                _ => None,
            })
            .flatten()
            .collect();
        BurstExample {
            burst,
            vars: done
                .vars
                .iter()
                .map(|(name, value)| (name.clone(), keys.mask(value)))
                .collect(),
            history,
            violations: done
                .violations
                .iter()
                .map(|violation| Finding {
                    invariant: violation.invariant.clone(),
                    detail: keys.mask(&violation.detail),
                })
                .collect(),
            audit,
        }
    }
}
