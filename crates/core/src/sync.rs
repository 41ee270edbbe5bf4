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
//! Locks can be named where they are created ([`Mutex::named`]); under loom, a lock records
//! which model thread waits for it and which holds it (`sync::model`, loom builds only), so a deadlock is reported
//! as "T1 waits for `a`, held by T2". In a normal build the name is not even stored.
//!
//! Everything a flow reads must come from here: state kept anywhere else (a `std` atomic, a
//! static, the system clock) is invisible to loom, which then never tries the interleavings
//! that change it, and a model that depends on it can be reported proven while broken.
//!
//! Longer than this codebase's ~500 lines per file, on purpose: the facade is one file so
//! that it stays the one place naming a primitive, and the loom bookkeeping (the watched
//! atomics, `model`) belongs beside the guards whose acquire and release paths feed it.

#[cfg(loom)]
use loom::sync as backend;
use std::fmt;
use std::ops::{Deref, DerefMut};
#[cfg(not(loom))]
use std::sync as backend;

pub use backend::Arc;

/// Atomics and fences, `std::sync::atomic`'s paths.
///
/// Under loom the integer and boolean atomics are loom's, watched: a load that returns an
/// older value than the latest store to the same atomic is noted in the model's trace
/// (`sync::model::stale_reads`, loom builds only), so a weak-memory counterexample says which read was stale.
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicPtr, Ordering, fence};
    #[cfg(not(loom))]
    pub use std::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };

    #[cfg(loom)]
    macro_rules! watched {
        ($name:ident, $t:ty, { $($op:ident => |$old:ident, $val:ident| $new:expr),* $(,)? }) => {
            /// loom's atomic of the same name, watched for stale loads.
            #[derive(Debug)]
            pub struct $name {
                inner: loom::sync::atomic::$name,
                id: u64,
            }

            impl $name {
                #[track_caller]
                pub fn new(value: $t) -> Self {
                    let at = std::panic::Location::caller();
                    Self::labelled(format!("atomic at {}:{}", at.file(), at.line()), value)
                }

                /// An atomic that traces call `name`.
                pub fn named(name: &str, value: $t) -> Self {
                    Self::labelled(format!("`{name}`"), value)
                }

                fn labelled(label: String, value: $t) -> Self {
                    Self {
                        inner: loom::sync::atomic::$name::new(value),
                        id: super::model::watch(label, value.to_string()),
                    }
                }

                pub fn load(&self, order: Ordering) -> $t {
                    let value = self.inner.load(order);
                    super::model::loaded(self.id, value.to_string());
                    value
                }

                pub fn store(&self, value: $t, order: Ordering) {
                    self.inner.store(value, order);
                    super::model::stored(self.id, value.to_string());
                }

                pub fn swap(&self, value: $t, order: Ordering) -> $t {
                    let old = self.inner.swap(value, order);
                    super::model::stored(self.id, value.to_string());
                    old
                }

                pub fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    let result = self.inner.compare_exchange(current, new, success, failure);
                    match result {
                        Ok(_) => super::model::stored(self.id, new.to_string()),
                        Err(seen) => super::model::loaded(self.id, seen.to_string()),
                    }
                    result
                }

                pub fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    let result = self.inner.compare_exchange_weak(current, new, success, failure);
                    match result {
                        Ok(_) => super::model::stored(self.id, new.to_string()),
                        Err(seen) => super::model::loaded(self.id, seen.to_string()),
                    }
                    result
                }

                $(
                    pub fn $op(&self, $val: $t, order: Ordering) -> $t {
                        let $old = self.inner.$op($val, order);
                        super::model::stored(self.id, ($new).to_string());
                        $old
                    }
                )*

                pub fn into_inner(self) -> $t {
                    self.inner.into_inner()
                }
            }

            impl Default for $name {
                #[track_caller]
                fn default() -> Self {
                    Self::new(<$t>::default())
                }
            }
        };
    }

    #[cfg(loom)]
    macro_rules! watched_int {
        ($($name:ident: $t:ty),*) => {$(
            watched!($name, $t, {
                fetch_add => |old, val| old.wrapping_add(val),
                fetch_sub => |old, val| old.wrapping_sub(val),
                fetch_and => |old, val| old & val,
                fetch_or => |old, val| old | val,
                fetch_xor => |old, val| old ^ val,
                fetch_max => |old, val| old.max(val),
                fetch_min => |old, val| old.min(val),
            });
        )*};
    }

    #[cfg(loom)]
    watched_int!(AtomicI64: i64, AtomicU32: u32, AtomicU64: u64, AtomicUsize: usize);

    #[cfg(loom)]
    watched!(AtomicBool, bool, {
        fetch_and => |old, val| old & val,
        fetch_or => |old, val| old | val,
        fetch_xor => |old, val| old ^ val,
    });
}

/// Threads: loom's scheduler-controlled threads under `cfg(loom)`, OS threads otherwise.
pub mod thread {
    #[cfg(loom)]
    pub use loom::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
    #[cfg(not(loom))]
    pub use std::thread::{JoinHandle, ThreadId, current, spawn, yield_now};
}

/// Spin-loop hints: under loom, `spin_loop` yields to the scheduler, so a spin-wait on
/// another thread's store makes progress instead of exhausting loom's branch limit.
pub mod hint {
    #[cfg(loom)]
    pub use loom::hint::spin_loop;
    #[cfg(not(loom))]
    pub use std::hint::spin_loop;
}

/// Where a lock was created, or the name it was given: how traces refer to it.
#[cfg(loom)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockName(pub String);

#[cfg(loom)]
impl LockName {
    #[track_caller]
    fn here() -> Self {
        let at = std::panic::Location::caller();
        Self(format!("lock created at {}:{}", at.file(), at.line()))
    }
}

#[cfg(loom)]
impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What each model thread waits for and holds, for deadlock reports, and the stale loads
/// of watched atomics (loom builds only; not production API).
///
/// It exists only under `cfg(loom)`, and is hidden from the docs, because only the model
/// harness reads it. It must still live here, beside the guards and atomics: the facade's
/// own lock and load paths are what record into it, and a module outside `sync` could not
/// see them without making those hooks public to every crate.
///
/// loom runs every thread of a model as a coroutine on one OS thread, so this is plain
/// thread-local storage on that OS thread: recording adds no branch point. The harness
/// calls [`model::reset`] before each execution and reads [`model::threads`] after loom
/// reports a deadlock.
#[cfg(loom)]
#[doc(hidden)]
pub mod model {
    use super::LockName;
    use super::thread::ThreadId;
    use std::cell::RefCell;

    /// One model thread's locks.
    #[derive(Debug, Clone, Default)]
    pub struct ThreadLocks {
        pub waiting_for: Option<LockName>,
        pub holding: Vec<LockName>,
    }

    /// A load that returned an older value than the latest store to its atomic.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct StaleRead {
        /// Position among the execution's [`tick`]s: where it belongs in a trace.
        pub tick: u64,
        pub reader: ThreadId,
        pub atomic: String,
        pub read: String,
        pub latest: String,
        /// The thread whose store wrote `latest` (`None`: the initial value).
        pub latest_by: Option<ThreadId>,
    }

    #[derive(Default)]
    struct Execution {
        threads: Vec<(ThreadId, ThreadLocks)>,
        /// Per watched atomic: its label, latest value stored and who stored it.
        atomics: Vec<(String, String, Option<ThreadId>)>,
        stale: Vec<StaleRead>,
        tick: u64,
    }

    thread_local! {
        static EXECUTION: RefCell<Execution> = RefCell::new(Execution::default());
    }

    fn current() -> ThreadId {
        super::thread::current().id()
    }

    fn with_locks<R>(f: impl FnOnce(&mut ThreadLocks) -> R) -> R {
        let id = current();
        EXECUTION.with(|e| {
            let threads = &mut e.borrow_mut().threads;
            let i = match threads.iter().position(|(t, _)| *t == id) {
                Some(i) => i,
                None => {
                    threads.push((id, ThreadLocks::default()));
                    threads.len() - 1
                }
            };
            f(&mut threads[i].1)
        })
    }

    pub(super) fn waiting(name: &LockName) {
        with_locks(|t| t.waiting_for = Some(name.clone()));
    }

    pub(super) fn acquired(name: &LockName) {
        with_locks(|t| {
            t.waiting_for = None;
            t.holding.push(name.clone());
        });
    }

    pub(super) fn released(name: &LockName) {
        // A guard dropped while loom unwinds a deadlock must not re-enter loom.
        if std::thread::panicking() {
            return;
        }
        with_locks(|t| {
            if let Some(i) = t.holding.iter().rposition(|n| n == name) {
                t.holding.remove(i);
            }
        });
    }

    /// Starts watching an atomic created with `value`; returns its id.
    pub(super) fn watch(label: String, value: String) -> u64 {
        EXECUTION.with(|e| {
            let atomics = &mut e.borrow_mut().atomics;
            atomics.push((label, value, None));
            (atomics.len() - 1) as u64
        })
    }

    pub(super) fn stored(id: u64, value: String) {
        let by = current();
        EXECUTION.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(atomic) = usize::try_from(id).ok().and_then(|i| e.atomics.get_mut(i)) {
                atomic.1 = value;
                atomic.2 = Some(by);
            }
        });
    }

    pub(super) fn loaded(id: u64, value: String) {
        let reader = current();
        EXECUTION.with(|e| {
            let mut e = e.borrow_mut();
            let Some((label, latest, by)) = usize::try_from(id)
                .ok()
                .and_then(|i| e.atomics.get(i))
                .cloned()
            else {
                return;
            };
            if latest != value {
                e.tick += 1;
                let tick = e.tick;
                e.stale.push(StaleRead {
                    tick,
                    reader,
                    atomic: label,
                    read: value,
                    latest,
                    latest_by: by,
                });
            }
        });
    }

    /// The next position in this execution: the recorder stamps its steps with it, so stale
    /// reads can be placed among them.
    pub fn tick() -> u64 {
        EXECUTION.with(|e| {
            let mut e = e.borrow_mut();
            e.tick += 1;
            e.tick
        })
    }

    /// Forgets the previous execution: call before each one.
    pub fn reset() {
        EXECUTION.with(|e| *e.borrow_mut() = Execution::default());
    }

    /// Every model thread seen by a lock in the current execution, with its locks.
    pub fn threads() -> Vec<(ThreadId, ThreadLocks)> {
        EXECUTION.with(|e| e.borrow().threads.clone())
    }

    /// The stale loads of the current execution, in order.
    pub fn stale_reads() -> Vec<StaleRead> {
        EXECUTION.with(|e| e.borrow().stale.clone())
    }
}

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
        LockName::here()
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

macro_rules! guard {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $($mut:ident)?) => {
        $(#[$doc])*
        pub struct $name<'a, T: ?Sized> {
            inner: backend::$inner<'a, T>,
            #[cfg(loom)]
            _held: Held<'a>,
        }

        impl<'a, T: ?Sized> $name<'a, T> {
            /// Takes the lock through `take`; under loom, notes that this thread waits for,
            /// then holds, the lock named `site`.
            fn acquire(
                site: &'a Site,
                take: impl FnOnce() -> std::sync::LockResult<backend::$inner<'a, T>>,
            ) -> Self {
                #[cfg(loom)]
                model::waiting(site);
                let inner = unpoison(take());
                #[cfg(loom)]
                model::acquired(site);
                #[cfg(not(loom))]
                let _ = site;
                Self {
                    inner,
                    #[cfg(loom)]
                    _held: Held(site),
                }
            }
        }

        impl<T: ?Sized> Deref for $name<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        $(
            impl<T: ?Sized> $mut for $name<'_, T> {
                fn deref_mut(&mut self) -> &mut T {
                    &mut self.inner
                }
            }
        )?

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
    MutexGuard, MutexGuard, DerefMut
);
guard!(
    /// A shared hold of a [`RwLock`].
    RwLockReadGuard, RwLockReadGuard,
);
guard!(
    /// An exclusive hold of a [`RwLock`].
    RwLockWriteGuard, RwLockWriteGuard, DerefMut
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
        MutexGuard::acquire(&self.site, || self.inner.lock())
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
        RwLockReadGuard::acquire(&self.site, || self.inner.read())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard::acquire(&self.site, || self.inner.write())
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

/// `std::sync::Condvar` (or loom's), over the facade's [`MutexGuard`].
#[derive(Debug, Default)]
pub struct Condvar(backend::Condvar);

impl Condvar {
    pub fn new() -> Self {
        Self(backend::Condvar::new())
    }

    /// Releases the guard's lock, waits for a notification, and locks again. Spurious
    /// wakeups happen (and loom explores them): wait in a loop on the condition.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let MutexGuard {
            inner,
            #[cfg(loom)]
            _held,
        } = guard;
        #[cfg(loom)]
        let name = {
            let name = _held.0;
            drop(_held);
            model::waiting(name);
            name
        };
        let inner = unpoison(self.0.wait(inner));
        #[cfg(loom)]
        model::acquired(name);
        MutexGuard {
            inner,
            #[cfg(loom)]
            _held: Held(name),
        }
    }

    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// `parking_lot`'s mutex; under loom, the facade's mutex (loom has one lock implementation,
/// so a model proves the *protocol*, and the benches measure the implementation).
pub mod parking_lot {
    #[cfg(not(loom))]
    pub use parking_lot::{Mutex, MutexGuard};

    #[cfg(loom)]
    pub use super::MutexGuard;

    /// parking_lot's `Mutex` API over the facade's (a distinct type, so code generic over
    /// lock kinds keeps its impls apart).
    #[cfg(loom)]
    #[derive(Debug, Default)]
    pub struct Mutex<T>(super::Mutex<T>);

    #[cfg(loom)]
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
