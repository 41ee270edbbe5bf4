//! `tokio::sync::Mutex` and `RwLock`, modelled: loom locks that a task may hold across
//! awaits, taken at once when free and waited for (giving way) when held.

use super::{Waiters, object, site_here, take_lock};
use crate::sync::LockName;
use crate::sync::model::{Access, released};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

macro_rules! guard {
    ($(#[$doc:meta])* $name:ident, $inner:ident $(, $mut:ident)?) => {
        $(#[$doc])*
        pub struct $name<'a, T: ?Sized> {
            inner: Option<loom::sync::$inner<'a, T>>,
            site: &'a LockName,
            waiters: &'a Waiters,
        }

        impl<T: ?Sized> Deref for $name<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                match &self.inner {
                    Some(guard) => guard,
                    None => unreachable!("a guard holds its lock until dropped"),
                }
            }
        }

        $(
            impl<T: ?Sized> $mut for $name<'_, T> {
                fn deref_mut(&mut self) -> &mut T {
                    match &mut self.inner {
                        Some(guard) => guard,
                        None => unreachable!("a guard holds its lock until dropped"),
                    }
                }
            }
        )?

        impl<T: ?Sized> Drop for $name<'_, T> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    std::mem::forget(self.inner.take());
                    return;
                }
                drop(self.inner.take());
                released(self.site);
                self.waiters.wake_all();
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + fmt::Display> fmt::Display for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

guard!(
    /// A held async [`Mutex`].
    MutexGuard, MutexGuard, DerefMut
);
guard!(
    /// A shared hold of an async [`RwLock`].
    RwLockReadGuard, RwLockReadGuard
);
guard!(
    /// An exclusive hold of an async [`RwLock`].
    RwLockWriteGuard, RwLockWriteGuard, DerefMut
);

/// `tokio::sync::Mutex`, modelled: a loom mutex that a task may hold across awaits.
pub struct Mutex<T: ?Sized> {
    site: LockName,
    waiters: Waiters,
    inner: loom::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self {
            site: site_here("async lock"),
            waiters: Waiters::default(),
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// A mutex that traces call `name`.
    pub fn named(name: &str, value: T) -> Self {
        Self {
            site: LockName(format!("`{name}`")),
            waiters: Waiters::default(),
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock at once when it is free; otherwise gives way until it is.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        let at = (&self.site, Access::Exclusive, object(self));
        let inner = take_lock(at, &self.waiters, || self.inner.try_lock()).await;
        MutexGuard {
            inner: Some(inner),
            site: &self.site,
            waiters: &self.waiters,
        }
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mutex({})", self.site)
    }
}

/// `tokio::sync::RwLock`, modelled on loom's.
pub struct RwLock<T: ?Sized> {
    site: LockName,
    waiters: Waiters,
    inner: loom::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self {
            site: site_here("async rwlock"),
            waiters: Waiters::default(),
            inner: loom::sync::RwLock::new(value),
        }
    }

    /// An RwLock that traces call `name`.
    pub fn named(name: &str, value: T) -> Self {
        Self {
            site: LockName(format!("`{name}`")),
            waiters: Waiters::default(),
            inner: loom::sync::RwLock::new(value),
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> RwLock<T> {
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        let at = (&self.site, Access::Read, object(self));
        let inner = take_lock(at, &self.waiters, || self.inner.try_read()).await;
        RwLockReadGuard {
            inner: Some(inner),
            site: &self.site,
            waiters: &self.waiters,
        }
    }

    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let at = (&self.site, Access::Write, object(self));
        let inner = take_lock(at, &self.waiters, || self.inner.try_write()).await;
        RwLockWriteGuard {
            inner: Some(inner),
            site: &self.site,
            waiters: &self.waiters,
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RwLock({})", self.site)
    }
}
