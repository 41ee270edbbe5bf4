//! What a model's history is made of: the steps the harness observes from *outside* the
//! code under test.
//!
//! - calls and returns, recorded by the actors around each operation (client side, as a
//!   Jepsen history: enough for linearizability and for lost updates);
//! - commits, from the store's audit log, whose listener runs inside each write's critical
//!   section (so their order is the commit order);
//! - effects a flow performs (processed, paid, written), recorded by the flow's own code
//!   through [`crate::Recorder::effect`];
//! - notes: narration that only shows in traces.

use raceproof_core::audit::Commit;
use std::fmt;

/// Something that happened, in the flow's own words, and what it means for invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// One line of the trace, e.g. `read alice.version = 1`.
    pub text: String,
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
    /// A write committed (from an audit log).
    Commit(Commit),
    /// The flow performed an effect of `kind` on `subject`, e.g. `processed` on
    /// `r1/refund@1700000000`.
    Effect { kind: String, subject: String },
    /// An operation started (for linearizability: its real-time interval opens).
    Call { op: u64, call: Call },
    /// An operation returned (its real-time interval closes).
    Return { op: u64, ret: Ret },
}

/// An operation on a versioned register, as a client sees it.
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

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::UpdateEmail {
                user,
                expected_version: Some(v),
                email,
            } => write!(
                f,
                "update_email({user}, expected_version={v}, email={email})"
            ),
            Call::UpdateEmail {
                user,
                expected_version: None,
                email,
            } => write!(f, "update_email({user}, email={email})"),
            Call::ReadEmail { user } => write!(f, "read_email({user})"),
        }
    }
}

/// What an operation returned to its client.
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

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Updated { version } => write!(f, "200 (version {version})"),
            Ret::Conflict => f.write_str("409 (resource changed)"),
            Ret::Read { email, version } => write!(f, "200 ({email}, version {version})"),
            Ret::Refused => f.write_str("refused"),
        }
    }
}

/// A commit as a trace line: `commit #3 alice.role = admin (by admin, role user at commit)`.
pub fn commit_text(commit: &Commit) -> String {
    let role = commit
        .actor_role_at_commit
        .map_or_else(|| "gone".to_owned(), |r| r.to_string());
    let epoch = if commit.actor_epoch_at_commit == commit.authenticated_epoch {
        String::new()
    } else {
        format!(
            ", credentials changed: epoch {} at login, {} now",
            commit.authenticated_epoch, commit.actor_epoch_at_commit
        )
    };
    format!(
        "commit #{} {} (by {}, {role} at commit{epoch})",
        commit.seq, commit.action, commit.actor
    )
}
