//! Observation hooks: how shared state tells a model checker what just happened.
//!
//! Every operation on the store, the replay set and the flows reports an [`Event`] to its
//! [`Probe`] *inside* its critical section, so the order of reported events is the order in
//! which the effects happened. Production code uses [`NoProbe`], which compiles to nothing;
//! `raceproof-check` plugs in a recorder that turns the events into a counterexample trace
//! and checks invariants over them.

use crate::store::Role;

/// Something that happened to shared state, in the flow's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// One line of the trace, e.g. `read alice.version = 1`.
    pub text: String,
    /// What the invariants need to know, beyond the text.
    pub fact: Fact,
}

impl Event {
    /// An event that only narrates (a read, a check).
    pub fn note(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            fact: Fact::Note,
        }
    }

    pub fn new(text: impl Into<String>, fact: Fact) -> Self {
        Self {
            text: text.into(),
            fact,
        }
    }
}

/// The meaning of an event, for invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Narration only.
    Note,
    /// A user's role was written.
    RoleSet { user: String, role: Role },
    /// A user's password was replaced: credentials checked before this no longer hold.
    PasswordChanged { user: String },
    /// A user's email was written, leaving the record at `version`.
    EmailSet {
        user: String,
        email: String,
        version: u64,
    },
    /// A signed message's side effect ran.
    Processed { message: String },
    /// An operation started (for linearizability: its real-time interval opens).
    Call { op: u64, call: Call },
    /// An operation returned (its real-time interval closes).
    Return { op: u64, ret: Ret },
}

/// An operation on the versioned store, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Set the email if the record is at `expected_version` (unconditionally if `None`).
    UpdateEmail {
        user: String,
        expected_version: Option<u64>,
        email: String,
    },
    ReadEmail {
        user: String,
    },
}

/// What a store operation returned to its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ret {
    /// The update applied; the record is now at this version.
    Updated { version: u64 },
    /// The expected version did not match.
    Conflict,
    /// A read: the email and version seen.
    Read { email: String, version: u64 },
    /// Any other refusal.
    Refused,
}

/// Receives events from inside critical sections.
///
/// Implementations must not use modelled primitives: a probe that took a loom lock would
/// add interleavings that the real program does not have.
pub trait Probe: Send + Sync + 'static {
    /// Reports an event. `event` is only called when the probe records at all, so a
    /// disabled probe costs no formatting.
    fn record(&self, event: impl FnOnce() -> Event);
}

/// The production probe: records nothing and compiles away.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    #[inline(always)]
    fn record(&self, _event: impl FnOnce() -> Event) {}
}
