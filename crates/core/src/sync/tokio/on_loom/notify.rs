//! `tokio::sync::Notify`, modelled: a stored permit (`notify_one`) and rounds of
//! `notify_waiters`, under a loom mutex.

use super::{lock, object, register_in, wake};
use crate::sync::model::touched;
use crate::sync::tokio::model::{narrate, registered};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

struct Notifications {
    /// A `notify_one` that no waiter took yet.
    permit: bool,
    /// How many `notify_waiters` calls there were.
    rounds: u64,
    waiters: Vec<Waker>,
}

/// `tokio::sync::Notify`, modelled.
pub struct Notify {
    state: loom::sync::Mutex<Notifications>,
}

impl Notify {
    pub fn new() -> Self {
        Self {
            state: loom::sync::Mutex::new(Notifications {
                permit: false,
                rounds: 0,
                waiters: Vec::new(),
            }),
        }
    }

    /// Wakes one waiting task, or lets the next `notified().await` complete at once.
    pub fn notify_one(&self) {
        touched(object(self));
        let mut state = lock(&self.state);
        state.permit = true;
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        wake(waiters);
    }

    /// Wakes every task whose `notified()` was created before this call; stores nothing.
    pub fn notify_waiters(&self) {
        touched(object(self));
        let mut state = lock(&self.state);
        state.rounds += 1;
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        wake(waiters);
    }

    /// A future that completes at the next notification (or at once, on a stored one).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            round: lock(&self.state).rounds,
            narrated: false,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notify { .. }")
    }
}

/// [`Notify::notified`]'s future.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    round: u64,
    narrated: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        touched(object(self.notify));
        let mut state = lock(&self.notify.state);
        if state.rounds != self.round {
            return Poll::Ready(());
        }
        if state.permit {
            state.permit = false;
            return Poll::Ready(());
        }
        register_in(&mut state.waiters, cx.waker());
        drop(state);
        registered();
        if !self.narrated {
            self.narrated = true;
            narrate(|| "waits for a notification".to_owned());
        }
        Poll::Pending
    }
}
