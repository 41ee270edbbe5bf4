use std::collections::BTreeSet;
use std::hash::Hash;

use crate::spec::SequentialSpec;

/// A set (Jepsen's: elements are added and removed, reads return every element).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Set<V: Ord>(pub BTreeSet<V>);

impl<V: Ord> Default for Set<V> {
    fn default() -> Self {
        Set(BTreeSet::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetCall<V> {
    Add(V),
    Remove(V),
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRet<V: Ord> {
    /// An add or a remove returned (whether or not the element was there).
    Done,
    Read(BTreeSet<V>),
}

impl<V: Clone + Ord + Hash> SequentialSpec for Set<V> {
    type Call = SetCall<V>;
    type Ret = SetRet<V>;

    fn step(&self, call: &Self::Call) -> (Self, Self::Ret) {
        match call {
            SetCall::Add(value) => {
                let mut next = self.clone();
                next.0.insert(value.clone());
                (next, SetRet::Done)
            }
            SetCall::Remove(value) => {
                let mut next = self.clone();
                next.0.remove(value);
                (next, SetRet::Done)
            }
            SetCall::Read => (self.clone(), SetRet::Read(self.0.clone())),
        }
    }
}
