//! A normal build: tokio's primitives (the randomized mode keeps the runtime-free ones).
//! `Mutex` and `RwLock` are thin wrappers only so that they take a name for traces
//! (`named`), which loom builds use and this build ignores.

use std::fmt;

pub use ::tokio::sync::futures::Notified;
pub use ::tokio::sync::{
    AcquireError, MutexGuard, Notify, RwLockReadGuard, RwLockWriteGuard, Semaphore,
    SemaphorePermit, TryAcquireError, oneshot,
};
// The runtime's own calls: the randomized mode (`on_shuttle`) models them instead.
#[cfg(not(shuttle))]
pub use ::tokio::task::{JoinError, JoinHandle, spawn_blocking, yield_now};
#[cfg(not(shuttle))]
pub use ::tokio::time::sleep;

/// `tokio::sync::Mutex`: an async lock whose guard may be held across awaits.
pub struct Mutex<T: ?Sized>(::tokio::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Self(::tokio::sync::Mutex::new(value))
    }

    /// A mutex that traces call `name` (kept in loom builds only).
    pub fn named(name: &str, value: T) -> Self {
        let _ = name;
        Self::new(value)
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits until the lock is free, then holds it.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().await
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

/// `tokio::sync::RwLock`.
pub struct RwLock<T: ?Sized>(::tokio::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub fn new(value: T) -> Self {
        Self(::tokio::sync::RwLock::new(value))
    }

    /// An RwLock that traces call `name` (kept in loom builds only).
    pub fn named(name: &str, value: T) -> Self {
        let _ = name;
        Self::new(value)
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().await
    }

    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().await
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLock { .. }")
    }
}
