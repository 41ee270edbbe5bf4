//! `race.json`, the terminal table, and the markdown comparison of the modes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::RaceError;
use crate::invariant::{Observation, Violation};
use crate::mode::Mode;
use crate::runner::Burst;
use crate::scenario::Scenario;
use crate::signer::Keys;
use crate::wire::Targets;

/// Where a spread was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpreadSource {
    /// The server's handler-start stamps (`x-raceproof-handler-start-ns`).
    Server,
    /// The arrival of each response's head at this client (the server sent no stamps).
    Client,
}

/// Arrival spread over the bursts, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
    pub sd: f64,
    /// One sample per burst.
    pub samples: usize,
    pub source: SpreadSource,
}

impl Spread {
    /// Median, p90 (nearest rank) and population SD of per-burst spreads given in nanoseconds.
    pub fn from_ns(samples_ns: &[u64], source: SpreadSource) -> Option<Self> {
        if samples_ns.is_empty() {
            return None;
        }
        let mut us: Vec<f64> = samples_ns.iter().map(|ns| *ns as f64 / 1000.0).collect();
        us.sort_by(f64::total_cmp);
        let rank = |q: f64| us[((q * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1];
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        let variance = us.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / us.len() as f64;
        let round = |x: f64| (x * 10.0).round() / 10.0;
        Some(Spread {
            median: round(rank(0.5)),
            p90: round(rank(0.9)),
            sd: round(variance.sqrt()),
            samples: us.len(),
            source,
        })
    }
}

/// The result of one scenario in one mode.
#[derive(Debug, Clone, Serialize)]
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
    pub invariant: Vec<&'static str>,
    pub violations_by_invariant: BTreeMap<String, usize>,
    pub first_error: Option<String>,
    pub example: Option<BurstExample>,
}

impl ScenarioReport {
    pub(crate) fn new(scenario: &Scenario, targets: &Targets, mode: Mode) -> Self {
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
                .map(|invariant| invariant.name())
                .collect(),
            violations_by_invariant: BTreeMap::new(),
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
#[derive(Debug, Clone, Serialize)]
pub struct BurstExample {
    pub burst: usize,
    pub vars: BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
    pub violations: Vec<Violation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<crate::invariant::AuditEntry>,
}

/// One request of a burst: invoke and completion (µs since the burst's origin), and outcome.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub actor: String,
    pub request: String,
    pub invoke_us: f64,
    pub complete_us: f64,
    /// `ok` (2xx), `fail` (any other status) or `info` (no response: outcome unknown).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: Option<u16>,
    pub response: String,
    /// Handler start relative to the earliest in the burst, when the server stamps it.
    pub server_start_us: Option<f64>,
}

const SHOWN_BODY: usize = 400;

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_BODY) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

impl BurstExample {
    pub(crate) fn new(burst: usize, scenario: &Scenario, done: &Burst, keys: &Keys) -> Self {
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
                        if response.is_success() { "ok" } else { "fail" },
                        Some(response.status),
                        keys.mask(&shorten(&String::from_utf8_lossy(&response.body))),
                    ),
                    Err(error) => ("info", None, keys.mask(error)),
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
                    after: Ok(response),
                } => crate::invariant::parse_audit(response).ok().map(|log| {
                    log.entries
                        .into_iter()
                        .filter(|entry| entry.seq > *before)
                        .collect::<Vec<_>>()
                }),
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
                .map(|violation| Violation {
                    invariant: violation.invariant,
                    detail: keys.mask(&violation.detail),
                })
                .collect(),
            audit,
        }
    }
}

/// The whole `race.json`.
#[derive(Debug, Serialize)]
pub struct RaceJson<'a> {
    pub machine: String,
    /// The primary target, as before there could be several.
    pub target: &'a str,
    pub targets: Vec<String>,
    pub scenarios: &'a [ScenarioReport],
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
    let json = RaceJson {
        machine: machine(),
        target: &targets.primary().url,
        targets: targets.urls(),
        scenarios: reports,
    };
    serde_json::to_string_pretty(&json).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// One report as table cells, shared by the terminal table and the markdown comparison.
struct Row {
    cells: [String; 11],
}

impl Row {
    const HEADINGS: [&'static str; 11] = [
        "scenario",
        "mode",
        "bursts",
        "errors",
        "anomalies",
        "rate",
        "first anomaly",
        "spread p50 (µs)",
        "p90 (µs)",
        "sd (µs)",
        "measured by",
    ];

    fn new(report: &ScenarioReport) -> Self {
        let (median, p90, sd, source) = match &report.spread_us {
            Some(spread) => (
                format!("{:.1}", spread.median),
                format!("{:.1}", spread.p90),
                format!("{:.1}", spread.sd),
                match spread.source {
                    SpreadSource::Server => "server",
                    SpreadSource::Client => "client",
                },
            ),
            None => ("-".into(), "-".into(), "-".into(), "-"),
        };
        let first = report
            .first_anomaly_burst
            .map_or_else(|| "-".to_owned(), |burst| burst.to_string());
        Row {
            cells: [
                report.scenario.clone(),
                report.mode.as_str().to_owned(),
                report.bursts.to_string(),
                report.errors.to_string(),
                report.anomalies.to_string(),
                format!("{:.1}%", report.anomaly_rate * 100.0),
                first,
                median,
                p90,
                sd,
                source.to_owned(),
            ],
        }
    }
}

/// Left-aligned text columns, right-aligned numbers.
const WIDTHS: [isize; 11] = [-28, -14, 7, 6, 9, 7, 13, 15, 10, 10, -11];

fn padded<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let padded: Vec<String> = cells
        .zip(WIDTHS)
        .map(|(cell, width)| {
            let (left, width) = (width < 0, width.unsigned_abs());
            if left {
                format!("{cell:<width$}")
            } else {
                format!("{cell:>width$}")
            }
        })
        .collect();
    padded.join(" ").trim_end().to_owned()
}

/// "Each burst split round robin across ..." for every distinct set of several targets.
fn split_lines(reports: &[ScenarioReport]) -> Vec<String> {
    let mut seen: Vec<&[String]> = Vec::new();
    for report in reports.iter().filter(|report| report.targets.len() > 1) {
        if !seen.contains(&report.targets.as_slice()) {
            seen.push(&report.targets);
        }
    }
    seen.into_iter()
        .map(|targets| {
            format!(
                "Each burst split round robin across {} targets: {}",
                targets.len(),
                targets.join(", ")
            )
        })
        .collect()
}

/// The terminal table; a line above it names the targets when a burst was split.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    for line in split_lines(reports) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&padded(Row::HEADINGS.into_iter()));
    out.push('\n');
    for report in reports {
        out.push_str(&padded(Row::new(report).cells.iter().map(String::as_str)));
        out.push('\n');
    }
    if reports.iter().any(|report| {
        report
            .spread_us
            .as_ref()
            .is_some_and(|spread| spread.source == SpreadSource::Client)
    }) {
        out.push_str(
            "measured by `client`: the target sent no x-raceproof-handler-start-ns header, so the spread is between the arrivals of the response heads at this client, not the server's request starts\n",
        );
    }
    for report in reports
        .iter()
        .filter(|report| report.bursts > 0 && report.bursts_without_success == report.bursts)
    {
        let _ = writeln!(
            out,
            "{} / {}: warning: no request succeeded in any burst, so nothing was exercised; check the credentials and the setup requests",
            report.scenario,
            report.mode.as_str()
        );
    }
    for report in reports.iter().filter(|report| report.errors > 0) {
        let _ = writeln!(
            out,
            "{} / {}: {} burst(s) not fired; first: {}",
            report.scenario,
            report.mode.as_str(),
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
    }
    out
}

/// The comparison of the modes as a markdown table (for the README).
pub fn compare_markdown(reports: &[ScenarioReport]) -> String {
    let mut out = format!("| {} |\n|", Row::HEADINGS.join(" | "));
    for width in WIDTHS {
        out.push_str(if width < 0 { "---|" } else { "---:|" });
    }
    out.push('\n');
    for report in reports {
        let _ = writeln!(out, "| {} |", Row::new(report).cells.join(" | "));
    }
    let _ = writeln!(out, "\nMeasured on {}, one run, loopback.", machine());
    for line in split_lines(reports) {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
