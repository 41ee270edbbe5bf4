//! The machine-readable report `cargo xtask verify` writes (`target/raceproof/verdicts.json`).

use crate::scenario::Expected;
use crate::verdict::{TraceLine, Verdict};
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
    /// `proven` or `violated: <invariant>`.
    pub expected: String,
    /// `proven` or `violated`.
    pub verdict: String,
    /// The invariant broken, if any.
    pub invariant: Option<String>,
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
    pub fn new(
        flow: &str,
        variant: &str,
        scenario: &str,
        expected: &Expected,
        bound: Option<usize>,
        verdict: &Verdict,
        seconds: f64,
    ) -> Self {
        let (verdict_word, trace) = match verdict {
            Verdict::Proven { .. } => ("proven", Vec::new()),
            Verdict::Violated { trace, .. } => ("violated", trace.lines.clone()),
        };
        Self {
            flow: flow.to_owned(),
            variant: variant.to_owned(),
            scenario: scenario.to_owned(),
            expected: expected.label(),
            verdict: verdict_word.to_owned(),
            invariant: verdict.invariant().map(str::to_owned),
            iterations: verdict.iterations(),
            seconds,
            preemption_bound: bound,
            trace,
            as_expected: verdict.label() == expected.label(),
        }
    }
}
