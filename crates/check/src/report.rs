//! A model's entry in `verdicts.json` (`cargo xtask verify`), in the schema of
//! [`raceproof_report::verdicts`] that every reader of the file shares.

use crate::run::AnyScenario;
use crate::verdict::Verdict;
pub use raceproof_report::verdicts::{ModelVerdict, VerdictsReport};

/// What `scenario` got: `verdict`, found in `seconds`, with what the model is and what it
/// was expected to get.
pub fn model_verdict(scenario: &dyn AnyScenario, verdict: &Verdict, seconds: f64) -> ModelVerdict {
    let (trace, coverage, reason, hint) = match verdict {
        Verdict::Violated { trace, .. } => (trace.lines.clone(), None, None, None),
        Verdict::Proven { coverage, .. } => (Vec::new(), Some(coverage.clone()), None, None),
        Verdict::Inconclusive { cause, hint, .. } => (
            Vec::new(),
            None,
            Some(cause.to_string()),
            Some(hint.clone()),
        ),
    };
    ModelVerdict {
        flow: scenario.flow().to_owned(),
        variant: scenario.variant().to_owned(),
        deployment: scenario.deployment(),
        scenario: scenario.describe(),
        covers: scenario.covers().map(str::to_owned),
        expected: scenario.expected().clone(),
        verdict: verdict.kind(),
        invariant: verdict.invariant().map(str::to_owned),
        reason,
        hint,
        coverage,
        iterations: verdict.iterations(),
        seconds,
        preemption_bound: scenario.preemption_bound(),
        trace,
        as_expected: verdict.meets(scenario.expected()),
    }
}
