//! Verdicts and counterexample traces in the flow's own words.

use crate::invariant::Breach;
use crate::recorder::Recording;
use raceproof_report::{Expected, VerdictKind};
use serde::{Deserialize, Serialize};
use std::fmt;

pub use raceproof_report::verdicts::{Coverage, InvariantCoverage, StepKind, TraceLine};

/// What the checker concluded about a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every interleaving (within `bound` preemptions, when there is one) kept every
    /// invariant, and every invariant saw something to check ([`Coverage`]).
    Proven {
        iterations: usize,
        bound: Option<usize>,
        coverage: Coverage,
    },
    /// The code under test broke `invariant` (or deadlocked, or panicked); `trace` shows
    /// the interleaving step by step.
    Violated {
        invariant: String,
        trace: Trace,
        iterations_until_found: usize,
    },
    /// The checker could not decide: the model hit one of its limits, or an invariant
    /// never saw what it checks. Says nothing about the code under test.
    Inconclusive {
        cause: Inconclusive,
        /// What to change so that the model can be decided.
        hint: String,
        iterations: usize,
    },
}

/// Why a verdict is inconclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Inconclusive {
    /// An invariant observed no relevant event in any execution: it checked nothing.
    Vacuous { invariant: String },
    /// loom explores at most `max` threads, the model's main thread included.
    ThreadLimit { threads: usize, max: usize },
    /// An execution took more than loom's branch limit: typically a spin loop that loom
    /// cannot see make progress.
    BranchLimit,
    /// The exploration budget ran out before every interleaving was explored.
    Budget { executions: usize, millis: u64 },
    /// Run on real threads, not model-checked: no violation showed in `runs` runs, which
    /// proves nothing.
    NotModelChecked { runs: usize },
    /// loom failed for a reason of its own.
    Checker { message: String },
    /// An invariant could not decide an execution (its checker hit a limit), and no
    /// execution broke an invariant.
    Undecided { invariant: String, why: String },
    /// A task awaited a future the model cannot see (not from `sync::tokio`), which stayed
    /// pending with nothing to wake it: the interleavings around it are unknown.
    InvisibleAwait { actor: String },
    /// Every violation found rests on a load that `SeqCst` forbids: loom treats `SeqCst`
    /// accesses as `AcqRel`, so it explores executions the memory model rules out.
    SeqCst {
        invariant: String,
        /// The stale load, and why `SeqCst` forbids it.
        load: String,
    },
    /// Nothing here could interleave: actors that touched no facade primitive, no facade
    /// object that two actors share, or a single execution of several actors (the shared
    /// state lives outside loom's sight).
    Unseen {
        /// Actors that touched no facade primitive in any execution.
        idle: Vec<String>,
        executions: usize,
    },
    /// The model read something loom does not model (the system clock).
    Unmodelled { what: String },
    /// One execution stopped making progress: an actor blocked, or looped, outside loom's
    /// sight (a `std` lock, a blocking call, a sleep).
    Stalled {
        /// The actor that was running when it stopped, if known.
        actor: Option<String>,
        /// The last step recorded (by any actor), if any.
        last_step: Option<String>,
        /// The execution that stalled (1-based).
        execution: usize,
        seconds: u64,
    },
    /// The randomized mode (PCT) found no violation: it never proves. A bug of depth
    /// `d <= depth` shows in one schedule with probability at least
    /// `1 / (threads * steps^(d-1))`.
    Randomized {
        schedules: usize,
        depth: usize,
        seed: u64,
        threads: usize,
        /// The most scheduling steps one execution took.
        steps: usize,
    },
    /// The model's process ended without a verdict (it aborted or was killed).
    Crashed {
        /// How it ended: the exit code or signal, and what it printed last.
        how: String,
        /// The last progress it reported: execution, actor and step.
        last_seen: Option<String>,
    },
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inconclusive::Vacuous { invariant } => write!(
                f,
                "invariant `{invariant}` observed no relevant event in any execution"
            ),
            Inconclusive::ThreadLimit { threads, max } => write!(
                f,
                "the model needs {threads} threads; loom explores at most {max} (its main thread included)"
            ),
            Inconclusive::BranchLimit => f.write_str(
                "an execution exceeded loom's branch limit (a loop that loom cannot see make progress)",
            ),
            Inconclusive::Budget { executions, millis } => write!(
                f,
                "exploration stopped after {executions} executions ({:.1} s) before covering every interleaving",
                *millis as f64 / 1000.0
            ),
            Inconclusive::NotModelChecked { runs } => write!(
                f,
                "not model-checked: {runs} runs on real threads showed no violation, which proves nothing"
            ),
            Inconclusive::Checker { message } => write!(f, "loom failed: {message}"),
            Inconclusive::Undecided { invariant, why } => {
                write!(f, "invariant `{invariant}` could not decide: {why}")
            }
            Inconclusive::InvisibleAwait { actor } => write!(
                f,
                "{actor} awaited something the model cannot see (a future not from `sync::tokio`)"
            ),
            Inconclusive::SeqCst { invariant, load } => write!(
                f,
                "every violation of `{invariant}` found rests on a load that SeqCst forbids \
                 ({load}); loom models SeqCst accesses as AcqRel, so these are not executions \
                 of your code"
            ),
            Inconclusive::Unseen { idle, executions } => {
                f.write_str("nothing here could interleave: is the shared state built from the facade? ")?;
                if idle.is_empty() && *executions == 1 {
                    write!(f, "No two actors' facade operations conflict")?;
                } else if idle.is_empty() {
                    write!(f, "No facade object is shared by two actors")?;
                } else {
                    write!(f, "{} touched no facade primitive", idle.join(", "))?;
                }
                let s = if *executions == 1 { "" } else { "s" };
                write!(f, " ({executions} execution{s} explored)")
            }
            Inconclusive::Unmodelled { what } => write!(
                f,
                "the model read {what}, which loom does not model: it never tried another value"
            ),
            Inconclusive::Stalled {
                actor,
                last_step,
                execution,
                seconds,
            } => {
                let who = actor.as_deref().unwrap_or("an actor");
                write!(
                    f,
                    "{who} stopped making progress inside execution {execution} (nothing \
                     happened for {seconds} s): it blocked or looped outside loom's sight"
                )?;
                if let Some(step) = last_step {
                    write!(f, "; the last recorded step: {step}")?;
                }
                Ok(())
            }
            Inconclusive::Randomized {
                schedules,
                depth,
                seed,
                threads,
                steps,
            } => {
                let p = pct_bound(*threads, *steps, *depth);
                let missed = (1.0 - p).powf(*schedules as f64);
                write!(
                    f,
                    "no violation in {schedules} random schedules of depth {depth} (PCT, seed \
                     {seed}); a randomized search never proves. PCT finds a bug of depth \
                     {depth} in one schedule with probability at least {p:.2e} ({threads} \
                     threads, {steps} steps), so {schedules} schedules miss one with \
                     probability at most {missed:.3}"
                )
            }
            Inconclusive::Crashed { how, last_seen } => {
                write!(f, "the model's process ended without a verdict: {how}")?;
                if let Some(seen) = last_seen {
                    write!(f, "; last seen: {seen}")?;
                }
                Ok(())
            }
        }
    }
}

/// PCT's guarantee (Burckhardt et al. 2010, theorem 6): one schedule of `n` threads and
/// `k` steps finds a given bug of depth `d` with probability at least `1 / (n * k^(d-1))`.
pub fn pct_bound(threads: usize, steps: usize, depth: usize) -> f64 {
    let exponent = i32::try_from(depth.saturating_sub(1)).unwrap_or(i32::MAX);
    1.0 / (threads.max(1) as f64 * (steps.max(1) as f64).powi(exponent))
}

impl Verdict {
    pub fn is_proven(&self) -> bool {
        matches!(self, Verdict::Proven { .. })
    }

    /// The broken invariant, if any.
    pub fn invariant(&self) -> Option<&str> {
        match self {
            Verdict::Violated { invariant, .. } => Some(invariant),
            _ => None,
        }
    }

    /// Executions explored: all of them when proven, up to the failing one when violated.
    pub fn iterations(&self) -> usize {
        match self {
            Verdict::Proven { iterations, .. } | Verdict::Inconclusive { iterations, .. } => {
                *iterations
            }
            Verdict::Violated {
                iterations_until_found,
                ..
            } => *iterations_until_found,
        }
    }

    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Proven { .. } => VerdictKind::Proven,
            Verdict::Violated { .. } => VerdictKind::Violated,
            Verdict::Inconclusive { .. } => VerdictKind::Inconclusive,
        }
    }

    /// Whether this is the verdict `expected` (a violation: of the invariant it names).
    pub fn meets(&self, expected: &Expected) -> bool {
        expected.is_met_by(self.kind(), self.invariant())
    }

    /// `proven`, `violated: <invariant>` or `inconclusive`: how [`Expected`] reads too.
    pub fn label(&self) -> String {
        match self {
            Verdict::Violated { invariant, .. } => format!("violated: {invariant}"),
            other => other.kind().to_string(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Proven {
                iterations,
                bound,
                coverage,
            } => {
                match bound {
                    Some(b) => write!(
                        f,
                        "proven: {iterations} executions, every interleaving with at most {b} preemptions"
                    )?,
                    None => write!(f, "proven: {iterations} executions, every interleaving")?,
                }
                for c in &coverage.invariants {
                    write!(f, "; {} checked {} events", c.invariant, c.events)?;
                }
                Ok(())
            }
            Verdict::Violated {
                invariant,
                trace,
                iterations_until_found,
            } => write!(
                f,
                "violated: {invariant} (found after {iterations_until_found} executions)\n{trace}"
            ),
            Verdict::Inconclusive { cause, hint, .. } => {
                write!(f, "inconclusive: {cause}\n  hint: {hint}")
            }
        }
    }
}

/// A failing interleaving, one domain event a line, the breaking step marked `<- why`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Trace {
    pub lines: Vec<TraceLine>,
}

impl Trace {
    /// The actors' steps of `recording` (setup left out), with `breach` marked.
    pub fn new(recording: &Recording, breach: &Breach) -> Self {
        // A breach at a step the trace does not show (setup) is told at the end instead.
        let marked = breach
            .step
            .filter(|&i| recording.steps.get(i).is_some_and(|s| !s.is_setup()));
        let mut trace = Self::steps(recording, marked.map(|i| (i, breach.why.as_str())));
        if marked.is_none() {
            trace.push(
                "end",
                format!("after every thread finished   <- {}", breach.why),
                None,
            );
        }
        trace
    }

    /// The actors' steps of `recording`, then `ending` (lines that say how the execution
    /// stopped: who is blocked, who panicked).
    pub fn ending(recording: &Recording, ending: Vec<(String, String)>) -> Self {
        let mut trace = Self::steps(recording, None);
        for (thread, event) in ending {
            trace.push(&thread, event, None);
        }
        trace
    }

    fn steps(recording: &Recording, marked: Option<(usize, &str)>) -> Self {
        let mut trace = Self::default();
        for (i, step) in recording.steps.iter().enumerate() {
            if step.is_setup() {
                continue;
            }
            let event = match marked {
                Some((m, why)) if m == i => format!("{}   <- {why}", step.text()),
                _ => step.text().to_owned(),
            };
            trace.push(&step.thread, event, Some(step_kind(step.fact())));
        }
        trace
    }

    pub(crate) fn push(&mut self, thread: &str, event: String, kind: Option<StepKind>) {
        self.lines.push(TraceLine {
            step: self.lines.len() + 1,
            thread: thread.to_owned(),
            event,
            kind,
        });
    }
}

/// What a step is, for the report's readers (the HTML report marks commits and effects).
fn step_kind(fact: &crate::event::Fact) -> StepKind {
    use crate::event::Fact;
    match fact {
        Fact::Note => StepKind::Note,
        Fact::Commit(_) => StepKind::Commit,
        Fact::Effect { .. } => StepKind::Effect,
        Fact::Call { .. } => StepKind::Call,
        Fact::Return { .. } => StepKind::Return,
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
