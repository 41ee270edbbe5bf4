//! Time, as the replay guard reads it: injectable, and modelled under loom.
//!
//! [`ManualClock`] keeps "now" in one of the facade's atomics, so under `--cfg loom` reading
//! the clock is a scheduling point like any other: when one actor moves the clock while
//! another reads it, loom tries both orders. (A clock in plain storage would be read before
//! any other actor ran, whatever the order the actors were listed in.)

use crate::sync::atomic::{AtomicI64, Ordering};

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// Under loom the facade's `Arc` is loom's (see below); `std`'s shares a clock too, so a
/// model can hand an actor an `Arc<ManualClock>` of either kind.
#[cfg(loom)]
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> i64 {
        (**self).now()
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        // loom cannot move this clock: a model that reads it is not model-checked in time.
        #[cfg(loom)]
        crate::sync::model::unmodelled("the system clock (`SystemClock`)");
        use std::time::{SystemTime, UNIX_EPOCH};
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that tests and models move by hand; loom sees every read and every move.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A borrowed or shared clock reads the same time (the server holds `Arc<dyn Clock>`).
impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> i64 {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for crate::sync::Arc<C> {
    fn now(&self) -> i64 {
        (**self).now()
    }
}
