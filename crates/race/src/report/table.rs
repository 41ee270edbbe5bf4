//! The terminal table and the markdown comparison of the modes.

use std::fmt::Write as _;

use super::json::{ScenarioReport, SpreadSource, machine};

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
    for report in reports {
        for (invariant, bursts) in &report.undecided_by_invariant {
            let _ = writeln!(
                out,
                "{} / {}: {invariant} could not decide {bursts} burst(s) (neither anomalies nor passes); first: {}",
                report.scenario,
                report.mode.as_str(),
                report.first_undecided.as_deref().unwrap_or("?")
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
        };
        assert!(!table(&[report(&[])]).contains("could not decide"));
        assert!(table(&[report(&[("linearizable", 2)])]).contains(
            "s / naive: linearizable could not decide 2 burst(s) (neither anomalies nor passes); first: the search explored 524288 states"
        ));
    }
}
