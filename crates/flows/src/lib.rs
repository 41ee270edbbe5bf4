//! The flows of the two seed documents, each in three variants:
//!
//! - `seed_vulnerable`: the racy code the seeds describe, ported statement by statement;
//! - `seed_fix`: the fix exactly as the seed wrote it;
//! - `proven_fix`: raceproof's, which is [`raceproof_core::service`] itself.
//!
//! The Basic-auth endpoints of every variant are [`raceproof_core::service::Accounts`]: the
//! seeds authenticate as the service does (one read, then the comparison), and their races
//! are in how they write, so each seed is a racy [`raceproof_core::backend::UserRepository`]
//! ([`SeedUsers`]) behind the same service. `/operate` cannot be: the seed's
//! check-process-mark is no atomic admission, so the seed's route is its own async port
//! ([`SeedOperate`]), and ours implement [`OperateFlow`].
//!
//! This crate is racy **on purpose**: it exists so that the model catalogue can catch the
//! seeds' races and the HTTP server can serve them to the race tester. It depends on the
//! core alone (never on the model harness): flows narrate through [`Narrate`], which the
//! catalogue implements over its recorder.
//!
//! In the seed ports every Python statement that touches shared state is one critical
//! section, and the gaps between them, where other requests run, are marked `RACE WINDOW`.
//!
//! Each port runs the way FastAPI runs its route, and says so: `def` routes (`/promote`,
//! `/update-email`) are blocking flows, which FastAPI runs on a thread pool in every
//! deployment; `async def` routes (`/operate`) are async flows ([`SeedOperate`]), which
//! switch only at their awaits on one event loop. Whether a fix holds then depends on the
//! deployment (one event loop, a thread pool, several workers): the catalogue judges each.

pub mod accounts;
pub mod backends;
pub mod cache;
pub mod login_limit;
pub mod operate;
mod seed_operate;
mod seed_users;

pub use accounts::{proven_store, users_repository};
pub use cache::InvalidatedCache;
pub use login_limit::ReadThenIncrement;
pub use operate::{
    OperateError, OperateFlow, OperateRequest, ProvenOperate, ProvenOperateCas, SeedPayload,
    message_name, seed_concatenation,
};
pub use seed_operate::{SeedOperate, SeedRoute};
pub use seed_users::SeedUsers;

use raceproof_core::audit::{Commit, CommitListener};
use raceproof_core::auth::PasswordHash;
use raceproof_core::store::Role;
use std::fmt;
use std::str::FromStr;

/// A user to create: id, password hash, role, email.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub id: String,
    pub password: PasswordHash,
    pub role: Role,
    pub email: String,
}

/// Which implementation of the endpoints runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    SeedVulnerable,
    SeedFix,
    ProvenFix,
}

impl Variant {
    pub const ALL: [Variant; 3] = [
        Variant::SeedVulnerable,
        Variant::SeedFix,
        Variant::ProvenFix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::SeedVulnerable => "seed_vulnerable",
            Variant::SeedFix => "seed_fix",
            Variant::ProvenFix => "proven_fix",
        }
    }

    /// Whether this variant is racy on purpose.
    pub fn is_seed(self) -> bool {
        self != Variant::ProvenFix
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown variant name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant (expected seed_vulnerable, seed_fix or proven_fix)")]
pub struct UnknownVariant;

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or(UnknownVariant)
    }
}

/// What a flow tells about itself as it runs: implemented by the model harness (over its
/// recorder), never by production code. Calls come from inside critical sections, so an
/// implementation must be quick and must not take a lock of the flow.
pub trait Narrate: Send + Sync {
    /// A step of the trace (a read, a check, a decision).
    fn note(&self, text: String);

    /// An effect the flow performed: `kind` (e.g. `processed`) on `subject` (the message):
    /// what effect invariants such as exactly-once count.
    fn effect(&self, kind: &str, subject: String);

    /// A write that committed (an audit log's entry), in commit order.
    fn commit(&self, commit: &Commit);

    /// Another handle on the same narration (flows hand one to each part of their state).
    fn share(&self) -> Box<dyn Narrate>;
}

/// Where a flow narrates its steps and records its effects: a model's [`Narrate`], or
/// nowhere (a server).
#[derive(Default)]
pub struct Narrator(Option<Box<dyn Narrate>>);

impl Clone for Narrator {
    fn clone(&self) -> Self {
        Self(self.0.as_ref().map(|n| n.share()))
    }
}

impl fmt::Debug for Narrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Narrator(recording)"
        } else {
            "Narrator(silent)"
        })
    }
}

impl Narrator {
    /// Narrates into `narration`.
    pub fn to(narration: impl Narrate + 'static) -> Self {
        Self(Some(Box::new(narration)))
    }

    /// Records nothing; formats nothing.
    pub fn silent() -> Self {
        Self(None)
    }

    /// A step of the trace; `text` is only built when something records.
    pub fn note(&self, text: impl FnOnce() -> String) {
        if let Some(narration) = &self.0 {
            narration.note(text());
        }
    }

    /// An effect the flow performed (see [`Narrate::effect`]).
    pub fn effect(&self, kind: &str, subject: impl FnOnce() -> String) {
        if let Some(narration) = &self.0 {
            narration.effect(kind, subject());
        }
    }

    /// A listener for [`raceproof_core::audit::AuditLog::with_listener`] that narrates each
    /// commit, if narrating.
    pub fn commit_listener(&self) -> Option<CommitListener> {
        let narration = self.0.as_ref()?.share();
        Some(Box::new(move |commit: &Commit| narration.commit(commit)))
    }

    /// An audit log that narrates its commits when this narrator records.
    pub fn audit_log(&self) -> raceproof_core::audit::AuditLog {
        let log = raceproof_core::audit::AuditLog::default();
        match self.commit_listener() {
            Some(listener) => log.with_listener(listener),
            None => log,
        }
    }
}
