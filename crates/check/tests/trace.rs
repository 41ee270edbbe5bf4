#![cfg(not(loom))]
//! Counterexample traces and verdict labels: setup steps hidden, steps numbered from one,
//! the breaking step marked, and a final-state breach told on an end line.
//!
//! `cargo test -p raceproof-check --test trace`

mod common;

use common::*;
use raceproof_check::recorder::SETUP;
use raceproof_check::{Breach, Coverage, Expected, Inconclusive, Recording, Trace, Verdict};

fn traced_recording() -> Recording {
    recording(
        vec![
            note(SETUP, "insert alice"),
            note("T1", "read counter = 0"),
            note(SETUP, "late setup step"),
            note("T2", "read counter = 0"),
            note("T1", "write counter = 1"),
            note("T2", "write counter = 1"),
        ],
        two_writers(),
    )
}

#[test]
fn trace_skips_setup_numbers_from_one_and_marks_the_breach() {
    let trace = Trace::new(&traced_recording(), &Breach::at(5, "lost T1's write"));
    let lines: Vec<_> = trace
        .lines
        .iter()
        .map(|l| (l.step, l.thread.as_str(), l.event.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (1, "T1", "read counter = 0"),
            (2, "T2", "read counter = 0"),
            (3, "T1", "write counter = 1"),
            (4, "T2", "write counter = 1   <- lost T1's write"),
        ]
    );
}

#[test]
fn trace_adds_an_end_line_for_a_final_state_breach() {
    let trace = Trace::new(&traced_recording(), &Breach::at_end("counter is 1, not 2"));
    assert_eq!(trace.lines.len(), 5);
    let last = trace.lines.last().expect("an end line");
    assert_eq!(last.step, 5);
    assert_eq!(last.thread, "end");
    assert_eq!(
        last.event,
        "after every thread finished   <- counter is 1, not 2"
    );
    assert!(
        trace.lines[..4].iter().all(|l| !l.event.contains("<-")),
        "only the end line is marked"
    );
}

#[test]
fn trace_display_shows_step_thread_and_event() {
    let trace = Trace::new(&traced_recording(), &Breach::at(4, "stale"));
    let text = trace.to_string();
    let rendered: Vec<&str> = text.lines().collect();
    assert_eq!(rendered.len(), trace.lines.len());
    for (line, shown) in trace.lines.iter().zip(&rendered) {
        assert!(shown.contains(&line.thread), "{shown:?}");
        assert!(shown.contains(&line.event), "{shown:?}");
        assert!(
            shown.trim_start().starts_with(&line.step.to_string()),
            "{shown:?}"
        );
    }
    assert_eq!(rendered[2], "   3  T1   write counter = 1   <- stale");
    assert!(!text.contains("setup"), "setup steps are not shown: {text}");
}

#[test]
fn trace_serializes_as_a_list_of_lines() {
    let trace = Trace::new(&traced_recording(), &Breach::at(1, "x"));
    // In `verdicts.json` a trace is its lines.
    let json = serde_json::to_value(&trace.lines).expect("serializable");
    let lines = json.as_array().expect("a JSON array");
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["thread"], "T1");
    assert_eq!(lines[0]["step"], 1);
    assert_eq!(lines[0]["event"], "read counter = 0   <- x");
}

#[test]
fn verdict_labels_match_expected_labels() {
    let proven = Verdict::Proven {
        iterations: 3,
        bound: None,
        coverage: Coverage::default(),
    };
    let violated = Verdict::Violated {
        invariant: "no_lost_update".to_owned(),
        trace: Trace::default(),
        iterations_until_found: 2,
    };
    let lost_update = Expected::Violated("no_lost_update".to_owned());
    assert!(proven.meets(&Expected::Proven) && !proven.meets(&lost_update));
    assert!(violated.meets(&lost_update) && !violated.meets(&Expected::Proven));
    assert!(!violated.meets(&Expected::Violated("linearizable".to_owned())));
    // The label a verdict prints is how its expectation reads.
    assert_eq!(proven.label(), Expected::Proven.to_string());
    assert_eq!(violated.label(), lost_update.to_string());
    assert_eq!(
        (proven.iterations(), violated.iterations()),
        (3, 2),
        "iterations"
    );
    assert_eq!(violated.invariant(), Some("no_lost_update"));
    assert!(proven.is_proven() && !violated.is_proven());

    // Inconclusive is neither: it matches no proven or violated expectation.
    let inconclusive = Verdict::Inconclusive {
        cause: Inconclusive::BranchLimit,
        hint: "bound the preemptions".to_owned(),
        iterations: 5,
    };
    assert!(!inconclusive.is_proven());
    assert_eq!(inconclusive.invariant(), None);
    assert_eq!(inconclusive.iterations(), 5);
    assert!(!inconclusive.meets(&Expected::Proven) && !inconclusive.meets(&lost_update));
    assert!(inconclusive.meets(&Expected::Inconclusive));
}
