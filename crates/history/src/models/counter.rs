use crate::spec::SequentialSpec;

/// A counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counter(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterCall {
    Add(i64),
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRet {
    Added,
    /// The sum would leave `i64`; nothing changed.
    Overflow,
    Read(i64),
}

impl SequentialSpec for Counter {
    type Call = CounterCall;
    type Ret = CounterRet;

    fn step(&self, call: &Self::Call) -> (Self, Self::Ret) {
        match call {
            CounterCall::Add(delta) => match self.0.checked_add(*delta) {
                Some(sum) => (Counter(sum), CounterRet::Added),
                None => (*self, CounterRet::Overflow),
            },
            CounterCall::Read => (*self, CounterRet::Read(self.0)),
        }
    }
}
