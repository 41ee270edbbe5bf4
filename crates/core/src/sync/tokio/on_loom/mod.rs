//! A `--cfg loom` build: tokio's primitives modelled on loom's, for tasks that each run on a
//! loom thread of their own under [`super::model::run_task`].
//!
//! Each await is a small state machine over loom's `Mutex`: ready (a free lock, a permit, a
//! sent value), it completes at once without giving way, as tokio and asyncio do; not
//! ready, it registers the task's waker and returns `Pending`, and the task gives way until
//! the state changes and the waker is called (every waiter is woken, and loom explores which
//! one gets there first).
//!
//! A guard, permit or sender dropped while its task panics is left as it is: the execution
//! ends with the panic, and a loom operation while unwinding would abort the process.

mod locks;
mod notify;
pub mod oneshot;
mod semaphore;
mod task;

pub use locks::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use notify::{Notified, Notify};
pub use semaphore::{AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
pub use task::{JoinError, JoinHandle, sleep, spawn_blocking, yield_now};

use super::model::{narrate, registered};
use crate::sync::LockName;
use crate::sync::model::{Access, acquired, touched, waiting};
use std::sync::{PoisonError, TryLockError};
use std::task::{Poll, Waker};

pub(super) fn lock<T: ?Sized>(mutex: &loom::sync::Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[track_caller]
pub(super) fn site_here(kind: &str) -> LockName {
    let at = std::panic::Location::caller();
    LockName(format!("{kind} created at {}:{}", at.file(), at.line()))
}

/// The tasks waiting for a lock. Kept in `std` storage: registering a waker is bookkeeping,
/// not state a flow reads, and no loom operation runs while it is held, so it adds no
/// interleaving and hides none.
#[derive(Default)]
pub(super) struct Waiters(std::sync::Mutex<Vec<Waker>>);

impl Waiters {
    pub(super) fn register(&self, waker: &Waker) {
        let mut waiters = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    pub(super) fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        wake(waiters);
    }
}

/// Wakes every waiter of `waiters` (after the lock that guarded the list is released).
pub(super) fn wake(waiters: Vec<Waker>) {
    for waker in waiters {
        waker.wake();
    }
}

pub(super) fn register_in(waiters: &mut Vec<Waker>, waker: &Waker) {
    if !waiters.iter().any(|w| w.will_wake(waker)) {
        waiters.push(waker.clone());
    }
}

/// A lock guard if `try_take` got the lock (a poisoned one is taken over).
fn got<G>(result: std::sync::TryLockResult<G>) -> Option<G> {
    match result {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Takes a lock through `try_take` at once when it is free; otherwise waits among
/// `waiters`, narrating the wait once. The try after registering catches a release that
/// happened in between, so no wake-up is lost.
pub(super) async fn take_lock<G>(
    (site, access, object): (&LockName, Access, usize),
    waiters: &Waiters,
    try_take: impl Fn() -> std::sync::TryLockResult<G>,
) -> G {
    let mut narrated = false;
    let guard = std::future::poll_fn(|cx| {
        touched(object);
        if let Some(guard) = got(try_take()) {
            return Poll::Ready(guard);
        }
        waiters.register(cx.waker());
        if let Some(guard) = got(try_take()) {
            return Poll::Ready(guard);
        }
        waiting(site, access, object);
        registered();
        if !narrated {
            narrated = true;
            narrate(|| format!("waits for {site} (held)"));
        }
        Poll::Pending
    })
    .await;
    acquired(site, access);
    guard
}

/// The facade object `of` is, for the model's bookkeeping: its address in this execution.
pub(super) fn object<T: ?Sized>(of: &T) -> usize {
    of as *const T as *const () as usize
}
