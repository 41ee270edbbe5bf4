//! `race.json`: what one run found, per scenario and mode. The tester writes it and readers
//! (`cargo xtask readme`) parse it with these same definitions.

use std::collections::BTreeMap;
use std::path::Path;

use raceproof_history::Kind;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::burst::Finding;
use crate::error::RaceError;
use crate::mode::Mode;
use crate::scenario::RaceScenario;
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
