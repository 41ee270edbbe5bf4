#![cfg(not(loom))]
//! Scenarios and `Scenario::stress`: the runner must report every run that breaks an
//! invariant (a panicking actor included), none of a correct one, and judge each run's own
//! recording.
//!
//! `cargo test -p raceproof-check --test stress`

use raceproof_check::{
    AnyScenario, Breach, Expected, FinalState, Invariant, Recorder, Recording, Scenario,
};
use raceproof_core::sync::Mutex;

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

fn increment(c: &Counter) {
    let mut value = c.value.lock();
    *value += 1;
    c.rec.note(format!("counter = {}", *value));
}

fn counter_is(n: u64) -> FinalState<Counter> {
    FinalState::new("counter_is_right", move |c: &Counter| {
        let v = *c.value.lock();
        if v == n {
            Ok(())
        } else {
            Err(format!("counter is {v}, not {n}"))
        }
    })
}

#[test]
fn scenario_labels_actors_and_describes_itself() {
    let s = Scenario::new("counter", "locked", counter)
        .actor(None, "increments", increment)
        .actor(Some("bob"), "increments too", increment)
        .invariant(counter_is(2))
        .expect_violated("counter_is_right")
        .preemption_bound(2);
    let labels: Vec<_> = s.actors().iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["T1", "T2"]);
    assert_eq!(s.actors()[1].acts_as.as_deref(), Some("bob"));
    assert_eq!(s.describe(), "T1 increments; T2 increments too");
    assert_eq!(
        s.expected(),
        &Expected::Violated("counter_is_right".to_owned())
    );
    assert_eq!(AnyScenario::preemption_bound(&s), Some(2));
    assert_eq!((s.flow(), s.variant()), ("counter", "locked"));
}

#[test]
fn stress_finds_nothing_wrong_with_a_locked_counter() {
    let s = Scenario::new("counter", "locked", counter)
        .actor(None, "increments", increment)
        .actor(None, "increments", increment)
        .invariant(counter_is(2));
    let outcome = s.stress(200);
    assert_eq!(outcome.runs, 200);
    assert_eq!(outcome.violations, 0, "{outcome:?}");
    assert_eq!(outcome.first_violation, None);
}

#[test]
fn stress_reports_every_run_of_an_invariant_that_always_breaks() {
    let s = Scenario::new("counter", "locked", counter)
        .actor(None, "increments", increment)
        .actor(None, "increments", increment)
        .invariant(FinalState::new("never", |_: &Counter| {
            Err("always wrong".to_owned())
        }));
    let outcome = s.stress(200);
    assert_eq!(outcome.runs, 200);
    assert_eq!(outcome.violations, 200, "{outcome:?}");
    assert_eq!(outcome.first_violation, Some(1));
}

#[test]
fn stress_judges_the_recording_of_each_run() {
    // The invariant reads the steps the actors recorded: a fresh recorder each run, so
    // exactly two increments are seen every time, never an accumulation.
    let steps_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = steps_seen.clone();
    struct CountSteps(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);
    impl Invariant<Counter> for CountSteps {
        fn name(&self) -> &str {
            "count_steps"
        }
        fn check(&self, _: &Counter, recording: &Recording) -> Result<(), Breach> {
            let actors = recording.steps.iter().filter(|s| !s.is_setup()).count();
            self.0.lock().expect("not poisoned").push(actors);
            if recording.actors.len() == 2 {
                Ok(())
            } else {
                Err(Breach::at_end("actors missing"))
            }
        }
    }
    let s = Scenario::new("counter", "locked", |rec: &Recorder| {
        rec.note("setup step");
        counter(rec)
    })
    .actor(None, "increments", increment)
    .actor(None, "increments", increment)
    .invariant(CountSteps(seen));
    let outcome = s.stress(20);
    assert_eq!(outcome.violations, 0);
    assert_eq!(*steps_seen.lock().expect("not poisoned"), vec![2; 20]);
}

#[test]
fn stress_counts_a_panicking_actor_as_a_violation() {
    let s = Scenario::new("counter", "panics", counter)
        .actor(None, "increments", increment)
        .actor(None, "panics", |_: &Counter| panic!("actor crashed"))
        .invariant(counter_is(1));
    let outcome = s.stress(3);
    assert_eq!(outcome.violations, 3, "{outcome:?}");
    assert_eq!(outcome.first_violation, Some(1));
}

#[test]
fn on_real_threads_an_undecided_invariant_is_no_violation() {
    struct NeverDecides;
    impl Invariant<Counter> for NeverDecides {
        fn name(&self) -> &str {
            "never_decides"
        }
        fn check(&self, _: &Counter, _: &Recording) -> Result<(), Breach> {
            Err(Breach::undecided("too much to search"))
        }
    }
    let undecided = || {
        Scenario::new("counter", "locked", counter)
            .actor(None, "increments", increment)
            .actor(None, "increments", increment)
            .invariant(NeverDecides)
    };
    let outcome = undecided().invariant(counter_is(2)).stress(20);
    assert_eq!(outcome.violations, 0, "{:?}", outcome.first);
    // And it hides no violation: a counter that must read 3 breaks every run.
    let outcome = undecided().invariant(counter_is(3)).stress(20);
    assert_eq!(outcome.violations, 20);
    assert_eq!(
        outcome.first.map(|(invariant, _)| invariant).as_deref(),
        Some("counter_is_right")
    );
}
