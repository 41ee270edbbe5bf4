#![cfg(not(loom))]
//! `linearizable`, and the conversion of a recorded history into raceproof-history's format
//! that its search reads, on hand-built and generated histories of a versioned email
//! register: non-linearizable histories must *fail*.
//!
//! `cargo test -p raceproof-check --test invariants_linearizable`

mod common;

use common::*;
use proptest::prelude::*;
use raceproof_check::linearizability::{self, EmailRecords, email_records};
use raceproof_check::{Fact, Linearizable, Recording, Ret};
use raceproof_history::models::{VersionedCall, VersionedRet};
use raceproof_history::{Completion, Kind, Linearizability, Operation};
use std::collections::HashMap;

/// user -> (email, version)
type Registers = HashMap<String, (String, u64)>;

fn linearizable() -> Linearizable {
    Linearizable::new([("alice", "a0", 1)])
}

fn search(h: &Recording, initial: &EmailRecords) -> Option<Vec<usize>> {
    match raceproof_history::check(initial, &linearizability::operations(h)) {
        Linearizability::Linearizable { order } => Some(order),
        Linearizability::NotLinearizable => None,
        Linearizability::GaveUp(why) => panic!("a handful of operations: {why}"),
    }
}

fn order(h: &Recording) -> Option<Vec<usize>> {
    search(h, &email_records([("alice", "a0", 1)]))
}

fn records(initial: &Registers) -> EmailRecords {
    email_records(
        initial
            .iter()
            .map(|(u, (e, v))| (u.as_str(), e.as_str(), *v)),
    )
}

#[test]
fn operations_pair_calls_with_returns() {
    let h = recording(
        vec![
            call("T1", 7, update("alice", Some(1), "a1")),
            call("T2", 8, read("alice")),
            ret("T2", 8, read_ret("a0", 1)),
            note("T1", "narration"),
            ret("T1", 7, updated(2)),
            call("T2", 9, read("alice")), // never returns: left out
        ],
        two_writers(),
    );
    let alice = |call| ("alice".to_owned(), call);
    assert_eq!(
        linearizability::operations(&h),
        vec![
            Operation::new(
                "T1",
                alice(VersionedCall::Update {
                    expected_version: Some(1),
                    value: "a1".to_owned()
                }),
                0,
                Completion::Ok {
                    at: 4,
                    ret: Some(VersionedRet::Updated { version: 2 })
                }
            ),
            Operation::new(
                "T2",
                alice(VersionedCall::Read),
                1,
                Completion::Ok {
                    at: 2,
                    ret: Some(VersionedRet::Read {
                        value: "a0".to_owned(),
                        version: 1
                    })
                }
            ),
            // Never returned: it may or may not have taken effect.
            Operation::new("T2", alice(VersionedCall::Read), 5, Completion::Info),
        ]
    );
}

#[test]
fn a_refusal_is_a_fail() {
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            ret("T1", 1, Ret::Refused),
        ],
        two_writers(),
    );
    let ops = linearizability::operations(&h);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].completion, Completion::Fail { at: 1 });
}

#[test]
fn linearizable_fails_two_overlapping_successes_from_one_version() {
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, update("alice", Some(1), "a2")),
            ret("T1", 1, updated(2)),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    assert_eq!(order(&h), None);
    let breach = check(&linearizable(), &h).expect_err("no order gives both v2");
    assert_eq!(breach.step, Some(3), "reported at the last return");
}

#[test]
fn linearizable_passes_overlapping_success_and_conflict_in_either_order() {
    for (ret1, ret2) in [(updated(2), Ret::Conflict), (Ret::Conflict, updated(2))] {
        for t1_returns_first in [true, false] {
            let (r1, r2) = (ret("T1", 1, ret1.clone()), ret("T2", 2, ret2.clone()));
            let returns = if t1_returns_first { [r1, r2] } else { [r2, r1] };
            let mut steps = vec![
                call("T1", 1, update("alice", Some(1), "a1")),
                call("T2", 2, update("alice", Some(1), "a2")),
            ];
            steps.extend(returns);
            let h = recording(steps, two_writers());
            let found = order(&h).expect("the winner goes first");
            // The success is linearized before the conflict.
            let ops = linearizability::operations(&h);
            assert!(
                matches!(
                    ops[found[0]].completion.ret(),
                    Some(Some(VersionedRet::Updated { .. }))
                ),
                "{found:?}"
            );
            assert_eq!(check(&linearizable(), &h), Ok(()));
        }
    }
}

#[test]
fn linearizable_fails_a_success_on_a_version_an_earlier_write_moved() {
    // A returns v2 before B is called; B, expecting 1, cannot also produce v2.
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            ret("T1", 1, updated(2)),
            call("T2", 2, update("alice", Some(1), "a2")),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    assert_eq!(order(&h), None);
    assert!(check(&linearizable(), &h).is_err());
}

/// A: expected 1 -> v2; B: expected 2 -> conflict. Linearizable only if B goes first,
/// which real time allows only when the two overlap.
fn a_then_conflicting_b(overlapping: bool) -> Recording {
    let a = [
        call("T1", 1, update("alice", Some(1), "a1")),
        ret("T1", 1, updated(2)),
    ];
    let b = [
        call("T2", 2, update("alice", Some(2), "a2")),
        ret("T2", 2, Ret::Conflict),
    ];
    let steps = if overlapping {
        vec![a[0].clone(), b[0].clone(), a[1].clone(), b[1].clone()]
    } else {
        vec![a[0].clone(), a[1].clone(), b[0].clone(), b[1].clone()]
    };
    recording(steps, two_writers())
}

#[test]
fn linearizable_respects_real_time() {
    let overlapping = a_then_conflicting_b(true);
    assert_eq!(order(&overlapping), Some(vec![1, 0]), "B, then A");
    assert_eq!(check(&linearizable(), &overlapping), Ok(()));

    // The same two results, but A returned before B was called: A must come first, and
    // then B (expecting 2 on v2) should have succeeded.
    let sequential = a_then_conflicting_b(false);
    assert_eq!(order(&sequential), None);
    assert!(check(&linearizable(), &sequential).is_err());
}

#[test]
fn linearizable_fails_a_conflict_that_returned_before_the_write_it_blames() {
    // B conflicts (expecting 1) and returns before A, expecting 1 too, is called.
    let h = recording(
        vec![
            call("T2", 2, update("alice", Some(1), "a2")),
            ret("T2", 2, Ret::Conflict),
            call("T1", 1, update("alice", Some(1), "a1")),
            ret("T1", 1, updated(2)),
        ],
        two_writers(),
    );
    assert_eq!(order(&h), None);
}

#[test]
fn linearizable_reads_see_overlapping_writes_either_way() {
    for seen in [read_ret("a1", 2), read_ret("a0", 1)] {
        let h = recording(
            vec![
                call("T1", 1, update("alice", Some(1), "a1")),
                call("T2", 2, read("alice")),
                ret("T2", 2, seen.clone()),
                ret("T1", 1, updated(2)),
            ],
            two_writers(),
        );
        assert!(order(&h).is_some(), "{seen:?}");
        assert_eq!(check(&linearizable(), &h), Ok(()), "{seen:?}");
    }
}

#[test]
fn linearizable_fails_a_stale_read_after_the_write_returned() {
    let after = |seen: Ret| {
        recording(
            vec![
                call("T1", 1, update("alice", Some(1), "a1")),
                ret("T1", 1, updated(2)),
                call("T2", 2, read("alice")),
                ret("T2", 2, seen),
            ],
            two_writers(),
        )
    };
    assert!(check(&linearizable(), &after(read_ret("a1", 2))).is_ok());
    let breach = check(&linearizable(), &after(read_ret("a0", 1))).expect_err("stale read");
    assert_eq!(breach.step, Some(3));
    // A read of a value that never existed fails too.
    assert!(check(&linearizable(), &after(read_ret("zz", 2))).is_err());
}

#[test]
fn linearizable_refusals_have_no_effect() {
    let h = recording(
        vec![
            // Refused even though expected 1 would have matched: it must not move alice.
            call("T1", 1, update("alice", Some(1), "a1")),
            ret("T1", 1, Ret::Refused),
            // Refused where the register would have said conflict: allowed too.
            call("T1", 3, update("alice", Some(9), "a9")),
            ret("T1", 3, Ret::Refused),
            call("T2", 2, read("alice")),
            ret("T2", 2, read_ret("a0", 1)),
            call("T2", 4, update("alice", Some(1), "a2")),
            ret("T2", 4, updated(2)),
        ],
        two_writers(),
    );
    assert!(order(&h).is_some());
    assert_eq!(check(&linearizable(), &h), Ok(()));

    // Had the refusal been applied, the read would be stale: the checker must not apply it.
    let mut applied = h.clone();
    applied.steps[5] = ret("T2", 2, read_ret("a1", 2));
    assert!(check(&linearizable(), &applied).is_err());
}

#[test]
fn linearizable_fails_operations_on_an_unknown_register() {
    let h = recording(
        vec![
            call("T1", 1, read("mallory")),
            ret("T1", 1, read_ret("m", 1)),
        ],
        two_writers(),
    );
    assert!(check(&linearizable(), &h).is_err());
}

#[test]
fn linearizable_ignores_operations_that_never_returned() {
    let h = recording(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, read("alice")),
            ret("T2", 2, read_ret("a0", 1)),
        ],
        two_writers(),
    );
    assert_eq!(check(&linearizable(), &h), Ok(()));
}

/// One client operation of the generated sequential histories.
#[derive(Debug, Clone)]
enum Op {
    Update {
        user: usize,
        expected: Option<u64>,
        email: u8,
        refused: bool,
    },
    Read {
        user: usize,
    },
}

const USERS: [&str; 2] = ["alice", "bob"];

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS.len(), proptest::option::weighted(0.8, 1u64..5), any::<u8>(), proptest::bool::weighted(0.15))
            .prop_map(|(user, expected, email, refused)| Op::Update { user, expected, email, refused }),
        2 => (0..USERS.len()).prop_map(|user| Op::Read { user }),
    ]
}

fn ret_strategy() -> impl Strategy<Value = Ret> {
    // Every kind of result except a refusal (which the spec accepts anywhere).
    prop_oneof![
        (1u64..6).prop_map(|version| Ret::Updated { version }),
        Just(Ret::Conflict),
        ("[ab]?[0-9]{0,1}", 1u64..6).prop_map(|(email, version)| Ret::Read { email, version }),
    ]
}

/// Runs `ops` one after another on a model register and records them as a history with
/// non-overlapping intervals, each op on alternating threads.
fn sequential_recording(ops: &[Op]) -> (Recording, Registers) {
    let initial: Registers = USERS
        .iter()
        .map(|u| ((*u).to_owned(), (format!("{u}0"), 1)))
        .collect();
    let mut state = initial.clone();
    let mut steps = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let thread = if n.is_multiple_of(2) { "T1" } else { "T2" };
        let id = n as u64;
        match op {
            Op::Update {
                user,
                expected,
                email,
                refused,
            } => {
                let user = USERS[*user];
                let email = format!("{}{email}", &user[..1]);
                steps.push(call(thread, id, update(user, *expected, &email)));
                let register = state.get_mut(user).expect("known user");
                let result = if *refused {
                    Ret::Refused
                } else if expected.is_none_or(|v| v == register.1) {
                    register.0 = email;
                    register.1 += 1;
                    updated(register.1)
                } else {
                    Ret::Conflict
                };
                steps.push(ret(thread, id, result));
            }
            Op::Read { user } => {
                let user = USERS[*user];
                steps.push(call(thread, id, read(user)));
                let (email, version) = &state[user];
                steps.push(ret(thread, id, read_ret(email, *version)));
            }
        }
    }
    (recording(steps, two_writers()), initial)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sequential_histories_of_a_real_register_are_linearizable(
        ops in proptest::collection::vec(op_strategy(), 0..12),
    ) {
        let (h, initial) = sequential_recording(&ops);
        let ops = linearizability::operations(&h);
        let found = search(&h, &records(&initial));
        // Non-overlapping intervals force the one order: the order they ran in, refusals
        // (`fail`) left out.
        let ran: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].kind() != Kind::Fail).collect();
        prop_assert_eq!(found, Some(ran));
        let inv = Linearizable::new(
            initial.iter().map(|(u, (e, v))| (u.as_str(), e.as_str(), *v)),
        );
        prop_assert_eq!(check(&inv, &h), Ok(()));
    }

    #[test]
    fn a_corrupted_result_is_not_linearizable(
        ops in proptest::collection::vec(op_strategy(), 1..12),
        pick in any::<prop::sample::Index>(),
        wrong in ret_strategy(),
    ) {
        let (mut h, initial) = sequential_recording(&ops);
        let victim = pick.index(ops.len());
        let at = 2 * victim + 1;
        let Fact::Return { op, ret: truth } = h.steps[at].fact().clone() else {
            panic!("step {at} is a return");
        };
        // A refusal is accepted anywhere, so only a non-refusal swapped for another
        // non-refusal is guaranteed to be caught.
        prop_assume!(truth != Ret::Refused && truth != wrong);
        h.steps[at] = ret(&h.steps[at].thread.clone(), op, wrong);
        prop_assert_eq!(search(&h, &records(&initial)), None);
        let inv = Linearizable::new(
            initial.iter().map(|(u, (e, v))| (u.as_str(), e.as_str(), *v)),
        );
        prop_assert!(check(&inv, &h).is_err());
    }
}

#[test]
fn linearizable_says_undecided_when_the_history_is_too_long_to_search() {
    let mut steps = Vec::new();
    for op in 0..300 {
        steps.push(call("T1", op, read("alice")));
        steps.push(ret("T1", op, read_ret("a0", 1)));
    }
    let breach =
        check(&linearizable(), &recording(steps, two_writers())).expect_err("too long to decide");
    assert!(breach.undecided, "{breach:?}");
    assert!(breach.why.contains("300 operations"), "{}", breach.why);
}
