//! `docs/randomized.md`'s table from `verdicts.json` (loom) and `random.json` (PCT): per
//! model, loom's executions until it found the violation (or its verdict) beside the
//! schedules PCT needed, from the same seed every run.

use raceproof_report::VerdictKind;
use raceproof_report::random::{RandomReport, RandomVerdict};
use raceproof_report::verdicts::{ModelVerdict, VerdictsReport};
use std::fmt::Write as _;

/// `violated: exactly_once`, `proven`, `inconclusive`.
fn label(kind: VerdictKind, invariant: Option<&str>) -> String {
    match (kind, invariant) {
        (VerdictKind::Violated, Some(invariant)) => format!("violated: `{invariant}`"),
        (kind, _) => kind.to_string(),
    }
}

fn loom_cell(m: Option<&ModelVerdict>) -> (String, String) {
    match m {
        None => ("-".to_owned(), "-".to_owned()),
        Some(m) => (
            label(m.verdict, m.invariant.as_deref()),
            match m.verdict {
                VerdictKind::Violated => format!("{} (until found)", m.iterations),
                VerdictKind::Proven => format!("{} (all)", m.iterations),
                VerdictKind::Inconclusive => format!("{} (budget spent)", m.iterations),
            },
        ),
    }
}

fn pct_cell(r: &RandomVerdict) -> String {
    match r.verdict {
        VerdictKind::Violated => format!("{} (until found)", r.schedules),
        _ => format!("{} (none violated)", r.schedules),
    }
}

/// Every model, loom beside PCT, then how far apart they are on the violations.
pub fn side_by_side(verdicts: &VerdictsReport, random: &RandomReport) -> String {
    let mut out = String::from(
        "| flow | variant | loom | loom: executions | PCT | PCT: schedules | PCT seconds |\n\
         |---|---|---|---:|---|---:|---:|\n",
    );
    let (mut violations, mut worst_pct, mut worst_loom) = (0, 0, 0);
    for r in &random.models {
        let loom = verdicts
            .models
            .iter()
            .find(|m| m.flow == r.flow && m.variant == r.variant);
        let (loom_verdict, loom_executions) = loom_cell(loom);
        let unexpected = if r.as_expected { "" } else { " (UNEXPECTED)" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{unexpected} | {} | {:.3} |",
            r.flow,
            r.variant,
            loom_verdict,
            loom_executions,
            label(r.verdict, r.invariant.as_deref()),
            pct_cell(r),
            r.seconds
        );
        if r.verdict == VerdictKind::Violated
            && let Some(m) = loom.filter(|m| m.verdict == VerdictKind::Violated)
        {
            violations += 1;
            worst_pct = worst_pct.max(r.schedules);
            worst_loom = worst_loom.max(m.iterations);
        }
    }
    let _ = write!(
        out,
        "\nOn the {violations} violations both find, PCT needed at most {worst_pct} schedules \
         and loom at most {worst_loom} executions. PCT: {} schedules of depth {} per model, \
         seed {}, measured on {}; loom: {}.",
        random.schedules, random.depth, random.seed, random.machine, verdicts.machine
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use raceproof_report::Expected;

    fn loom(flow: &str, kind: VerdictKind, iterations: usize) -> ModelVerdict {
        ModelVerdict {
            flow: flow.to_owned(),
            variant: "v".to_owned(),
            scenario: String::new(),
            covers: None,
            expected: Expected::Proven,
            verdict: kind,
            invariant: (kind == VerdictKind::Violated).then(|| "once".to_owned()),
            reason: None,
            hint: None,
            coverage: None,
            iterations,
            seconds: 0.0,
            preemption_bound: None,
            trace: Vec::new(),
            as_expected: true,
        }
    }

    fn pct(flow: &str, kind: VerdictKind, schedules: usize) -> RandomVerdict {
        RandomVerdict {
            flow: flow.to_owned(),
            variant: "v".to_owned(),
            expected: Expected::Inconclusive,
            verdict: kind,
            invariant: (kind == VerdictKind::Violated).then(|| "once".to_owned()),
            schedules,
            steps: 10,
            seconds: 0.5,
            reason: None,
            schedule: None,
            trace: Vec::new(),
            as_expected: true,
        }
    }

    #[test]
    fn each_model_shows_loom_beside_pct_and_the_worst_of_each() {
        let verdicts = VerdictsReport {
            machine: "m".to_owned(),
            models: vec![
                loom("racy", VerdictKind::Violated, 76),
                loom("fixed", VerdictKind::Proven, 14),
                loom("big", VerdictKind::Inconclusive, 5000),
            ],
        };
        let random = RandomReport {
            machine: "m".to_owned(),
            schedules: 100,
            depth: 3,
            seed: 7,
            models: vec![
                pct("racy", VerdictKind::Violated, 9),
                pct("fixed", VerdictKind::Inconclusive, 100),
                pct("big", VerdictKind::Violated, 10),
            ],
        };
        let table = side_by_side(&verdicts, &random);
        assert!(table.contains("| racy | v | violated: `once` | 76 (until found) | violated: `once` | 9 (until found) |"), "{table}");
        assert!(
            table
                .contains("| fixed | v | proven | 14 (all) | inconclusive | 100 (none violated) |"),
            "{table}"
        );
        assert!(table.contains("| big | v | inconclusive | 5000 (budget spent) | violated: `once` | 10 (until found) |"), "{table}");
        assert!(table.contains("On the 1 violations both find, PCT needed at most 9 schedules and loom at most 76 executions"), "{table}");
    }
}
