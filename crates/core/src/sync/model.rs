//! What each model thread did, for verdicts and traces (loom builds only).
//!
//! loom runs every thread of a model as a coroutine on one OS thread, so this is plain
//! thread-local storage on that OS thread: recording adds no branch point. It holds, per
//! execution: which lock each thread waits for and holds (deadlock reports), which facade
//! objects each thread touched (a model whose actors share none was not model-checked), the
//! history of each watched atomic (stale loads, and whether one relies on loom's `SeqCst`
//! approximation), and what the model read that loom cannot see (the system clock). The
//! harness calls [`reset`] before each execution and reads the rest after it.

use super::LockName;
use super::thread::ThreadId;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::Ordering; // loom's `Ordering` is std's

/// How a lock is held or asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A mutex.
    Exclusive,
    /// An RwLock's read side.
    Read,
    /// An RwLock's write side.
    Write,
}

/// What a blocked model thread waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// A lock, in this access.
    Lock(LockName, Access),
    /// A notification on a condition variable, having released `released` to wait.
    Notification {
        condvar: LockName,
        released: LockName,
    },
}

/// One model thread's locks and reach.
#[derive(Debug, Clone, Default)]
pub struct ThreadLocks {
    pub waiting_for: Option<Waiting>,
    pub holding: Vec<(LockName, Access)>,
    /// Operations on facade primitives (locks, atomics, condvars) since setup.
    pub ops: usize,
    /// The facade objects those operations touched (their addresses in this execution).
    pub touched: HashSet<usize>,
    /// Position (tick) of this thread's latest `fence(SeqCst)`.
    seqcst_fence: Option<u64>,
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
    /// The load's ordering, and the latest store's (`None`: the initial value).
    pub load_order: Ordering,
    pub latest_order: Option<Ordering>,
    /// Why `SeqCst` forbids this load, when it does: loom treats `SeqCst` accesses as
    /// `AcqRel`, so such a load is allowed by loom but not by the memory model.
    pub forbidden_by_seqcst: Option<String>,
}

/// A `wait` that returned without a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpuriousWakeup {
    /// Position among the execution's [`tick`]s.
    pub tick: u64,
    pub thread: ThreadId,
    pub condvar: LockName,
}

/// One store to a watched atomic (the first entry: its initial value).
#[derive(Debug, Clone)]
struct Store {
    value: String,
    order: Option<Ordering>,
    by: Option<ThreadId>,
    tick: u64,
}

#[derive(Debug)]
struct Watched {
    label: String,
    history: Vec<Store>,
}

#[derive(Default)]
struct Execution {
    threads: Vec<(ThreadId, ThreadLocks)>,
    atomics: Vec<Watched>,
    stale: Vec<StaleRead>,
    spurious: Vec<SpuriousWakeup>,
    tick: u64,
    /// Per creation site (`file:line:column`), how many locks were created there so far.
    sites: Vec<(String, usize)>,
    /// What the model read that loom does not model (e.g. the system clock).
    unmodelled: Vec<&'static str>,
    /// loom stopped the execution (a deadlock) and is unwinding it: no thread is active, so
    /// a guard dropped now must not call into loom.
    torn_down: bool,
}

/// Where the harness watches for an execution that stops making progress: the model
/// thread that last touched a facade primitive.
pub type Activity = std::sync::Arc<std::sync::Mutex<Option<ThreadId>>>;

thread_local! {
    static EXECUTION: RefCell<Execution> = RefCell::new(Execution::default());
    static ACTIVITY: RefCell<Option<Activity>> = const { RefCell::new(None) };
    /// The thread last told to [`ACTIVITY`]: it is told again only when that changes.
    static TOLD: std::cell::Cell<Option<ThreadId>> = const { std::cell::Cell::new(None) };
}

fn current() -> ThreadId {
    super::thread::current().id()
}

/// Runs `f` on the calling model thread's record, and tells the activity watcher.
fn with_thread<R>(f: impl FnOnce(&mut ThreadLocks) -> R) -> R {
    let id = current();
    if TOLD.get() != Some(id) {
        TOLD.set(Some(id));
        ACTIVITY.with(|a| {
            if let Some(slot) = a.borrow().as_ref()
                && let Ok(mut last) = slot.lock()
            {
                *last = Some(id);
            }
        });
    }
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

/// The calling model thread starts running (an actor begins): the activity watcher hears
/// of it before its first facade operation.
pub fn running() {
    with_thread(|_| ());
}

/// Counts an operation of the calling thread on the facade object at `object`.
pub(super) fn touched(object: usize) {
    with_thread(|t| {
        t.ops += 1;
        t.touched.insert(object);
    });
}

pub(super) fn waiting(name: &LockName, access: Access, object: usize) {
    with_thread(|t| {
        t.ops += 1;
        t.touched.insert(object);
        t.waiting_for = Some(Waiting::Lock(name.clone(), access));
    });
}

pub(super) fn acquired(name: &LockName, access: Access) {
    EXECUTION.with(|e| e.borrow_mut().torn_down = false);
    with_thread(|t| {
        t.waiting_for = None;
        t.holding.push((name.clone(), access));
    });
}

pub(super) fn released(name: &LockName) {
    // A guard dropped while loom unwinds a deadlock must not re-enter loom.
    if std::thread::panicking() {
        return;
    }
    with_thread(|t| {
        if let Some(i) = t.holding.iter().rposition(|(n, _)| n == name) {
            t.holding.remove(i);
        }
    });
}

/// The calling thread waits on `condvar` for a notification, having released `released`.
pub(super) fn awaiting_notification(condvar: &LockName, released: &LockName) {
    with_thread(|t| {
        t.waiting_for = Some(Waiting::Notification {
            condvar: condvar.clone(),
            released: released.clone(),
        });
    });
}

/// The calling thread returned from waiting on `condvar`, `spurious`ly or notified.
pub(super) fn woken(condvar: &LockName, spurious: bool) {
    with_thread(|t| t.waiting_for = None);
    if spurious {
        let thread = current();
        EXECUTION.with(|e| {
            let mut e = e.borrow_mut();
            e.tick += 1;
            let tick = e.tick;
            e.spurious.push(SpuriousWakeup {
                tick,
                thread,
                condvar: condvar.clone(),
            });
        });
    }
}

/// The `n`th lock created at `site` in this execution (1 for the first).
pub(super) fn created_at(site: String) -> usize {
    EXECUTION.with(|e| {
        let sites = &mut e.borrow_mut().sites;
        match sites.iter_mut().find(|(s, _)| *s == site) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                sites.push((site, 1));
                1
            }
        }
    })
}

/// Marks the execution as torn down by loom (see [`Blocking`]).
pub fn tear_down() {
    EXECUTION.with(|e| e.borrow_mut().torn_down = true);
}

/// Whether loom is unwinding this execution with no active thread.
pub(super) fn torn_down() -> bool {
    EXECUTION.with(|e| e.borrow().torn_down)
}

/// Held across a call that can block inside loom: if loom panics there (a deadlock leaves
/// no active thread), the execution is marked torn down before the unwinding drops guards.
pub(super) struct Blocking(());

impl Blocking {
    pub(super) fn enter() -> Self {
        Self(())
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tear_down();
        }
    }
}

/// Starts watching an atomic created with `value`; returns its id.
pub(super) fn watch(label: String, value: String) -> u64 {
    EXECUTION.with(|e| {
        let atomics = &mut e.borrow_mut().atomics;
        atomics.push(Watched {
            label,
            history: vec![Store {
                value,
                order: None,
                by: None,
                tick: 0,
            }],
        });
        (atomics.len() - 1) as u64
    })
}

pub(super) fn stored(id: u64, object: usize, value: String, order: Ordering) {
    touched(object);
    let by = current();
    EXECUTION.with(|e| {
        let mut e = e.borrow_mut();
        e.tick += 1;
        let tick = e.tick;
        if let Some(atomic) = usize::try_from(id).ok().and_then(|i| e.atomics.get_mut(i)) {
            atomic.history.push(Store {
                value,
                order: Some(order),
                by: Some(by),
                tick,
            });
        }
    });
}

pub(super) fn loaded(id: u64, object: usize, value: String, order: Ordering) {
    touched(object);
    let reader = current();
    EXECUTION.with(|e| {
        let mut e = e.borrow_mut();
        let Some(atomic) = usize::try_from(id).ok().and_then(|i| e.atomics.get(i)) else {
            return;
        };
        // The newest store of the value read: anything after it is what the load missed.
        let Some(read) = atomic.history.iter().rposition(|s| s.value == value) else {
            return;
        };
        let newer = &atomic.history[read + 1..];
        let Some(latest) = newer.last() else {
            return;
        };
        let reader_fence = e
            .threads
            .iter()
            .find(|(t, _)| *t == reader)
            .and_then(|(_, l)| l.seqcst_fence);
        let forbidden_by_seqcst = seqcst_forbids(order, reader_fence, newer, &e.threads);
        let stale = StaleRead {
            tick: e.tick + 1,
            reader,
            atomic: atomic.label.clone(),
            read: value,
            latest: latest.value.clone(),
            latest_by: latest.by,
            load_order: order,
            latest_order: latest.order,
            forbidden_by_seqcst,
        };
        e.tick += 1;
        e.stale.push(stale);
    });
}

/// Why a load that missed the stores `newer` is forbidden under `SeqCst`, if it is: a
/// `SeqCst` load of a value older than a `SeqCst` store, a load after the reader's
/// `fence(SeqCst)` that misses a `SeqCst` store, or a `SeqCst` load that misses a store
/// its writer followed with `fence(SeqCst)`. (loom models `SeqCst` fences among
/// themselves, but neither `SeqCst` accesses nor the two mixed.)
fn seqcst_forbids(
    order: Ordering,
    reader_fence: Option<u64>,
    newer: &[Store],
    threads: &[(ThreadId, ThreadLocks)],
) -> Option<String> {
    let seqcst_load = order == Ordering::SeqCst;
    for store in newer {
        let seqcst_store = store.order == Some(Ordering::SeqCst);
        if seqcst_load && seqcst_store {
            return Some(format!(
                "a SeqCst load cannot miss the SeqCst store of {}",
                store.value
            ));
        }
        if seqcst_store && reader_fence.is_some_and(|f| f > store.tick) {
            return Some(format!(
                "a load after fence(SeqCst) cannot miss the SeqCst store of {} made before it",
                store.value
            ));
        }
        let writer_fence = threads
            .iter()
            .find(|(t, _)| Some(*t) == store.by)
            .and_then(|(_, l)| l.seqcst_fence);
        if seqcst_load && writer_fence.is_some_and(|f| f > store.tick) {
            return Some(format!(
                "a SeqCst load cannot miss the store of {} that its writer fenced with fence(SeqCst)",
                store.value
            ));
        }
    }
    None
}

/// The calling thread ran `fence(order)`.
pub(super) fn fenced(order: Ordering) {
    if order != Ordering::SeqCst {
        return;
    }
    let tick = EXECUTION.with(|e| {
        let mut e = e.borrow_mut();
        e.tick += 1;
        e.tick
    });
    with_thread(|t| t.seqcst_fence = Some(tick));
}

/// The model read `what`, which loom does not model (e.g. the system clock).
pub fn unmodelled(what: &'static str) {
    EXECUTION.with(|e| {
        let mut e = e.borrow_mut();
        if !e.unmodelled.contains(&what) {
            e.unmodelled.push(what);
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

/// Setup is over: what the calling thread did so far (building the state) is not an
/// actor's work, so its operations are forgotten (its locks are kept).
pub fn setup_done() {
    EXECUTION.with(|e| {
        for (_, t) in &mut e.borrow_mut().threads {
            t.ops = 0;
            t.touched.clear();
        }
    });
}

/// Tells `slot`, on every facade operation of this OS thread's models, which model thread
/// made it; `None` stops telling.
pub fn observe(slot: Option<Activity>) {
    TOLD.set(None);
    ACTIVITY.with(|a| *a.borrow_mut() = slot);
}

/// Every model thread seen by the facade in the current execution, with its locks.
pub fn threads() -> Vec<(ThreadId, ThreadLocks)> {
    EXECUTION.with(|e| e.borrow().threads.clone())
}

/// The stale loads of the current execution, in order.
pub fn stale_reads() -> Vec<StaleRead> {
    EXECUTION.with(|e| e.borrow().stale.clone())
}

/// The spurious wakeups of the current execution, in order.
pub fn spurious_wakeups() -> Vec<SpuriousWakeup> {
    EXECUTION.with(|e| e.borrow().spurious.clone())
}

/// What the current execution read that loom does not model.
pub fn unmodelled_reads() -> Vec<&'static str> {
    EXECUTION.with(|e| e.borrow().unmodelled.clone())
}
