//! Sequential specifications: what an object does when its operations run one at a time.

use std::hash::Hash;

/// A deterministic sequential specification. The search memoizes (linearized set, state) pairs,
/// so a state must be cheap to clone, compare and hash.
pub trait SequentialSpec: Clone + Eq + Hash {
    /// An operation with its arguments (what the caller asked for).
    type Call;
    /// What the operation returns; an `ok` operation's observed result must equal it.
    type Ret: PartialEq;

    /// Applies `call` to this state: the state after it, and what it returns.
    fn step(&self, call: &Self::Call) -> (Self, Self::Ret);
}
