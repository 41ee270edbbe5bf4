//! The sync facade: the only module in raceproof that names a primitive.
//!
//! Everything else imports `Arc`, `Mutex`, `RwLock`, `Condvar`, atomics, `thread` and `hint`
//! from here. A normal build gets `std` (and `parking_lot` under [`parking_lot`]); a build with
//! `--cfg loom` gets loom's model-checked twins, so the same code is explored interleaving by
//! interleaving. The paths mirror `std`'s.
//!
//! Locks return their guard directly: a poisoned lock is taken over (as tokio's `loom/std`
//! wrapper does), since every critical section in the core either completes its write or
//! leaves the value untouched, and loom has no poisoning to model. Guards are thin wrappers,
//! so they deref and format (`Display`, `Debug`) the same in both builds.
//!
//! Locks, condvars and atomics can be named where they are created ([`Mutex::named`]); an
//! unnamed one is called by where it was created (`file:line:column`, and `#2`, `#3` for
//! the later ones made at the same place in one execution). Under loom, the facade records
//! what each model thread waits for, holds and touches (`sync::model`, loom builds only), so
//! a deadlock is reported as "T1 waits for `a`, held by T2", and a model whose actors share
//! no facade object is not called proven. In a normal build the name is not even stored.
//!
//! Under loom, [`Condvar::wait`] explores a spurious wakeup at every call (see
//! [`Condvar`]), and a guard dropped while loom unwinds a deadlock is forgotten rather than
//! released (loom has no active thread left to release it for).
//!
//! Everything a flow reads must come from here: state kept anywhere else (a `std` atomic, a
//! static, the system clock) is invisible to loom, which then never tries the interleavings
//! that change it, and a model that depends on it can be reported proven while broken.

#[cfg(loom)]
use loom::sync as backend;
#[cfg(all(shuttle, not(loom)))]
use shuttle::sync as backend;
use std::fmt;
use std::ops::{Deref, DerefMut};
#[cfg(not(any(loom, shuttle)))]
use std::sync as backend;

pub use backend::Arc;

pub mod atomic;
mod condvar;
pub use condvar::Condvar;

/// Threads: loom's (or shuttle's) scheduler-controlled threads under `cfg(loom)`
/// (`cfg(shuttle)`), OS threads otherwise.
pub mod thread {
    #[cfg(loom)]
    pub use loom::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
    #[cfg(all(shuttle, not(loom)))]
    pub use shuttle::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
    #[cfg(not(any(loom, shuttle)))]
    pub use std::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
}

/// Spin-loop hints: under loom (and shuttle), `spin_loop` yields to the scheduler, so a
/// spin-wait on another thread's store makes progress instead of exhausting loom's branch
/// limit.
pub mod hint {
    #[cfg(loom)]
    pub use loom::hint::spin_loop;
    #[cfg(all(shuttle, not(loom)))]
    pub use shuttle::hint::spin_loop;
    #[cfg(not(any(loom, shuttle)))]
    pub use std::hint::spin_loop;
}

/// Where a lock was created, or the name it was given: how traces refer to it.
#[cfg(loom)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockName(pub String);

#[cfg(loom)]
impl LockName {
    /// `lock created at file:line:column`; the second and later locks created at the same
    /// place in one execution (in a loop) are `lock #2 created at ...`, and so on.
    #[track_caller]
    fn here(kind: &str) -> Self {
        let at = std::panic::Location::caller();
        let site = format!("{}:{}:{}", at.file(), at.line(), at.column());
        match model::created_at(site.clone()) {
            1 => Self(format!("{kind} created at {site}")),
            n => Self(format!("{kind} #{n} created at {site}")),
        }
    }
}

#[cfg(loom)]
impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What each model thread waits for, holds and touches, and the history of watched
/// atomics (loom builds only; not production API, so hidden from the docs). It lives under
/// `sync` because the facade's own lock, wait and load paths record into it.
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
#[cfg(loom)]
use model::Access;

/// Marks a guard's lock as held while the guard lives (loom builds only).
#[cfg(loom)]
struct Held<'a>(&'a LockName);

#[cfg(loom)]
impl Drop for Held<'_> {
    fn drop(&mut self) {
        model::released(self.0);
    }
}

/// How a lock is named in deadlock reports: stored in loom builds only (a zero-sized `()`
/// otherwise).
#[cfg(loom)]
type Site = LockName;
#[cfg(not(loom))]
type Site = ();

/// The name of a lock created here: where it was created.
#[track_caller]
fn site_here() -> Site {
    #[cfg(loom)]
    {
        LockName::here("lock")
    }
}

/// The name of a lock named `name`.
fn site_named(name: &str) -> Site {
    #[cfg(loom)]
    {
        LockName(format!("`{name}`"))
    }
    #[cfg(not(loom))]
    {
        let _ = name;
    }
}

/// Takes a lock through `take`; under loom, notes that this thread waits for, then holds,
/// the lock named `site` (of the object at `object`), and marks the execution torn down if
/// loom gives up while this thread waits (a deadlock).
fn take_lock<G>(
    site: &Site,
    #[cfg(loom)] access: Access,
    #[cfg(loom)] object: usize,
    take: impl FnOnce() -> std::sync::LockResult<G>,
) -> G {
    #[cfg(loom)]
    let blocking = {
        model::waiting(site, access, object);
        model::Blocking::enter()
    };
    let inner = unpoison(take());
    #[cfg(loom)]
    {
        drop(blocking);
        model::acquired(site, access);
    }
    #[cfg(not(loom))]
    let _ = site;
    inner
}

macro_rules! guard {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $($mut:ident)?; $($(#[$fdoc:meta])* $field:ident: $fty:ty),*) => {
        $(#[$doc])*
        pub struct $name<'a, T: ?Sized> {
            #[cfg(not(loom))]
            inner: backend::$inner<'a, T>,
            /// `None` once dropped without releasing (see `Drop`).
            #[cfg(loom)]
            inner: Option<backend::$inner<'a, T>>,
            #[cfg(loom)]
            _held: Held<'a>,
            $($(#[$fdoc])* #[cfg(loom)] $field: $fty,)*
        }

        impl<T: ?Sized> Deref for $name<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                #[cfg(not(loom))]
                {
                    &self.inner
                }
                #[cfg(loom)]
                match &self.inner {
                    Some(inner) => inner,
                    None => unreachable!("a guard is emptied only while it is dropped"),
                }
            }
        }

        $(
            impl<T: ?Sized> $mut for $name<'_, T> {
                fn deref_mut(&mut self) -> &mut T {
                    #[cfg(not(loom))]
                    {
                        &mut self.inner
                    }
                    #[cfg(loom)]
                    match &mut self.inner {
                        Some(inner) => inner,
                        None => unreachable!("a guard is emptied only while it is dropped"),
                    }
                }
            }
        )?

        /// Under loom: when loom has given up on the execution (a deadlock, with no active
        /// thread), releasing would call into loom and abort the process, so the inner
        /// guard is forgotten instead; the execution is over anyway.
        #[cfg(loom)]
        impl<T: ?Sized> Drop for $name<'_, T> {
            fn drop(&mut self) {
                if std::thread::panicking() && model::torn_down() {
                    std::mem::forget(self.inner.take());
                }
            }
        }

        impl<T: ?Sized + fmt::Display> fmt::Display for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    };
}

guard!(
    /// A held [`Mutex`]; derefs to the value.
    MutexGuard, MutexGuard, DerefMut;
    /// The mutex, for [`Condvar::wait`] to lock again.
    mutex: &'a Mutex<T>
);
guard!(
    /// A shared hold of a [`RwLock`].
    RwLockReadGuard, RwLockReadGuard,;
);
guard!(
    /// An exclusive hold of a [`RwLock`].
    RwLockWriteGuard, RwLockWriteGuard, DerefMut;
);

/// Takes over a poisoned lock's value: see the module docs.
fn unpoison<G>(result: std::sync::LockResult<G>) -> G {
    result.unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `std::sync::Mutex` (or loom's) without poisoning in the API, optionally named.
pub struct Mutex<T: ?Sized> {
    site: Site,
    inner: backend::Mutex<T>,
}

impl<T> Mutex<T> {
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self {
            site: site_here(),
            inner: backend::Mutex::new(value),
        }
    }

    /// A mutex that deadlock reports call `name` (the name is kept in loom builds only).
    pub fn named(name: &str, value: T) -> Self {
        Self {
            site: site_named(name),
            inner: backend::Mutex::new(value),
        }
    }

    pub fn into_inner(self) -> T {
        unpoison(self.inner.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex; a lock poisoned by a panicking holder is taken over.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            MutexGuard {
                inner: take_lock(&self.site, || self.inner.lock()),
            }
        }
        #[cfg(loom)]
        {
            let object = self as *const Self as *const () as usize;
            let inner = take_lock(&self.site, Access::Exclusive, object, || self.inner.lock());
            MutexGuard {
                inner: Some(inner),
                _held: Held(&self.site),
                mutex: self,
            }
        }
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
        f.write_str("Mutex { .. }")
    }
}

/// `std::sync::RwLock` (or loom's) without poisoning in the API, optionally named.
pub struct RwLock<T: ?Sized> {
    site: Site,
    inner: backend::RwLock<T>,
}

impl<T> RwLock<T> {
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self {
            site: site_here(),
            inner: backend::RwLock::new(value),
        }
    }

    /// An RwLock that deadlock reports call `name` (kept in loom builds only).
    pub fn named(name: &str, value: T) -> Self {
        Self {
            site: site_named(name),
            inner: backend::RwLock::new(value),
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        #[cfg(not(loom))]
        {
            RwLockReadGuard {
                inner: take_lock(&self.site, || self.inner.read()),
            }
        }
        #[cfg(loom)]
        {
            let inner = take_lock(&self.site, Access::Read, self.object(), || {
                self.inner.read()
            });
            RwLockReadGuard {
                inner: Some(inner),
                _held: Held(&self.site),
            }
        }
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        #[cfg(not(loom))]
        {
            RwLockWriteGuard {
                inner: take_lock(&self.site, || self.inner.write()),
            }
        }
        #[cfg(loom)]
        {
            let inner = take_lock(&self.site, Access::Write, self.object(), || {
                self.inner.write()
            });
            RwLockWriteGuard {
                inner: Some(inner),
                _held: Held(&self.site),
            }
        }
    }

    #[cfg(loom)]
    fn object(&self) -> usize {
        self as *const Self as *const () as usize
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
        f.write_str("RwLock { .. }")
    }
}

/// `parking_lot`'s mutex; under loom (and shuttle), the facade's mutex (loom has one lock
/// implementation, so a model proves the *protocol*, and the benches measure the
/// implementation).
pub mod parking_lot {
    #[cfg(not(any(loom, shuttle)))]
    pub use parking_lot::{Mutex, MutexGuard};

    #[cfg(any(loom, shuttle))]
    pub use super::MutexGuard;

    /// parking_lot's `Mutex` API over the facade's (a distinct type, so code generic over
    /// lock kinds keeps its impls apart).
    #[cfg(any(loom, shuttle))]
    #[derive(Debug, Default)]
    pub struct Mutex<T>(super::Mutex<T>);

    #[cfg(any(loom, shuttle))]
    impl<T> Mutex<T> {
        #[track_caller]
        pub fn new(value: T) -> Self {
            Self(super::Mutex::new(value))
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }
}
