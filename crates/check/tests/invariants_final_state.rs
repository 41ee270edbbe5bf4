#![cfg(not(loom))]
//! `FinalState`: any named predicate on the final state, broken at the end.
//!
//! `cargo test -p raceproof-check --test invariants_final_state`

use raceproof_check::{Breach, FinalState, Invariant, Recording};

#[test]
fn final_state_reports_its_name_and_breaks_at_the_end() {
    let inv = FinalState::new("is_even", |n: &u64| {
        if n.is_multiple_of(2) {
            Ok(())
        } else {
            Err(format!("{n} is odd"))
        }
    });
    assert_eq!(Invariant::name(&inv), "is_even");
    let h = Recording::default();
    assert_eq!(inv.check(&4, &h), Ok(()));
    assert_eq!(inv.check(&3, &h), Err(Breach::at_end("3 is odd")));
}
