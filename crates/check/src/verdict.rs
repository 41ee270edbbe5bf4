//! Verdicts and counterexample traces in the flow's own words.

use crate::invariant::Breach;
use crate::recorder::History;
use serde::Serialize;
use std::fmt;

/// What the checker concluded about a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every interleaving (within `bound` preemptions, when there is one) kept every
    /// invariant.
    Proven {
        iterations: usize,
        bound: Option<usize>,
    },
    /// An interleaving broke `invariant`; `trace` shows it step by step.
    Violated {
        invariant: String,
        trace: Trace,
        iterations_until_found: usize,
    },
}

impl Verdict {
    pub fn is_proven(&self) -> bool {
        matches!(self, Verdict::Proven { .. })
    }

    /// The broken invariant, if any.
    pub fn invariant(&self) -> Option<&str> {
        match self {
            Verdict::Proven { .. } => None,
            Verdict::Violated { invariant, .. } => Some(invariant),
        }
    }

    /// Executions explored: all of them when proven, up to the failing one when violated.
    pub fn iterations(&self) -> usize {
        match self {
            Verdict::Proven { iterations, .. } => *iterations,
            Verdict::Violated {
                iterations_until_found,
                ..
            } => *iterations_until_found,
        }
    }

    /// `proven` or `violated: <invariant>`, comparable with [`crate::Expected::label`].
    pub fn label(&self) -> String {
        match self {
            Verdict::Proven { .. } => "proven".to_owned(),
            Verdict::Violated { invariant, .. } => format!("violated: {invariant}"),
        }
    }
}

/// One line of a counterexample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    pub step: usize,
    pub thread: String,
    pub event: String,
}

/// A failing interleaving, one domain event a line, the breaking step marked `<- why`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Trace {
    pub lines: Vec<TraceLine>,
}

impl Trace {
    /// The actors' steps of `history` (setup left out), with `breach` marked.
    pub fn new(history: &History, breach: &Breach) -> Self {
        // A breach at a step the trace does not show (setup) is told at the end instead.
        let marked = breach
            .step
            .filter(|&i| history.steps.get(i).is_some_and(|s| !s.is_setup()));
        let mut lines = Vec::new();
        for (i, step) in history.steps.iter().enumerate() {
            if step.is_setup() {
                continue;
            }
            let mut event = step.text().to_owned();
            if marked == Some(i) {
                event = format!("{event}   <- {}", breach.why);
            }
            lines.push(TraceLine {
                step: lines.len() + 1,
                thread: step.thread.clone(),
                event,
            });
        }
        if marked.is_none() {
            lines.push(TraceLine {
                step: lines.len() + 1,
                thread: "end".to_owned(),
                event: format!("after every thread finished   <- {}", breach.why),
            });
        }
        Self { lines }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{:>4}  {:<4} {}", line.step, line.thread, line.event)?;
        }
        Ok(())
    }
}
