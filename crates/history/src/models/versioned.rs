use std::hash::Hash;

use crate::spec::SequentialSpec;

/// A record with a version that every update moves on by one: optimistic concurrency, as
/// `POST /update-email` with `If-Match` does it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionedRegister<V> {
    pub value: V,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedCall<V> {
    Read,
    /// Sets `value` if the record is at `expected_version` (whatever its version if `None`).
    Update {
        expected_version: Option<u64>,
        value: V,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedRet<V> {
    Read {
        value: V,
        version: u64,
    },
    /// The update applied; the record is now at `version`.
    Updated {
        version: u64,
    },
    /// The expected version did not match (or the version cannot move past `u64::MAX`).
    Conflict,
}

impl<V: Clone + Eq + Hash> SequentialSpec for VersionedRegister<V> {
    type Call = VersionedCall<V>;
    type Ret = VersionedRet<V>;

    fn step(&self, call: &Self::Call) -> (Self, Self::Ret) {
        match call {
            VersionedCall::Read => (
                self.clone(),
                VersionedRet::Read {
                    value: self.value.clone(),
                    version: self.version,
                },
            ),
            VersionedCall::Update {
                expected_version,
                value,
            } => match self.version.checked_add(1) {
                Some(version) if expected_version.is_none_or(|v| v == self.version) => (
                    VersionedRegister {
                        value: value.clone(),
                        version,
                    },
                    VersionedRet::Updated { version },
                ),
                _ => (self.clone(), VersionedRet::Conflict),
            },
        }
    }
}
