//! `verdicts.json`: the catalogue's verdicts under loom, one entry per model.
//!
//! The shape DESIGN.md documents: `{ "machine", "models": [ { "flow", "variant",
//! "expected", "verdict", "invariant", "iterations", "seconds", "preemption_bound",
//! "trace": [ { "step", "thread", "event" } ], "covers", ... } ] }`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictsReport {
    /// Where it ran (CPU, cores).
    pub machine: String,
    pub models: Vec<ModelVerdict>,
}

impl VerdictsReport {
    /// How many models got `kind`.
    pub fn count(&self, kind: VerdictKind) -> usize {
        self.models.iter().filter(|m| m.verdict == kind).count()
    }

    /// The models whose verdict is not the expected one.
    pub fn unexpected(&self) -> impl Iterator<Item = &ModelVerdict> {
        self.models.iter().filter(|m| !m.as_expected)
    }
}

/// One catalogue model: what it is, what it was expected to get, and what it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVerdict {
    pub flow: String,
    pub variant: String,
    /// What the scenario is (its actors), in a line.
    pub scenario: String,
    /// The production function the model checks (`null`: a model of a seed port, a backend
    /// protocol or the checker itself).
    pub covers: Option<String>,
    pub expected: Expected,
    pub verdict: VerdictKind,
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
    /// The failing interleaving (violated only).
    pub trace: Vec<TraceLine>,
    /// Whether the verdict is the expected one.
    pub as_expected: bool,
}

/// What the checker concluded, without its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    Proven,
    Violated,
    Inconclusive,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Proven => "proven",
            VerdictKind::Violated => "violated",
            VerdictKind::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict a catalogue entry is expected to get. In JSON it is the label
/// (`proven`, `violated: <invariant>`, `inconclusive`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Expected {
    Proven,
    /// Violated, and the named invariant is the one that breaks.
    Violated(String),
    /// The checker cannot decide (a limit of the checker, or a vacuous invariant).
    Inconclusive,
}

impl Expected {
    /// Whether a verdict of `kind` that broke `invariant` (if any) is this one.
    pub fn is_met_by(&self, kind: VerdictKind, invariant: Option<&str>) -> bool {
        match self {
            Expected::Proven => kind == VerdictKind::Proven,
            Expected::Violated(want) => {
                kind == VerdictKind::Violated && invariant == Some(want.as_str())
            }
            Expected::Inconclusive => kind == VerdictKind::Inconclusive,
        }
    }

    pub fn kind(&self) -> VerdictKind {
        match self {
            Expected::Proven => VerdictKind::Proven,
            Expected::Violated(_) => VerdictKind::Violated,
            Expected::Inconclusive => VerdictKind::Inconclusive,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Violated(invariant) => write!(f, "violated: {invariant}"),
            other => f.write_str(other.kind().as_str()),
        }
    }
}

impl From<Expected> for String {
    fn from(expected: Expected) -> Self {
        expected.to_string()
    }
}

impl TryFrom<String> for Expected {
    type Error = String;

    fn try_from(label: String) -> Result<Self, String> {
        match label.as_str() {
            "proven" => Ok(Expected::Proven),
            "inconclusive" => Ok(Expected::Inconclusive),
            _ => match label.strip_prefix("violated: ") {
                Some(invariant) if !invariant.is_empty() => {
                    Ok(Expected::Violated(invariant.to_owned()))
                }
                _ => Err(format!(
                    "`{label}` is not an expected verdict (`proven`, `violated: <invariant>` \
                     or `inconclusive`)"
                )),
            },
        }
    }
}

/// What a proven verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coverage {
    /// Executions explored.
    pub executions: usize,
    /// Per invariant, the relevant events it checked over all executions.
    pub invariants: Vec<InvariantCoverage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantCoverage {
    pub invariant: String,
    /// Relevant events (commits, effects, operations, final states) checked, summed over
    /// executions.
    pub events: usize,
}

/// One line of a counterexample: `step`, the actor (`T1`, or `end`), what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLine {
    pub step: usize,
    pub thread: String,
    pub event: String,
    /// What the step is, for a reader that draws it (commits and effects marked); absent
    /// from the lines that end a trace (who is blocked, who panicked) and from reports
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StepKind>,
}

/// The kind of a counterexample's step: what the recorder was told (see `raceproof-check`'s
/// `Fact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Narration: a read, a check, a decision (a stale load is one too).
    Note,
    /// A write committed, from the store's audit log.
    Commit,
    /// An effect the flow performed (processed, paid).
    Effect,
    /// A client-side call opened.
    Call,
    /// A client-side call returned.
    Return,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_round_trips_through_its_label() {
        for expected in [
            Expected::Proven,
            Expected::Violated("exactly_once".to_owned()),
            Expected::Inconclusive,
        ] {
            let json = serde_json::to_string(&expected).expect("serializes");
            assert_eq!(json, format!("\"{expected}\""));
            let back: Expected = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, expected);
        }
    }

    #[test]
    fn a_label_that_is_no_verdict_is_refused() {
        for bad in ["\"Proven\"", "\"violated\"", "\"violated: \"", "\"maybe\""] {
            assert!(serde_json::from_str::<Expected>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_violation_meets_only_the_expectation_that_names_its_invariant() {
        let want = Expected::Violated("no_lost_update".to_owned());
        assert!(want.is_met_by(VerdictKind::Violated, Some("no_lost_update")));
        assert!(!want.is_met_by(VerdictKind::Violated, Some("linearizable")));
        assert!(!want.is_met_by(VerdictKind::Proven, None));
        assert!(Expected::Proven.is_met_by(VerdictKind::Proven, None));
        assert!(!Expected::Proven.is_met_by(VerdictKind::Inconclusive, None));
        assert!(Expected::Inconclusive.is_met_by(VerdictKind::Inconclusive, None));
    }

    #[test]
    fn verdicts_are_lowercase_words() {
        let json = serde_json::to_string(&[
            VerdictKind::Proven,
            VerdictKind::Violated,
            VerdictKind::Inconclusive,
        ])
        .expect("serializes");
        assert_eq!(json, r#"["proven","violated","inconclusive"]"#);
        assert!(serde_json::from_str::<VerdictKind>("\"Proven\"").is_err());
    }
}
