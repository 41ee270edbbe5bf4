//! Condition variables over the facade's [`Mutex`](super::Mutex).
//!
//! A normal build wraps `std::sync::Condvar`, whose `wait` may return spuriously.
//!
//! loom's own condvar never wakes spuriously, so a consumer that waits under `if` instead
//! of `while` would be proven. Under loom the facade therefore builds its condvar from one
//! fresh `loom::sync::Notify` per waiting call, queued under a loom mutex: `notify_one` wakes
//! the oldest waiter, `notify_all` every one, and each `wait` call explores both "woken by a
//! notification" and "returned spuriously" (loom's `Notify` explores at most one spurious
//! return per object, and the object is fresh per call). So **at most one spurious wakeup
//! per `wait` call** is explored. That is enough for the bug that spurious wakeups expose: a
//! waiter that checks its condition with `if` returns from its single `wait` with the
//! condition false in the explored spurious branch; a waiter that loops with `while` calls
//! `wait` again, and each call may spur once more.

use super::MutexGuard;
#[cfg(loom)]
use super::{LockName, model};
#[cfg(not(loom))]
use super::{backend, unpoison};
#[cfg(loom)]
use std::collections::VecDeque;
use std::fmt;

/// `std::sync::Condvar`'s `wait` / `notify_one` / `notify_all`, over the facade's
/// [`MutexGuard`]; under loom, spurious wakeups are explored (see the module docs).
pub struct Condvar {
    #[cfg(not(loom))]
    inner: backend::Condvar,
    #[cfg(loom)]
    name: LockName,
    /// Each waiting call's own notifier, oldest first.
    #[cfg(loom)]
    waiters: loom::sync::Mutex<VecDeque<std::sync::Arc<loom::sync::Notify>>>,
}

impl Condvar {
    #[track_caller]
    pub fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: backend::Condvar::new(),
            #[cfg(loom)]
            name: LockName::here("condvar"),
            #[cfg(loom)]
            waiters: loom::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// A condvar that deadlock reports call `name` (the name is kept in loom builds only).
    pub fn named(name: &str) -> Self {
        #[cfg(not(loom))]
        {
            let _ = name;
            Self::new()
        }
        #[cfg(loom)]
        {
            Self {
                name: LockName(format!("`{name}`")),
                waiters: loom::sync::Mutex::new(VecDeque::new()),
            }
        }
    }

    /// Releases the guard's lock, waits for a notification, and locks again. It may return
    /// without a notification (a spurious wakeup; loom explores one per call): wait in a
    /// loop on the condition.
    #[cfg(not(loom))]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        MutexGuard {
            inner: unpoison(self.inner.wait(guard.inner)),
        }
    }

    /// Releases the guard's lock, waits for a notification, and locks again. It may return
    /// without a notification (a spurious wakeup; loom explores one per call): wait in a
    /// loop on the condition.
    #[cfg(loom)]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        let me = std::sync::Arc::new(loom::sync::Notify::new());
        model::touched(self.object());
        self.queue().push_back(std::sync::Arc::clone(&me));
        drop(guard);
        model::awaiting_notification(&self.name, &mutex.site);
        {
            let _blocking = model::Blocking::enter();
            me.wait();
        }
        // Gone from the queue if a notifier took it; still there after a spurious return.
        let spurious = {
            let mut queue = self.queue();
            let waiting = queue.len();
            queue.retain(|w| !std::sync::Arc::ptr_eq(w, &me));
            queue.len() != waiting
        };
        model::woken(&self.name, spurious);
        mutex.lock()
    }

    /// Wakes one waiting thread (the one waiting longest), if any.
    pub fn notify_one(&self) {
        #[cfg(not(loom))]
        self.inner.notify_one();
        #[cfg(loom)]
        {
            model::touched(self.object());
            let first = self.queue().pop_front();
            if let Some(waiter) = first {
                waiter.notify();
            }
        }
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        #[cfg(not(loom))]
        self.inner.notify_all();
        #[cfg(loom)]
        {
            model::touched(self.object());
            let all: Vec<_> = self.queue().drain(..).collect();
            for waiter in all {
                waiter.notify();
            }
        }
    }

    #[cfg(loom)]
    fn queue(&self) -> loom::sync::MutexGuard<'_, VecDeque<std::sync::Arc<loom::sync::Notify>>> {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(loom)]
    fn object(&self) -> usize {
        self as *const Self as usize
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condvar { .. }")
    }
}
