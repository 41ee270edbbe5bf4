//! Running a scenario: per burst, the setup requests, the observations invariants need before
//! the burst, the burst itself in the chosen mode, the observations after, and the verdict.
//! The reads (setup, audit, final state) all go over one [`Reader`], one connection kept open
//! for the run, so that they reach one worker; the burst goes to the targets.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::burst::{Burst, Observation, Recorded};
use crate::error::RaceError;
use crate::invariant;
use crate::mode::{Mode, Outcome, Plan, single_packet};
use crate::report::{BurstExample, ScenarioReport, Spread, SpreadSource};
use crate::scenario::{InvariantSpec, OpSpec, RaceScenario, RequestSpec, ValueSpec};
use crate::signer::{self, Keys};
use crate::template::Context;
use crate::wire::{Prepared, Reader, Targets};

mod options;

pub use options::{MAX_BURSTS, MAX_CONNECTIONS, Options, SuccessFloor};

/// A run stops when this many bursts in a row could not be fired.
pub const MAX_CONSECUTIVE_ERRORS: usize = 5;

/// Runs `scenario` for `bursts` bursts in `mode` against `targets`, with [`Options::new`]: see
/// [`run_with`].
pub fn run(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    bursts: usize,
) -> Result<ScenarioReport, RaceError> {
    run_with(scenario, targets, mode, &Options::new(bursts))
}

/// Runs `scenario` in `mode` against `targets`: request `i` of each burst goes to
/// `targets.for_request(i)`; setup, audit and final-state requests go over one connection to
/// `options.read_target` or the primary.
///
/// The runtime is built here: single-packet needs a current-thread runtime (so that no frame
/// leaves before the release loop yields), last-byte uses one too (the release is a tight loop
/// on one thread), and naive uses a multi-thread runtime, as a user's tool would.
pub fn run_with(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    options: &Options,
) -> Result<ScenarioReport, RaceError> {
    let runtime = match mode {
        Mode::SinglePacket | Mode::LastByte => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Mode::Naive => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .map_err(RaceError::Runtime)?;
    runtime.block_on(run_async(scenario, targets, mode, options))
}

/// Like [`run_with`], on the caller's runtime (which should match the mode, see [`run_with`]).
pub async fn run_async(
    scenario: &RaceScenario,
    targets: &Targets,
    mode: Mode,
    options: &Options,
) -> Result<ScenarioReport, RaceError> {
    options.check()?;
    let bursts = options.bursts;
    let keys = Keys::resolve(scenario)?;
    let plan = Plan {
        targets,
        connections: if mode == Mode::SinglePacket {
            options.connections
        } else {
            1
        },
        timeout: options.timeout,
    };
    if mode == Mode::SinglePacket {
        single_packet::preflight(&plan).await?;
    }
    let read_target = options
        .read_target
        .clone()
        .unwrap_or_else(|| targets.primary().clone());
    let mut reader = Reader::new(read_target, options.timeout);
    let mut report = ScenarioReport::new(scenario, targets, mode);
    report.connections = plan.connections;
    report.reads = reader.target().url.clone();
    report.min_success_bursts = options.min_success.of(bursts);
    let mut server_spreads = Vec::with_capacity(bursts);
    let mut client_spreads = Vec::with_capacity(bursts);
    let mut consecutive_errors = 0;
    for burst in 1..=bursts {
        match one_burst(scenario, &plan, &mut reader, mode, burst, &keys).await {
            Ok(done) => {
                consecutive_errors = 0;
                report.record(burst, scenario, &done, &keys);
                if let Some(spread) = done.server_spread_ns {
                    server_spreads.push(spread);
                }
                if let Some(spread) = done.client_spread_ns {
                    client_spreads.push(spread);
                }
                if report.first_anomaly_burst == Some(burst) {
                    report.example = Some(BurstExample::new(burst, scenario, &done, &keys));
                }
            }
            Err(error) => {
                report.errors += 1;
                consecutive_errors += 1;
                let message = keys.mask(&error.to_string());
                let first = report.first_error.get_or_insert(message).clone();
                if report.bursts == 0 && burst == bursts {
                    return Err(error);
                }
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    return Err(RaceError::Aborted {
                        count: consecutive_errors,
                        first,
                    });
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

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}

async fn one_burst(
    scenario: &RaceScenario,
    plan: &Plan<'_>,
    reader: &mut Reader,
    mode: Mode,
    burst: usize,
    keys: &Keys,
) -> Result<Burst, RaceError> {
    let bcx = Burstcx {
        burst_uuid: uuid::Uuid::new_v4().to_string(),
        burst_index: burst,
        now_s: unix_ns() / 1_000_000_000,
    };
    let opened_before = reader.opened();
    let mut vars = BTreeMap::new();
    for (index, spec) in scenario.setup.iter().enumerate() {
        let label = format!("setup request {} (line {})", index + 1, spec.line);
        let request = bcx.prepare(spec, usize::MAX, &label, scenario, keys, &vars)?;
        let response = reader.send(&request, &label).await?;
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
                RaceError::transport(&label, format!("nothing to capture as `{name}`"))
            })?;
            vars.insert(name.clone(), value);
        }
    }

    let mut observations = Vec::with_capacity(scenario.invariants.len());
    let mut initial = Vec::with_capacity(scenario.invariants.len());
    for invariant in &scenario.invariants {
        let mut value = None;
        let observation = match invariant {
            InvariantSpec::CommitOrder { request, schema } => {
                let context = "audit before the burst";
                let prepared = bcx.prepare(request, usize::MAX, "audit", scenario, keys, &vars)?;
                let response = reader.send(&prepared, context).await?;
                let entries = schema
                    .parse(&response)
                    .map_err(|error| RaceError::transport(context, error))?;
                Observation::Audit {
                    before: crate::audit::AuditMark::of(&entries),
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

    // The same instant on both clocks: handler-start stamps are Unix time.
    let origin = Instant::now();
    let origin_unix_ns = unix_ns();
    let outcomes = mode.fire(plan, &prepared, origin).await.map_err(|error| {
        RaceError::transport(format!("burst {burst} ({})", mode.as_str()), error)
    })?;

    for (invariant, observation) in scenario.invariants.iter().zip(observations.iter_mut()) {
        match invariant {
            InvariantSpec::CommitOrder { request, schema } => {
                let request = bcx.prepare(request, usize::MAX, "audit", scenario, keys, &vars)?;
                let after = reader
                    .send(&request, "audit after the burst")
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|response| schema.parse(&response));
                if let Observation::Audit { after: slot, .. } = observation {
                    *slot = after;
                }
            }
            InvariantSpec::FinalState { request, expect } => {
                let request =
                    bcx.prepare(request, usize::MAX, "final state", scenario, keys, &vars)?;
                let response = reader
                    .send(&request, "final-state request")
                    .await
                    .map_err(|error| error.to_string());
                let cx = bcx.context("", keys, &vars);
                let values = expect
                    .iter()
                    .map(|expectation| expectation.value.resolve(&cx))
                    .collect();
                *observation = Observation::Final { response, values };
            }
            _ => {}
        }
    }
    // A second connection within one burst's reads: the server closed the first, and the
    // second may have reached another worker.
    let reads_split = reader.opened() > opened_before + 1;

    let early_requests = if mode.releases() {
        outcomes
            .iter()
            .enumerate()
            .filter(|(index, outcome)| {
                outcome.early
                    || (plan.targets.for_request(*index).loopback
                        && started_before_release(outcome, origin_unix_ns))
            })
            .count()
    } else {
        0
    };
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
        reads_split,
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
        early_requests,
    })
}

/// Whether the server's handler-start stamp says the handler started before the release (on
/// loopback, where the server's clock is this machine's).
fn started_before_release(outcome: &Outcome, origin_unix_ns: u64) -> bool {
    let release_unix_ns = origin_unix_ns.saturating_add(outcome.invoke_ns);
    outcome
        .result
        .as_ref()
        .ok()
        .and_then(|response| response.handler_start_ns())
        .is_some_and(|started| started < release_unix_ns)
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
