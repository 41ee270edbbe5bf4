//! `verdicts.json` keeps the schema DESIGN.md promises: tools downstream read these keys.
#![cfg(not(loom))]

use raceproof_check::{
    Breach, Coverage, Event, Expected, History, ModelReport, Report, Step, Trace, Verdict,
};

fn violated() -> Verdict {
    let history = History {
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
        trace: Trace::new(&history, &Breach::at(1, "lost update")),
        iterations_until_found: 3,
    }
}

#[test]
fn each_model_entry_has_the_documented_keys() {
    let expected = Expected::Violated("no_lost_update".to_owned());
    let report = Report {
        machine: "test".to_owned(),
        models: vec![ModelReport::new(
            "update_email",
            "seed_fix",
            "T1 ...; T2 ...",
            Some("raceproof_core::service::Accounts::update_email"),
            &expected,
            None,
            &violated(),
            0.5,
        )],
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
}

#[test]
fn an_unexpected_verdict_is_flagged() {
    let proven = Verdict::Proven {
        iterations: 14,
        bound: Some(2),
        coverage: Coverage::default(),
    };
    let entry = ModelReport::new(
        "update_email",
        "seed_fix",
        "",
        None,
        &Expected::Violated("no_lost_update".to_owned()),
        Some(2),
        &proven,
        0.1,
    );
    assert!(!entry.as_expected);
    assert_eq!(entry.verdict, "proven");
    assert!(entry.invariant.is_none() && entry.trace.is_empty());
    assert_eq!(entry.preemption_bound, Some(2));
}
