//! The machine-readable report `cargo xtask verify` writes (`target/raceproof/verdicts.json`).

use crate::scenario::Expected;
use crate::verdict::{Coverage, TraceLine, Verdict};
use serde::Serialize;

/// `verdicts.json`: one entry per catalogue model.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Where it ran (CPU, cores).
    pub machine: String,
    pub models: Vec<ModelReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub flow: String,
    pub variant: String,
    /// What the scenario is (its actors), in a line.
    pub scenario: String,
    /// The production function the model checks (`null`: a model of a seed port, a backend
    /// protocol or the checker itself).
    pub covers: Option<String>,
    /// `proven` or `violated: <invariant>`.
    pub expected: String,
    /// `proven`, `violated` or `inconclusive`.
    pub verdict: String,
    /// The invariant broken, if any.
    pub invariant: Option<String>,
    /// Why the checker could not decide, and what to change (inconclusive only).
    pub reason: Option<String>,
    pub hint: Option<String>,
    /// What a proven verdict rests on: executions and, per invariant, the events checked.
    pub coverage: Option<Coverage>,
    /// Executions explored (up to the failing one when violated).
    pub iterations: usize,
    pub seconds: f64,
    /// loom's preemption bound; `null` means exhaustive.
    pub preemption_bound: Option<usize>,
    pub trace: Vec<TraceLine>,
    /// Whether the verdict is the expected one.
    pub as_expected: bool,
}

impl ModelReport {
    #[allow(
        clippy::too_many_arguments,
        reason = "one per report field; see the struct"
    )]
    pub fn new(
        flow: &str,
        variant: &str,
        scenario: &str,
        covers: Option<&str>,
        expected: &Expected,
        bound: Option<usize>,
        verdict: &Verdict,
        seconds: f64,
    ) -> Self {
        let trace = match verdict {
            Verdict::Violated { trace, .. } => trace.lines.clone(),
            _ => Vec::new(),
        };
        let (reason, hint) = match verdict {
            Verdict::Inconclusive { cause, hint, .. } => {
                (Some(cause.to_string()), Some(hint.clone()))
            }
            _ => (None, None),
        };
        let coverage = match verdict {
            Verdict::Proven { coverage, .. } => Some(coverage.clone()),
            _ => None,
        };
        Self {
            flow: flow.to_owned(),
            variant: variant.to_owned(),
            scenario: scenario.to_owned(),
            covers: covers.map(str::to_owned),
            expected: expected.label(),
            verdict: verdict.kind().to_owned(),
            invariant: verdict.invariant().map(str::to_owned),
            reason,
            hint,
            coverage,
            iterations: verdict.iterations(),
            seconds,
            preemption_bound: bound,
            trace,
            as_expected: verdict.label() == expected.label(),
        }
    }
}
