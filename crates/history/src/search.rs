//! The linearizability search: Wing & Gong's, with Lowe's memo.
//!
//! The search builds a sequential order one operation at a time. An operation may come next
//! when no other pending operation must precede it (none completed before it was invoked) and
//! the specification, applied to the current state, returns what the operation observed (any
//! result, for `info`). It succeeds once every `ok` operation is placed; `info` operations may
//! be placed or left out (they may never have taken effect), `fail` operations take no part.
//! Reaching the same (placed set, state) pair twice leads to the same answer, so each pair is
//! explored once (Lowe's memo): that keeps bursts of commuting or failing operations from
//! exploding factorially.

use std::collections::HashSet;
use std::fmt;

use crate::history::{Completion, Operation};
use crate::spec::SequentialSpec;

/// Bounds on one search. Past either, the search answers [`Linearizability::GaveUp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations that may have taken effect (`ok` and `info`; `fail` ones do not count).
    pub max_operations: usize,
    /// Distinct (placed set, state) pairs explored: the memo's size, and the search's work.
    pub max_states: usize,
}

impl Limits {
    /// Room for the largest race-tester burst (64 requests) and any model history, with a memo
    /// of at most half a million pairs (tens of MiB for small states).
    pub const DEFAULT: Limits = Limits {
        max_operations: 256,
        max_states: 1 << 19,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the search concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Linearizability {
    /// A legal order exists: `order` lists the indices (into the history) of the operations
    /// that took effect, in that order. `info` operations not listed never took effect.
    Linearizable { order: Vec<usize> },
    /// No order of the operations respects real time and the specification.
    NotLinearizable,
    /// The search stopped at a limit before it could decide: says nothing either way.
    GaveUp(GaveUp),
}

impl Linearizability {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Linearizability::Linearizable { .. })
    }
}

/// Which limit stopped the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// The history has more operations than the search takes on.
    TooLong { operations: usize, max: usize },
    /// The search explored `max` (placed set, state) pairs without deciding.
    TooManyStates { max: usize },
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GaveUp::TooLong { operations, max } => write!(
                f,
                "{operations} operations may have taken effect; the linearizability search takes at most {max}"
            ),
            GaveUp::TooManyStates { max } => write!(
                f,
                "the linearizability search explored {max} states without deciding"
            ),
        }
    }
}

/// [`check_with`] under [`Limits::DEFAULT`].
pub fn check<S: SequentialSpec>(
    initial: &S,
    history: &[Operation<S::Call, S::Ret>],
) -> Linearizability {
    check_with(initial, history, Limits::DEFAULT)
}

/// Whether `history`, starting from `initial`, has a sequential order that respects real time
/// and that the specification would produce.
pub fn check_with<S: SequentialSpec>(
    initial: &S,
    history: &[Operation<S::Call, S::Ret>],
    limits: Limits,
) -> Linearizability {
    // `fail` operations never took effect: they take no part.
    let live: Vec<Live<'_, S>> = history
        .iter()
        .enumerate()
        .filter_map(|(index, op)| {
            let (complete, observed) = match &op.completion {
                Completion::Ok { at, ret } => (Some(*at), Some(ret)),
                Completion::Info => (None, None),
                Completion::Fail { .. } => return None,
            };
            Some(Live {
                index,
                call: &op.call,
                invoke: op.invoke,
                complete,
                observed,
            })
        })
        .collect();
    if live.len() > limits.max_operations {
        return Linearizability::GaveUp(GaveUp::TooLong {
            operations: live.len(),
            max: limits.max_operations,
        });
    }
    Search {
        live: &live,
        max_states: limits.max_states,
    }
    .run(initial)
}

/// An operation that may have taken effect, as the search sees it.
struct Live<'h, S: SequentialSpec> {
    /// Its index in the history.
    index: usize,
    call: &'h S::Call,
    invoke: u64,
    /// `None` for `info`: it bounds nothing.
    complete: Option<u64>,
    /// `None` for `info`: any result will do.
    observed: Option<&'h S::Ret>,
}

/// A state of the search, and the next operation to try from it.
struct Frame<S> {
    state: S,
    next: usize,
}

struct Search<'a, 'h, S: SequentialSpec> {
    live: &'a [Live<'h, S>],
    max_states: usize,
}

impl<S: SequentialSpec> Search<'_, '_, S> {
    /// Depth-first, with an explicit stack (a history of hundreds of operations would be as
    /// many nested calls).
    fn run(&self, initial: &S) -> Linearizability {
        let live = self.live;
        let required = live.iter().filter(|op| op.complete.is_some()).count();
        let mut placed = BitSet::new(live.len());
        let mut order: Vec<usize> = Vec::with_capacity(live.len());
        let mut placed_required = 0;
        let mut memo: HashSet<(BitSet, S)> = HashSet::new();
        memo.insert((placed.clone(), initial.clone()));
        let mut stack = vec![Frame {
            state: initial.clone(),
            next: 0,
        }];
        loop {
            if placed_required == required {
                return Linearizability::Linearizable {
                    order: order.iter().map(|&k| live[k].index).collect(),
                };
            }
            let Some(frame) = stack.last_mut() else {
                return Linearizability::NotLinearizable;
            };
            // An operation invoked after some unplaced operation completed must follow it.
            let horizon = (0..live.len())
                .filter(|&k| !placed.contains(k))
                .filter_map(|k| live[k].complete)
                .min()
                .unwrap_or(u64::MAX);
            let mut advance = None;
            while frame.next < live.len() {
                let k = frame.next;
                frame.next += 1;
                let op = &live[k];
                if placed.contains(k) || op.invoke > horizon {
                    continue;
                }
                let (after, ret) = frame.state.step(op.call);
                if op.observed.is_some_and(|seen| *seen != ret) {
                    continue;
                }
                let key = (placed.with(k), after);
                if memo.contains(&key) {
                    continue;
                }
                if memo.len() >= self.max_states {
                    return Linearizability::GaveUp(GaveUp::TooManyStates {
                        max: self.max_states,
                    });
                }
                let after = key.1.clone();
                memo.insert(key);
                advance = Some((k, after));
                break;
            }
            match advance {
                Some((k, after)) => {
                    placed.insert(k);
                    order.push(k);
                    placed_required += usize::from(live[k].complete.is_some());
                    stack.push(Frame {
                        state: after,
                        next: 0,
                    });
                }
                None => {
                    stack.pop();
                    if let Some(k) = order.pop() {
                        placed.remove(k);
                        placed_required -= usize::from(live[k].complete.is_some());
                    }
                }
            }
        }
    }
}

/// The set of placed operations, as bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BitSet {
    words: Box<[u64]>,
}

impl BitSet {
    fn new(bits: usize) -> Self {
        Self {
            words: vec![0; bits.div_ceil(64)].into_boxed_slice(),
        }
    }

    fn contains(&self, bit: usize) -> bool {
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    fn insert(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    fn remove(&mut self, bit: usize) {
        self.words[bit / 64] &= !(1 << (bit % 64));
    }

    fn with(&self, bit: usize) -> Self {
        let mut set = self.clone();
        set.insert(bit);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Counter, CounterCall, CounterRet, Register, RegisterCall, RegisterRet};

    fn ok<C, R>(call: C, invoke: u64, at: u64, ret: R) -> Operation<C, R> {
        Operation::new("p", call, invoke, Completion::Ok { at, ret })
    }

    #[test]
    fn two_successful_cas_from_the_same_value_are_not_linearizable() {
        let initial = Register(Some(1));
        let cas = |expect, new| RegisterCall::Cas { expect, new };
        let racy = [
            ok(cas(1, 2), 0, 10, RegisterRet::Swapped),
            ok(cas(1, 2), 1, 11, RegisterRet::Swapped),
        ];
        assert_eq!(check(&initial, &racy), Linearizability::NotLinearizable);
        let chained = [
            ok(cas(1, 2), 0, 10, RegisterRet::Swapped),
            ok(cas(2, 3), 1, 11, RegisterRet::Swapped),
        ];
        assert_eq!(
            check(&initial, &chained),
            Linearizability::Linearizable { order: vec![0, 1] }
        );
    }

    #[test]
    fn real_time_order_is_respected() {
        let stale = [
            ok(RegisterCall::Write(7), 0, 5, RegisterRet::Written),
            ok(RegisterCall::Read, 6, 8, RegisterRet::Read(None)),
        ];
        assert_eq!(
            check(&Register(None), &stale),
            Linearizability::NotLinearizable
        );
        // Overlapping (and touching: 7 == 7 overlaps), the read may come first.
        let overlapping = [
            ok(RegisterCall::Write(7), 0, 7, RegisterRet::Written),
            ok(RegisterCall::Read, 7, 8, RegisterRet::Read(None)),
        ];
        assert_eq!(
            check(&Register(None), &overlapping),
            Linearizability::Linearizable { order: vec![1, 0] }
        );
    }

    #[test]
    fn info_may_or_may_not_take_effect_and_fail_never_does() {
        let add = |completion| Operation::new("p", CounterCall::Add(1), 0, completion);
        let read = |seen| ok(CounterCall::Read, 5, 6, CounterRet::Read(seen));
        let unknown = add(Completion::Info);
        assert!(check(&Counter(0), &[unknown.clone(), read(1)]).is_linearizable());
        assert_eq!(
            check(&Counter(0), &[unknown, read(0)]),
            Linearizability::Linearizable { order: vec![1] }
        );
        let failed = add(Completion::Fail { at: 1 });
        assert!(check(&Counter(0), &[failed.clone(), read(0)]).is_linearizable());
        assert_eq!(
            check(&Counter(0), &[failed, read(1)]),
            Linearizability::NotLinearizable
        );
    }

    #[test]
    fn limits_give_up_instead_of_answering() {
        let reads: Vec<_> = (0..10)
            .map(|i| ok(CounterCall::Read, i, 100, CounterRet::Read(0)))
            .collect();
        let too_long = Limits {
            max_operations: 9,
            ..Limits::DEFAULT
        };
        assert_eq!(
            check_with(&Counter(0), &reads, too_long),
            Linearizability::GaveUp(GaveUp::TooLong {
                operations: 10,
                max: 9
            })
        );
        // Ten overlapping adds of distinct powers of two: every subset is its own state.
        let adds: Vec<_> = (0..10)
            .map(|i| ok(CounterCall::Add(1 << i), 0, 100, CounterRet::Added))
            .chain([ok(CounterCall::Read, 101, 102, CounterRet::Read(-1))])
            .collect();
        let small = Limits {
            max_states: 100,
            ..Limits::DEFAULT
        };
        assert_eq!(
            check_with(&Counter(0), &adds, small),
            Linearizability::GaveUp(GaveUp::TooManyStates { max: 100 })
        );
        assert_eq!(check(&Counter(0), &adds), Linearizability::NotLinearizable);
    }

    #[test]
    fn more_than_64_operations_use_more_than_one_word() {
        let mut history: Vec<_> = (0..70)
            .map(|i| ok(CounterCall::Add(1), 2 * i, 2 * i + 1, CounterRet::Added))
            .collect();
        history.push(ok(CounterCall::Read, 1000, 1001, CounterRet::Read(70)));
        assert!(check(&Counter(0), &history).is_linearizable());
        history.push(ok(CounterCall::Read, 1002, 1003, CounterRet::Read(69)));
        assert_eq!(
            check(&Counter(0), &history),
            Linearizability::NotLinearizable
        );
    }
}
