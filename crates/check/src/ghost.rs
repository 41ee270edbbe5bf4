//! Non-modelled storage for the *harness* only: always `std`, even under loom.
//!
//! loom runs all of a model's threads as coroutines on one OS thread and switches only at
//! its own primitives, so a `ghost` lock never adds a branch point and never blocks inside a
//! model. That is exactly why a flow must never read it: loom cannot see a ghost write, so
//! it never tries the interleaving where the write comes first, and a flow that depends on
//! ghost state can be reported proven while broken. The only things here are what the
//! harness needs (an append-only log behind a lock, a counter, the stress runner's barrier),
//! not general atomics; code under test takes its primitives from `raceproof_core::sync`.
//! The module is private to the harness for the same reason.

pub(crate) use std::sync::{Arc, Mutex, MutexGuard, Once};

#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::sync::Barrier;
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use std::sync::mpsc;

/// Locks a ghost mutex, taking over a poisoned one (a panicking model leaves its log
/// behind, and the log is exactly what the counterexample needs).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
