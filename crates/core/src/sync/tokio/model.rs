//! The event loop under loom (loom builds only; the model harness drives it, so it is
//! hidden from the docs like `sync::model`).
//!
//! Each task runs on a loom thread of its own ([`run_task`]), a small executor: it polls the
//! task's future, and while the future is pending it gives way. A task on an [`EventLoop`]
//! holds the loop's token (a loom mutex) while it is polled, so plain code between two awaits
//! runs with the token held and no other task of that loop runs in between, exactly as on
//! one thread. When the future returns `Pending` the task hands the token over, parks until
//! something wakes it (a lock released, a permit returned, a value sent: the facade's
//! primitives wake their waiters through loom), and takes the token back; loom explores
//! which task of the loop gets the token at each hand-over. A task with no loop (a thread
//! pool) has no token: every operation on shared state is already a switch point for loom.
//!
//! A `Pending` that no facade primitive registered (nothing will wake the task) and that is
//! not a yield is an await the model cannot see: the task panics with [`InvisibleAwait`].
//!
//! Thread-local bookkeeping is plain `std` on the one OS thread loom runs every model thread
//! on, keyed by the model thread; no borrow of it is held across a loom operation (another
//! model thread could run there and borrow it again).

use crate::sync::LockName;
use crate::sync::model::{Access, acquired, released, waiting_for_turn};
use crate::sync::thread::{self, ThreadId};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// One event loop: the token its tasks hold while they run.
pub struct EventLoop {
    name: LockName,
    token: loom::sync::Mutex<()>,
}

impl EventLoop {
    /// The event loop of worker `worker` (of a one-process deployment when `None`).
    pub fn new(worker: Option<usize>) -> Self {
        Self {
            name: LockName(super::in_models::event_loop_name(worker)),
            token: loom::sync::Mutex::new(()),
        }
    }

    fn take(&self) -> loom::sync::MutexGuard<'_, ()> {
        waiting_for_turn(&self.name);
        let token = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        acquired(&self.name, Access::Exclusive);
        token
    }

    fn give(&self, token: loom::sync::MutexGuard<'_, ()>) {
        released(&self.name);
        drop(token);
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventLoop({})", self.name)
    }
}

/// The panic payload of a task that awaited something the model cannot see: a future
/// that returned `Pending` with nothing registered to wake it. The harness turns it into an
/// *inconclusive* verdict.
#[derive(Debug, Clone)]
pub struct InvisibleAwait;

impl std::fmt::Display for InvisibleAwait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a task awaited a future that is not from `raceproof_core::sync::tokio`: it stayed \
             pending and nothing the model sees will wake it",
        )
    }
}

/// What a task's last poll left for its executor.
#[derive(Default)]
struct Slot {
    /// A facade primitive registered the task's waker: a legitimate wait.
    registered: bool,
    /// A facade yield (an I/O point, `yield_now`, `sleep`): give way, then poll again.
    yielded: bool,
    /// Blocking jobs (`spawn_blocking`) to run off the event loop before polling again.
    jobs: Vec<Box<dyn FnOnce()>>,
}

type Narrate = Rc<dyn Fn(String)>;

thread_local! {
    static SLOTS: RefCell<Vec<(ThreadId, Slot)>> = const { RefCell::new(Vec::new()) };
    /// The model threads running a task under `run_task`.
    static RUNNING: RefCell<Vec<ThreadId>> = const { RefCell::new(Vec::new()) };
    /// The tasks inside an `io` call: a sleep or a yield there is the call's own latency,
    /// and the trace already says the task awaits the call.
    static IN_IO: RefCell<Vec<ThreadId>> = const { RefCell::new(Vec::new()) };
    /// Where waits are narrated (the harness's recorder), if anywhere.
    static NARRATE: RefCell<Option<Narrate>> = const { RefCell::new(None) };
}

/// Forgets the previous execution's tasks and narration: call before each execution.
pub fn reset() {
    SLOTS.with(|s| s.borrow_mut().clear());
    IN_IO.with(|s| s.borrow_mut().clear());
    RUNNING.with(|s| s.borrow_mut().clear());
    NARRATE.with(|n| *n.borrow_mut() = None);
}

/// Narrates each await that gives way (`awaits \`db.get\``, `waits for \`lock\``) through
/// `narrate`, which the harness points at its recorder for the current execution.
pub fn narrate_with(narrate: impl Fn(String) + 'static) {
    NARRATE.with(|n| *n.borrow_mut() = Some(Rc::new(narrate)));
}

pub(crate) fn narrate(text: impl FnOnce() -> String) {
    let narrate = NARRATE.with(|n| n.borrow().clone());
    if let Some(narrate) = narrate {
        narrate(text());
    }
}

fn with_slot<R>(f: impl FnOnce(&mut Slot) -> R) -> R {
    let id = thread::current().id();
    SLOTS.with(|s| {
        let mut slots = s.borrow_mut();
        let i = match slots.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                slots.push((id, Slot::default()));
                slots.len() - 1
            }
        };
        f(&mut slots[i].1)
    })
}

fn take_slot() -> Slot {
    with_slot(std::mem::take)
}

/// A facade primitive registered the calling task's waker and returns `Pending`.
pub(crate) fn registered() {
    with_slot(|s| s.registered = true);
}

/// `job` runs off the event loop (a blocking thread) before the calling task is polled
/// again.
pub(crate) fn off_the_loop(job: Box<dyn FnOnce()>) {
    with_slot(|s| s.jobs.push(job));
}

/// Marks the calling task as inside (`true`) or out of (`false`) an `io` call.
pub(crate) fn in_io(inside: bool) {
    let id = thread::current().id();
    IN_IO.with(|s| {
        let mut tasks = s.borrow_mut();
        tasks.retain(|t| *t != id);
        if inside {
            tasks.push(id);
        }
    });
}

fn is_in_io() -> bool {
    let id = thread::current().id();
    IN_IO.with(|s| s.borrow().contains(&id))
}

/// A future that gives way once (narrated by `what`, if any, unless inside an `io` call),
/// then completes: an I/O point, a yield, a sleep.
pub(crate) async fn give_way(what: Option<String>) {
    let mut what = Some(what);
    std::future::poll_fn(|cx| match what.take() {
        Some(narration) => {
            if let Some(text) = narration
                && !is_in_io()
            {
                narrate(|| text);
            }
            if in_task() {
                with_slot(|s| s.yielded = true);
            } else {
                // Another executor (`loom::future::block_on`) polls again only when woken.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
        None => Poll::Ready(()),
    })
    .await;
}

/// Whether the calling model thread is running a task under [`run_task`] (else a blocking
/// job runs where it is polled).
pub(crate) fn in_task() -> bool {
    let id = thread::current().id();
    RUNNING.with(|r| r.borrow().contains(&id))
}

/// The calling model thread, registered as running a task while this lives.
struct Running(ThreadId);

impl Running {
    fn enter() -> Self {
        let id = thread::current().id();
        RUNNING.with(|r| r.borrow_mut().push(id));
        Self(id)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let id = self.0;
        // try_with: the thread-local may be gone when loom tears the thread down.
        let _ = RUNNING.try_with(|r| r.borrow_mut().retain(|t| *t != id));
    }
}

/// Wakes a parked task: sets its flag and unparks its loom thread.
struct TaskWaker {
    woken: AtomicBool,
    parker: loom::sync::Notify,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        self.parker.notify();
    }
}

/// Runs one task to completion on the calling model thread, on `event_loop` (holding its
/// token while it is polled) or on a thread pool (`None`).
///
/// While the future is pending the task gives way: the token is handed over, blocking jobs
/// run, and the task parks until a facade primitive (or the future itself) wakes it.
pub fn run_task<F: Future>(event_loop: Option<Arc<EventLoop>>, future: F) -> F::Output {
    let _ = take_slot();
    let _running = Running::enter();
    let waker_state = Arc::new(TaskWaker {
        woken: AtomicBool::new(false),
        parker: loom::sync::Notify::new(),
    });
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let event_loop = event_loop.as_deref();
    let mut token = event_loop.map(EventLoop::take);
    loop {
        let polled = future.as_mut().poll(&mut cx);
        if let (Some(l), Some(t)) = (event_loop, token.take()) {
            l.give(t);
        }
        if let Poll::Ready(out) = polled {
            return out;
        }
        let slot = take_slot();
        let jobs = !slot.jobs.is_empty();
        for job in slot.jobs {
            job();
        }
        let woken = waker_state.woken.swap(false, Ordering::Relaxed);
        if woken && !slot.registered && !slot.yielded {
            narrate(|| "yields".to_owned());
        }
        if !(woken || slot.yielded || jobs) {
            if !slot.registered {
                std::panic::panic_any(InvisibleAwait);
            }
            waker_state.parker.wait();
            waker_state.woken.store(false, Ordering::Relaxed);
        }
        token = event_loop.map(EventLoop::take);
    }
}
