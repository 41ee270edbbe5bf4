//! How a scenario runs in this build, and [`AnyScenario`], a scenario with its state type
//! erased so that a catalogue can hold many flows.
//!
//! Under `--cfg loom` a scenario is explored exhaustively ([`Scenario::check`], in
//! `explore.rs`); under `--cfg shuttle` it runs random PCT schedules (`Scenario::random`,
//! in `random.rs`); in a normal build it runs many times on real threads
//! ([`Scenario::stress`], in `stress.rs`). [`Scenario::run`] picks the one the build
//! supports, so a user's test or `main` needs no `cfg` branch.

use crate::deploy::Deployment;
#[cfg(all(shuttle, not(loom)))]
use crate::random::{RandomConfig, Randomized};
use crate::scenario::{Expected, Scenario};
#[cfg(not(any(loom, shuttle)))]
use crate::stress::{STRESS_RUNS, StressOutcome};
use crate::verdict::Verdict;

impl<S: Send + Sync + 'static> Scenario<S> {
    /// The verdict this build can give: model-checked under loom; in a normal build,
    /// [`STRESS_RUNS`] real-thread runs, which can show a violation but
    /// never prove.
    pub fn run(&self) -> Verdict {
        #[cfg(loom)]
        {
            self.check()
        }
        #[cfg(all(shuttle, not(loom)))]
        {
            self.random(RandomConfig::default()).verdict
        }
        #[cfg(not(any(loom, shuttle)))]
        {
            self.stress(STRESS_RUNS).verdict()
        }
    }
}

/// A [`Scenario`] of any state type, as a catalogue holds it (`Box<dyn AnyScenario>`).
/// Each method is the scenario's own.
pub trait AnyScenario: Send + Sync {
    fn flow(&self) -> &str;
    fn variant(&self) -> &str;
    /// How the service runs in this model.
    fn deployment(&self) -> Deployment;
    fn expected(&self) -> &Expected;
    fn preemption_bound(&self) -> Option<usize>;
    /// The production function the model checks, if it names one.
    fn covers(&self) -> Option<&str>;
    /// `T1 admin promotes alice; T2 root demotes admin`.
    fn describe(&self) -> String;
    /// How long a check may take: the budget's seconds, and time to notice a stalled
    /// execution (a child process past it is killed, see `isolate`).
    fn deadline(&self) -> std::time::Duration;
    /// See [`Scenario::check`].
    #[cfg(loom)]
    fn check(&self) -> Verdict;
    /// See [`Scenario::replay`].
    #[cfg(loom)]
    fn replay(&self, checkpoint: &std::path::Path, log: bool) -> Verdict;
    /// See `Scenario::random` (`--cfg shuttle` builds).
    #[cfg(all(shuttle, not(loom)))]
    fn random(&self, config: RandomConfig) -> Randomized;
    /// See `Scenario::replay_schedule` (`--cfg shuttle` builds).
    #[cfg(all(shuttle, not(loom)))]
    fn replay_schedule(&self, schedule: &str) -> Verdict;
    /// See [`Scenario::stress`].
    #[cfg(not(any(loom, shuttle)))]
    fn stress(&self, runs: usize) -> StressOutcome;
    /// See [`Scenario::run`].
    fn run(&self) -> Verdict;
}

impl<S: Send + Sync + 'static> AnyScenario for Scenario<S> {
    fn flow(&self) -> &str {
        &self.flow
    }

    fn variant(&self) -> &str {
        &self.variant
    }

    fn deployment(&self) -> Deployment {
        self.deployment
    }

    fn expected(&self) -> &Expected {
        &self.expected
    }

    fn preemption_bound(&self) -> Option<usize> {
        self.preemption_bound
    }

    fn covers(&self) -> Option<&str> {
        self.covers.as_deref()
    }

    fn describe(&self) -> String {
        Scenario::describe(self)
    }

    fn deadline(&self) -> std::time::Duration {
        // One exploration per assignment of actors to workers, each with the budget.
        let runs =
            u32::try_from(self.deployment.assignments(self.actors.len()).len()).unwrap_or(u32::MAX);
        std::time::Duration::try_from_secs_f64(self.budget.seconds)
            .unwrap_or(std::time::Duration::MAX)
            .saturating_add(self.run_timeout.saturating_mul(2))
            .saturating_mul(runs)
    }

    #[cfg(loom)]
    fn check(&self) -> Verdict {
        Scenario::check(self)
    }

    #[cfg(loom)]
    fn replay(&self, checkpoint: &std::path::Path, log: bool) -> Verdict {
        Scenario::replay(self, checkpoint, log)
    }

    #[cfg(all(shuttle, not(loom)))]
    fn random(&self, config: RandomConfig) -> Randomized {
        Scenario::random(self, config)
    }

    #[cfg(all(shuttle, not(loom)))]
    fn replay_schedule(&self, schedule: &str) -> Verdict {
        Scenario::replay_schedule(self, schedule)
    }

    #[cfg(not(any(loom, shuttle)))]
    fn stress(&self, runs: usize) -> StressOutcome {
        Scenario::stress(self, runs)
    }

    fn run(&self) -> Verdict {
        Scenario::run(self)
    }
}
