//! raceproof's model harness.
//!
//! A [`Scenario`] builds fresh shared state, runs concurrent actors against it and states
//! [`Invariant`]s. Under `--cfg loom`, `Model::check` explores every interleaving and
//! returns a [`Verdict`]: proven, or violated with the failing interleaving as a [`Trace`]
//! in the flow's own words. In a normal build, `Model::stress` runs the same scenario on
//! real threads many times, which is what a hand-written stress test would do.
//!
//! The steps come from outside the code under test (calls and returns, audit-log commits,
//! effects a flow records) through a [`Recorder`], which uses non-modelled storage, so
//! recording never changes what loom explores.

pub mod event;
mod ghost;
pub mod invariant;
pub mod linearizability;
pub mod recorder;
pub mod report;
mod run;
pub mod scenario;
pub mod verdict;

pub use event::{Call, Event, Fact, Ret};
pub use invariant::{
    AuthorizedAtCommit, Breach, ExactlyOnce, FinalState, Invariant, Linearizable, NoLostUpdate,
};
pub use recorder::{History, Recorder, Step};
pub use report::{ModelReport, Report};
pub use run::{Model, RUN_TIMEOUT, STRESS_RUNS, StressOutcome};
pub use scenario::{Budget, Expected, Scenario};
pub use verdict::{Coverage, Inconclusive, InvariantCoverage, Trace, TraceLine, Verdict};
