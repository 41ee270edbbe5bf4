//! raceproof-history: one history format and one linearizability checker, shared by the model
//! harness (`raceproof-check`, histories recorded under loom) and the black-box race tester
//! (`raceproof-race`, HTTP bursts).
//!
//! A history is what Jepsen records ([`Operation`]): what a process asked for, when it asked,
//! and how it ended: `ok` (it took effect and returned a result, at a known time), `fail` (it
//! definitely did not take effect) or `info` (the outcome is unknown: it may have taken effect
//! at any instant after its invocation, or never). [`check`] searches for a sequential order
//! that respects real time and that a [`SequentialSpec`] would produce (Wing & Gong's search
//! with Lowe's memo of (linearized set, state) pairs). Its answer is typed: linearizable (with
//! the order), not linearizable, or [`Linearizability::GaveUp`] when a [`Limits`] bound stopped
//! the search before it could decide, which says nothing either way.
//!
//! ```
//! use raceproof_history::models::{Counter, CounterCall, CounterRet};
//! use raceproof_history::{Completion, Linearizability, Operation, check};
//!
//! let history = [
//!     Operation::new("p1", CounterCall::Add(1), 0, Completion::Ok { at: 5, ret: CounterRet::Added }),
//!     Operation::new("p2", CounterCall::Read, 6, Completion::Ok { at: 8, ret: CounterRet::Read(0) }),
//! ];
//! // The add returned before the read was invoked, yet the read saw 0.
//! assert_eq!(check(&Counter(0), &history), Linearizability::NotLinearizable);
//! ```

pub mod history;
pub mod models;
pub mod search;
pub mod spec;

pub use history::{Completion, Kind, Operation};
pub use search::{GaveUp, Limits, Linearizability, check, check_with};
pub use spec::SequentialSpec;
