#![cfg(not(loom))]
//! `exactly_once` on hand-built histories of the effects flows record: a message processed
//! twice and a forged message must *fail*; distinct authentic messages must pass.
//!
//! `cargo test -p raceproof-check --test invariants_exactly_once`

mod common;

use common::*;
use raceproof_check::ExactlyOnce;
use raceproof_check::recorder::ActorInfo;

fn operators() -> Vec<ActorInfo> {
    vec![actor("T1", None), actor("T2", None)]
}

#[test]
fn exactly_once_fails_a_duplicate_at_the_second() {
    let h = recording(
        vec![
            note("T1", "check r1/refund: unseen"),
            note("T2", "check r1/refund: unseen"),
            processed("T1", "r1/refund"),
            processed("T2", "r1/refund"),
        ],
        operators(),
    );
    let breach = check(&ExactlyOnce::new(["r1/refund"]), &h).expect_err("processed twice");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.contains("twice"), "{breach:?}");
    assert!(breach.why.contains("T1"), "why names the first: {breach:?}");
}

#[test]
fn exactly_once_fails_a_forged_message() {
    let h = recording(vec![processed("T2", "a/bc")], operators());
    let breach = check(&ExactlyOnce::new(["ab/c"]), &h).expect_err("a/bc was never signed");
    assert_eq!(breach.step, Some(0));
    assert!(breach.why.contains("forged"), "{breach:?}");
}

#[test]
fn exactly_once_passes_distinct_authentic_messages() {
    let h = recording(
        vec![processed("T1", "r1/refund"), processed("T2", "r2/refund")],
        operators(),
    );
    assert_eq!(
        check(&ExactlyOnce::new(["r1/refund", "r2/refund"]), &h),
        Ok(())
    );
    // Nothing processed at all is fine too (at *most* once).
    assert_eq!(
        check(
            &ExactlyOnce::new(["r1/refund"]),
            &recording(vec![], operators())
        ),
        Ok(())
    );
}

#[test]
fn exactly_once_counts_each_kind_of_effect_apart() {
    let effect = |thread: &str, kind: &str| {
        step(
            thread,
            &format!("{kind} order-7"),
            raceproof_check::Fact::Effect {
                kind: kind.to_owned(),
                subject: "order-7".to_owned(),
            },
        )
    };
    let once_each = recording(
        vec![effect("T1", "paid"), effect("T1", "shipped")],
        operators(),
    );
    assert_eq!(check(&ExactlyOnce::new(["order-7"]), &once_each), Ok(()));
    let paid_twice = recording(
        vec![
            effect("T1", "paid"),
            effect("T1", "shipped"),
            effect("T2", "paid"),
        ],
        operators(),
    );
    let breach = check(&ExactlyOnce::new(["order-7"]), &paid_twice).expect_err("paid twice");
    assert_eq!(breach.step, Some(2));
    assert!(breach.why.contains("paid twice"), "{breach:?}");
}
