#![cfg(not(loom))]
//! raceproof-race: a black-box race tester. It fires synchronized bursts of requests at an HTTP
//! endpoint (single-packet over h2c, last-byte over HTTP/1.1, or a naive barrier) and checks
//! invariants over what comes back. Scenarios are TOML files; see `README.md` in this crate.
//!
//! Under `--cfg loom` this crate is empty: tokio built for loom has no networking, and there is
//! nothing here to model-check.

pub mod audit;
pub mod burst;
pub mod cli;
pub mod error;
pub mod extract;
pub mod failure;
pub mod invariant;
pub mod judged;
pub mod limits;
pub mod linearizable;
pub mod mode;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod signer;
pub mod template;
pub mod wire;

pub use error::RaceError;
pub use mode::Mode;
pub use report::ScenarioReport;
pub use scenario::RaceScenario;
pub use wire::{Target, Targets};
