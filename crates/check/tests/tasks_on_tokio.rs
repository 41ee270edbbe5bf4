#![cfg(not(loom))]
//! The stress runner's async tasks on real tokio (normal builds): on one event loop a task
//! runs until it awaits something not ready, exactly as the loom model says, so a
//! read-modify-write with a yield in it loses an update in every run, and one without never
//! does; each task's steps carry its own label though the tasks share one thread.

use raceproof_check::{Deployment, FinalState, Recorder, Scenario};
use raceproof_core::sync::atomic::{AtomicU64, Ordering};
use raceproof_core::sync::tokio::task;

struct Counter {
    value: AtomicU64,
    rec: Recorder,
}

fn two_increments(yields: bool) -> Scenario<Counter> {
    let increment = async move |c: &Counter| {
        let seen = c.value.load(Ordering::SeqCst);
        c.rec.note(format!("read counter = {seen}"));
        if yields {
            task::yield_now().await;
        }
        c.value.store(seen + 1, Ordering::SeqCst);
        c.rec.note(format!("write counter = {}", seen + 1));
    };
    Scenario::new("counter", "async", |rec| Counter {
        value: AtomicU64::new(0),
        rec: rec.clone(),
    })
    .task(None, "increments", increment)
    .task(None, "increments", increment)
    .invariant(FinalState::new("no_lost_increment", |c: &Counter| match c
        .value
        .load(Ordering::SeqCst)
    {
        2 => Ok(()),
        v => Err(format!("counter is {v}, not 2")),
    }))
    .deployment(Deployment::EventLoop)
}

#[test]
fn one_real_event_loop_switches_at_a_yield_and_nowhere_else() {
    let racy = two_increments(true).stress(10);
    assert_eq!(racy.violations, 10, "{racy:?}");
    let (_, trace) = racy.first.expect("a violation");
    let trace = trace.to_string();
    // Both reads before either write, each step under its own task's label.
    let steps: Vec<(&str, &str)> = trace
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.nth(1)?, words.next()?))
        })
        .collect();
    let mut reads: Vec<&str> = steps[..2].iter().map(|(task, _)| *task).collect();
    reads.sort_unstable();
    assert_eq!(reads, ["T1", "T2"], "{trace}");
    assert!(
        steps[..2].iter().all(|(_, what)| *what == "read"),
        "{trace}"
    );
    assert!(
        steps[2..4].iter().all(|(_, what)| *what == "write"),
        "{trace}"
    );
    let atomic = two_increments(false).stress(50);
    assert_eq!(atomic.violations, 0, "{atomic:?}");
}
