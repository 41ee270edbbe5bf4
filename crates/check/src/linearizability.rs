//! A small linearizability checker (Wing & Gong's search) for the versioned email register.
//!
//! An operation's interval runs from its `Call` step to its `Return` step in the recorded
//! history. A history is linearizable when some total order of the operations respects
//! real time (if A returned before B was called, A comes first) and replaying that order on
//! the sequential specification gives every operation the result it really returned.
//! Models have a handful of operations, so the exponential search is instant.

use crate::event::{Call, Fact, Ret};
use crate::recorder::Recording;
use std::collections::HashMap;

/// One completed operation with its real-time interval (indices into the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub called: usize,
    pub returned: usize,
    pub call: Call,
    pub ret: Ret,
}

impl Operation {
    /// Pairs every `Call` with its `Return`; operations that never returned are left out
    /// (a crashed model is reported by loom, not here).
    pub fn collect(history: &Recording) -> Vec<Operation> {
        let mut open: HashMap<u64, (usize, &Call)> = HashMap::new();
        let mut ops = Vec::new();
        for (i, step) in history.steps.iter().enumerate() {
            match step.fact() {
                Fact::Call { op, call } => {
                    open.insert(*op, (i, call));
                }
                Fact::Return { op, ret } => {
                    if let Some((called, call)) = open.remove(op) {
                        ops.push(Operation {
                            called,
                            returned: i,
                            call: call.clone(),
                            ret: ret.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
        ops
    }
}

/// Registers: user -> (email, version).
pub type Registers = HashMap<String, (String, u64)>;

/// The sequential specification: applies `call` to `state` and says whether `ret` is what
/// it must return there. A refusal (authentication, validation) is allowed anywhere and has
/// no effect.
fn apply(state: &mut Registers, call: &Call, ret: &Ret) -> bool {
    if *ret == Ret::Refused {
        // Refused for a reason outside the register (authentication, validation): no effect.
        return true;
    }
    match call {
        Call::UpdateEmail {
            user,
            expected_version,
            email,
        } => {
            let Some(register) = state.get_mut(user) else {
                return false;
            };
            if expected_version.is_none_or(|v| v == register.1) {
                register.0 = email.clone();
                register.1 += 1;
                *ret == Ret::Updated {
                    version: register.1,
                }
            } else {
                *ret == Ret::Conflict
            }
        }
        Call::ReadEmail { user } => match state.get(user) {
            Some((email, version)) => {
                *ret == Ret::Read {
                    email: email.clone(),
                    version: *version,
                }
            }
            None => false,
        },
    }
}

/// A legal sequential order of `ops` (as indices), if there is one.
pub fn find_order(ops: &[Operation], initial: Registers) -> Option<Vec<usize>> {
    let mut order = Vec::with_capacity(ops.len());
    let mut done = vec![false; ops.len()];
    search(ops, &initial, &mut done, &mut order).then_some(order)
}

fn search(ops: &[Operation], state: &Registers, done: &mut [bool], order: &mut Vec<usize>) -> bool {
    if order.len() == ops.len() {
        return true;
    }
    // Only an operation that no pending operation *must* precede can go next: one called
    // before every pending operation returned.
    let horizon = (0..ops.len())
        .filter(|&j| !done[j])
        .map(|j| ops[j].returned)
        .min()
        .unwrap_or(usize::MAX);
    for i in 0..ops.len() {
        if done[i] || ops[i].called > horizon {
            continue;
        }
        let mut next = state.clone();
        if !apply(&mut next, &ops[i].call, &ops[i].ret) {
            continue;
        }
        done[i] = true;
        order.push(i);
        if search(ops, &next, done, order) {
            return true;
        }
        order.pop();
        done[i] = false;
    }
    false
}
