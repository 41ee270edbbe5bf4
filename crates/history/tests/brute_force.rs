//! The search against a brute-force checker (every subset of the `info` operations, in every
//! order that respects real time) on small random histories of each model. The histories are
//! simulated (each operation takes effect at a point inside its interval), then half of them
//! get one observed result replaced: both linearizable and non-linearizable histories must
//! come out, and the two checkers must agree on every one.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRng, TestRunner};
use raceproof_history::models::*;
use raceproof_history::{Completion, Linearizability, Operation, SequentialSpec, check};

/// How a simulated operation ends.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Ok,
    /// Took effect, but the caller never learnt it.
    InfoTook,
    /// Never took effect, and the caller never learnt it.
    InfoLost,
    Fail,
}

#[derive(Debug, Clone)]
struct Planned<C> {
    call: C,
    invoke: u64,
    /// Where inside its interval it takes effect, and how long after that it returns.
    lag: u64,
    tail: u64,
    fate: Fate,
}

fn planned<C: Debug + Clone>(call: impl Strategy<Value = C>) -> impl Strategy<Value = Planned<C>> {
    let fate = prop_oneof![
        6 => Just(Fate::Ok),
        1 => Just(Fate::InfoTook),
        1 => Just(Fate::InfoLost),
        1 => Just(Fate::Fail),
    ];
    (call, 0u64..8, 0u64..4, 0u64..4, fate).prop_map(|(call, invoke, lag, tail, fate)| Planned {
        call,
        invoke,
        lag,
        tail,
        fate,
    })
}

type History<S> = Vec<Operation<<S as SequentialSpec>::Call, <S as SequentialSpec>::Ret>>;

/// Runs the plan: invocations and completions at even times, each effect at an odd time
/// strictly inside its interval, effects applied in time order.
fn simulate<S>(initial: &S, plan: &[Planned<S::Call>]) -> History<S>
where
    S: SequentialSpec,
    S::Call: Clone,
{
    let point = |p: &Planned<S::Call>| 2 * p.invoke + 2 * p.lag + 1;
    let mut by_point: Vec<usize> = (0..plan.len()).collect();
    by_point.sort_by_key(|&i| (point(&plan[i]), i));
    let mut state = initial.clone();
    let mut rets: Vec<Option<S::Ret>> = plan.iter().map(|_| None).collect();
    for i in by_point {
        if matches!(plan[i].fate, Fate::Ok | Fate::InfoTook) {
            let (next, ret) = state.step(&plan[i].call);
            state = next;
            rets[i] = Some(ret);
        }
    }
    plan.iter()
        .zip(rets)
        .enumerate()
        .map(|(i, (p, ret))| {
            let at = point(p) + 2 * p.tail + 1;
            let completion = match (p.fate, ret) {
                (Fate::Ok, Some(ret)) => Completion::Ok { at, ret },
                (Fate::Fail, _) => Completion::Fail { at },
                _ => Completion::Info,
            };
            Operation::new(format!("p{i}"), p.call.clone(), 2 * p.invoke, completion)
        })
        .collect()
}

/// Replaces the observed result of one `ok` operation (picked by `which`) with `ret`.
fn corrupt<S: SequentialSpec>(history: &mut History<S>, which: Index, ret: S::Ret) {
    let oks: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].completion, Completion::Ok { .. }))
        .collect();
    if oks.is_empty() {
        return;
    }
    if let Completion::Ok { ret: seen, .. } = &mut history[oks[which.index(oks.len())]].completion {
        *seen = ret;
    }
}

/// Whether `order` is a legal linearization: every `ok` operation exactly once, no `fail`
/// one, real time respected, and the specification returns what each `ok` one observed.
fn legal<S: SequentialSpec>(initial: &S, history: &History<S>, order: &[usize]) -> bool {
    let mut seen = BTreeSet::new();
    if !order.iter().all(|&i| i < history.len() && seen.insert(i)) {
        return false;
    }
    let complete_ok = history
        .iter()
        .enumerate()
        .all(|(i, op)| match op.completion {
            Completion::Ok { .. } => seen.contains(&i),
            Completion::Fail { .. } => !seen.contains(&i),
            Completion::Info => true,
        });
    complete_ok && replays(initial, history, order)
}

/// Whether the operations of `order`, in that order, respect real time and replay on the
/// specification with the results the `ok` ones observed.
fn replays<S: SequentialSpec>(initial: &S, history: &History<S>, order: &[usize]) -> bool {
    for (pos, &a) in order.iter().enumerate() {
        for &b in &order[pos + 1..] {
            // b is placed after a: b must not have completed before a was invoked.
            if history[b]
                .completion
                .at()
                .is_some_and(|done| done < history[a].invoke)
            {
                return false;
            }
        }
    }
    let mut state = initial.clone();
    for &i in order {
        let (next, ret) = state.step(&history[i].call);
        if history[i].completion.ret().is_some_and(|seen| *seen != ret) {
            return false;
        }
        state = next;
    }
    true
}

/// Every subset of the `info` operations with every `ok` one, in every order.
fn brute_force<S: SequentialSpec>(initial: &S, history: &History<S>) -> bool {
    let ok: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].completion, Completion::Ok { .. }))
        .collect();
    let info: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].completion, Completion::Info))
        .collect();
    (0u32..1 << info.len()).any(|subset| {
        let mut chosen = ok.clone();
        chosen.extend(
            info.iter()
                .enumerate()
                .filter(|(bit, _)| subset & (1 << bit) != 0)
                .map(|(_, &i)| i),
        );
        any_permutation(&mut chosen, 0, &mut |order| {
            replays(initial, history, order)
        })
    })
}

fn any_permutation(
    items: &mut [usize],
    from: usize,
    test: &mut impl FnMut(&[usize]) -> bool,
) -> bool {
    if from == items.len() {
        return test(items);
    }
    for i in from..items.len() {
        items.swap(from, i);
        if any_permutation(items, from + 1, test) {
            return true;
        }
        items.swap(from, i);
    }
    false
}

const CASES: u32 = 600;

/// Checks `CASES` random histories of a model against brute force, and that at least a tenth
/// of them came out each way.
fn agree<S>(initial: S, call: impl Strategy<Value = S::Call>, ret: impl Strategy<Value = S::Ret>)
where
    S: SequentialSpec + Debug,
    S::Call: Clone + Debug,
    S::Ret: Clone + Debug,
{
    let strategy = (
        proptest::collection::vec(planned(call), 1..=6),
        proptest::option::of((any::<Index>(), ret)),
    );
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let (yes, no) = (Cell::new(0u32), Cell::new(0u32));
    let outcome = runner.run(&strategy, |(plan, corruption)| {
        let mut history = simulate(&initial, &plan);
        if let Some((which, ret)) = corruption {
            corrupt::<S>(&mut history, which, ret);
        }
        let expected = brute_force(&initial, &history);
        match check(&initial, &history) {
            Linearizability::Linearizable { order } => {
                prop_assert!(
                    expected,
                    "search found {order:?}, brute force none: {history:?}"
                );
                prop_assert!(
                    legal(&initial, &history, &order),
                    "illegal order {order:?}: {history:?}"
                );
                yes.set(yes.get() + 1);
            }
            Linearizability::NotLinearizable => {
                prop_assert!(
                    !expected,
                    "brute force found an order, the search none: {history:?}"
                );
                no.set(no.get() + 1);
            }
            Linearizability::GaveUp(why) => prop_assert!(false, "gave up on {history:?}: {why}"),
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{initial:?}: {failure}");
    }
    let (yes, no) = (yes.get(), no.get());
    assert!(
        yes >= CASES / 10 && no >= CASES / 10,
        "{initial:?}: {yes} linearizable and {no} not, out of {CASES}: the generator must give both"
    );
}

#[test]
fn register_agrees_with_brute_force() {
    let value = || 0u8..3;
    let call = prop_oneof![
        Just(RegisterCall::Read),
        value().prop_map(RegisterCall::Write),
        (value(), value()).prop_map(|(expect, new)| RegisterCall::Cas { expect, new }),
    ];
    let ret = prop_oneof![
        proptest::option::of(value()).prop_map(RegisterRet::Read),
        Just(RegisterRet::Written),
        Just(RegisterRet::Swapped),
        Just(RegisterRet::NotSwapped),
    ];
    agree(Register(Some(0u8)), call, ret);
}

#[test]
fn versioned_register_agrees_with_brute_force() {
    let call = prop_oneof![
        Just(VersionedCall::Read),
        (proptest::option::weighted(0.8, 1u64..4), 0u8..3).prop_map(|(expected_version, value)| {
            VersionedCall::Update {
                expected_version,
                value,
            }
        }),
    ];
    let ret = prop_oneof![
        (0u8..3, 1u64..5).prop_map(|(value, version)| VersionedRet::Read { value, version }),
        (1u64..5).prop_map(|version| VersionedRet::Updated { version }),
        Just(VersionedRet::Conflict),
    ];
    agree(
        VersionedRegister {
            value: 0u8,
            version: 1,
        },
        call,
        ret,
    );
}

#[test]
fn counter_agrees_with_brute_force() {
    let call = prop_oneof![
        (-2i64..3).prop_map(CounterCall::Add),
        Just(CounterCall::Read)
    ];
    let ret = prop_oneof![
        Just(CounterRet::Added),
        (-4i64..5).prop_map(CounterRet::Read)
    ];
    agree(Counter(0), call, ret);
}

#[test]
fn set_agrees_with_brute_force() {
    let call = prop_oneof![
        (0u8..3).prop_map(SetCall::Add),
        (0u8..3).prop_map(SetCall::Remove),
        Just(SetCall::Read),
    ];
    let ret = prop_oneof![
        Just(SetRet::Done),
        proptest::collection::btree_set(0u8..3, 0..3).prop_map(SetRet::Read),
    ];
    agree(Set::default(), call, ret);
}

#[test]
fn keyed_versioned_registers_agree_with_brute_force() {
    let key = || 0u8..3; // key 2 does not exist
    let call = prop_oneof![
        key().prop_map(|k| (k, VersionedCall::Read)),
        (key(), proptest::option::weighted(0.8, 1u64..3), 0u8..2).prop_map(
            |(k, expected_version, value)| (
                k,
                VersionedCall::Update {
                    expected_version,
                    value
                }
            )
        ),
    ];
    let ret = prop_oneof![
        1 => Just(None),
        4 => (0u8..2, 1u64..4).prop_map(|(value, version)| Some(VersionedRet::Read { value, version })),
        4 => (1u64..4).prop_map(|version| Some(VersionedRet::Updated { version })),
        2 => Just(Some(VersionedRet::Conflict)),
    ];
    let initial = Keyed(BTreeMap::from([
        (
            0u8,
            VersionedRegister {
                value: 0u8,
                version: 1,
            },
        ),
        (
            1u8,
            VersionedRegister {
                value: 0u8,
                version: 1,
            },
        ),
    ]));
    agree(initial, call, ret);
}
