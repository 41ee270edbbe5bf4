//! The raceproof suite: re-exports the core and the model harness so that the tests,
//! benches and examples in this package use one import path.

pub use raceproof_check as check;
pub use raceproof_core as core;

pub mod catalogue;
