//! The flows judged on several deployments, side by side: one row per flow and variant,
//! one column per deployment (`EventLoop`, `ThreadPool`, `Workers(2)`), for the README and
//! `docs/verdicts.md`.

use raceproof_report::verdicts::{ModelVerdict, VerdictsReport};
use raceproof_report::{Deployment, VerdictKind};
use std::fmt::Write as _;

/// One row per flow and variant judged on several deployments, one column per deployment
/// (in the order the report first names them), and what the violations break.
pub fn deployments(report: &VerdictsReport) -> String {
    let mut columns: Vec<Deployment> = Vec::new();
    let mut rows: Vec<((&str, &str), Vec<&ModelVerdict>)> = Vec::new();
    for m in &report.models {
        match rows
            .iter_mut()
            .find(|(key, _)| *key == (m.flow.as_str(), m.variant.as_str()))
        {
            Some((_, models)) => models.push(m),
            None => rows.push(((&m.flow, &m.variant), vec![m])),
        }
    }
    rows.retain(|(_, models)| models.len() > 1);
    for (_, models) in &rows {
        for m in models {
            if !columns.contains(&m.deployment) {
                columns.push(m.deployment);
            }
        }
    }
    let mut out = String::from("| flow | variant |");
    for d in &columns {
        let _ = write!(out, " {d} |");
    }
    out.push_str(" breaks |\n|---|---|");
    out.push_str(&"---|".repeat(columns.len() + 1));
    // Variants of one flow with the same verdicts share a row.
    let mut lines: Vec<(&str, Vec<&str>, String)> = Vec::new();
    for ((flow, variant), models) in &rows {
        let cells: String = columns
            .iter()
            .map(|d| format!(" {} |", cell(models.iter().find(|m| m.deployment == *d))))
            .collect();
        let cells = format!("{cells} {} |", broken(models));
        match lines.last_mut() {
            Some((f, variants, c)) if f == flow && *c == cells => variants.push(variant),
            _ => lines.push((flow, vec![variant], cells)),
        }
    }
    for (flow, variants, cells) in lines {
        let variants: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
        let _ = write!(out, "\n| {flow} | {} |{cells}", variants.join(", "));
    }
    out
}

/// One deployment's verdict, a bound it rests on, and whether it was unexpected.
fn cell(model: Option<&&ModelVerdict>) -> String {
    let Some(m) = model else {
        return "-".to_owned();
    };
    let mut verdict = match m.verdict {
        VerdictKind::Violated => "**violated**",
        VerdictKind::Proven => "proven",
        VerdictKind::Inconclusive => "*inconclusive*",
    }
    .to_owned();
    if let (VerdictKind::Proven, Some(bound)) = (m.verdict, m.preemption_bound) {
        let _ = write!(verdict, " (at most {bound} preemptions)");
    }
    if !m.as_expected {
        verdict.push_str(" (UNEXPECTED)");
    }
    verdict
}

/// The invariants a row's violations break.
fn broken(models: &[&ModelVerdict]) -> String {
    let mut broken: Vec<&str> = models
        .iter()
        .filter_map(|m| m.invariant.as_deref())
        .collect();
    broken.dedup();
    if broken.is_empty() {
        return "-".to_owned();
    }
    broken
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::verdicts::summary;
    use crate::render::verdicts::tests::{model, report};

    #[test]
    fn deployments_stand_side_by_side_and_one_process_rows_stay_in_the_summary() {
        let mut report = report();
        let on = |deployment, verdict, as_expected| ModelVerdict {
            deployment,
            ..model("operate", "seed_fix", verdict, as_expected)
        };
        report.models.extend([
            on(Deployment::EventLoop, VerdictKind::Proven, false),
            ModelVerdict {
                preemption_bound: Some(2),
                ..on(Deployment::ThreadPool, VerdictKind::Proven, true)
            },
            on(Deployment::workers(2), VerdictKind::Violated, true),
        ]);
        report.models[5].deployment = Deployment::EventLoop;
        let table = deployments(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "| flow | variant | EventLoop | ThreadPool | Workers(2) | breaks |",
                "|---|---|---|---|---|---|",
                "| operate | `seed_fix` | proven (UNEXPECTED) | proven (at most 2 preemptions) | \
                 **violated** | `authorized_at_commit` |",
            ]
        );
        // promote_sql is on EventLoop only: neither side by side nor in the summary's rows.
        let summary = summary(&report);
        assert!(summary.contains("| promote_sql | - | - | - |"), "{summary}");
    }

    #[test]
    fn variants_of_a_flow_with_the_same_verdicts_share_a_row() {
        let mut report = report();
        report.models.clear();
        for variant in ["seed_vulnerable", "seed_fix"] {
            for deployment in [Deployment::EventLoop, Deployment::ThreadPool] {
                report.models.push(ModelVerdict {
                    deployment,
                    ..model("update_email", variant, VerdictKind::Violated, true)
                });
            }
        }
        let table = deployments(&report);
        let lines: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "| update_email | `seed_vulnerable`, `seed_fix` | **violated** | **violated** | \
              `authorized_at_commit` |"
            ]
        );
    }
}
