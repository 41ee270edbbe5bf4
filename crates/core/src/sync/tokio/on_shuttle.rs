//! A `--cfg shuttle` build (the randomized mode): tokio's runtime-free primitives as they
//! are, the runtime's own calls modelled on shuttle's threads, and the event loop that runs
//! a task ([`run_task`]; the harness drives it, so it is hidden from the docs).
//!
//! tokio's `Mutex`, `RwLock`, `Semaphore`, `Notify` and `oneshot` need no runtime: a task
//! awaiting one that is not ready returns `Pending` and is woken by tokio itself. Their
//! insides are invisible to shuttle, so shuttle switches tasks only where one is pending, at
//! [`super::io`], at a yield or a sleep, and at the sync facade's operations: fewer places
//! than loom's model tries, which is why this mode finds violations and never proves.
//!
//! A task on an event loop holds the loop's token (a facade mutex, so shuttle sees it) while
//! it is polled and gives it up while it is pending, so plain code between two awaits is
//! atomic there, as on asyncio or tokio's `current_thread` runtime; on a thread pool it runs
//! with no token.

pub use super::in_models::JoinError;
use super::in_models::event_loop_name;
pub use super::on_tokio::{
    AcquireError, Mutex, MutexGuard, Notified, Notify, RwLock, RwLockReadGuard, RwLockWriteGuard,
    Semaphore, SemaphorePermit, TryAcquireError, oneshot,
};
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Gives way to every other ready task of the event loop (an I/O point, a yield, a sleep):
/// shuttle's own yield, pending once and woken at once.
pub(super) async fn give_way() {
    shuttle::future::yield_now().await;
}

/// Gives way to every other ready task of the event loop.
pub async fn yield_now() {
    give_way().await;
}

/// Gives way; no time passes and no sleep is ordered before another (shuttle does not
/// model time).
pub async fn sleep(duration: Duration) {
    let _ = duration;
    give_way().await;
}

/// What a blocking job hands its handle: the value, and the task to wake for it.
type Slot<T> = Arc<std::sync::Mutex<(Option<T>, Option<Waker>)>>;

/// `spawn_blocking`'s handle: ready once the job's thread has finished.
pub struct JoinHandle<T> {
    slot: Slot<T>,
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.0.take() {
            Some(value) => Poll::Ready(Ok(value)),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinHandle { .. }")
    }
}

/// A blocking job (a password hash, a synchronous client call) on a shuttle thread of its
/// own, off the event loop, as tokio runs it on its blocking pool.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot: Slot<R> = Arc::new(std::sync::Mutex::new((None, None)));
    let done = slot.clone();
    shuttle::thread::spawn(move || {
        let value = f();
        // The waker is called with no lock held: it only raises a flag (see `run_task`).
        let waker = {
            let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
            done.0 = Some(value);
            done.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    });
    JoinHandle { slot }
}

/// One event loop: the token its tasks hold while they run.
pub struct EventLoop {
    token: crate::sync::Mutex<()>,
}

impl EventLoop {
    /// The event loop of worker `worker` (of a one-process deployment when `None`).
    pub fn new(worker: Option<usize>) -> Self {
        Self {
            token: crate::sync::Mutex::named(&event_loop_name(worker), ()),
        }
    }
}

/// Woken: a flag the task's executor reads. It makes no shuttle call, so tokio may wake a
/// task from anywhere (shuttle runs every thread on one OS thread, and a switch inside a
/// lock of tokio's would deadlock it).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion on the current shuttle thread: polled while holding
/// `event_loop`'s token (none on a thread pool), which it gives up while pending, yielding to
/// shuttle until it is woken. A task never woken spins until shuttle's step limit, and the
/// verdict is then inconclusive, never a false deadlock.
pub fn run_task<F: Future>(event_loop: Option<Arc<EventLoop>>, future: F) -> F::Output {
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        let token = event_loop.as_deref().map(|l| l.token.lock());
        let polled = future.as_mut().poll(&mut cx);
        drop(token);
        if let Poll::Ready(out) = polled {
            return out;
        }
        loop {
            shuttle::thread::yield_now();
            if woken.0.swap(false, Ordering::Acquire) {
                break;
            }
        }
    }
}
