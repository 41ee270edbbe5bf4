//! The README's worked example gets the verdicts it claims.
#![cfg(loom)]

#[path = "../examples/model_your_flow.rs"]
#[allow(dead_code)]
mod example;

use raceproof::check::Verdict;

#[test]
fn racy_coupon_is_caught_with_a_trace() {
    let verdict = example::scenario("racy", example::redeem_racy).check();
    let Verdict::Violated {
        invariant, trace, ..
    } = verdict
    else {
        panic!("the racy redemption escaped the checker: {verdict:?}");
    };
    assert_eq!(invariant, "exactly_once");
    let text = trace.to_string();
    assert!(text.contains("T1") && text.contains("T2"), "{text}");
    assert!(text.contains("paid twice"), "{text}");
}

#[test]
fn atomic_coupon_is_proven_exhaustively_with_coverage() {
    let verdict = example::scenario("atomic", example::redeem_atomic).check();
    let Verdict::Proven {
        bound: None,
        iterations,
        coverage,
    } = &verdict
    else {
        panic!("expected proven: {verdict:?}");
    };
    assert!(*iterations > 1, "{verdict}");
    // Every invariant saw something in the executions explored.
    assert!(
        coverage.invariants.iter().all(|c| c.events > 0),
        "{verdict}"
    );
}
