#![cfg(loom)]
//! The loom runner's own tests: `Scenario::check` on tiny scenarios whose verdicts are known,
//! so the runner is shown to *find* a race, a deadlock, a panic and a leak, as well as to
//! prove a correct scenario, and to explore exactly what the code under test dictates.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p raceproof-check --release --target-dir target/loom --test loom_harness`

use raceproof_check::{FinalState, Recorder, Scenario, Verdict};
use raceproof_core::sync::{Arc, Mutex};

/// A counter behind the facade's mutex, and the recorder the actors narrate to.
struct Counter {
    value: Mutex<u64>,
    rec: Recorder,
}

fn counter(rec: &Recorder) -> Counter {
    Counter {
        value: Mutex::new(0),
        rec: rec.clone(),
    }
}

/// Read-modify-write in two critical sections: the lost-update race.
fn racy_increment(c: &Counter) {
    let seen = {
        let value = c.value.lock();
        c.rec.note(format!("read counter = {}", *value));
        *value
    };
    let mut value = c.value.lock();
    *value = seen + 1;
    c.rec.note(format!("write counter = {}", seen + 1));
}

/// The same in one critical section.
fn locked_increment(c: &Counter) {
    let mut value = c.value.lock();
    c.rec.note(format!("read counter = {}", *value));
    *value += 1;
    c.rec.note(format!("write counter = {}", *value));
}

fn counter_is(n: u64) -> FinalState<Counter> {
    FinalState::new("counter_is_exact", move |c: &Counter| {
        let v = *c.value.lock();
        if v == n {
            Ok(())
        } else {
            Err(format!("counter is {v}, not {n}"))
        }
    })
}

fn two_incrementers(variant: &str, body: fn(&Counter)) -> Scenario<Counter> {
    Scenario::new("counter", variant, counter)
        .actor(None, "increments", body)
        .actor(None, "increments", body)
        .invariant(counter_is(2))
}

fn expect_violated(verdict: &Verdict) -> (&str, &raceproof_check::Trace, usize) {
    match verdict {
        Verdict::Violated {
            invariant,
            trace,
            iterations_until_found,
        } => (invariant, trace, *iterations_until_found),
        _ => panic!("expected a violation, got {verdict:?}"),
    }
}

fn expect_proven(verdict: &Verdict) -> (usize, Option<usize>) {
    match verdict {
        Verdict::Proven {
            iterations, bound, ..
        } => (*iterations, *bound),
        _ => panic!("expected a proof, got {verdict:?}"),
    }
}

/// An invariant that holds whatever happened: it makes a control scenario, whose only
/// question is whether loom itself objects (deadlock, leak), provable rather than vacuous.
fn finishes<S: 'static>() -> FinalState<S> {
    FinalState::new("finishes", |_: &S| Ok(()))
}

#[test]
fn a_racy_counter_is_violated_with_a_trace() {
    let verdict = two_incrementers("racy", racy_increment).check();
    let (invariant, trace, iterations) = expect_violated(&verdict);
    assert_eq!(invariant, "counter_is_exact");
    assert!(iterations > 0);
    let threads: Vec<_> = trace.lines.iter().map(|l| l.thread.as_str()).collect();
    assert!(
        threads.contains(&"T1") && threads.contains(&"T2"),
        "{trace}"
    );
    // Four actor steps, both reads before both writes in some order, then the end line.
    assert_eq!(trace.lines.len(), 5, "{trace}");
    let last = trace.lines.last().expect("an end line");
    assert_eq!(last.thread, "end");
    assert!(last.event.contains("counter is 1, not 2"), "{trace}");
    let events: Vec<_> = trace.lines[..4].iter().map(|l| l.event.as_str()).collect();
    assert_eq!(
        events.iter().filter(|e| **e == "read counter = 0").count(),
        2,
        "both read 0: {trace}"
    );
    assert_eq!(
        events.iter().filter(|e| **e == "write counter = 1").count(),
        2,
        "both write 1: {trace}"
    );
    let text = trace.to_string();
    assert!(text.contains("T1") && text.contains("T2"), "{text}");
}

#[test]
fn a_locked_counter_is_proven_exhaustively() {
    let verdict = two_incrementers("locked", locked_increment).check();
    let (iterations, bound) = expect_proven(&verdict);
    assert_eq!(bound, None);
    assert!(iterations > 1, "more than one interleaving: {iterations}");
    assert_eq!(verdict.label(), "proven");
}

struct TwoLocks {
    a: Mutex<()>,
    b: Mutex<()>,
}

#[test]
fn opposite_lock_orders_deadlock() {
    let s = Scenario::new("locks", "opposite_orders", |_: &Recorder| TwoLocks {
        a: Mutex::new(()),
        b: Mutex::new(()),
    })
    .actor(None, "locks a then b", |s: &TwoLocks| {
        let _a = s.a.lock();
        let _b = s.b.lock();
    })
    .actor(None, "locks b then a", |s: &TwoLocks| {
        let _b = s.b.lock();
        let _a = s.a.lock();
    });
    let verdict = s.check();
    let (invariant, trace, _) = expect_violated(&verdict);
    assert_eq!(invariant, "no_deadlock");
    let last = trace.lines.last().expect("an end line");
    assert_eq!(last.thread, "end", "{trace}");
    assert!(last.event.contains("deadlock"), "{trace}");
    // Each actor is shown blocked on the lock the other holds.
    for (actor, holder) in [("T1", "T2"), ("T2", "T1")] {
        assert!(
            trace.lines.iter().any(|l| l.thread == actor
                && l.event.contains("blocked: waits for")
                && l.event.contains(&format!("held by {holder}"))),
            "{actor} waits for {holder}'s lock: {trace}"
        );
    }

    // The control: one lock order for both cannot deadlock.
    let same_order = Scenario::new("locks", "same_order", |_: &Recorder| TwoLocks {
        a: Mutex::new(()),
        b: Mutex::new(()),
    })
    .actor(None, "locks a then b", |s: &TwoLocks| {
        let _a = s.a.lock();
        let _b = s.b.lock();
    })
    .actor(None, "locks a then b", |s: &TwoLocks| {
        let _a = s.a.lock();
        let _b = s.b.lock();
    })
    .invariant(finishes());
    let verdict = same_order.check();
    assert!(verdict.is_proven(), "{verdict:?}");
}

#[test]
fn a_panicking_actor_is_violated() {
    for panics in [1, 2] {
        let mut s = Scenario::new("counter", "panics", counter);
        for n in 1..=2 {
            s = s.actor(None, "increments, or panics", move |c: &Counter| {
                locked_increment(c);
                if n == panics {
                    c.rec.note("about to panic");
                    panic!("actor {n} crashed");
                }
            });
        }
        let verdict = s.invariant(counter_is(2)).check();
        let (invariant, trace, iterations) = expect_violated(&verdict);
        assert_eq!(invariant, "no_panic", "T{panics} panicked");
        assert_eq!(
            iterations, 1,
            "every execution panics, the first one included"
        );
        // The trace is the panicking execution's, up to the panic.
        assert!(
            trace
                .lines
                .iter()
                .any(|l| l.event == "about to panic" && l.thread == format!("T{panics}")),
            "{trace}"
        );
        let last = trace.lines.last().expect("an end line");
        assert!(
            last.event.contains(&format!("actor {panics} crashed")),
            "{trace}"
        );
    }
}

/// A node that can point at itself: an `Arc` cycle that is never freed.
#[derive(Default)]
struct Node {
    next: Mutex<Option<Arc<Node>>>,
}

#[test]
fn an_arc_cycle_is_a_leak() {
    let s = Scenario::new("cycle", "leaks", |_: &Recorder| ())
        .actor(None, "ties a node to itself", |_: &()| {
            let node = Arc::new(Node::default());
            *node.next.lock() = Some(node.clone());
        })
        .actor(None, "does nothing", |_: &()| {});
    let verdict = s.check();
    let (invariant, trace, _) = expect_violated(&verdict);
    assert_eq!(invariant, "no_leak", "{trace}");
    let last = trace.lines.last().expect("an end line");
    assert!(last.event.contains("loom: Arc leaked"), "{trace}");

    // The control: the same node, with the cycle broken before it is dropped.
    let s = Scenario::new("cycle", "broken", |_: &Recorder| ())
        .actor(None, "ties a node to itself, then unties it", |_: &()| {
            let node = Arc::new(Node::default());
            *node.next.lock() = Some(node.clone());
            node.next.lock().take();
        })
        // (an actor that does nothing would make it inconclusive: nothing to interleave)
        .invariant(finishes());
    let verdict = s.check();
    assert!(verdict.is_proven(), "{verdict:?}");
}

#[test]
fn ghost_recording_adds_no_branch_points() {
    fn quiet(c: &Counter) {
        *c.value.lock() += 1;
    }
    fn chatty(c: &Counter) {
        c.rec.note("before");
        let mut value = c.value.lock();
        for i in 0..50 {
            c.rec.note(format!("inside {i}"));
        }
        *value += 1;
        drop(value);
        c.rec.note("after");
    }
    let quiet = expect_proven(&two_incrementers("quiet", quiet).check()).0;
    let chatty = expect_proven(&two_incrementers("chatty", chatty).check()).0;
    assert_eq!(quiet, chatty, "recording changed what loom explored");

    // The control: the same narration through a *modelled* lock does add branch points,
    // so the comparison above is able to tell.
    fn modelled(c: &Counter) {
        for _ in 0..2 {
            drop(c.value.lock());
        }
        *c.value.lock() += 1;
    }
    let modelled = expect_proven(&two_incrementers("modelled", modelled).check()).0;
    assert!(modelled > quiet, "{modelled} vs {quiet}");
}

fn three_double_incrementers(bound: usize) -> Scenario<Counter> {
    let mut s = Scenario::new("counter", "three", counter);
    for _ in 0..3 {
        s = s.actor(None, "increments twice", |c: &Counter| {
            locked_increment(c);
            locked_increment(c);
        });
    }
    s.invariant(counter_is(6)).preemption_bound(bound)
}

#[test]
fn the_preemption_bound_is_honoured() {
    let one = three_double_incrementers(1).check();
    let two = three_double_incrementers(2).check();
    let (iter_one, bound_one) = expect_proven(&one);
    let (iter_two, bound_two) = expect_proven(&two);
    assert_eq!((bound_one, bound_two), (Some(1), Some(2)));
    assert!(
        iter_one < iter_two,
        "bound 1 explored {iter_one}, bound 2 {iter_two}"
    );
    // And the bound still finds a race that needs a single preemption.
    let mut racy = Scenario::new("counter", "three_racy", counter);
    for _ in 0..3 {
        racy = racy.actor(None, "increments", racy_increment);
    }
    let verdict = racy.invariant(counter_is(3)).preemption_bound(1).check();
    assert_eq!(expect_violated(&verdict).0, "counter_is_exact");
}

#[test]
fn check_survives_a_caught_violation() {
    let proven_first = expect_proven(&two_incrementers("locked", locked_increment).check()).0;

    let racy = two_incrementers("racy", racy_increment);
    let first = racy.check();
    let second = racy.check();
    assert_eq!(expect_violated(&first).0, "counter_is_exact");
    assert_eq!(
        first, second,
        "the same exploration finds the same counterexample"
    );

    let proven_again = expect_proven(&two_incrementers("locked", locked_increment).check()).0;
    assert_eq!(proven_first, proven_again);

    // loom's own failures (a deadlock's panic inside the scheduler) leave it usable too.
    let deadlock = Scenario::new("locks", "opposite_orders", |_: &Recorder| TwoLocks {
        a: Mutex::new(()),
        b: Mutex::new(()),
    })
    .actor(None, "locks a then b", |s: &TwoLocks| {
        let _a = s.a.lock();
        let _b = s.b.lock();
    })
    .actor(None, "locks b then a", |s: &TwoLocks| {
        let _b = s.b.lock();
        let _a = s.a.lock();
    });
    assert_eq!(deadlock.check().invariant(), Some("no_deadlock"));
    let after_deadlock = expect_proven(&two_incrementers("locked", locked_increment).check()).0;
    assert_eq!(proven_first, after_deadlock);
    assert_eq!(racy.check(), first);
}

/// An invariant that cannot decide any execution (as a checker past its limits).
struct NeverDecides;

impl raceproof_check::Invariant<Counter> for NeverDecides {
    fn name(&self) -> &str {
        "never_decides"
    }

    fn check(
        &self,
        _: &Counter,
        _: &raceproof_check::Recording,
    ) -> Result<(), raceproof_check::Breach> {
        Err(raceproof_check::Breach::undecided("too much to search"))
    }
}

#[test]
fn an_undecided_invariant_makes_a_correct_scenario_inconclusive() {
    let verdict = two_incrementers("locked", locked_increment)
        .invariant(NeverDecides)
        .check();
    match verdict {
        Verdict::Inconclusive {
            cause: raceproof_check::Inconclusive::Undecided { invariant, why },
            ..
        } => assert_eq!(
            (invariant.as_str(), why.as_str()),
            ("never_decides", "too much to search")
        ),
        other => panic!("expected undecided, got {other}"),
    }
}

#[test]
fn an_undecided_invariant_does_not_hide_a_violation() {
    // Listed first, so a judge that stopped at the first complaint would miss the race.
    let verdict = Scenario::new("counter", "racy", counter)
        .actor(None, "increments", racy_increment)
        .actor(None, "increments", racy_increment)
        .invariant(NeverDecides)
        .invariant(counter_is(2))
        .check();
    assert_eq!(verdict.invariant(), Some("counter_is_exact"), "{verdict}");
}
