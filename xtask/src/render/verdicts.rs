//! Tables from `verdicts.json` and `stress.json`: the README's summary, and the full
//! table, the scenarios, every counterexample and loom against real threads for
//! `docs/verdicts.md`.

use raceproof_report::VerdictKind;
use raceproof_report::stress::StressReport;
use raceproof_report::verdicts::{ModelVerdict, VerdictsReport};
use std::fmt::Write as _;

/// The flows in the order the report first lists them, each with its models.
fn by_flow(report: &VerdictsReport) -> Vec<(&str, Vec<&ModelVerdict>)> {
    let mut flows: Vec<(&str, Vec<&ModelVerdict>)> = Vec::new();
    for m in &report.models {
        match flows.iter_mut().find(|(flow, _)| *flow == m.flow) {
            Some((_, models)) => models.push(m),
            None => flows.push((&m.flow, vec![m])),
        }
    }
    flows
}

/// `` `proven_fix`, `proven_fix/{parking_lot, rwlock}` ``: variants, those that share a
/// `base/` prefix folded into one braced group; an unexpected verdict is named on its own.
fn variants(models: &[&ModelVerdict]) -> String {
    enum Item<'a> {
        One(&'a str, bool),
        Group(&'a str, Vec<&'a str>),
    }
    let mut items: Vec<Item> = Vec::new();
    for m in models {
        match m.variant.split_once('/') {
            Some((base, rest)) if m.as_expected => {
                let group = items.iter_mut().find_map(|item| match item {
                    Item::Group(b, members) if *b == base => Some(members),
                    _ => None,
                });
                match group {
                    Some(members) => members.push(rest),
                    None => items.push(Item::Group(base, vec![rest])),
                }
            }
            _ => items.push(Item::One(&m.variant, !m.as_expected)),
        }
    }
    items
        .iter()
        .map(|item| match item {
            Item::One(variant, false) => format!("`{variant}`"),
            Item::One(variant, true) => format!("`{variant}` (UNEXPECTED)"),
            Item::Group(base, members) if members.len() == 1 => {
                format!("`{base}/{}`", members[0])
            }
            Item::Group(base, members) => format!("`{base}/{{{}}}`", members.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row per flow: which variants are violated (and what they break), which are proven,
/// and the production functions the proven ones cover.
pub fn summary(report: &VerdictsReport) -> String {
    let any_inconclusive = report.count(VerdictKind::Inconclusive) > 0;
    let mut out = String::from("| flow | violated: what breaks | proven | covers |");
    if any_inconclusive {
        out.push_str(" inconclusive |");
    }
    out.push_str("\n|---|---|---|---|");
    if any_inconclusive {
        out.push_str("---|");
    }
    out.push('\n');
    for (flow, models) in by_flow(report) {
        let of = |kind| -> Vec<&ModelVerdict> {
            models
                .iter()
                .copied()
                .filter(|m| m.verdict == kind)
                .collect()
        };
        // Violations grouped by the invariant they break.
        let violated = of(VerdictKind::Violated);
        let mut invariants: Vec<&str> = Vec::new();
        for invariant in violated.iter().filter_map(|m| m.invariant.as_deref()) {
            if !invariants.contains(&invariant) {
                invariants.push(invariant);
            }
        }
        let violated = invariants
            .iter()
            .map(|inv| {
                let these: Vec<&ModelVerdict> = violated
                    .iter()
                    .copied()
                    .filter(|m| m.invariant.as_deref() == Some(*inv))
                    .collect();
                format!("{}: `{inv}`", variants(&these))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let proven = of(VerdictKind::Proven);
        let mut covers: Vec<&str> = proven.iter().filter_map(|m| m.covers.as_deref()).collect();
        covers.sort_unstable();
        covers.dedup();
        let covers = covers
            .iter()
            .map(|c| format!("`{}`", c.trim_start_matches("raceproof_core::")))
            .collect::<Vec<_>>()
            .join(", ");
        let dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
        let _ = write!(
            out,
            "| {flow} | {} | {} | {} |",
            dash(violated),
            dash(variants(&proven)),
            dash(covers)
        );
        if any_inconclusive {
            let _ = write!(out, " {} |", dash(variants(&of(VerdictKind::Inconclusive))));
        }
        out.push('\n');
    }
    let unexpected = report.unexpected().count();
    let _ = write!(
        out,
        "\n{} models: {} proven, {} violated, {} inconclusive; {}. Measured on {}.",
        report.models.len(),
        report.count(VerdictKind::Proven),
        report.count(VerdictKind::Violated),
        report.count(VerdictKind::Inconclusive),
        if unexpected == 0 {
            "every verdict is the expected one".to_owned()
        } else {
            format!("**{unexpected} not the expected verdict**")
        },
        report.machine
    );
    out
}

/// One line per flow: the concurrent actors of its scenario.
pub fn scenarios(report: &VerdictsReport) -> String {
    by_flow(report)
        .iter()
        .map(|(flow, models)| format!("- `{flow}`: {}", models[0].scenario))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every model, one row each.
pub fn full_table(report: &VerdictsReport) -> String {
    let mut out = String::from(
        "| flow | variant | expected | verdict | iterations (until found) | preemption bound | events checked | seconds | covers |\n\
         |---|---|---|---|---:|---|---|---:|---|\n",
    );
    for m in &report.models {
        let verdict = match (m.verdict, &m.invariant) {
            (VerdictKind::Violated, Some(invariant)) => format!("**violated**: `{invariant}`"),
            (VerdictKind::Violated, None) => "**violated**".to_owned(),
            (VerdictKind::Inconclusive, _) => format!(
                "*inconclusive*: {}",
                m.reason.as_deref().unwrap_or("no reason given")
            ),
            (VerdictKind::Proven, _) => "proven".to_owned(),
        };
        // Per invariant, the relevant events a proven verdict rests on.
        let coverage = m.coverage.as_ref().map_or_else(
            || "-".to_owned(),
            |c| {
                c.invariants
                    .iter()
                    .map(|c| format!("{} {}", c.invariant, c.events))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        let bound = m
            .preemption_bound
            .map_or_else(|| "none (exhaustive)".to_owned(), |b| b.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {verdict}{} | {} | {bound} | {coverage} | {:.3} | {} |",
            m.flow,
            m.variant,
            m.expected,
            if m.as_expected { "" } else { " (UNEXPECTED)" },
            m.iterations,
            m.seconds,
            m.covers
                .as_deref()
                .map_or_else(|| "-".to_owned(), |c| format!("`{c}`")),
        );
    }
    let _ = write!(out, "\nMeasured on {}.", report.machine);
    out
}

/// A counterexample as `cargo xtask verify` prints it.
fn counterexample(m: &ModelVerdict) -> String {
    let mut out = format!(
        "**{} / {}** breaks `{}` ({}):\n\n```text\n",
        m.flow,
        m.variant,
        m.invariant.as_deref().unwrap_or("-"),
        m.scenario
    );
    for line in &m.trace {
        let _ = writeln!(out, "{:>3}  {:<4} {}", line.step, line.thread, line.event);
    }
    out.push_str("```");
    out
}

/// Every violated model's counterexample.
pub fn counterexamples(report: &VerdictsReport) -> String {
    report
        .models
        .iter()
        .filter(|m| !m.trace.is_empty())
        .map(counterexample)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The first counterexample of a seed's own fix (the headline: a published fix that loom
/// breaks), else the first counterexample.
pub fn first_counterexample(report: &VerdictsReport) -> Option<String> {
    let violated = || report.models.iter().filter(|m| !m.trace.is_empty());
    violated()
        .find(|m| m.variant == "seed_fix")
        .or_else(|| violated().next())
        .map(counterexample)
}

/// Each violated model beside what real threads made of the same scenario.
pub fn side_by_side(verdicts: &VerdictsReport, stress: &StressReport) -> String {
    let mut out = String::from(
        "| flow | variant | loom: iterations until found | real threads: runs violated | real threads: first failing run |\n\
         |---|---|---:|---:|---:|\n",
    );
    for m in verdicts
        .models
        .iter()
        .filter(|m| m.verdict == VerdictKind::Violated)
    {
        let Some(s) = stress.model(&m.flow, &m.variant) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} of {} | {} |",
            m.flow,
            m.variant,
            m.iterations,
            s.violations,
            s.runs,
            s.first_violation
                .map_or_else(|| "never".to_owned(), |run| run.to_string())
        );
    }
    let _ = write!(out, "\nReal-thread runs measured on {}.", stress.machine);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use raceproof_report::Expected;
    use raceproof_report::stress::ModelStress;
    use raceproof_report::verdicts::TraceLine;

    fn model(flow: &str, variant: &str, verdict: VerdictKind, as_expected: bool) -> ModelVerdict {
        let violated = verdict == VerdictKind::Violated;
        ModelVerdict {
            flow: flow.to_owned(),
            variant: variant.to_owned(),
            scenario: "T1 admin promotes alice; T2 root demotes admin".to_owned(),
            covers: (!violated).then(|| "raceproof_core::service::Accounts::promote".to_owned()),
            expected: if violated == as_expected {
                Expected::Violated("authorized_at_commit".to_owned())
            } else {
                Expected::Proven
            },
            verdict,
            invariant: violated.then(|| "authorized_at_commit".to_owned()),
            reason: None,
            hint: None,
            coverage: None,
            iterations: 3,
            seconds: 0.001,
            preemption_bound: None,
            trace: if violated {
                vec![TraceLine {
                    step: 1,
                    thread: "T1".to_owned(),
                    event: "commit #2 alice.role = admin   <- not an admin".to_owned(),
                    kind: None,
                }]
            } else {
                Vec::new()
            },
            as_expected,
        }
    }

    fn report() -> VerdictsReport {
        VerdictsReport {
            machine: "AMD EPYC, 2 cores".to_owned(),
            models: vec![
                model("promote", "seed_vulnerable", VerdictKind::Violated, true),
                model("promote", "seed_fix", VerdictKind::Violated, true),
                model("promote", "proven_fix", VerdictKind::Proven, true),
                model("promote", "proven_fix/rwlock", VerdictKind::Proven, true),
                model("promote", "proven_fix/sharded", VerdictKind::Proven, true),
                model("promote_sql", "for_share", VerdictKind::Proven, true),
            ],
        }
    }

    #[test]
    fn the_summary_folds_variants_and_names_what_breaks() {
        let summary = summary(&report());
        let rows: Vec<&str> = summary.lines().skip(2).take(2).collect();
        assert_eq!(
            rows,
            [
                "| promote | `seed_vulnerable`, `seed_fix`: `authorized_at_commit` | \
                 `proven_fix`, `proven_fix/{rwlock, sharded}` | `service::Accounts::promote` |",
                "| promote_sql | - | `for_share` | `service::Accounts::promote` |",
            ]
        );
        assert!(summary.ends_with(
            "6 models: 4 proven, 2 violated, 0 inconclusive; every verdict is the expected one. \
             Measured on AMD EPYC, 2 cores."
        ));
    }

    #[test]
    fn an_unexpected_verdict_stands_out_in_every_table() {
        let mut report = report();
        report.models[3] = model("promote", "proven_fix/rwlock", VerdictKind::Violated, false);
        let summary = summary(&report);
        assert!(
            summary.contains("`proven_fix/rwlock` (UNEXPECTED): `authorized_at_commit`"),
            "{summary}"
        );
        assert!(
            summary.contains("**1 not the expected verdict**"),
            "{summary}"
        );
        assert!(full_table(&report).contains("(UNEXPECTED)"));
    }

    #[test]
    fn the_first_counterexample_is_a_seed_fix() {
        let shown = first_counterexample(&report()).expect("a violation");
        assert!(shown.starts_with("**promote / seed_fix** breaks `authorized_at_commit`"));
        assert!(shown.contains("  1  T1   commit #2 alice.role = admin   <- not an admin"));
    }

    #[test]
    fn loom_beside_real_threads_lists_only_violations_that_stress_ran() {
        let stress = StressReport {
            machine: "AMD EPYC, 2 cores".to_owned(),
            models: vec![ModelStress {
                flow: "promote".to_owned(),
                variant: "seed_fix".to_owned(),
                expected: Expected::Violated("authorized_at_commit".to_owned()),
                runs: 10000,
                violations: 207,
                first_violation: Some(270),
                invariant: Some("authorized_at_commit".to_owned()),
                hung: false,
                seconds: 2.0,
            }],
        };
        let table = side_by_side(&report(), &stress);
        let rows: Vec<&str> = table
            .lines()
            .skip(2)
            .filter(|l| l.starts_with('|'))
            .collect();
        assert_eq!(rows, ["| promote | seed_fix | 3 | 207 of 10000 | 270 |"]);
    }
}
