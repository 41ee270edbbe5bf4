//! Models at the checker's edges (issue 17): each is the smallest flow a user could write
//! that loom alone gets wrong, by class. `tests/checker_edges.rs` asserts their verdicts.
#![allow(dead_code, reason = "each test binary uses a subset of the models")]

use raceproof::check::{FinalState, NoDeadlock, Recorder, Scenario};
use raceproof::core::sync::atomic::{AtomicBool, Ordering, fence};
use raceproof::core::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

// Class 1: spurious wakeups.

/// A job queue: a consumer waits for a job, a producer pushes one and notifies.
pub struct Jobs {
    queue: Mutex<Vec<u32>>,
    ready: Condvar,
    taken: Mutex<Option<u32>>,
}

fn jobs_state(_: &Recorder) -> Jobs {
    Jobs {
        queue: Mutex::named("jobs.queue", Vec::new()),
        ready: Condvar::named("jobs.ready"),
        taken: Mutex::named("jobs.taken", None),
    }
}

fn takes_the_job() -> FinalState<Jobs> {
    FinalState::new("takes_the_job", |s: &Jobs| match *s.taken.lock() {
        Some(7) => Ok(()),
        other => Err(format!("the consumer took {other:?}, not job 7")),
    })
}

/// The consumer checks "empty?" with `if` (`while_loop: false`) or `while`.
pub fn consumer_waits(while_loop: bool) -> Scenario<Jobs> {
    let variant = if while_loop { "while" } else { "if" };
    Scenario::new("condvar_consumer", variant, jobs_state)
        .actor(None, "waits for a job, takes it", move |s: &Jobs| {
            let mut queue = s.queue.lock();
            if while_loop {
                while queue.is_empty() {
                    queue = s.ready.wait(queue);
                }
            } else if queue.is_empty() {
                queue = s.ready.wait(queue);
            }
            let job = queue.pop();
            drop(queue);
            *s.taken.lock() = job;
        })
        .actor(None, "pushes job 7, notifies", |s: &Jobs| {
            s.queue.lock().push(7);
            s.ready.notify_one();
        })
        .invariant(takes_the_job())
}

/// A lost wakeup: the producer notifies before it pushes, outside the lock.
pub fn lost_wakeup() -> Scenario<Jobs> {
    Scenario::new("condvar_consumer", "notify_first", jobs_state)
        .actor(None, "waits for a job, takes it", |s: &Jobs| {
            let mut queue = s.queue.lock();
            while queue.is_empty() {
                queue = s.ready.wait(queue);
            }
            let job = queue.pop();
            drop(queue);
            *s.taken.lock() = job;
        })
        .actor(None, "notifies, then pushes job 7", |s: &Jobs| {
            s.ready.notify_one();
            s.queue.lock().push(7);
        })
        .invariant(takes_the_job())
}

// Class 2: SeqCst.

/// Dekker's mutual exclusion: each side raises its flag, then enters if the other's is
/// down. Correct under SeqCst (store buffering is forbidden), broken with Release/Acquire.
pub struct Dekker {
    x: AtomicBool,
    y: AtomicBool,
    inside: Mutex<u32>,
}

/// How the two sides order their accesses.
#[derive(Debug, Clone, Copy)]
pub enum DekkerOrder {
    /// SeqCst stores and loads.
    SeqCst,
    /// Release stores, Acquire loads: store buffering is allowed.
    AcqRel,
    /// Relaxed accesses around fence(SeqCst) on both sides: correct, and loom models it.
    Fences,
    /// SeqCst accesses on one side, Relaxed around fence(SeqCst) on the other: correct
    /// (C++20), but loom does not model SeqCst accesses against SeqCst fences.
    Mixed,
}

pub fn dekker(order: DekkerOrder) -> Scenario<Dekker> {
    let variant = format!("{order:?}").to_lowercase();
    let side = move |me: &AtomicBool, other: &AtomicBool, inside: &Mutex<u32>, first: bool| {
        let enter = match (order, first) {
            (DekkerOrder::SeqCst, _) | (DekkerOrder::Mixed, true) => {
                me.store(true, Ordering::SeqCst);
                !other.load(Ordering::SeqCst)
            }
            (DekkerOrder::AcqRel, _) => {
                me.store(true, Ordering::Release);
                !other.load(Ordering::Acquire)
            }
            (DekkerOrder::Fences, _) | (DekkerOrder::Mixed, false) => {
                me.store(true, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                !other.load(Ordering::Relaxed)
            }
        };
        if enter {
            *inside.lock() += 1;
        }
    };
    Scenario::new("dekker", &variant, |_: &Recorder| Dekker {
        x: AtomicBool::named("x", false),
        y: AtomicBool::named("y", false),
        inside: Mutex::named("inside", 0),
    })
    .actor(None, "raises x, enters if y is down", move |s: &Dekker| {
        side(&s.x, &s.y, &s.inside, true)
    })
    .actor(None, "raises y, enters if x is down", move |s: &Dekker| {
        side(&s.y, &s.x, &s.inside, false)
    })
    .invariant(FinalState::new("mutual_exclusion", |s: &Dekker| {
        match *s.inside.lock() {
            0 | 1 => Ok(()),
            n => Err(format!("{n} actors entered at once")),
        }
    }))
}

// Class 3: RwLock deadlocks.

pub struct Locks {
    a: RwLock<u32>,
    b: RwLock<u32>,
    m: Mutex<u32>,
}

fn locks(_: &Recorder) -> Locks {
    Locks {
        a: RwLock::named("a", 0),
        b: RwLock::named("b", 0),
        m: Mutex::named("m", 0),
    }
}

/// The RwLock deadlocks: `upgrade` (a read guard kept while writing), `opposite` (two
/// RwLocks written in opposite orders), `mixed` (a Mutex and an RwLock in opposite orders),
/// `behind_join` (two actors deadlock while the first has finished and waits to join them).
pub fn rwlock_deadlock(kind: &str) -> Scenario<Locks> {
    let scenario = Scenario::new("rwlock_deadlock", kind, locks);
    let scenario = match kind {
        "upgrade" => scenario
            .actor(None, "reads a, then writes it", |s: &Locks| {
                let read = s.a.read();
                *s.a.write() += *read;
            })
            .actor(None, "reads a", |s: &Locks| drop(s.a.read())),
        "opposite" => scenario
            .actor(None, "writes a, then b", |s: &Locks| {
                let _a = s.a.write();
                *s.b.write() += 1;
            })
            .actor(None, "writes b, then a", |s: &Locks| {
                let _b = s.b.write();
                *s.a.write() += 1;
            }),
        "mixed" => scenario
            .actor(None, "locks m, then writes a", |s: &Locks| {
                let _m = s.m.lock();
                *s.a.write() += 1;
            })
            .actor(None, "reads a, then locks m", |s: &Locks| {
                let _a = s.a.read();
                *s.m.lock() += 1;
            }),
        _ => scenario
            .actor(None, "reads m", |s: &Locks| drop(s.m.lock()))
            .actor(None, "writes a, then b", |s: &Locks| {
                let _a = s.a.write();
                *s.b.write() += 1;
            })
            .actor(None, "writes b, then a", |s: &Locks| {
                let _b = s.b.write();
                *s.a.write() += 1;
            }),
    };
    scenario.invariant(NoDeadlock)
}

// Class 4: state outside loom's sight.

/// A counter in a `std` atomic, incremented read-then-write by two actors: a lost update
/// that loom cannot see.
pub struct StdCounter {
    n: std::sync::atomic::AtomicU32,
    facade: Mutex<u32>,
    enabled: AtomicBool,
}

fn std_counter(_: &Recorder) -> StdCounter {
    StdCounter {
        n: std::sync::atomic::AtomicU32::new(0),
        facade: Mutex::named("own", 0),
        enabled: AtomicBool::named("enabled", true),
    }
}

fn std_increment(s: &StdCounter) {
    let n = s.n.load(std::sync::atomic::Ordering::SeqCst);
    s.n.store(n + 1, std::sync::atomic::Ordering::SeqCst);
}

fn counted_twice() -> FinalState<StdCounter> {
    FinalState::new("counted_twice", |s: &StdCounter| {
        match s.n.load(std::sync::atomic::Ordering::SeqCst) {
            2 => Ok(()),
            n => Err(format!("counter is {n}, not 2")),
        }
    })
}

/// `none`: neither actor touches the facade; `one`: only T1 does (its own lock);
/// `private`: each touches a facade lock of its own, never the other's; `reads`: both read
/// a shared facade flag, which loom sees but which never conflicts (one execution).
pub fn std_atomic(kind: &str) -> Scenario<StdCounter> {
    let scenario = Scenario::new("std_atomic", kind, std_counter);
    let scenario = match kind {
        "none" => scenario.actor(None, "increments", std_increment).actor(
            None,
            "increments",
            std_increment,
        ),
        "one" => scenario
            .actor(None, "locks its own lock, increments", |s: &StdCounter| {
                *s.facade.lock() += 1;
                std_increment(s);
            })
            .actor(None, "increments", std_increment),
        _ => scenario
            .actor(
                None,
                "locks a lock of its own, increments",
                |s: &StdCounter| {
                    let own = Mutex::new(());
                    drop(own.lock());
                    std_increment(s);
                },
            )
            .actor(
                None,
                "locks a lock of its own, increments",
                |s: &StdCounter| {
                    let own = Mutex::new(());
                    drop(own.lock());
                    std_increment(s);
                },
            ),
    };
    scenario.invariant(counted_twice())
}

/// Another of the same kind: a deadline checked against the system clock, which loom never
/// moves (`SystemClock` is read once, as if no time passed between the actors).
pub fn system_clock() -> Scenario<Mutex<Option<i64>>> {
    use raceproof::core::clock::{Clock, SystemClock};
    Scenario::new("system_clock", "deadline", |_: &Recorder| {
        Mutex::named("stamp", None)
    })
    .actor(None, "stamps the time", |stamp: &Mutex<Option<i64>>| {
        *stamp.lock() = Some(SystemClock.now());
    })
    .actor(None, "reads the stamp", |stamp: &Mutex<Option<i64>>| {
        drop(stamp.lock());
    })
    .invariant(NoDeadlock)
}

// Class 5: blocking inside an execution.

/// A correct counter behind a `std::sync::Mutex`, with a facade lock taken inside it: loom
/// switches actors there, and the other actor blocks the only OS thread on the std lock.
pub struct StdLocked {
    n: std::sync::Mutex<u32>,
    step: Mutex<()>,
}

pub fn std_mutex() -> Scenario<StdLocked> {
    let add = |s: &StdLocked| {
        let mut n =
            s.n.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(s.step.lock());
        *n += 1;
    };
    Scenario::new("std_mutex", "correct", |_: &Recorder| StdLocked {
        n: std::sync::Mutex::new(0),
        step: Mutex::named("step", ()),
    })
    .actor(None, "adds one under a std lock", add)
    .actor(None, "adds one under a std lock", add)
    .invariant(NoDeadlock)
    .run_timeout(Duration::from_secs(2))
}

/// A spin-wait on a `std` flag that only the other actor sets: the waiter never yields to
/// loom, so the setter never runs.
pub struct StdFlag {
    set: std::sync::atomic::AtomicBool,
    seen: Mutex<bool>,
}

pub fn std_spin() -> Scenario<StdFlag> {
    Scenario::new("std_spin", "busy", |_: &Recorder| StdFlag {
        set: std::sync::atomic::AtomicBool::new(false),
        seen: Mutex::named("seen", false),
    })
    .actor(None, "spins until the flag is set", |s: &StdFlag| {
        drop(s.seen.lock());
        while !s.set.load(std::sync::atomic::Ordering::Acquire) {
            std::hint::spin_loop();
        }
        *s.seen.lock() = true;
    })
    .actor(None, "sets the flag", |s: &StdFlag| {
        drop(s.seen.lock());
        s.set.store(true, std::sync::atomic::Ordering::Release);
    })
    .invariant(NoDeadlock)
    .run_timeout(Duration::from_secs(2))
}

/// An actor that aborts the process (as a panic inside a destructor does).
pub fn aborts() -> Scenario<Mutex<u32>> {
    Scenario::new("aborts", "process", |_: &Recorder| Mutex::named("n", 0))
        .actor(None, "adds one", |n: &Mutex<u32>| *n.lock() += 1)
        .actor(None, "aborts the process", |n: &Mutex<u32>| {
            *n.lock() += 1;
            std::process::abort();
        })
        .invariant(NoDeadlock)
}

// Class 6: smaller friction.

/// Two unnamed locks made on one line, taken in opposite orders.
pub struct Pair {
    a: Mutex<()>,
    b: Mutex<()>,
}

pub fn unnamed_pair() -> Scenario<Pair> {
    Scenario::new("unnamed_locks", "one_line", |_: &Recorder| {
        let (a, b) = (Mutex::new(()), Mutex::new(()));
        Pair { a, b }
    })
    .actor(None, "locks a, then b", |p: &Pair| {
        let _a = p.a.lock();
        drop(p.b.lock());
    })
    .actor(None, "locks b, then a", |p: &Pair| {
        let _b = p.b.lock();
        drop(p.a.lock());
    })
    .invariant(NoDeadlock)
}

/// Locks in a loop: one creation site, several locks.
pub fn looped_locks() -> Scenario<Vec<Mutex<()>>> {
    Scenario::new("unnamed_locks", "loop", |_: &Recorder| {
        (0..2).map(|_| Mutex::new(())).collect()
    })
    .actor(None, "locks 0, then 1", |v: &Vec<Mutex<()>>| {
        let _first = v[0].lock();
        drop(v[1].lock());
    })
    .actor(None, "locks 1, then 0", |v: &Vec<Mutex<()>>| {
        let _second = v[1].lock();
        drop(v[0].lock());
    })
    .invariant(NoDeadlock)
}

/// Two actors taking one lock each in turn: nothing to check but that it finishes.
pub fn deadlock_free(invariant: bool) -> Scenario<Mutex<u32>> {
    let scenario = Scenario::new("deadlock_free", "one_lock", |_: &Recorder| {
        Mutex::named("n", 0)
    })
    .actor(None, "adds one", |n: &Mutex<u32>| *n.lock() += 1)
    .actor(None, "adds one", |n: &Mutex<u32>| *n.lock() += 1);
    if invariant {
        scenario.invariant(NoDeadlock)
    } else {
        scenario
    }
}
