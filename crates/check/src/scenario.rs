//! Scenarios: fresh shared state, concurrent actors, invariants, the deployment they run
//! on, and the verdict expected.

use crate::ghost;
use crate::invariant::{Breach, Invariant};
use crate::recorder::{ActorInfo, Recorder, Recording};
use crate::worker::Worker;
pub use raceproof_report::Expected;
use raceproof_report::deployment::Deployment;
use std::future::Future;
use std::pin::Pin;

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

type Setup<S> = ghost::Arc<dyn Fn(&Worker<'_>) -> S + Send + Sync>;

/// An async actor's request, borrowing its worker's state.
pub(crate) type TaskFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

type TaskBody<S> = ghost::Arc<dyn for<'a> Fn(&'a S) -> TaskFuture<'a> + Send + Sync>;

/// What an actor runs.
pub(crate) enum Body<S> {
    /// A blocking request (a FastAPI `def` route, a `spawn_blocking` body): on a thread of
    /// its own, in every deployment.
    Blocking(ghost::Arc<dyn Fn(&S) + Send + Sync>),
    /// An async request: a task, on its worker's event loop when the worker has one.
    Task(TaskBody<S>),
}

impl<S> Clone for Body<S> {
    fn clone(&self) -> Self {
        match self {
            Body::Blocking(f) => Body::Blocking(f.clone()),
            Body::Task(f) => Body::Task(f.clone()),
        }
    }
}

/// One concurrent actor: a request (or an attacker, or an admin), blocking or async.
pub struct Actor<S> {
    pub label: String,
    pub acts_as: Option<String>,
    pub description: String,
    pub(crate) body: Body<S>,
}

impl<S> Actor<S> {
    /// Whether it is an async task (else a blocking request).
    pub fn is_task(&self) -> bool {
        matches!(self.body, Body::Task(_))
    }
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
/// see them, traces do not show them). Under a [`Deployment`] of several workers it runs
/// once per worker: each builds its own copy, and shares only what it asks
/// [`Worker::shared`] for.
pub struct Scenario<S> {
    pub flow: String,
    pub variant: String,
    /// How the service runs (default [`Deployment::ThreadPool`]).
    pub deployment: Deployment,
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
    /// The worker of each actor in the run under way (one of the deployment's assignments);
    /// `None` until one is chosen, when every assignment is to be run.
    pub(crate) assignment: Option<Vec<usize>>,
}

impl<S> Clone for Scenario<S> {
    fn clone(&self) -> Self {
        Self {
            flow: self.flow.clone(),
            variant: self.variant.clone(),
            deployment: self.deployment,
            expected: self.expected.clone(),
            preemption_bound: self.preemption_bound,
            budget: self.budget,
            covers: self.covers.clone(),
            run_timeout: self.run_timeout,
            idle_allowed: self.idle_allowed.clone(),
            setup: self.setup.clone(),
            actors: self.actors.clone(),
            invariants: self.invariants.clone(),
            assignment: self.assignment.clone(),
        }
    }
}

impl<S: Send + Sync + 'static> Scenario<S> {
    /// A scenario of `flow` in `variant`, expected proven until told otherwise. Under a
    /// deployment of several workers each worker gets its own state from `setup`.
    pub fn new(
        flow: &str,
        variant: &str,
        setup: impl Fn(&Recorder) -> S + Send + Sync + 'static,
    ) -> Self {
        Self::per_worker(flow, variant, move |worker| setup(worker.recorder()))
    }

    /// A scenario whose setup builds one worker's state: its own in-process state, and
    /// handles on what every worker shares ([`Worker::shared`]: a Redis or PostgreSQL
    /// model).
    pub fn per_worker(
        flow: &str,
        variant: &str,
        setup: impl Fn(&Worker<'_>) -> S + Send + Sync + 'static,
    ) -> Self {
        Self {
            flow: flow.to_owned(),
            variant: variant.to_owned(),
            deployment: Deployment::default(),
            expected: Expected::Proven,
            preemption_bound: None,
            budget: Budget::default(),
            covers: None,
            run_timeout: RUN_TIMEOUT,
            idle_allowed: Vec::new(),
            setup: ghost::Arc::new(setup),
            actors: Vec::new(),
            invariants: Vec::new(),
            assignment: None,
        }
    }

    /// Adds a blocking actor, labelled `T1`, `T2`, ... in order: a request that runs on a
    /// thread of its own (a FastAPI `def` route, a body under `spawn_blocking`) in every
    /// deployment. `acts_as` is the user whose authority its writes claim (for
    /// `authorized_at_commit`).
    pub fn actor(
        self,
        acts_as: Option<&str>,
        description: &str,
        body: impl Fn(&S) + Send + Sync + 'static,
    ) -> Self {
        self.push(acts_as, description, Body::Blocking(ghost::Arc::new(body)))
    }

    /// Adds an async actor: a task (an `async def` route, an axum handler), which on an
    /// event loop switches only at its awaits of `raceproof_core::sync::tokio`.
    pub fn task<F>(self, acts_as: Option<&str>, description: &str, body: F) -> Self
    where
        F: AsyncFn(&S) + Send + Sync + 'static,
    {
        let body = ghost::Arc::new(body);
        let erased: TaskBody<S> = ghost::Arc::new(move |state: &S| -> TaskFuture<'_> {
            let body = body.clone();
            Box::pin(async move { (*body)(state).await })
        });
        self.push(acts_as, description, Body::Task(erased))
    }

    fn push(mut self, acts_as: Option<&str>, description: &str, body: Body<S>) -> Self {
        self.actors.push(Actor {
            label: format!("T{}", self.actors.len() + 1),
            acts_as: acts_as.map(str::to_owned),
            description: description.to_owned(),
            body,
        });
        self
    }

    /// Runs the scenario on `deployment`.
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployment = deployment;
        self
    }

    /// The same scenario on `deployment`, expected to get `expected` there: one catalogue
    /// entry per deployment a flow is judged under.
    pub fn under(&self, deployment: Deployment, expected: Expected) -> Self {
        let mut scenario = self.clone().deployment(deployment);
        scenario.expected = expected;
        scenario
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
            actors: (0..self.actors.len())
                .map(|i| ActorInfo {
                    label: self.label(i),
                    acts_as: self.actors[i].acts_as.clone(),
                })
                .collect(),
        }
    }

    /// How many relevant events each invariant saw in this execution, in order (the
    /// history is one for every worker; the first worker's state stands for the states).
    #[cfg(any(loom, shuttle))]
    pub(crate) fn observe(&self, states: &[S], recording: &Recording) -> Vec<usize> {
        self.invariants
            .iter()
            .map(|inv| states.first().map_or(0, |s| inv.observed(s, recording)))
            .collect()
    }

    /// The first invariant that `recording` and a worker's state break; else the first that
    /// could not decide (an undecided one must not hide a violation). Every worker's copy
    /// of the state is judged: each process must be consistent with what all of them did.
    pub(crate) fn judge(&self, states: &[S], recording: &Recording) -> Option<(String, Breach)> {
        let mut undecided = None;
        for (worker, state) in states.iter().enumerate() {
            for inv in &self.invariants {
                if let Err(mut breach) = inv.check(state, recording) {
                    if states.len() > 1 && breach.step.is_none() {
                        breach.why = format!("worker {worker}'s state: {}", breach.why);
                    }
                    if !breach.undecided {
                        return Some((inv.name().to_owned(), breach));
                    }
                    undecided.get_or_insert((inv.name().to_owned(), breach));
                }
            }
        }
        undecided
    }
}
