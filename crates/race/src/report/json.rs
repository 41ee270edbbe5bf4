//! `race.json`: what one run found, per scenario and mode. The tester writes it and readers
//! (`cargo xtask readme`) parse it with these same definitions.

use std::collections::BTreeMap;
use std::path::Path;

use raceproof_history::Kind;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::burst::{Burst, Finding};
use crate::error::RaceError;
use crate::mode::{FailureKind, Mode, Outcome};
use crate::scenario::RaceScenario;
use crate::signer::Keys;
use crate::wire::Targets;

/// Where a spread was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpreadSource {
    /// The server's handler-start stamps (`x-raceproof-handler-start-ns`).
    Server,
    /// The arrival of each response's head at this client (the server sent no stamps).
    Client,
}

/// Arrival spread over the bursts, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
    pub sd: f64,
    /// One sample per burst.
    pub samples: usize,
    pub source: SpreadSource,
    /// Each burst's spread, in burst order (bursts without one left out): the distribution
    /// the HTML report plots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_burst: Vec<f64>,
}

impl Spread {
    /// Median, p90 (nearest rank) and population SD of per-burst spreads given in nanoseconds.
    pub fn from_ns(samples_ns: &[u64], source: SpreadSource) -> Option<Self> {
        if samples_ns.is_empty() {
            return None;
        }
        let round = |x: f64| (x * 10.0).round() / 10.0;
        let per_burst: Vec<f64> = samples_ns
            .iter()
            .map(|ns| round(*ns as f64 / 1000.0))
            .collect();
        let mut us: Vec<f64> = samples_ns.iter().map(|ns| *ns as f64 / 1000.0).collect();
        us.sort_by(f64::total_cmp);
        let rank = |q: f64| us[((q * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1];
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        let variance = us.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / us.len() as f64;
        Some(Spread {
            median: round(rank(0.5)),
            p90: round(rank(0.9)),
            sd: round(variance.sqrt()),
            samples: us.len(),
            source,
            per_burst,
        })
    }
}

/// What came back to one actor's requests, over every burst fired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorOutcomes {
    pub requests: usize,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, usize>,
    /// No response within the timeout.
    pub timeouts: usize,
    /// Stream reset or connection closed before a whole response.
    pub resets: usize,
    /// Other connection failures.
    pub connection_errors: usize,
    /// Not a valid HTTP response.
    pub protocol_errors: usize,
    /// Requests that came back, or whose handler started, before the release.
    pub early: usize,
}

impl ActorOutcomes {
    fn add(&mut self, outcome: &Outcome) {
        self.requests += 1;
        self.early += usize::from(outcome.early);
        match &outcome.result {
            Ok(response) => *self.statuses.entry(response.status).or_default() += 1,
            Err(failure) => {
                *match failure.kind {
                    FailureKind::Timeout => &mut self.timeouts,
                    FailureKind::Reset => &mut self.resets,
                    FailureKind::Connection => &mut self.connection_errors,
                    FailureKind::Protocol => &mut self.protocol_errors,
                } += 1;
            }
        }
    }

    /// Requests that got no response at all.
    pub fn failed(&self) -> usize {
        self.timeouts + self.resets + self.connection_errors + self.protocol_errors
    }
}

/// What a run's report says, all told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every invariant held in every burst, and the scenario ran as written.
    Held,
    /// An invariant broke in at least one burst.
    Broken,
    /// Nothing broke, but the run does not show that the invariants hold: the reasons.
    Incomplete(Vec<String>),
}

/// The result of one scenario in one mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub mode: Mode,
    /// The primary target (the only one, unless the burst was split).
    pub target: String,
    /// Every target the burst was split across, round robin, the primary first.
    pub targets: Vec<String>,
    /// Bursts fired and judged.
    pub bursts: usize,
    /// Bursts that could not be fired (setup failed, connection refused...); not judged.
    pub errors: usize,
    pub anomalies: usize,
    /// Bursts in which no request got a 2xx: if that is every burst, the scenario never
    /// exercised what it tests (wrong credentials, a precondition not set up...).
    pub bursts_without_success: usize,
    pub anomaly_rate: f64,
    pub first_anomaly_burst: Option<usize>,
    /// The server's spread when every burst carried its stamps, the client's otherwise.
    pub spread_us: Option<Spread>,
    pub client_spread_us: Option<Spread>,
    pub invariant: Vec<String>,
    pub violations_by_invariant: BTreeMap<String, usize>,
    /// Per invariant, the bursts it could not decide (the linearizability search past its
    /// limits): neither anomalies nor passes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub undecided_by_invariant: BTreeMap<String, usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_undecided: Option<String>,
    pub first_error: Option<String>,
    pub example: Option<BurstExample>,
    /// Set when the mode could not run at all (e.g. single-packet against a server without
    /// h2c): the reason. Its counts are then all zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Per actor: statuses, timeouts, resets, connection errors.
    #[serde(default)]
    pub outcomes: BTreeMap<String, ActorOutcomes>,
    /// Bursts in which a response came back (or a handler started, by the server's stamp)
    /// before the release: not synchronized, so not evidence that the invariants hold.
    #[serde(default)]
    pub unsynchronized_bursts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_unsynchronized: Option<String>,
    /// The bursts that had to get at least one 2xx for the run to have run as written.
    #[serde(default)]
    pub min_success_bursts: usize,
    /// Single-packet: h2 connections per target.
    #[serde(default = "one")]
    pub connections: usize,
    /// Where the setup, audit and final-state reads went (one connection for the run).
    #[serde(default)]
    pub reads: String,
}

fn one() -> usize {
    1
}

impl ScenarioReport {
    pub(crate) fn new(scenario: &RaceScenario, targets: &Targets, mode: Mode) -> Self {
        ScenarioReport {
            scenario: scenario.name.clone(),
            mode,
            target: targets.primary().url.clone(),
            targets: targets.urls(),
            bursts: 0,
            errors: 0,
            anomalies: 0,
            bursts_without_success: 0,
            anomaly_rate: 0.0,
            first_anomaly_burst: None,
            spread_us: None,
            client_spread_us: None,
            invariant: scenario
                .invariants
                .iter()
                .map(|invariant| invariant.name().to_owned())
                .collect(),
            violations_by_invariant: BTreeMap::new(),
            undecided_by_invariant: BTreeMap::new(),
            first_undecided: None,
            first_error: None,
            example: None,
            failed: None,
            outcomes: scenario
                .actors
                .iter()
                .map(|actor| (actor.name.clone(), ActorOutcomes::default()))
                .collect(),
            unsynchronized_bursts: 0,
            first_unsynchronized: None,
            min_success_bursts: 0,
            connections: 1,
            reads: targets.primary().url.clone(),
        }
    }

    /// The report of a scenario and mode that could not run at all, and why.
    pub fn could_not_run(
        scenario: &RaceScenario,
        targets: &Targets,
        mode: Mode,
        why: String,
    ) -> Self {
        ScenarioReport {
            failed: Some(why),
            ..ScenarioReport::new(scenario, targets, mode)
        }
    }

    /// Counts one fired and judged burst (its example is the caller's to attach).
    pub(crate) fn record(
        &mut self,
        burst: usize,
        scenario: &RaceScenario,
        done: &Burst,
        keys: &Keys,
    ) {
        self.bursts += 1;
        if !done
            .records
            .iter()
            .any(|record| record.outcome.success().is_some())
        {
            self.bursts_without_success += 1;
        }
        for record in &done.records {
            let name = scenario
                .actors
                .get(record.actor)
                .map_or_else(|| "?".to_owned(), |actor| actor.name.clone());
            self.outcomes.entry(name).or_default().add(&record.outcome);
        }
        if done.early_requests > 0 {
            self.unsynchronized_bursts += 1;
            self.first_unsynchronized.get_or_insert_with(|| {
                format!(
                    "burst {burst}: {} of {} requests came back or started before the release",
                    done.early_requests,
                    done.records.len()
                )
            });
        }
        for finding in &done.undecided {
            *self
                .undecided_by_invariant
                .entry(finding.invariant.clone())
                .or_default() += 1;
            self.first_undecided
                .get_or_insert_with(|| keys.mask(&finding.detail));
        }
        if !done.violations.is_empty() {
            self.anomalies += 1;
            for violation in &done.violations {
                *self
                    .violations_by_invariant
                    .entry(violation.invariant.clone())
                    .or_default() += 1;
            }
            self.first_anomaly_burst.get_or_insert(burst);
        }
    }

    /// Why the run does not show that the invariants hold, besides an anomaly: it could not
    /// run, bursts were not fired, too few bursts had a 2xx, bursts were not synchronized, or
    /// an invariant could not decide. Empty for a clean run.
    pub fn shortfalls(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(failed) = &self.failed {
            why.push(format!("could not run: {failed}"));
            return why;
        }
        if self.errors > 0 {
            why.push(format!(
                "{} burst(s) could not be fired; the first: {}",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        let asked = self.bursts + self.errors;
        let with_success = self.bursts - self.bursts_without_success;
        if with_success < self.min_success_bursts {
            why.push(format!(
                "{} of {asked} bursts had no 2xx response; at least {} had to have one (--min-success-bursts), so the scenario did not run as written: check the credentials, the setup and the statuses per actor",
                asked - with_success,
                self.min_success_bursts
            ));
        }
        if self.unsynchronized_bursts > 0 {
            why.push(format!(
                "{} of {} bursts were not synchronized ({}): the server did not wait for what was held back (a handler that starts on the request's head, or does not read the body), so those bursts do not show the invariants hold",
                self.unsynchronized_bursts,
                self.bursts,
                self.first_unsynchronized.as_deref().unwrap_or("?")
            ));
        }
        for (invariant, bursts) in &self.undecided_by_invariant {
            why.push(format!(
                "{invariant} could not decide {bursts} burst(s); the first: {}",
                self.first_undecided.as_deref().unwrap_or("?")
            ));
        }
        why
    }

    /// Broken if an invariant broke; else held only if nothing in [`Self::shortfalls`].
    pub fn verdict(&self) -> Verdict {
        if self.anomalies > 0 {
            return Verdict::Broken;
        }
        let shortfalls = self.shortfalls();
        if shortfalls.is_empty() {
            Verdict::Held
        } else {
            Verdict::Incomplete(shortfalls)
        }
    }

    pub(crate) fn finish(&mut self, server: Option<Spread>, client: Option<Spread>) {
        self.anomaly_rate = if self.bursts == 0 {
            0.0
        } else {
            self.anomalies as f64 / self.bursts as f64
        };
        self.spread_us = match server {
            Some(server) if server.samples == self.bursts => Some(server),
            _ => client.clone(),
        };
        self.client_spread_us = client;
    }
}

/// The first anomalous burst, as Jepsen would print its history (secrets masked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BurstExample {
    pub burst: usize,
    pub vars: BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
    pub violations: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEntry>,
}

/// One request of a burst: invoke and completion (µs since the burst's origin), and outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub actor: String,
    pub request: String,
    pub invoke_us: f64,
    pub complete_us: f64,
    /// `ok` (2xx), `fail` (any other status) or `info` (no response: outcome unknown).
    #[serde(rename = "type")]
    pub kind: Kind,
    pub status: Option<u16>,
    pub response: String,
    /// Handler start relative to the earliest in the burst, when the server stamps it.
    pub server_start_us: Option<f64>,
}

/// The whole `race.json`: written by the tester, read back (by `cargo xtask readme`) with
/// the same definitions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RaceJson {
    pub machine: String,
    /// The primary target, as before there could be several.
    pub target: String,
    pub targets: Vec<String>,
    pub scenarios: Vec<ScenarioReport>,
}

impl RaceJson {
    /// The reports of a run against `targets`, on this machine.
    pub fn new(targets: &Targets, reports: &[ScenarioReport]) -> Self {
        RaceJson {
            machine: machine(),
            target: targets.primary().url.clone(),
            targets: targets.urls(),
            scenarios: reports.to_vec(),
        }
    }

    /// Reads a `race.json`.
    pub fn read(path: &Path) -> Result<Self, RaceError> {
        let text = std::fs::read_to_string(path).map_err(|source| RaceError::ReadReport {
            path: path.to_owned(),
            message: source.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|error| RaceError::ReadReport {
            path: path.to_owned(),
            message: error.to_string(),
        })
    }
}

/// "AMD EPYC, 2 cores": the CPU model (Linux) and the parallelism available.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!("{model}, {cores} cores")
}

/// Writes `contents` to `path`, creating its directory.
pub fn write(path: &Path, contents: &str) -> Result<(), RaceError> {
    let failed = |source| RaceError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(path, contents).map_err(failed)
}

/// `race.json` as text.
pub fn to_json(targets: &Targets, reports: &[ScenarioReport]) -> String {
    serde_json::to_string_pretty(&RaceJson::new(targets, reports))
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn race_json_reads_back_what_it_wrote() {
        let target = Targets::one(crate::wire::Target {
            url: "http://127.0.0.1:1".to_owned(),
            authority: "127.0.0.1:1".to_owned(),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            loopback: true,
        });
        let written = to_json(&target, &[]);
        let read: RaceJson = serde_json::from_str(&written).expect("race.json parses");
        assert_eq!(read.target, "http://127.0.0.1:1");
        assert!(read.scenarios.is_empty());
    }

    #[test]
    fn spread_statistics() {
        let spread = Spread::from_ns(&[1000, 2000, 3000, 4000, 10_000], SpreadSource::Server);
        assert_eq!(
            spread.as_ref().map(|s| (s.median, s.p90, s.samples)),
            Some((3.0, 10.0, 5))
        );
        assert_eq!(spread.map(|s| s.sd), Some(3.2));
        assert!(Spread::from_ns(&[], SpreadSource::Client).is_none());
    }
}
