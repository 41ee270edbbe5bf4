//! Running a scenario: per burst, the setup requests, the observations invariants need before
//! the burst, the burst itself in the chosen mode, the observations after, and the verdict.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::audit::AuditListing;
use crate::burst::{Burst, Observation, Recorded};
use crate::error::RaceError;
use crate::invariant;
use crate::mode::{Mode, Outcome};
use crate::report::{BurstExample, ScenarioReport, Spread, SpreadSource};
use crate::scenario::{InvariantSpec, OpSpec, RaceScenario, RequestSpec, ValueSpec};
use crate::signer::{self, Keys};
use crate::template::Context;
use crate::wire::{self, Prepared, Targets};

/// The most bursts one run may fire.
pub const MAX_BURSTS: usize = 100_000;
/// A run stops when this many bursts in a row could not be fired.
pub const MAX_CONSECUTIVE_ERRORS: usize = 5;

/// Runs `scenario` for `bursts` bursts in `mode` against `targets`: request `i` of each burst
/// goes to `targets.for_request(i)`; setup, audit and final-state requests go to the primary.
/// Those observe state the instances should share, so the primary is as good as any; where each
/// instance keeps its own state they see the primary's only. For one target, pass
/// `&Targets::one(target)` (or `&target.into()`).
///
/// The runtime is built here: single-packet needs a current-thread runtime (so that no frame
/// leaves before the release loop yields), last-byte uses one too (the release is a tight loop
/// on one thread), and naive uses a multi-thread runtime, as a user's tool would.
pub fn run(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    bursts: usize,
) -> Result<ScenarioReport, RaceError> {
    if bursts == 0 || bursts > MAX_BURSTS {
        return Err(RaceError::Limit(format!(
            "--bursts must be 1..={MAX_BURSTS}, got {bursts}"
        )));
    }
    let runtime = match mode {
        Mode::SinglePacket | Mode::LastByte => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Mode::Naive => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .map_err(RaceError::Runtime)?;
    runtime.block_on(run_async(scenario, targets, mode, bursts))
}

/// Like [`run`], on the caller's runtime (which should match the mode, see [`run`]).
pub async fn run_async(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    bursts: usize,
) -> Result<ScenarioReport, RaceError> {
    let keys = Keys::resolve(scenario)?;
    let mut report = ScenarioReport::new(scenario, targets, mode);
    let mut server_spreads = Vec::with_capacity(bursts);
    let mut client_spreads = Vec::with_capacity(bursts);
    let mut consecutive_errors = 0;
    for burst in 1..=bursts {
        match one_burst(scenario, targets, mode, burst, &keys).await {
            Ok(done) => {
                consecutive_errors = 0;
                report.bursts += 1;
                if !done.records.iter().any(|record| {
                    record
                        .outcome
                        .result
                        .as_ref()
                        .is_ok_and(|response| response.is_success())
                }) {
                    report.bursts_without_success += 1;
                }
                if let Some(spread) = done.server_spread_ns {
                    server_spreads.push(spread);
                }
                if let Some(spread) = done.client_spread_ns {
                    client_spreads.push(spread);
                }
                for finding in &done.undecided {
                    *report
                        .undecided_by_invariant
                        .entry(finding.invariant.clone())
                        .or_default() += 1;
                    report
                        .first_undecided
                        .get_or_insert_with(|| keys.mask(&finding.detail));
                }
                if !done.violations.is_empty() {
                    report.anomalies += 1;
                    for violation in &done.violations {
                        *report
                            .violations_by_invariant
                            .entry(violation.invariant.clone())
                            .or_default() += 1;
                    }
                    if report.first_anomaly_burst.is_none() {
                        report.first_anomaly_burst = Some(burst);
                        report.example = Some(BurstExample::new(burst, scenario, &done, &keys));
                    }
                }
            }
            Err(error) => {
                report.errors += 1;
                consecutive_errors += 1;
                let message = keys.mask(&error.to_string());
                report.first_error.get_or_insert(message);
                // Nothing judged yet, or failing over and over: the run itself has failed.
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS
                    || (report.bursts == 0 && burst == bursts)
                {
                    return Err(error);
                }
            }
        }
    }
    report.finish(
        Spread::from_ns(&server_spreads, SpreadSource::Server),
        Spread::from_ns(&client_spreads, SpreadSource::Client),
    );
    Ok(report)
}

struct Burstcx {
    burst_uuid: String,
    burst_index: usize,
    now_s: u64,
}

impl Burstcx {
    fn context<'a>(
        &'a self,
        request_uuid: &'a str,
        keys: &'a Keys,
        vars: &'a BTreeMap<String, String>,
    ) -> Context<'a> {
        Context {
            request_uuid,
            burst_uuid: &self.burst_uuid,
            burst_index: self.burst_index,
            now_s: self.now_s,
            credentials: &keys.credentials,
            vars,
        }
    }

    fn prepare(
        &self,
        spec: &RequestSpec,
        actor: usize,
        label: &str,
        scenario: &RaceScenario,
        keys: &Keys,
        vars: &BTreeMap<String, String>,
    ) -> Result<Prepared, RaceError> {
        let request_uuid = uuid::Uuid::new_v4().to_string();
        let cx = self.context(&request_uuid, keys, vars);
        signer::prepare(spec, actor, &cx, &scenario.signers, keys).map_err(|message| {
            RaceError::Prepare {
                actor: label.to_owned(),
                message: keys.mask(&message),
            }
        })
    }
}

async fn one_burst(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    burst: usize,
    keys: &Keys,
) -> Result<Burst, RaceError> {
    // Requests outside the burst read or restore shared state: the primary is as good as any.
    let target = targets.primary();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let bcx = Burstcx {
        burst_uuid: uuid::Uuid::new_v4().to_string(),
        burst_index: burst,
        now_s,
    };
    let mut vars = BTreeMap::new();
    for (index, spec) in scenario.setup.iter().enumerate() {
        let request = bcx.prepare(
            spec,
            usize::MAX,
            &format!("setup {}", index + 1),
            scenario,
            keys,
            &vars,
        )?;
        let response = wire::send_one(
            target,
            &request,
            &format!("setup request {} (line {})", index + 1, spec.line),
        )
        .await?;
        if !spec.expect.is_empty() && !spec.expect.contains(&response.status) {
            return Err(RaceError::SetupStatus {
                index: index + 1,
                method: spec.method.to_string(),
                path: request.path.clone(),
                status: response.status,
                expected: spec.expect.clone(),
            });
        }
        for (name, extract) in &spec.capture {
            let value = extract.apply(&response).ok_or_else(|| {
                RaceError::transport(
                    format!("setup request {} (line {})", index + 1, spec.line),
                    format!("nothing to capture as `{name}`"),
                )
            })?;
            vars.insert(name.clone(), value);
        }
    }

    let mut observations = Vec::with_capacity(scenario.invariants.len());
    let mut initial = Vec::with_capacity(scenario.invariants.len());
    for invariant in &scenario.invariants {
        let mut value = None;
        let observation = match invariant {
            InvariantSpec::CommitOrder { request, .. } => {
                let prepared = bcx.prepare(request, usize::MAX, "audit", scenario, keys, &vars)?;
                let response = wire::send_one(target, &prepared, "audit before the burst").await?;
                let before = AuditListing::parse(&response)
                    .map_err(|error| RaceError::transport("audit before the burst", error))?
                    .last_seq();
                Observation::Audit {
                    before,
                    after: Err("not read yet".to_owned()),
                }
            }
            InvariantSpec::Linearizable {
                initial: Some(template),
                ..
            } => {
                let cx = bcx.context("", keys, &vars);
                value = Some(template.expand(&cx).map_err(|message| RaceError::Prepare {
                    actor: "initial".to_owned(),
                    message,
                })?);
                Observation::None
            }
            _ => Observation::None,
        };
        observations.push(observation);
        initial.push(value);
    }

    let mut prepared = Vec::new();
    let mut op_values = Vec::new();
    for (index, actor) in scenario.actors.iter().enumerate() {
        for _ in 0..actor.count {
            let request_uuid = uuid::Uuid::new_v4().to_string();
            let cx = bcx.context(&request_uuid, keys, &vars);
            let request = signer::prepare(&actor.request, index, &cx, &scenario.signers, keys)
                .map_err(|message| RaceError::Prepare {
                    actor: actor.name.clone(),
                    message: keys.mask(&message),
                })?;
            let expand = |template: &crate::template::Template| {
                template.expand(&cx).map_err(|message| RaceError::Prepare {
                    actor: actor.name.clone(),
                    message,
                })
            };
            let (expect, value) = match &actor.op {
                Some(OpSpec::Cas { expect, value }) => {
                    (Some(expand(expect)?), template_value(value, &expand)?)
                }
                Some(OpSpec::Write { value }) => (None, template_value(value, &expand)?),
                _ => (None, None),
            };
            prepared.push(request);
            op_values.push((expect, value));
        }
    }

    let origin = Instant::now();
    let outcomes = mode
        .fire(targets, &prepared, origin)
        .await
        .map_err(|error| {
            RaceError::transport(format!("burst {burst} ({})", mode.as_str()), error)
        })?;

    for (invariant, observation) in scenario.invariants.iter().zip(observations.iter_mut()) {
        match invariant {
            InvariantSpec::CommitOrder { request, .. } => {
                let request = bcx.prepare(request, usize::MAX, "audit", scenario, keys, &vars)?;
                let after = wire::send_one(target, &request, "audit after the burst")
                    .await
                    .map_err(|error| error.to_string());
                if let Observation::Audit { after: slot, .. } = observation {
                    *slot = after;
                }
            }
            InvariantSpec::FinalState { request, .. } => {
                let request =
                    bcx.prepare(request, usize::MAX, "final state", scenario, keys, &vars)?;
                let response = wire::send_one(target, &request, "final-state request")
                    .await
                    .map_err(|error| error.to_string());
                *observation = Observation::Final(response);
            }
            _ => {}
        }
    }

    let records: Vec<Recorded> = prepared
        .iter()
        .zip(outcomes)
        .zip(op_values)
        .map(|((request, outcome), (op_expect, op_value))| Recorded {
            actor: request.actor,
            op_expect,
            op_value,
            outcome,
        })
        .collect();
    let judgement = invariant::judge(
        &scenario.invariants,
        &scenario.actors,
        &records,
        &observations,
        &initial,
    );
    let server_spread_ns = spread_of(&records, |outcome| {
        outcome
            .result
            .as_ref()
            .ok()
            .and_then(|response| response.handler_start_ns())
    });
    let client_spread_ns = spread_of(&records, |outcome| outcome.first_byte_ns);
    Ok(Burst {
        vars,
        prepared,
        records,
        observations,
        violations: judgement.violations,
        undecided: judgement.undecided,
        server_spread_ns,
        client_spread_ns,
    })
}

fn template_value(
    value: &ValueSpec,
    expand: &impl Fn(&crate::template::Template) -> Result<String, RaceError>,
) -> Result<Option<String>, RaceError> {
    match value {
        ValueSpec::Template(template) => expand(template).map(Some),
        ValueSpec::Response(_) => Ok(None),
    }
}

/// Max minus min of a per-request time, if every request has one.
fn spread_of(records: &[Recorded], time: impl Fn(&Outcome) -> Option<u64>) -> Option<u64> {
    let times: Option<Vec<u64>> = records.iter().map(|record| time(&record.outcome)).collect();
    let times = times?;
    let first = times.iter().min()?;
    let last = times.iter().max()?;
    Some(last - first)
}
