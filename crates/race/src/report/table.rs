//! The terminal table and the markdown comparison of the modes.

use std::fmt::Write as _;

use super::json::{ActorOutcomes, ScenarioReport, SpreadSource, machine};

/// One report as table cells, shared by the terminal table and the markdown comparison.
struct Row {
    cells: [String; 14],
}

impl Row {
    const HEADINGS: [&'static str; 14] = [
        "scenario",
        "mode",
        "bursts",
        "errors",
        "anomalies",
        "rate",
        "first anomaly",
        "no 2xx",
        "unsync",
        "failed req",
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
        let failed_requests: usize = report.outcomes.values().map(ActorOutcomes::failed).sum();
        let mut cells = [
            report.scenario.clone(),
            report.mode.as_str().to_owned(),
            report.bursts.to_string(),
            report.errors.to_string(),
            report.anomalies.to_string(),
            format!("{:.1}%", report.anomaly_rate * 100.0),
            first,
            report.bursts_without_success.to_string(),
            report.unsynchronized_bursts.to_string(),
            failed_requests.to_string(),
            median,
            p90,
            sd,
            source.to_owned(),
        ];
        if report.failed.is_some() {
            for cell in &mut cells[2..] {
                *cell = "-".to_owned();
            }
            cells[2] = "failed".to_owned();
        }
        Row { cells }
    }
}

/// One line per actor: its statuses and failures over the run.
fn outcome_lines(report: &ScenarioReport) -> Vec<String> {
    report
        .outcomes
        .iter()
        .filter(|(_, outcomes)| outcomes.requests > 0)
        .map(|(actor, outcomes)| {
            let statuses: Vec<String> = outcomes
                .statuses
                .iter()
                .map(|(status, count)| format!("{status} x{count}"))
                .collect();
            let statuses = if statuses.is_empty() {
                "no response".to_owned()
            } else {
                statuses.join(", ")
            };
            let early = if outcomes.early > 0 {
                format!(", before the release {}", outcomes.early)
            } else {
                String::new()
            };
            format!(
                "  {actor}: {statuses}; timeouts {}, resets {}, connection errors {}, protocol errors {}{early}",
                outcomes.timeouts,
                outcomes.resets,
                outcomes.connection_errors,
                outcomes.protocol_errors
            )
        })
        .collect()
}

/// Left-aligned text columns, right-aligned numbers.
const WIDTHS: [isize; 14] = [-28, -14, 7, 6, 9, 7, 13, 7, 7, 10, 15, 10, 10, -11];

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
    for report in reports {
        let _ = writeln!(
            out,
            "{} / {}: requests per actor",
            report.scenario,
            report.mode.as_str()
        );
        for line in outcome_lines(report) {
            let _ = writeln!(out, "{line}");
        }
        for reason in report.shortfalls() {
            let _ = writeln!(
                out,
                "{} / {}: {reason}",
                report.scenario,
                report.mode.as_str()
            );
        }
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
    for report in reports {
        for reason in report.shortfalls() {
            let _ = writeln!(
                out,
                "\n- {} / {}: {reason}",
                report.scenario,
                report.mode.as_str()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

    #[test]
    fn undecided_bursts_are_told_apart_from_anomalies() {
        let report = |undecided: &[(&str, usize)]| ScenarioReport {
            scenario: "s".to_owned(),
            mode: Mode::Naive,
            target: "http://127.0.0.1:1".to_owned(),
            targets: vec!["http://127.0.0.1:1".to_owned()],
            bursts: 3,
            errors: 0,
            anomalies: 0,
            bursts_without_success: 0,
            anomaly_rate: 0.0,
            first_anomaly_burst: None,
            spread_us: None,
            client_spread_us: None,
            invariant: vec!["linearizable".to_owned()],
            violations_by_invariant: Default::default(),
            undecided_by_invariant: undecided
                .iter()
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect(),
            first_undecided: Some("the search explored 524288 states".to_owned()),
            first_error: None,
            example: None,
            failed: None,
            outcomes: Default::default(),
            unsynchronized_bursts: 0,
            first_unsynchronized: None,
            min_success_bursts: 3,
            connections: 1,
            reads: "http://127.0.0.1:1".to_owned(),
        };
        assert!(!table(&[report(&[])]).contains("could not decide"));
        assert!(table(&[report(&[("linearizable", 2)])]).contains(
            "s / naive: linearizable could not decide 2 burst(s); the first: the search explored 524288 states"
        ));
    }
}
