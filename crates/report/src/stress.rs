//! `stress.json`: the catalogue on real threads, the stress test a user would write by hand,
//! to set beside loom's verdicts.

use crate::deployment::Deployment;
use crate::verdicts::Expected;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StressReport {
    pub machine: String,
    pub models: Vec<ModelStress>,
}

impl StressReport {
    /// The entry of `flow` / `variant` on `deployment`, if it ran.
    pub fn model(&self, flow: &str, variant: &str, deployment: Deployment) -> Option<&ModelStress> {
        self.models
            .iter()
            .find(|m| m.flow == flow && m.variant == variant && m.deployment == deployment)
    }
}

/// One catalogue model run `runs` times on real threads released together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStress {
    pub flow: String,
    pub variant: String,
    /// Where the runs ran (reports before deployments existed: `ThreadPool`).
    #[serde(default)]
    pub deployment: Deployment,
    pub expected: Expected,
    pub runs: usize,
    /// Runs in which an invariant broke (or an actor panicked, or the run hung).
    pub violations: usize,
    /// 1-based run at which the first violation showed.
    pub first_violation: Option<usize>,
    /// The invariant the first violation broke (`no_deadlock`, `no_panic` included).
    #[serde(default)]
    pub invariant: Option<String>,
    /// A run that never finished (deadlock): stress stopped there.
    pub hung: bool,
    pub seconds: f64,
}
