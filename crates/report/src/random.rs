//! `random.json`: the randomized mode's verdicts (PCT schedules under `--cfg shuttle`), one
//! entry per model, set beside loom's in `docs/randomized.md`.

use crate::verdicts::{Expected, TraceLine, VerdictKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RandomReport {
    /// Where it ran (CPU, cores).
    pub machine: String,
    /// Schedules each model may run, their depth and the seed every run starts from.
    pub schedules: usize,
    pub depth: usize,
    pub seed: u64,
    pub models: Vec<RandomVerdict>,
}

impl RandomReport {
    /// The models whose verdict is not the one the randomized mode should give.
    pub fn unexpected(&self) -> impl Iterator<Item = &RandomVerdict> {
        self.models.iter().filter(|m| !m.as_expected)
    }
}

/// One model under PCT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomVerdict {
    pub flow: String,
    pub variant: String,
    /// What the randomized mode should answer: the violation loom finds, or
    /// *inconclusive* where loom proves (a random search never proves).
    pub expected: Expected,
    pub verdict: VerdictKind,
    pub invariant: Option<String>,
    /// Schedules run: until the violation, or all of them.
    pub schedules: usize,
    /// The most scheduling steps one execution took (PCT's `k`).
    pub steps: usize,
    pub seconds: f64,
    /// Why it is inconclusive, with PCT's bound.
    pub reason: Option<String>,
    /// The failing schedule (`seed:step,...`), which `cargo xtask replay --random` re-runs.
    pub schedule: Option<String>,
    pub trace: Vec<TraceLine>,
    pub as_expected: bool,
}
