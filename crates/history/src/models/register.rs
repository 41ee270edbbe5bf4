use std::hash::Hash;

use crate::spec::SequentialSpec;

/// A register holding a value, or nothing yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Register<V>(pub Option<V>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterCall<V> {
    Read,
    Write(V),
    /// Sets `new` if the register holds `expect`.
    Cas {
        expect: V,
        new: V,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterRet<V> {
    Read(Option<V>),
    Written,
    Swapped,
    /// The register did not hold the expected value; nothing changed.
    NotSwapped,
}

impl<V: Clone + Eq + Hash> SequentialSpec for Register<V> {
    type Call = RegisterCall<V>;
    type Ret = RegisterRet<V>;

    fn step(&self, call: &Self::Call) -> (Self, Self::Ret) {
        match call {
            RegisterCall::Read => (self.clone(), RegisterRet::Read(self.0.clone())),
            RegisterCall::Write(value) => (Register(Some(value.clone())), RegisterRet::Written),
            RegisterCall::Cas { expect, new } if self.0.as_ref() == Some(expect) => {
                (Register(Some(new.clone())), RegisterRet::Swapped)
            }
            RegisterCall::Cas { .. } => (self.clone(), RegisterRet::NotSwapped),
        }
    }
}
