//! Async primitives for code under test, at tokio's paths: replace `tokio::` with
//! `raceproof_core::sync::tokio::` and a handler is both production code and a model.
//!
//! - [`sync`](crate::sync::tokio::sync): `Mutex` (an async lock, held across awaits),
//!   `RwLock`, `Semaphore`, `Notify`, `oneshot`;
//! - [`task`](crate::sync::tokio::task): `yield_now`, `spawn_blocking`;
//!   [`time`](crate::sync::tokio::time): `sleep`;
//! - [`io`](crate::sync::tokio::io): **the** way to mark an await on I/O (a database call,
//!   an HTTP call): `io("db.get", db.get(key)).await`. The task gives way there.
//!
//! A normal build gets tokio's types (or thin wrappers that add a name for traces), so a
//! tokio service depends on them in production; a `--cfg shuttle` build (the randomized
//! mode) keeps tokio's runtime-free primitives and runs tasks on shuttle's threads
//! (`on_shuttle`). Under `--cfg loom` they are modelled (the `model` module, loom builds
//! only): every task runs on a loom thread of its own; on an
//! event loop a task holds the loop's token while it runs and hands it over only at an await
//! that is not ready (an async lock held by another task, an empty semaphore, a notification
//! not yet sent, an I/O point, a sleep, a yield), so plain code between two awaits is atomic
//! there, as on asyncio or tokio's `current_thread` runtime. Without a token (a thread pool)
//! every operation on shared state is a switch point, as for the rest of the facade. The
//! awaits are real state machines (they return `Pending` and wake their waiters), so futures
//! combined inside one task with `join!` or `select!` interleave as they would on tokio.
//!
//! What the model assumes, so a proof says no more than it covers:
//! - an await that is ready does not give way. tokio's cooperative budget can make a ready
//!   await yield after 128 budgeted operations in one poll; a handler below that never sees it;
//! - every await of a flow goes through this module: a future that stays pending without
//!   waking itself is something loom cannot see, and the verdict says so (*inconclusive*);
//! - a sleep gives way and orders nothing: no task is assumed to wake before another;
//! - `spawn_blocking` runs its closure off the event loop when its handle is first polled:
//!   await the handle where you spawn it, as a handler does;
//! - the waiter a `Notify` or a lock wakes is not chosen in order: every waiter may win, which
//!   covers tokio's and asyncio's fair queues.

#[cfg(any(loom, shuttle))]
mod in_models;
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
#[cfg(loom)]
mod on_loom;
#[cfg(all(shuttle, not(loom)))]
#[doc(hidden)]
pub mod on_shuttle;
#[cfg(not(loom))]
mod on_tokio;

#[cfg(loom)]
use on_loom as backend;
#[cfg(all(shuttle, not(loom)))]
use on_shuttle as backend;
#[cfg(not(any(loom, shuttle)))]
use on_tokio as backend;

use std::future::Future;

/// `tokio::sync`'s primitives.
pub mod sync {
    pub use super::backend::{
        AcquireError, Mutex, MutexGuard, Notified, Notify, RwLock, RwLockReadGuard,
        RwLockWriteGuard, Semaphore, SemaphorePermit, TryAcquireError,
    };

    /// `tokio::sync::oneshot`: one value, from one task to another.
    pub mod oneshot {
        pub use super::super::backend::oneshot::{Receiver, Sender, channel, error};
    }
}

/// `tokio::task`'s functions that a handler calls.
pub mod task {
    pub use super::backend::{JoinError, JoinHandle, spawn_blocking, yield_now};
}

/// `tokio::time::sleep`: under loom, the task gives way (time is not modelled: a sleep
/// orders nothing).
pub mod time {
    pub use super::backend::sleep;
}

/// Awaits `operation`, an I/O call (a database query, an HTTP request), named `what` in
/// traces: `io("db.get", db.get(key)).await`.
///
/// In a normal build this is `operation.await` and nothing else. Under loom the task gives
/// way before the operation (the request is sent) and after it (the answer comes back), so
/// other tasks can run on either side of the instant the operation takes effect; the trace
/// shows `T1 awaits \`db.get\`` (a sleep inside `operation`, a simulated latency, is not
/// narrated again). Wrap every await on something outside the process in it: an await the
/// model cannot see is an interleaving it never tries.
pub async fn io<F: Future>(what: &str, operation: F) -> F::Output {
    #[cfg(loom)]
    model::give_way(Some(format!("awaits `{what}`"))).await;
    #[cfg(not(loom))]
    let _ = what;
    // The randomized mode gives way on both sides too (its traces do not narrate it).
    #[cfg(all(shuttle, not(loom)))]
    on_shuttle::give_way().await;
    #[cfg(loom)]
    model::in_io(true);
    let output = operation.await;
    #[cfg(loom)]
    model::in_io(false);
    #[cfg(loom)]
    model::give_way(None).await;
    #[cfg(all(shuttle, not(loom)))]
    on_shuttle::give_way().await;
    output
}
