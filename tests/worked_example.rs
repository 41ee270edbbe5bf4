//! The README's worked example gets the verdicts it claims.
#![cfg(loom)]

#[path = "../examples/model_your_flow.rs"]
#[allow(dead_code)]
mod example;

use raceproof::check::{Model, Verdict};

#[test]
fn racy_coupon_is_caught_with_a_trace() {
    let verdict = example::scenario("racy", example::redeem_racy).check();
    let Verdict::Violated {
        invariant, trace, ..
    } = verdict
    else {
        panic!("the racy redemption escaped the checker: {verdict:?}");
    };
    assert_eq!(invariant, "paid_once");
    let text = trace.to_string();
    assert!(text.contains("T1") && text.contains("T2"), "{text}");
    assert!(text.contains("balance is 20"), "{text}");
}

#[test]
fn atomic_coupon_is_proven_exhaustively() {
    let verdict = example::scenario("atomic", example::redeem_atomic).check();
    assert!(
        matches!(verdict, Verdict::Proven { bound: None, iterations } if iterations > 1),
        "{verdict:?}"
    );
}
