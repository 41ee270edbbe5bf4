//! raceproof's model harness.
//!
//! A [`Scenario`] builds fresh shared state, runs concurrent actors against it and states
//! [`Invariant`]s. Under `--cfg loom`, `Scenario::check` explores every interleaving and
//! returns a [`Verdict`]: proven, or violated with the failing interleaving as a [`Trace`]
//! in the flow's own words. In a normal build, `Scenario::stress` runs the same scenario on
//! real threads many times, which is what a hand-written stress test would do;
//! [`Scenario::run`] does whichever the build can. A catalogue holds scenarios of different
//! state types as [`AnyScenario`]s.
//!
//! The steps come from outside the code under test (calls and returns, audit-log commits,
//! effects a flow records) through a [`Recorder`], which uses non-modelled storage, so
//! recording never changes what loom explores.

#[cfg(loom)]
mod deadlock;
pub mod event;
#[cfg(any(loom, shuttle))]
mod execution;
#[cfg(loom)]
mod explore;
mod ghost;
pub mod invariant;
pub mod isolate;
pub mod linearizability;
mod panics;
#[cfg(all(shuttle, not(loom)))]
pub mod random;
pub mod recorder;
pub mod report;
mod run;
pub mod scenario;
mod stress;
pub mod verdict;
#[cfg(any(loom, shuttle))]
mod watch;

pub use event::{Call, Event, Fact, Ret};
pub use invariant::{
    AuthorizedAtCommit, Breach, ExactlyOnce, FinalState, Invariant, Linearizable, NoDeadlock,
    NoLostUpdate,
};
pub use raceproof_report::VerdictKind;
pub use recorder::{Recorder, Recording, Step};
pub use report::{ModelVerdict, VerdictsReport, model_verdict};
pub use run::AnyScenario;
pub use scenario::{Budget, Expected, RUN_TIMEOUT, Scenario};
pub use stress::{STRESS_RUNS, StressOutcome};
pub use verdict::{Coverage, Inconclusive, InvariantCoverage, Trace, TraceLine, Verdict};
