//! `verdicts.json` keeps the schema DESIGN.md promises: tools downstream read these keys,
//! and read them back into the same types.
#![cfg(not(loom))]

use raceproof_check::{
    Breach, Coverage, Event, FinalState, ModelVerdict, Recording, Scenario, Step, Trace, Verdict,
    VerdictKind, VerdictsReport, model_verdict,
};

fn violated() -> Verdict {
    let recording = Recording {
        steps: vec![
            Step {
                thread: "T1".to_owned(),
                event: Event::note("read alice.version = 1"),
            },
            Step {
                thread: "T2".to_owned(),
                event: Event::note("write alice.email = y (version 2)"),
            },
        ],
        actors: Vec::new(),
    };
    Verdict::Violated {
        invariant: "no_lost_update".to_owned(),
        trace: Trace::new(&recording, &Breach::at(1, "lost update")),
        iterations_until_found: 3,
    }
}

/// A two-actor scenario of `update_email / seed_fix` that expects `expected_invariant` to
/// break.
fn scenario(expected_invariant: &str) -> Scenario<()> {
    Scenario::new("update_email", "seed_fix", |_| ())
        .actor(Some("alice"), "sets alice1", |_| ())
        .actor(Some("alice"), "sets alice2", |_| ())
        .invariant(FinalState::new("nothing", |_: &()| Ok(())))
        .covers("raceproof_core::service::Accounts::update_email")
        .expect_violated(expected_invariant)
}

#[test]
fn each_model_entry_has_the_documented_keys() {
    let report = VerdictsReport {
        machine: "test".to_owned(),
        models: vec![model_verdict(&scenario("no_lost_update"), &violated(), 0.5)],
    };
    let json = serde_json::to_value(&report).expect("serializes");
    let model = &json["models"][0];
    for key in [
        "flow",
        "variant",
        "expected",
        "verdict",
        "invariant",
        "iterations",
        "seconds",
        "preemption_bound",
        "trace",
        "covers",
    ] {
        assert!(model.get(key).is_some(), "missing {key} in {model}");
    }
    assert_eq!(model["scenario"], "T1 sets alice1; T2 sets alice2");
    assert_eq!(model["expected"], "violated: no_lost_update");
    assert_eq!(model["verdict"], "violated");
    assert_eq!(model["invariant"], "no_lost_update");
    assert_eq!(model["iterations"], 3);
    assert!(model["preemption_bound"].is_null());
    assert_eq!(model["as_expected"], true);
    assert_eq!(
        model["covers"],
        "raceproof_core::service::Accounts::update_email"
    );
    let line = &model["trace"][1];
    assert_eq!(line["step"], 2);
    assert_eq!(line["thread"], "T2");
    assert_eq!(
        line["event"],
        "write alice.email = y (version 2)   <- lost update"
    );

    // What a reader parses is what the writer wrote.
    let back: VerdictsReport = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, report);
}

#[test]
fn an_unexpected_verdict_is_flagged() {
    let proven = Verdict::Proven {
        iterations: 14,
        bound: Some(2),
        coverage: Coverage::default(),
    };
    let entry: ModelVerdict = model_verdict(
        &scenario("no_lost_update").preemption_bound(2),
        &proven,
        0.1,
    );
    assert!(!entry.as_expected);
    assert_eq!(entry.verdict, VerdictKind::Proven);
    assert!(entry.invariant.is_none() && entry.trace.is_empty());
    assert_eq!(entry.preemption_bound, Some(2));
}

#[test]
fn a_violation_of_another_invariant_is_unexpected() {
    let entry = model_verdict(&scenario("linearizable"), &violated(), 0.1);
    assert_eq!(entry.verdict, VerdictKind::Violated);
    assert!(!entry.as_expected, "{entry:?}");
}
