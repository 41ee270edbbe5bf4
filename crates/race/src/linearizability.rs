//! A small, generic linearizability checker (Wing & Gong's search with Lowe's memo of
//! (linearized set, state) pairs), with register and counter specifications.
//!
//! A history is what Jepsen records: each operation's invocation time and, if it completed
//! (`ok`), its completion time and observed result. Operations that definitely failed (`fail`)
//! are left out by the caller; operations whose outcome is unknown (`info`: timeout, 5xx,
//! connection reset) have no completion: they may take effect at any point after their
//! invocation, or never.
//!
//! The check crate has its own checker over model histories; this one works on HTTP histories
//! and could be shared later.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model: Clone + Eq + Hash {
    type Op;
    /// The state after `op` (which carries its observed result), or `None` if `op` cannot
    /// happen in this state.
    fn step(&self, op: &Self::Op) -> Option<Self>;
}

/// One operation in a history. Times share one clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<O> {
    pub op: O,
    pub invoke: u64,
    /// `None`: outcome unknown (`info`).
    pub complete: Option<u64>,
}

/// The most operations one history may hold (the linearized set is a `u128`).
pub const MAX_OPS: usize = 128;

/// Searches for a legal serial order. `Some(order)` lists the entries that took effect, in
/// order; `None` means no legal order exists. A history longer than [`MAX_OPS`] (the tester caps
/// bursts well below it) is answered `None` as well.
pub fn check<M: Model>(initial: &M, history: &[Entry<M::Op>]) -> Option<Vec<usize>> {
    if history.len() > MAX_OPS {
        return None;
    }
    let required: u128 = history
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.complete.is_some())
        .fold(0, |mask, (index, _)| mask | (1u128 << index));
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    search(initial, history, 0, required, &mut seen, &mut order).then_some(order)
}

fn search<M: Model>(
    state: &M,
    history: &[Entry<M::Op>],
    done: u128,
    required: u128,
    seen: &mut HashSet<(u128, M)>,
    order: &mut Vec<usize>,
) -> bool {
    if done & required == required {
        return true;
    }
    // No remaining operation may be placed after one that completed before it was invoked.
    let horizon = history
        .iter()
        .enumerate()
        .filter(|(index, _)| done & (1u128 << index) == 0)
        .filter_map(|(_, entry)| entry.complete)
        .min()
        .unwrap_or(u64::MAX);
    for (index, entry) in history.iter().enumerate() {
        let bit = 1u128 << index;
        if done & bit != 0 || entry.invoke > horizon {
            continue;
        }
        let Some(next) = state.step(&entry.op) else {
            continue;
        };
        if !seen.insert((done | bit, next.clone())) {
            continue;
        }
        order.push(index);
        if search(&next, history, done | bit, required, seen, order) {
            return true;
        }
        order.pop();
    }
    false
}

/// A register holding text (a value, a version), with compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Register(pub Option<String>);

/// Register operations, each with what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    Read(Option<String>),
    Write(String),
    /// Succeeded: the value was `expect` and became `new`.
    Cas {
        expect: String,
        new: String,
    },
}

impl Model for Register {
    type Op = RegisterOp;
    fn step(&self, op: &RegisterOp) -> Option<Self> {
        match op {
            RegisterOp::Read(seen) => (seen == &self.0).then(|| self.clone()),
            RegisterOp::Write(value) => Some(Register(Some(value.clone()))),
            RegisterOp::Cas { expect, new } => {
                (self.0.as_deref() == Some(expect.as_str())).then(|| Register(Some(new.clone())))
            }
        }
    }
}

/// A counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Counter(pub i64);

/// Counter operations, each with what it observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterOp {
    Add(i64),
    Read(i64),
}

impl Model for Counter {
    type Op = CounterOp;
    fn step(&self, op: &CounterOp) -> Option<Self> {
        match op {
            CounterOp::Add(delta) => self.0.checked_add(*delta).map(Counter),
            CounterOp::Read(seen) => (*seen == self.0).then_some(*self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<O>(op: O, invoke: u64, complete: u64) -> Entry<O> {
        Entry {
            op,
            invoke,
            complete: Some(complete),
        }
    }

    fn cas(expect: &str, new: &str) -> RegisterOp {
        RegisterOp::Cas {
            expect: expect.to_owned(),
            new: new.to_owned(),
        }
    }

    #[test]
    fn two_successful_cas_from_the_same_version_are_not_linearizable() {
        let initial = Register(Some("1".to_owned()));
        let racy = [ok(cas("1", "2"), 0, 10), ok(cas("1", "2"), 1, 11)];
        assert_eq!(check(&initial, &racy), None);
        let chained = [ok(cas("1", "2"), 0, 10), ok(cas("2", "3"), 1, 11)];
        assert_eq!(check(&initial, &chained), Some(vec![0, 1]));
    }

    #[test]
    fn real_time_order_is_respected() {
        let initial = Register(None);
        // The write completed before the read was invoked, yet the read saw nothing.
        let stale = [
            ok(RegisterOp::Write("a".to_owned()), 0, 5),
            ok(RegisterOp::Read(None), 6, 8),
        ];
        assert_eq!(check(&initial, &stale), None);
        // Overlapping, the read may come first.
        let overlapping = [
            ok(RegisterOp::Write("a".to_owned()), 0, 7),
            ok(RegisterOp::Read(None), 6, 8),
        ];
        assert_eq!(check(&initial, &overlapping), Some(vec![1, 0]));
    }

    #[test]
    fn info_operations_may_or_may_not_take_effect() {
        let initial = Counter(0);
        let unknown = Entry {
            op: CounterOp::Add(1),
            invoke: 0,
            complete: None,
        };
        let saw_one = [unknown.clone(), ok(CounterOp::Read(1), 5, 6)];
        assert!(check(&initial, &saw_one).is_some());
        let saw_zero = [unknown, ok(CounterOp::Read(0), 5, 6)];
        assert_eq!(check(&initial, &saw_zero), Some(vec![1]));
        let impossible = [ok(CounterOp::Add(1), 0, 1), ok(CounterOp::Read(2), 5, 6)];
        assert_eq!(check(&initial, &impossible), None);
    }
}
