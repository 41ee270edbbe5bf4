#![cfg(loom)]
//! The event-loop model (issue 16) on tasks whose verdicts are known from first principles:
//!
//! - on one event loop, plain code between two awaits is atomic: a read-modify-write with no
//!   await in it cannot lose an update there, and does on a thread pool. If the model let a
//!   task switch where there is no await, the event-loop verdict would be *violated*;
//! - a pending await gives way: the same read-modify-write with an I/O await, a yield or a
//!   sleep between read and write loses an update even on one event loop, and a task waiting
//!   for a held async lock lets its holder finish. If the model forbade a switch at a pending
//!   await, the first would be *proven* and the second would deadlock;
//! - workers each build their own state and share only what they declare shared.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p raceproof-check --release --target-dir target/loom --test event_loop`

use raceproof_check::{
    Deployment, ExactlyOnce, FinalState, Inconclusive, Recorder, Scenario, Verdict,
};
use raceproof_core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use raceproof_core::sync::tokio::sync::{Mutex as AsyncMutex, Notify, Semaphore, oneshot};
use raceproof_core::sync::tokio::{io, task, time};
use raceproof_core::sync::{Arc, Mutex};
use std::time::Duration;

/// A counter in a facade atomic (every load and store is a switch point for loom), an
/// async lock, and the recorder.
struct Counter {
    value: AtomicU64,
    lock: AsyncMutex<()>,
    rec: Recorder,
}

fn counter(rec: &Recorder) -> Counter {
    Counter {
        value: AtomicU64::named("counter", 0),
        lock: AsyncMutex::named("counter lock", ()),
        rec: rec.clone(),
    }
}

fn read(c: &Counter) -> u64 {
    let seen = c.value.load(Ordering::SeqCst);
    c.rec.note(format!("read counter = {seen}"));
    seen
}

fn write(c: &Counter, value: u64) {
    c.value.store(value, Ordering::SeqCst);
    c.rec.note(format!("write counter = {value}"));
}

fn counter_is(n: u64) -> FinalState<Counter> {
    FinalState::new("no_lost_increment", move |c: &Counter| {
        let v = c.value.load(Ordering::SeqCst);
        if v == n {
            Ok(())
        } else {
            Err(format!("counter is {v}, not {n}"))
        }
    })
}

/// Where an increment gives way between its read and its write.
#[derive(Clone, Copy)]
enum Between {
    Nothing,
    Io,
    Yield,
    Sleep,
    /// A yield written by hand: a future that wakes itself and returns `Pending` once.
    HandYield,
}

async fn pause(between: Between) {
    match between {
        Between::Nothing => {}
        Between::Io => io("db.get", async {}).await,
        Between::Yield => task::yield_now().await,
        Between::Sleep => time::sleep(Duration::from_millis(5)).await,
        Between::HandYield => {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
        }
    }
}

fn two_increments(between: Between) -> Scenario<Counter> {
    let increment = async move |c: &Counter| {
        let seen = read(c);
        pause(between).await;
        write(c, seen + 1);
    };
    Scenario::new("counter", "async", counter)
        .task(None, "increments", increment)
        .task(None, "increments", increment)
        .invariant(counter_is(2))
}

fn violated(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Violated { trace, .. } => trace.to_string(),
        other => panic!("expected a violation, got {other}"),
    }
}

fn proven(verdict: &Verdict) {
    assert!(verdict.is_proven(), "expected a proof, got {verdict}");
}

#[test]
fn code_between_awaits_is_atomic_on_an_event_loop_and_not_on_a_thread_pool() {
    let scenario = two_increments(Between::Nothing);
    proven(&scenario.clone().deployment(Deployment::EventLoop).check());
    let trace = violated(&scenario.deployment(Deployment::ThreadPool).check());
    assert!(trace.contains("T1") && trace.contains("T2"), "{trace}");
}

#[test]
fn every_pending_await_gives_way_even_on_one_event_loop() {
    for (between, shows) in [
        (Between::Io, "awaits `db.get`"),
        (Between::Yield, "yields"),
        (Between::Sleep, "sleeps 5 ms"),
        (Between::HandYield, "yields"),
    ] {
        let verdict = two_increments(between)
            .deployment(Deployment::EventLoop)
            .check();
        let trace = violated(&verdict);
        assert!(trace.contains(shows), "{trace}");
        assert!(trace.contains("counter is 1, not 2"), "{trace}");
    }
}

/// T2 finds the lock held by T1, which is away at its I/O: unless waiting for a held lock
/// gives way, the event loop deadlocks and this is violated (`no_deadlock`).
#[test]
fn an_async_lock_held_across_the_await_is_proven_on_either_runtime() {
    let locked = async |c: &Counter| {
        let _held = c.lock.lock().await;
        let seen = read(c);
        io("db.get", async {}).await;
        write(c, seen + 1);
    };
    let scenario = Scenario::new("counter", "locked", counter)
        .task(None, "increments under the lock", locked)
        .task(None, "increments under the lock", locked)
        .invariant(counter_is(2));
    for deployment in [Deployment::EventLoop, Deployment::ThreadPool] {
        proven(&scenario.clone().deployment(deployment).check());
    }
}

#[test]
fn a_blocking_lock_held_across_an_await_deadlocks_one_event_loop_only() {
    struct State {
        value: Mutex<u64>,
    }
    let holds = async |s: &State| {
        let mut value = s.value.lock();
        io("db.get", async {}).await;
        *value += 1;
    };
    let scenario = Scenario::new("blocking_lock", "held_across_await", |_| State {
        value: Mutex::named("value", 0),
    })
    .task(None, "holds a blocking lock across an await", holds)
    .task(None, "holds a blocking lock across an await", holds)
    .invariant(FinalState::new("finishes", |_: &State| Ok(())));
    let verdict = scenario.clone().deployment(Deployment::EventLoop).check();
    assert_eq!(verdict.invariant(), Some("no_deadlock"), "{verdict}");
    let trace = verdict.to_string();
    assert!(trace.contains("the event loop"), "{trace}");
    assert!(trace.contains("`value`"), "{trace}");
    proven(&scenario.deployment(Deployment::ThreadPool).check());
}

/// A flag kept in each process's memory, and one in a shared store.
struct Flags {
    local: AtomicBool,
    shared: Arc<AtomicBool>,
    rec: Recorder,
}

fn once(flag: &AtomicBool, rec: &Recorder) {
    if !flag.swap(true, Ordering::SeqCst) {
        rec.effect("processed", "m");
    }
}

fn flags(shared_flag: bool) -> Scenario<Flags> {
    let body = async move |f: &Flags| {
        io("store.claim", async {}).await;
        let flag = if shared_flag { &*f.shared } else { &f.local };
        once(flag, &f.rec);
    };
    let variant = if shared_flag { "shared" } else { "local" };
    Scenario::per_worker("claim", variant, |w| Flags {
        local: AtomicBool::new(false),
        shared: w.shared("store", |_| AtomicBool::new(false)),
        rec: w.recorder().clone(),
    })
    .task(None, "claims m", body)
    .task(None, "claims m again", body)
    .invariant(ExactlyOnce::new(["m"]))
}

#[test]
fn workers_keep_their_own_state_and_share_only_what_they_declare() {
    let local = flags(false);
    proven(&local.clone().deployment(Deployment::EventLoop).check());
    let trace = violated(&local.deployment(Deployment::workers(2)).check());
    assert!(
        trace.contains("T1 (worker 0)") && trace.contains("T2 (worker 1)"),
        "{trace}"
    );
    assert!(trace.contains("awaits `store.claim`"), "{trace}");
    proven(&flags(true).deployment(Deployment::workers(2)).check());
}

#[test]
fn an_await_the_model_cannot_see_is_inconclusive() {
    let verdict = Scenario::new("invisible", "pending", counter)
        .task(
            None,
            "awaits a future nothing wakes",
            async |_: &Counter| {
                std::future::pending::<()>().await;
            },
        )
        .invariant(counter_is(0))
        .check();
    match verdict {
        Verdict::Inconclusive {
            cause: Inconclusive::InvisibleAwait { actor },
            ..
        } => assert_eq!(actor, "T1"),
        other => panic!("expected inconclusive, got {other}"),
    }
}

#[test]
fn semaphores_notifications_and_oneshots_hand_over_in_order() {
    struct Handoff {
        value: AtomicU64,
        permits: Semaphore,
        ready: Notify,
        sent: std::sync::Mutex<Option<oneshot::Receiver<u64>>>,
        tx: std::sync::Mutex<Option<oneshot::Sender<u64>>>,
        rec: Recorder,
    }
    let setup = |rec: &Recorder| {
        let (tx, rx) = oneshot::channel();
        Handoff {
            value: AtomicU64::new(0),
            permits: Semaphore::new(1),
            ready: Notify::new(),
            sent: std::sync::Mutex::new(Some(rx)),
            tx: std::sync::Mutex::new(Some(tx)),
            rec: rec.clone(),
        }
    };
    let ok = |h: &Handoff| -> Result<(), String> {
        match h.value.load(Ordering::SeqCst) {
            2 => Ok(()),
            v => Err(format!("value {v}")),
        }
    };
    let scenario = Scenario::new("handoff", "primitives", setup)
        .task(
            None,
            "writes, then notifies and sends",
            async |h: &Handoff| {
                let permit = h.permits.acquire().await.expect("open");
                let seen = h.value.load(Ordering::SeqCst);
                io("db.put", async {}).await;
                h.value.store(seen + 1, Ordering::SeqCst);
                drop(permit);
                h.ready.notify_one();
                let tx = h.tx.lock().ok().and_then(|mut t| t.take());
                if let Some(tx) = tx {
                    let _ = tx.send(seen + 1);
                }
            },
        )
        .task(None, "waits, then writes", async |h: &Handoff| {
            h.ready.notified().await;
            let rx = h.sent.lock().ok().and_then(|mut r| r.take());
            let Some(rx) = rx else { return };
            let sent = rx.await.expect("sent");
            let _permit = h.permits.acquire().await.expect("open");
            h.value.store(sent + 1, Ordering::SeqCst);
            h.rec.note(format!("write value = {}", sent + 1));
        })
        .invariant(FinalState::new("both_writes", ok));
    for deployment in [Deployment::EventLoop, Deployment::ThreadPool] {
        proven(&scenario.clone().deployment(deployment).check());
    }
}

/// The facade's awaits also complete under another executor than the harness's (a user's
/// plain `loom::model` test with an executor of their own): a yield wakes itself, a blocking
/// job runs in place.
#[test]
fn the_facade_runs_under_another_executor_too() {
    use std::sync::atomic::AtomicBool as Flag;
    use std::task::{Context, Poll, Wake, Waker};
    struct Woken(Flag);
    impl Wake for Woken {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    loom::model(|| {
        let woken = std::sync::Arc::new(Woken(Flag::new(false)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(async {
            io("db.get", async {}).await;
            task::yield_now().await;
            time::sleep(Duration::from_millis(1)).await;
            task::spawn_blocking(|| 7).await.expect("ran")
        });
        let out = loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(out) => break out,
                Poll::Pending => assert!(
                    woken.0.swap(false, std::sync::atomic::Ordering::SeqCst),
                    "pending without a wake-up"
                ),
            }
        };
        assert_eq!(out, 7);
    });
}

/// Workers that are thread pools, requests routed round robin: one run, whose trace names
/// both workers.
#[test]
fn round_robin_thread_pool_workers_are_one_run() {
    use raceproof_check::{Routing, Runtime};
    let deployment = Deployment::Workers {
        n: 2,
        per_worker: Runtime::ThreadPool,
        routing: Routing::RoundRobin,
    };
    let trace = violated(&flags(false).deployment(deployment).check());
    assert!(
        trace.contains("T1 (worker 0)") && trace.contains("T2 (worker 1)"),
        "{trace}"
    );
    proven(&flags(true).deployment(deployment).check());
}

/// Two or three tasks are explored exhaustively; past loom's thread limit the verdict is
/// inconclusive, with the reason, never proven.
#[test]
fn more_tasks_than_loom_explores_are_inconclusive() {
    let mut scenario = Scenario::new("counter", "many", counter).invariant(counter_is(6));
    for _ in 0..6 {
        scenario = scenario.task(None, "increments", async |c: &Counter| {
            let seen = read(c);
            write(c, seen + 1);
        });
    }
    match scenario.deployment(Deployment::EventLoop).check() {
        Verdict::Inconclusive {
            cause: Inconclusive::ThreadLimit { threads: 6, max: 5 },
            ..
        } => {}
        other => panic!("expected inconclusive, got {other}"),
    }
}
