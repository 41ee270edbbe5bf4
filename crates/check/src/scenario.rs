//! Scenarios: fresh shared state, concurrent actors, invariants, and the verdict expected.

use crate::ghost;
use crate::invariant::{Breach, Invariant};
use crate::recorder::{ActorInfo, Recorder, Recording};
pub use raceproof_report::Expected;

/// How long one real-thread run may take, by default, before it is reported as a deadlock.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How much exploration a model may use before its verdict is *inconclusive*: loom's search
/// is exhaustive, and a model too large to finish must never be reported proven.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub executions: usize,
    pub seconds: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            executions: 200_000,
            seconds: 300.0,
        }
    }
}

type Setup<S> = ghost::Arc<dyn Fn(&Recorder) -> S + Send + Sync>;
type Body<S> = ghost::Arc<dyn Fn(&S) + Send + Sync>;

/// One concurrent actor: a thread running a request (or an attacker, or an admin).
pub struct Actor<S> {
    pub label: String,
    pub acts_as: Option<String>,
    pub description: String,
    pub(crate) body: Body<S>,
}

impl<S> Clone for Actor<S> {
    fn clone(&self) -> Self {
        Self {
            label: self.label.clone(),
            acts_as: self.acts_as.clone(),
            description: self.description.clone(),
            body: self.body.clone(),
        }
    }
}

/// A flow under test: how to build its shared state, who acts on it concurrently, what
/// must hold afterwards, and what the checker is expected to say.
///
/// `setup` runs at the start of every execution with a [`Recorder`] to pass to the probes
/// of the state it builds; steps it records are the scenario's initial state (invariants
/// see them, traces do not show them).
pub struct Scenario<S> {
    pub flow: String,
    pub variant: String,
    pub expected: Expected,
    /// loom's preemption bound; `None` explores every interleaving.
    pub preemption_bound: Option<usize>,
    pub budget: Budget,
    /// The production function this model checks (e.g.
    /// `raceproof_core::service::Accounts::promote`): what a proven verdict is a proof of.
    pub covers: Option<String>,
    /// How long one real-thread run may take before the stress runner calls it a deadlock.
    pub run_timeout: std::time::Duration,
    /// Actors that may touch no facade primitive (see [`Scenario::allow_idle`]).
    pub idle_allowed: Vec<String>,
    pub(crate) setup: Setup<S>,
    pub(crate) actors: Vec<Actor<S>>,
    pub(crate) invariants: Vec<ghost::Arc<dyn Invariant<S>>>,
}

impl<S> Clone for Scenario<S> {
    fn clone(&self) -> Self {
        Self {
            flow: self.flow.clone(),
            variant: self.variant.clone(),
            expected: self.expected.clone(),
            preemption_bound: self.preemption_bound,
            budget: self.budget,
            covers: self.covers.clone(),
            run_timeout: self.run_timeout,
            idle_allowed: self.idle_allowed.clone(),
            setup: self.setup.clone(),
            actors: self.actors.clone(),
            invariants: self.invariants.clone(),
        }
    }
}

impl<S: Send + Sync + 'static> Scenario<S> {
    /// A scenario of `flow` in `variant`, expected proven until told otherwise.
    pub fn new(
        flow: &str,
        variant: &str,
        setup: impl Fn(&Recorder) -> S + Send + Sync + 'static,
    ) -> Self {
        Self {
            flow: flow.to_owned(),
            variant: variant.to_owned(),
            expected: Expected::Proven,
            preemption_bound: None,
            budget: Budget::default(),
            covers: None,
            run_timeout: RUN_TIMEOUT,
            idle_allowed: Vec::new(),
            setup: ghost::Arc::new(setup),
            actors: Vec::new(),
            invariants: Vec::new(),
        }
    }

    /// Adds an actor, labelled `T1`, `T2`, ... in order. `acts_as` is the user whose
    /// authority its writes claim (for `authorized_at_commit`).
    pub fn actor(
        mut self,
        acts_as: Option<&str>,
        description: &str,
        body: impl Fn(&S) + Send + Sync + 'static,
    ) -> Self {
        self.actors.push(Actor {
            label: format!("T{}", self.actors.len() + 1),
            acts_as: acts_as.map(str::to_owned),
            description: description.to_owned(),
            body: ghost::Arc::new(body),
        });
        self
    }

    /// Adds an invariant; on a violation the first broken one, in this order, is reported.
    pub fn invariant(mut self, invariant: impl Invariant<S> + 'static) -> Self {
        self.invariants.push(ghost::Arc::new(invariant));
        self
    }

    /// Names the production function this model checks (reported beside the verdict).
    pub fn covers(mut self, function: &str) -> Self {
        self.covers = Some(function.to_owned());
        self
    }

    pub fn expect_proven(mut self) -> Self {
        self.expected = Expected::Proven;
        self
    }

    pub fn expect_violated(mut self, invariant: &str) -> Self {
        self.expected = Expected::Violated(invariant.to_owned());
        self
    }

    /// Expects the checker to be unable to decide (for models that test the checker).
    pub fn expect_inconclusive(mut self) -> Self {
        self.expected = Expected::Inconclusive;
        self
    }

    /// Bounds loom's preemptions: the verdict then covers every interleaving with at most
    /// `bound` preemptions, and says so. Most concurrency bugs need two or fewer.
    pub fn preemption_bound(mut self, bound: usize) -> Self {
        self.preemption_bound = Some(bound);
        self
    }

    /// How long one real-thread run may take before it counts as a deadlock (default
    /// [`RUN_TIMEOUT`]).
    pub fn run_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// Declares that actor `label` (`T2`) may touch no facade primitive, as an attacker
    /// whose request is rejected before it reaches shared state does. Otherwise an actor
    /// that loom never saw act makes the verdict *inconclusive*: its state may live outside
    /// the facade, where loom cannot interleave it.
    pub fn allow_idle(mut self, label: &str) -> Self {
        self.idle_allowed.push(label.to_owned());
        self
    }

    /// Caps the exploration; past either cap the verdict is *inconclusive*.
    pub fn budget(mut self, executions: usize, seconds: f64) -> Self {
        self.budget = Budget {
            executions,
            seconds,
        };
        self
    }

    pub fn actors(&self) -> &[Actor<S>] {
        &self.actors
    }

    /// `T1 admin promotes alice; T2 root demotes admin`.
    pub fn describe(&self) -> String {
        self.actors
            .iter()
            .map(|a| format!("{} {}", a.label, a.description))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What `recorder` holds so far, with this scenario's actors.
    pub(crate) fn recording(&self, recorder: &Recorder) -> Recording {
        Recording {
            steps: recorder.steps(),
            actors: self
                .actors
                .iter()
                .map(|a| ActorInfo {
                    label: a.label.clone(),
                    acts_as: a.acts_as.clone(),
                })
                .collect(),
        }
    }

    /// How many relevant events each invariant saw in this execution, in order.
    #[cfg(any(loom, shuttle))]
    pub(crate) fn observe(&self, state: &S, recording: &Recording) -> Vec<usize> {
        self.invariants
            .iter()
            .map(|inv| inv.observed(state, recording))
            .collect()
    }

    /// The first invariant that `state` and `recording` break; else the first that could
    /// not decide (an undecided one must not hide a violation).
    pub(crate) fn judge(&self, state: &S, recording: &Recording) -> Option<(String, Breach)> {
        let mut undecided = None;
        for inv in &self.invariants {
            if let Err(breach) = inv.check(state, recording) {
                if !breach.undecided {
                    return Some((inv.name().to_owned(), breach));
                }
                undecided.get_or_insert((inv.name().to_owned(), breach));
            }
        }
        undecided
    }
}
