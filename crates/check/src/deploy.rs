//! Deployments (issue 16): which worker runs each actor, each worker's own copy of the
//! in-process state, and what the workers share.
//!
//! A scenario's setup runs once per worker. What it builds is that worker's own (the seed's
//! dicts, a lock map, an in-memory replay set: a second process has a second copy); what it
//! gets from `Worker::shared` is one object per execution that every worker holds (the
//! Redis and PostgreSQL models of `crates/flows/src/backends`).
//!
//! Actors go to workers by the deployment's routing: round robin, or every assignment, each
//! explored as a model run of its own ([`Scenario::check`] combines them). Traces name the
//! worker beside the actor: `T1 (worker 0)`.

use crate::recorder::Recorder;
use crate::scenario::Scenario;
#[cfg(loom)]
use crate::verdict::{Coverage, Verdict};
use crate::worker::{Shared, Worker};
pub use raceproof_report::deployment::{Deployment, Routing, Runtime};

impl<S: Send + Sync + 'static> Scenario<S> {
    /// One state per worker for this execution, built in worker order.
    pub(crate) fn worker_states(&self, recorder: &Recorder, shared: &Shared) -> Vec<S> {
        (0..self.deployment.processes())
            .map(|index| (self.setup)(&Worker::new(index, recorder, shared)))
            .collect()
    }
}

impl<S> Scenario<S> {
    /// The worker actor `actor` runs on in the run under way.
    pub(crate) fn worker_of(&self, actor: usize) -> usize {
        self.assignment
            .as_ref()
            .and_then(|a| a.get(actor).copied())
            .unwrap_or(0)
    }

    /// `T1`, or `T1 (worker 0)` when there are several workers.
    pub(crate) fn label(&self, actor: usize) -> String {
        let label = &self.actors[actor].label;
        if self.deployment.processes() > 1 {
            format!("{label} (worker {})", self.worker_of(actor))
        } else {
            label.clone()
        }
    }

    /// This scenario with every actor on the workers of `assignment`.
    pub(crate) fn assigned(&self, assignment: Vec<usize>) -> Self {
        let mut one = self.clone();
        one.assignment = Some(assignment);
        one
    }

    /// The deployment's assignments, one model run each, combined: the first violation (its
    /// trace names the workers), else the first inconclusive run, else proven over all. A
    /// scenario already on one assignment runs that one.
    #[cfg(loom)]
    pub(crate) fn each_assignment(&self, mut run: impl FnMut(&Self) -> Verdict) -> Verdict {
        if self.assignment.is_some() {
            return run(self);
        }
        let mut explored = 0;
        let mut proven: Option<Verdict> = None;
        let mut inconclusive = None;
        for assignment in self.deployment.assignments(self.actors.len()) {
            let verdict = run(&self.assigned(assignment));
            match verdict {
                Verdict::Violated {
                    invariant,
                    trace,
                    iterations_until_found,
                } => {
                    return Verdict::Violated {
                        invariant,
                        trace,
                        iterations_until_found: explored + iterations_until_found,
                    };
                }
                Verdict::Inconclusive { .. } => {
                    explored += verdict.iterations();
                    inconclusive.get_or_insert(verdict);
                }
                Verdict::Proven {
                    iterations,
                    bound,
                    coverage,
                } => {
                    explored += iterations;
                    proven = Some(match proven {
                        Some(Verdict::Proven {
                            iterations: before,
                            coverage: sum,
                            ..
                        }) => Verdict::Proven {
                            iterations: before + iterations,
                            bound,
                            coverage: add(sum, &coverage),
                        },
                        _ => Verdict::Proven {
                            iterations,
                            bound,
                            coverage,
                        },
                    });
                }
            }
        }
        match (inconclusive, proven) {
            (Some(Verdict::Inconclusive { cause, hint, .. }), _) => Verdict::Inconclusive {
                cause,
                hint,
                iterations: explored,
            },
            (_, Some(proven)) => proven,
            (_, None) => unreachable!("a deployment has at least one assignment"),
        }
    }
}

/// Two runs' coverage, added invariant by invariant.
#[cfg(loom)]
fn add(mut sum: Coverage, more: &Coverage) -> Coverage {
    sum.executions += more.executions;
    for (total, c) in sum.invariants.iter_mut().zip(&more.invariants) {
        total.events += c.events;
    }
    sum
}
