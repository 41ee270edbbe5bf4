#![cfg(not(loom))]
//! The harness's own tests, on hand-built histories: every built-in invariant, the
//! linearizability checker, trace rendering and the stress runner are shown to *fail* on a
//! bad history as well as to pass on a good one. A checker that always says "proven" would
//! pass the catalogue's proven entries; it cannot pass these.
//!
//! `cargo test -p raceproof-check --test invariants`

use proptest::prelude::*;
use raceproof_check::linearizability::{self, Operation, Registers};
use raceproof_check::recorder::{ActorInfo, SETUP};
use raceproof_check::{
    AuthorizedAtCommit, Breach, ExactlyOnce, Expected, FinalState, History, Invariant,
    Linearizable, Model, NoLostUpdate, Recorder, Scenario, Step, Trace, Verdict,
};
use raceproof_core::observe::{Call, Event, Fact, Probe, Ret};
use raceproof_core::store::Role;
use raceproof_core::sync::{Mutex, ghost};

// ---------------------------------------------------------------------------------------
// Building histories by hand.

fn step(thread: &str, text: &str, fact: Fact) -> Step {
    Step {
        thread: thread.to_owned(),
        event: Event::new(text, fact),
    }
}

fn actor(label: &str, acts_as: Option<&str>) -> ActorInfo {
    ActorInfo {
        label: label.to_owned(),
        acts_as: acts_as.map(str::to_owned),
    }
}

fn history(steps: Vec<Step>, actors: Vec<ActorInfo>) -> History {
    History { steps, actors }
}

/// Checks a state-agnostic invariant (`AuthorizedAtCommit`, `ExactlyOnce`, `Linearizable`).
fn check(inv: &impl Invariant<()>, h: &History) -> Result<(), Breach> {
    Invariant::check(inv, &(), h)
}

fn role_set(thread: &str, user: &str, role: Role) -> Step {
    step(
        thread,
        &format!("set {user}.role = {role}"),
        Fact::RoleSet {
            user: user.to_owned(),
            role,
        },
    )
}

fn password_changed(thread: &str, user: &str) -> Step {
    step(
        thread,
        &format!("change {user}'s password"),
        Fact::PasswordChanged {
            user: user.to_owned(),
        },
    )
}

fn note(thread: &str, text: &str) -> Step {
    step(thread, text, Fact::Note)
}

fn call(thread: &str, op: u64, call: Call) -> Step {
    step(thread, &format!("call #{op}"), Fact::Call { op, call })
}

fn ret(thread: &str, op: u64, ret: Ret) -> Step {
    step(thread, &format!("return #{op}"), Fact::Return { op, ret })
}

fn update(user: &str, expected_version: Option<u64>, email: &str) -> Call {
    Call::UpdateEmail {
        user: user.to_owned(),
        expected_version,
        email: email.to_owned(),
    }
}

fn read(user: &str) -> Call {
    Call::ReadEmail {
        user: user.to_owned(),
    }
}

fn updated(version: u64) -> Ret {
    Ret::Updated { version }
}

fn read_ret(email: &str, version: u64) -> Ret {
    Ret::Read {
        email: email.to_owned(),
        version,
    }
}

fn email_set(thread: &str, user: &str, email: &str, version: u64) -> Step {
    step(
        thread,
        &format!("write {user}.email = {email} (v{version})"),
        Fact::EmailSet {
            user: user.to_owned(),
            email: email.to_owned(),
            version,
        },
    )
}

fn processed(thread: &str, message: &str) -> Step {
    step(
        thread,
        &format!("process {message}"),
        Fact::Processed {
            message: message.to_owned(),
        },
    )
}

// ---------------------------------------------------------------------------------------
// AuthorizedAtCommit

/// Setup: alice is a user, admin and root are admins. T1 acts as admin, T2 as root.
fn promote_setup() -> Vec<Step> {
    vec![
        role_set(SETUP, "alice", Role::User),
        role_set(SETUP, "admin", Role::Admin),
        role_set(SETUP, "root", Role::Admin),
    ]
}

fn promote_actors() -> Vec<ActorInfo> {
    vec![actor("T1", Some("admin")), actor("T2", Some("root"))]
}

#[test]
fn authorized_at_commit_passes_a_role_write_by_an_admin() {
    let mut steps = promote_setup();
    steps.push(note("T1", "admin authenticated as admin"));
    steps.push(role_set("T1", "alice", Role::Admin));
    assert_eq!(
        check(&AuthorizedAtCommit, &history(steps, promote_actors())),
        Ok(())
    );
}

#[test]
fn authorized_at_commit_fails_a_write_after_the_actor_was_demoted() {
    let mut steps = promote_setup();
    steps.push(note("T1", "admin checked: admin is an admin"));
    steps.push(role_set("T2", "admin", Role::User));
    steps.push(role_set("T1", "alice", Role::Admin));
    let breach = check(&AuthorizedAtCommit, &history(steps, promote_actors()))
        .expect_err("a demoted admin's write must break it");
    assert_eq!(breach.step, Some(5), "the breach is T1's role write");
    assert!(
        breach.why.contains("admin"),
        "why names the actor: {breach:?}"
    );
    assert!(breach.why.contains("not an admin"), "{breach:?}");
}

#[test]
fn authorized_at_commit_fails_a_write_after_the_actors_password_changed() {
    let mut steps = promote_setup();
    steps.push(note("T1", "admin authenticated"));
    steps.push(password_changed("T2", "admin"));
    steps.push(note("T1", "still promoting"));
    steps.push(role_set("T1", "alice", Role::Admin));
    let breach = check(&AuthorizedAtCommit, &history(steps, promote_actors()))
        .expect_err("a revoked credential's write must break it");
    assert_eq!(breach.step, Some(6));
    assert!(breach.why.contains("admin"), "{breach:?}");
    assert!(breach.why.contains("password"), "{breach:?}");
}

#[test]
fn authorized_at_commit_ignores_another_users_password_change() {
    let mut steps = promote_setup();
    steps.push(password_changed("T2", "root"));
    steps.push(role_set("T1", "alice", Role::Admin));
    assert_eq!(
        check(&AuthorizedAtCommit, &history(steps, promote_actors())),
        Ok(())
    );
}

#[test]
fn authorized_at_commit_fails_an_anonymous_actor() {
    let mut steps = promote_setup();
    steps.push(role_set("T1", "alice", Role::Admin));
    let anonymous = vec![actor("T1", None)];
    let breach =
        check(&AuthorizedAtCommit, &history(steps.clone(), anonymous)).expect_err("anonymous");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.contains("anonymous"), "{breach:?}");

    // A thread the history has no actor for is anonymous too.
    let breach = check(&AuthorizedAtCommit, &history(steps, Vec::new())).expect_err("unknown");
    assert_eq!(breach.step, Some(3));
}

#[test]
fn authorized_at_commit_fails_an_actor_that_never_was_an_admin() {
    let mut steps = promote_setup();
    steps.push(role_set("T1", "alice", Role::Admin));
    let breach = check(
        &AuthorizedAtCommit,
        &history(steps, vec![actor("T1", Some("alice"))]),
    )
    .expect_err("alice is a user");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.contains("alice"), "{breach:?}");
}

#[test]
fn authorized_at_commit_ignores_revocations_after_the_commit() {
    let mut steps = promote_setup();
    steps.push(role_set("T1", "alice", Role::Admin));
    steps.push(role_set("T2", "admin", Role::User));
    steps.push(password_changed("T2", "admin"));
    assert_eq!(
        check(&AuthorizedAtCommit, &history(steps, promote_actors())),
        Ok(())
    );
}

#[test]
fn authorized_at_commit_does_not_judge_setup_writes() {
    // Setup writes roles with no actor behind them; only actors' writes are judged.
    let steps = vec![
        role_set(SETUP, "alice", Role::Admin),
        password_changed(SETUP, "alice"),
        role_set("T1", "bob", Role::User),
    ];
    assert_eq!(
        check(
            &AuthorizedAtCommit,
            &history(steps, vec![actor("T1", Some("alice"))])
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------------------------------
// NoLostUpdate

/// The final record, as `read_final` returns it.
struct Record(Option<(String, u64)>);

fn record(email: &str, version: u64) -> Record {
    Record(Some((email.to_owned(), version)))
}

fn no_lost_update() -> NoLostUpdate<Record> {
    NoLostUpdate::new("alice", 1, |r: &Record| r.0.clone())
}

fn two_writers() -> Vec<ActorInfo> {
    vec![actor("T1", Some("alice")), actor("T2", Some("alice"))]
}

/// T1 sets a1 expecting 1 (-> v2), then T2 sets a2 expecting 2 (-> v3).
fn serial_updates() -> History {
    history(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            email_set("T1", "alice", "a1", 2),
            ret("T1", 1, updated(2)),
            call("T2", 2, update("alice", Some(2), "a2")),
            email_set("T2", "alice", "a2", 3),
            ret("T2", 2, updated(3)),
        ],
        two_writers(),
    )
}

#[test]
fn no_lost_update_passes_serial_updates() {
    assert_eq!(
        no_lost_update().check(&record("a2", 3), &serial_updates()),
        Ok(())
    );
}

#[test]
fn no_lost_update_fails_two_successes_for_one_expected_version() {
    let h = history(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, update("alice", Some(1), "a2")),
            ret("T1", 1, updated(2)),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    let breach = no_lost_update()
        .check(&record("a2", 2), &h)
        .expect_err("both accepted version 1");
    assert_eq!(breach.step, Some(3), "the second success breaks it");
    assert!(breach.why.contains("T1"), "why names the first: {breach:?}");
    assert!(breach.why.contains("expected version 1"), "{breach:?}");
}

#[test]
fn no_lost_update_fails_two_writes_to_one_version() {
    let h = history(
        vec![
            note("T1", "read alice.version = 1"),
            note("T2", "read alice.version = 1"),
            email_set("T1", "alice", "a1", 2),
            email_set("T2", "alice", "a2", 2),
        ],
        two_writers(),
    );
    let breach = no_lost_update()
        .check(&record("a2", 2), &h)
        .expect_err("T2 overwrote T1's v2");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.contains("T1"), "{breach:?}");
    assert!(breach.why.contains("version 2"), "{breach:?}");
}

#[test]
fn no_lost_update_only_watches_its_user() {
    // bob's record reaching v2 twice is not alice's business; neither are bob's returns.
    let h = history(
        vec![
            call("T1", 1, update("bob", Some(1), "b1")),
            call("T2", 2, update("bob", Some(1), "b2")),
            email_set("T1", "bob", "b1", 2),
            email_set("T2", "bob", "b2", 2),
            ret("T1", 1, updated(2)),
            ret("T2", 2, updated(2)),
        ],
        two_writers(),
    );
    assert_eq!(no_lost_update().check(&record("a0", 1), &h), Ok(()));
}

#[test]
fn no_lost_update_counts_conflicts_as_no_update() {
    let h = history(
        vec![
            call("T1", 1, update("alice", Some(1), "a1")),
            call("T2", 2, update("alice", Some(1), "a2")),
            email_set("T1", "alice", "a1", 2),
            ret("T1", 1, updated(2)),
            ret("T2", 2, Ret::Conflict),
        ],
        two_writers(),
    );
    assert_eq!(no_lost_update().check(&record("a1", 2), &h), Ok(()));
    // ... and a final state that applied the conflicting write anyway is caught.
    let breach = no_lost_update()
        .check(&record("a2", 3), &h)
        .expect_err("only one update succeeded");
    assert_eq!(breach.step, None);
}

#[test]
fn no_lost_update_fails_a_final_version_the_successes_do_not_explain() {
    // Both serial updates returned success, but the record only moved once.
    let breach = no_lost_update()
        .check(&record("a2", 2), &serial_updates())
        .expect_err("two successes from v1 give v3");
    assert_eq!(breach.step, None, "only the final state shows it");
    assert!(breach.why.contains("final version 2"), "{breach:?}");
    assert!(breach.why.contains('3'), "{breach:?}");
}

#[test]
fn no_lost_update_fails_a_wrong_final_email() {
    let breach = no_lost_update()
        .check(&record("a1", 3), &serial_updates())
        .expect_err("the last success wrote a2");
    assert_eq!(breach.step, None);
    assert!(breach.why.contains("a1"), "{breach:?}");
    assert!(breach.why.contains("a2"), "{breach:?}");
}

#[test]
fn no_lost_update_fails_a_vanished_record() {
    let breach = no_lost_update()
        .check(&Record(None), &serial_updates())
        .expect_err("alice must still exist");
    assert_eq!(breach.step, None);
    assert!(breach.why.contains("alice"), "{breach:?}");
}

// ---------------------------------------------------------------------------------------
// ExactlyOnce

fn operators() -> Vec<ActorInfo> {
    vec![actor("T1", None), actor("T2", None)]
}

#[test]
fn exactly_once_fails_a_duplicate_at_the_second() {
    let h = history(
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
    let h = history(vec![processed("T2", "a/bc")], operators());
    let breach = check(&ExactlyOnce::new(["ab/c"]), &h).expect_err("a/bc was never signed");
    assert_eq!(breach.step, Some(0));
    assert!(breach.why.contains("forged"), "{breach:?}");
}

#[test]
fn exactly_once_passes_distinct_authentic_messages() {
    let h = history(
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
            &history(vec![], operators())
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------------------------------
// Linearizable and find_order

fn linearizable() -> Linearizable {
    Linearizable::new([("alice", "a0", 1)])
}

fn registers() -> Registers {
    [("alice".to_owned(), ("a0".to_owned(), 1))]
        .into_iter()
        .collect()
}

fn order(h: &History) -> Option<Vec<usize>> {
    linearizability::find_order(&Operation::collect(h), registers())
}

#[test]
fn operation_collect_pairs_calls_with_returns() {
    let h = history(
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
    let ops = Operation::collect(&h);
    assert_eq!(
        ops,
        vec![
            Operation {
                called: 1,
                returned: 2,
                call: read("alice"),
                ret: read_ret("a0", 1),
            },
            Operation {
                called: 0,
                returned: 4,
                call: update("alice", Some(1), "a1"),
                ret: updated(2),
            },
        ]
    );
}

#[test]
fn linearizable_fails_two_overlapping_successes_from_one_version() {
    let h = history(
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
            let h = history(steps, two_writers());
            let found = order(&h).expect("the winner goes first");
            // The success is linearized before the conflict.
            let ops = Operation::collect(&h);
            assert!(
                matches!(ops[found[0]].ret, Ret::Updated { .. }),
                "{found:?}"
            );
            assert_eq!(check(&linearizable(), &h), Ok(()));
        }
    }
}

#[test]
fn linearizable_fails_a_success_on_a_version_an_earlier_write_moved() {
    // A returns v2 before B is called; B, expecting 1, cannot also produce v2.
    let h = history(
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
fn a_then_conflicting_b(overlapping: bool) -> History {
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
    history(steps, two_writers())
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
    let h = history(
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
        let h = history(
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
        history(
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
    let h = history(
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
    let h = history(
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
    let h = history(
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
fn sequential_history(ops: &[Op]) -> (History, Registers) {
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
    (history(steps, two_writers()), initial)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sequential_histories_of_a_real_register_are_linearizable(
        ops in proptest::collection::vec(op_strategy(), 0..12),
    ) {
        let (h, initial) = sequential_history(&ops);
        let ops = Operation::collect(&h);
        let found = linearizability::find_order(&ops, initial.clone());
        // Non-overlapping intervals force the one order: the order they ran in.
        prop_assert_eq!(found, Some((0..ops.len()).collect::<Vec<_>>()));
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
        let (mut h, initial) = sequential_history(&ops);
        let victim = pick.index(ops.len());
        let at = 2 * victim + 1;
        let Fact::Return { op, ret: truth } = h.steps[at].fact().clone() else {
            panic!("step {at} is a return");
        };
        // A refusal is accepted anywhere, so only a non-refusal swapped for another
        // non-refusal is guaranteed to be caught.
        prop_assume!(truth != Ret::Refused && truth != wrong);
        h.steps[at] = ret(&h.steps[at].thread.clone(), op, wrong);
        prop_assert_eq!(
            linearizability::find_order(&Operation::collect(&h), initial.clone()),
            None
        );
        let inv = Linearizable::new(
            initial.iter().map(|(u, (e, v))| (u.as_str(), e.as_str(), *v)),
        );
        prop_assert!(check(&inv, &h).is_err());
    }
}

// ---------------------------------------------------------------------------------------
// FinalState

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
    let h = History::default();
    assert_eq!(inv.check(&4, &h), Ok(()));
    assert_eq!(inv.check(&3, &h), Err(Breach::at_end("3 is odd")));
}

// ---------------------------------------------------------------------------------------
// Trace rendering

fn traced_history() -> History {
    history(
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
    let trace = Trace::new(&traced_history(), &Breach::at(5, "lost T1's write"));
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
    let trace = Trace::new(&traced_history(), &Breach::at_end("counter is 1, not 2"));
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
    let trace = Trace::new(&traced_history(), &Breach::at(4, "stale"));
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
    let trace = Trace::new(&traced_history(), &Breach::at(1, "x"));
    let json = serde_json::to_value(&trace).expect("serializable");
    let lines = json.as_array().expect("transparent: a JSON array");
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
    };
    let violated = Verdict::Violated {
        invariant: "no_lost_update".to_owned(),
        trace: Trace::default(),
        iterations_until_found: 2,
    };
    assert_eq!(proven.label(), Expected::Proven.label());
    assert_eq!(
        violated.label(),
        Expected::Violated("no_lost_update".to_owned()).label()
    );
    assert_ne!(proven.label(), violated.label());
    assert_eq!(
        (proven.iterations(), violated.iterations()),
        (3, 2),
        "iterations"
    );
    assert_eq!(violated.invariant(), Some("no_lost_update"));
    assert!(proven.is_proven() && !violated.is_proven());
}

// ---------------------------------------------------------------------------------------
// Recorder

#[test]
fn recorder_labels_steps_by_thread() {
    let rec = Recorder::new();
    rec.note("before any actor");
    let handle = {
        let rec = rec.clone();
        std::thread::spawn(move || {
            rec.enter("T1");
            rec.note("T1's step");
            rec.record(|| {
                Event::new(
                    "T1 processes m",
                    Fact::Processed {
                        message: "m".to_owned(),
                    },
                )
            });
        })
    };
    handle.join().expect("no panic");
    rec.note("after");
    let steps = rec.steps();
    let threads: Vec<_> = steps.iter().map(|s| s.thread.as_str()).collect();
    assert_eq!(threads, vec![SETUP, "T1", "T1", SETUP]);
    assert!(steps[0].is_setup() && !steps[1].is_setup());
    assert_eq!(steps[1].text(), "T1's step");
    assert_eq!(steps[1].fact(), &Fact::Note);
    assert!(matches!(steps[2].fact(), Fact::Processed { message } if message == "m"));
}

// ---------------------------------------------------------------------------------------
// Model::stress

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
    assert_eq!(Model::preemption_bound(&s), Some(2));
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
fn stress_judges_the_recorded_history_of_each_run() {
    // The invariant reads the steps the actors recorded: a fresh recorder each run, so
    // exactly two increments are seen every time, never an accumulation.
    let steps_seen = ghost::Arc::new(ghost::Mutex::new(Vec::new()));
    let seen = steps_seen.clone();
    struct CountSteps(ghost::Arc<ghost::Mutex<Vec<usize>>>);
    impl Invariant<Counter> for CountSteps {
        fn name(&self) -> &str {
            "count_steps"
        }
        fn check(&self, _: &Counter, history: &History) -> Result<(), Breach> {
            let actors = history.steps.iter().filter(|s| !s.is_setup()).count();
            self.0.lock().expect("not poisoned").push(actors);
            if history.actors.len() == 2 {
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
