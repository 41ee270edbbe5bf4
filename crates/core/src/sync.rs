//! The sync facade: the only module in raceproof that names a primitive.
//!
//! Everything else imports `Arc`, `Mutex`, `RwLock`, atomics and `thread` from here. A normal
//! build gets `std` (and `parking_lot` under [`parking_lot`]); a build with `--cfg loom` gets
//! loom's model-checked twins, so the same code is explored interleaving by interleaving.
//!
//! The paths mirror `std::sync`. Locks return their guard directly: a poisoned lock is taken
//! over (as tokio's `loom/std` wrapper does), since every critical section in the core either
//! completes its write or leaves the value untouched, and loom has no poisoning to model.
//!
//! [`ghost`] is the exception that proves the rule: plain `std` storage for instrumentation
//! (trace recorders, test clocks) that must *not* add loom branch points.

#[cfg(loom)]
use loom::sync as backend;
#[cfg(not(loom))]
use std::sync as backend;

pub use backend::Arc;

/// Atomics, `std::sync::atomic`'s paths.
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
    #[cfg(not(loom))]
    pub use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
}

/// Threads: loom's scheduler-controlled threads under `cfg(loom)`, OS threads otherwise.
pub mod thread {
    #[cfg(loom)]
    pub use loom::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
    #[cfg(not(loom))]
    pub use std::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
}

pub use backend::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

/// `std::sync::Mutex` (or loom's) without poisoning in the API.
#[derive(Debug, Default)]
pub struct Mutex<T>(backend::Mutex<T>);

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Self(backend::Mutex::new(value))
    }

    /// Locks the mutex; a lock poisoned by a panicking holder is taken over.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn into_inner(self) -> T {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `std::sync::RwLock` (or loom's) without poisoning in the API.
#[derive(Debug, Default)]
pub struct RwLock<T>(backend::RwLock<T>);

impl<T> RwLock<T> {
    pub fn new(value: T) -> Self {
        Self(backend::RwLock::new(value))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `parking_lot`'s mutex; under loom, distinct wrappers around loom's (loom has one lock
/// implementation, so a model proves the *protocol*, and the benches measure the
/// implementation).
pub mod parking_lot {
    #[cfg(not(loom))]
    pub use parking_lot::{Mutex, MutexGuard};

    #[cfg(loom)]
    pub use super::MutexGuard;

    /// parking_lot's `Mutex` API over loom's mutex.
    #[cfg(loom)]
    #[derive(Debug, Default)]
    pub struct Mutex<T>(super::Mutex<T>);

    #[cfg(loom)]
    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Self(super::Mutex::new(value))
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }
}

/// Non-modelled storage for instrumentation only: always `std`, even under loom.
///
/// loom runs all of a model's threads as coroutines on one OS thread and switches only at
/// its own primitives, so a `ghost` lock never adds a branch point and never blocks inside a
/// model. Never use it for state the flows depend on: loom cannot see it.
pub mod ghost {
    /// Real threads only: the stress runner lines its threads up with it (loom explores
    /// every start order anyway). Always std, so a crate compiled without `--cfg loom`
    /// (rustdoc's doctests under a loom build) finds it too.
    pub use std::sync::Barrier;
    pub use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    pub use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};
    pub use std::thread::{ThreadId, current as current_os_thread};

    /// Locks a ghost mutex, taking over a poisoned one (a panicking model leaves its log
    /// behind, and the log is exactly what the counterexample needs).
    pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
