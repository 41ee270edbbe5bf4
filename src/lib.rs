//! The raceproof suite: re-exports the core and the model harness so that the tests,
//! benches and examples in this package use one import path, and holds the model
//! catalogue that `cargo xtask verify` runs.

pub use raceproof_check as check;
pub use raceproof_core as core;
pub use raceproof_flows as flows;
pub use raceproof_report as report;

pub mod catalogue;
pub mod strategies;
