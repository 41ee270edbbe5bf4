//! `tokio::sync::Semaphore`, modelled: permits counted under a loom mutex.

use super::{lock, object, register_in, site_here, wake};
use crate::sync::LockName;
use crate::sync::model::touched;
use crate::sync::tokio::model::{narrate, registered};
use std::fmt;
use std::task::{Poll, Waker};

/// The semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why `try_acquire` got no permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    Closed,
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryAcquireError::Closed => "semaphore closed",
            TryAcquireError::NoPermits => "no permits available",
        })
    }
}

impl std::error::Error for TryAcquireError {}

struct Permits {
    available: usize,
    closed: bool,
    waiters: Vec<Waker>,
}

/// `tokio::sync::Semaphore`, modelled.
pub struct Semaphore {
    site: LockName,
    permits: loom::sync::Mutex<Permits>,
}

/// A permit of a [`Semaphore`], returned when dropped.
#[must_use]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    returned: bool,
}

impl Semaphore {
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        Self {
            site: site_here("semaphore"),
            permits: loom::sync::Mutex::new(Permits {
                available: permits,
                closed: false,
                waiters: Vec::new(),
            }),
        }
    }

    /// Takes a permit at once when one is free; otherwise gives way until one is.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        let mut narrated = false;
        std::future::poll_fn(|cx| {
            touched(object(self));
            let mut permits = lock(&self.permits);
            if permits.closed {
                return Poll::Ready(Err(AcquireError(())));
            }
            if permits.available > 0 {
                permits.available -= 1;
                return Poll::Ready(Ok(self.permit()));
            }
            register_in(&mut permits.waiters, cx.waker());
            drop(permits);
            registered();
            if !narrated {
                narrated = true;
                narrate(|| format!("waits for a permit of {}", self.site));
            }
            Poll::Pending
        })
        .await
    }

    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        touched(object(self));
        let mut permits = lock(&self.permits);
        if permits.closed {
            Err(TryAcquireError::Closed)
        } else if permits.available == 0 {
            Err(TryAcquireError::NoPermits)
        } else {
            permits.available -= 1;
            Ok(self.permit())
        }
    }

    fn permit(&self) -> SemaphorePermit<'_> {
        SemaphorePermit {
            semaphore: self,
            returned: false,
        }
    }

    pub fn available_permits(&self) -> usize {
        lock(&self.permits).available
    }

    pub fn add_permits(&self, n: usize) {
        touched(object(self));
        let mut permits = lock(&self.permits);
        permits.available += n;
        let waiters = std::mem::take(&mut permits.waiters);
        drop(permits);
        wake(waiters);
    }

    /// Refuses every later acquire, and wakes the tasks waiting for a permit.
    pub fn close(&self) {
        touched(object(self));
        let mut permits = lock(&self.permits);
        permits.closed = true;
        let waiters = std::mem::take(&mut permits.waiters);
        drop(permits);
        wake(waiters);
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.permits).closed
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Semaphore({})", self.site)
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good.
    pub fn forget(mut self) {
        self.returned = true;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if !self.returned && !std::thread::panicking() {
            self.semaphore.add_permits(1);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SemaphorePermit({})", self.semaphore.site)
    }
}
