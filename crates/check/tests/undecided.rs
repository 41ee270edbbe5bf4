//! An invariant that cannot decide (the linearizability search past its limits) makes the
//! verdict inconclusive, never violated, and never hides a violation another invariant
//! found.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p raceproof-check --release --target-dir target/loom --test undecided`
//! and `cargo test -p raceproof-check --test undecided`

use raceproof_check::{Call, FinalState, Linearizable, Recorder, Ret, Scenario};
#[cfg(loom)]
use raceproof_check::{Inconclusive, Verdict};

/// More operations than the search takes on (`raceproof_history::Limits::DEFAULT`).
const OPERATIONS: u64 = 300;

struct Log {
    rec: Recorder,
}

/// One actor reading alice's email `OPERATIONS` times, every result right.
fn reads(final_state_holds: bool) -> Scenario<Log> {
    Scenario::new("reads", "too_long", |rec: &Recorder| Log {
        rec: rec.clone(),
    })
    .actor(Some("alice"), "reads alice's email", |log: &Log| {
        for op in 0..OPERATIONS {
            log.rec.call(
                op,
                Call::ReadEmail {
                    user: "alice".to_owned(),
                },
            );
            log.rec.ret(
                op,
                Ret::Read {
                    email: "a0".to_owned(),
                    version: 1,
                },
            );
        }
    })
    .invariant(Linearizable::new([("alice", "a0", 1)]))
    .invariant(FinalState::new("final", move |_: &Log| {
        if final_state_holds {
            Ok(())
        } else {
            Err("broken on purpose".to_owned())
        }
    }))
}

#[cfg(loom)]
#[test]
fn a_history_too_long_to_search_is_inconclusive() {
    match reads(true).check() {
        Verdict::Inconclusive {
            cause: Inconclusive::Undecided { invariant, why },
            ..
        } => {
            assert_eq!(invariant, "linearizable");
            assert!(why.contains("300 operations"), "{why}");
        }
        other => panic!("expected undecided, got {other:?}"),
    }
}

#[cfg(loom)]
#[test]
fn an_undecided_invariant_does_not_hide_a_violation() {
    assert_eq!(reads(false).check().invariant(), Some("final"));
}

#[cfg(not(loom))]
#[test]
fn on_real_threads_an_undecided_invariant_is_no_violation() {
    let outcome = reads(true).stress(3);
    assert_eq!(outcome.violations, 0, "{:?}", outcome.first);
    let outcome = reads(false).stress(3);
    assert_eq!(
        outcome.first.map(|(invariant, _)| invariant).as_deref(),
        Some("final")
    );
}
