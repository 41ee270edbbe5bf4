//! Section 3: loom against real threads. For each violated model, the executions loom
//! explored until it found the violation, beside the run at which the same scenario on
//! real threads first broke (or the runs it never broke in), on one log scale, with the
//! real threads' hit rate.

use crate::Verdicts;
use crate::markup::{count, esc, num};
use crate::shell;
use crate::svg::{self, Scale, Shape};
use raceproof_report::VerdictKind;
use raceproof_report::stress::StressReport;
use std::fmt::Write as _;

const LABEL_W: f64 = 300.0;
const PLOT_W: f64 = 430.0;
const RATE_W: f64 = 230.0;
const ROW_H: f64 = 24.0;
const TOP: f64 = 48.0;

/// One violated model set beside real threads.
struct Row {
    name: String,
    loom: usize,
    runs: usize,
    violations: usize,
    first: Option<usize>,
    hung: bool,
}

pub fn section(verdicts: Option<&Verdicts>, stress: Option<&StressReport>) -> String {
    let lead = "A race that loom finds in a handful of executions can hide from real threads for \
                thousands of runs. Each violated model: \u{25CF} the executions loom explored \
                until it found the violation; \u{25B2} the run at which the same scenario on real \
                threads, released together, first broke; \u{2715} where real threads never broke \
                it, placed at the number of runs tried. Log scale.";
    let (Some(verdicts), Some(stress)) = (verdicts, stress) else {
        let mut what = Vec::new();
        if verdicts.is_none() {
            what.push("verdicts.json (`cargo xtask verify` writes it)");
        }
        if stress.is_none() {
            what.push("stress.json (`cargo xtask stress` writes it)");
        }
        return shell::section(
            "loom-vs-threads",
            "loom against real threads",
            lead,
            &shell::missing(&what.join(" and ")),
        );
    };
    let rows: Vec<Row> = verdicts
        .report
        .models
        .iter()
        .filter(|m| m.verdict == VerdictKind::Violated)
        .filter_map(|m| {
            let s = stress.model(&m.flow, &m.variant)?;
            Some(Row {
                name: format!("{} / {}", m.flow, m.variant),
                loom: m.iterations.max(1),
                runs: s.runs,
                violations: s.violations,
                first: s.first_violation,
                hung: s.hung,
            })
        })
        .collect();
    if rows.is_empty() {
        return shell::section(
            "loom-vs-threads",
            "loom against real threads",
            lead,
            &shell::missing("a violated model that stress.json also ran"),
        );
    }
    let most = rows
        .iter()
        .map(|r| r.loom.max(r.runs).max(r.first.unwrap_or(1)))
        .max()
        .unwrap_or(10);
    let scale = Scale::log(1.0, most as f64, LABEL_W, LABEL_W + PLOT_W);
    let height = TOP + ROW_H * rows.len() as f64 + 44.0;
    let width = LABEL_W + PLOT_W + RATE_W;
    let mut chart = svg::open(
        width,
        height,
        "loom executions until found against real-thread runs",
    );
    chart.push_str(&svg::legend(
        Shape::Circle,
        LABEL_W,
        12.0,
        "loom",
        "loom: executions until found",
    ));
    chart.push_str(&svg::legend(
        Shape::Triangle,
        LABEL_W + 200.0,
        12.0,
        "threads",
        "real threads: first failing run",
    ));
    chart.push_str(&svg::legend(
        Shape::Cross,
        LABEL_W + 420.0,
        12.0,
        "never",
        "never failed in N runs",
    ));
    let bottom = TOP + ROW_H * rows.len() as f64;
    chart.push_str(&svg::x_axis(
        &scale,
        bottom,
        TOP - 6.0,
        "executions (loom) / runs (real threads), log scale",
        "",
    ));
    chart.push_str(&svg::text(
        LABEL_W + PLOT_W + 12.0,
        TOP - 10.0,
        "start",
        "axis-title",
        "real threads: runs violated",
    ));
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW_H * (i as f64 + 0.5);
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            y + 4.0,
            "end",
            "label",
            &row.name,
        ));
        let loom_x = scale.at(row.loom as f64);
        let (threads_x, threads) = match row.first {
            Some(first) => (
                scale.at(first as f64),
                svg::marker(
                    Shape::Triangle,
                    scale.at(first as f64),
                    y,
                    6.0,
                    "threads",
                    &format!("{}: real threads first failed at run {first}", row.name),
                ),
            ),
            None => (
                scale.at(row.runs.max(1) as f64),
                svg::marker(
                    Shape::Cross,
                    scale.at(row.runs.max(1) as f64),
                    y,
                    6.0,
                    "never",
                    &format!(
                        "{}: never failed in {} runs on real threads",
                        row.name, row.runs
                    ),
                ),
            ),
        };
        let _ = write!(
            chart,
            "<line class=\"link\" x1=\"{loom_x:.1}\" y1=\"{y:.1}\" x2=\"{threads_x:.1}\" y2=\"{y:.1}\"/>"
        );
        chart.push_str(&svg::marker(
            Shape::Circle,
            loom_x,
            y,
            6.0,
            "loom",
            &format!("{}: loom found it after {} executions", row.name, row.loom),
        ));
        chart.push_str(&threads);
        let rate = if row.runs == 0 {
            "not run".to_owned()
        } else {
            format!(
                "{} of {} ({}%){}",
                count(row.violations),
                count(row.runs),
                num(100.0 * row.violations as f64 / row.runs as f64, 2),
                if row.hung { ", hung" } else { "" }
            )
        };
        chart.push_str(&svg::text(
            LABEL_W + PLOT_W + 12.0,
            y + 4.0,
            "start",
            "label",
            &rate,
        ));
    }
    chart.push_str("</svg>");
    let never = rows.iter().filter(|r| r.first.is_none()).count();
    let content = format!(
        "<figure id=\"loom-vs-threads-chart\">{chart}<figcaption>{} violated models run both ways; \
         real threads never broke {never} of them. loom measured on {}; real threads on {}.</figcaption></figure>",
        rows.len(),
        esc(&verdicts.report.machine),
        esc(&stress.machine),
    );
    shell::section(
        "loom-vs-threads",
        "loom against real threads",
        lead,
        &content,
    )
}
