//! The flows of the two seed documents, each in three variants behind one trait:
//!
//! - `seed_vulnerable`: the racy code the seeds describe, ported statement by statement;
//! - `seed_fix`: the fix exactly as the seed wrote it, in a multi-threaded service (FastAPI
//!   runs plain `def` endpoints on a thread pool, and any server with several workers races);
//! - `proven_fix`: raceproof's, a thin adapter over [`raceproof_core::service`].
//!
//! This crate is racy **on purpose**: it exists so that the model catalogue can catch the
//! seeds' races and the HTTP server can serve them to the race tester. Production code
//! depends on `raceproof-core` alone.
//!
//! In the seed ports every Python statement that touches shared state is one critical
//! section, and the gaps between them, where other requests run, are marked `RACE WINDOW`.

pub mod accounts;
pub mod backends;
pub mod operate;
mod seed_users;

pub use accounts::{AccountFlows, ProvenAccounts, SeedAccounts, UserSpec};
pub use operate::{
    OperateError, OperateFlow, OperateRequest, ProvenOperate, ProvenOperateCas, SeedOperate,
    SeedPayload, message_name, seed_concatenation,
};

use raceproof_check::Recorder;
use std::fmt;
use std::str::FromStr;

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

/// Where a flow narrates its steps and records its effects: a model's [`Recorder`], or
/// nowhere (a server).
#[derive(Debug, Clone, Default)]
pub struct Narrator(Option<Recorder>);

impl Narrator {
    /// Records into `recorder`.
    pub fn to(recorder: &Recorder) -> Self {
        Self(Some(recorder.clone()))
    }

    /// Records nothing; formats nothing.
    pub fn silent() -> Self {
        Self(None)
    }

    /// A step of the trace; `text` is only built when something records.
    pub fn note(&self, text: impl FnOnce() -> String) {
        if let Some(recorder) = &self.0 {
            recorder.note(text());
        }
    }

    /// An effect the flow performed (see [`Recorder::effect`]).
    pub fn effect(&self, kind: &str, subject: impl FnOnce() -> String) {
        if let Some(recorder) = &self.0 {
            recorder.effect(kind, subject());
        }
    }

    /// The recorder's commit listener, if recording.
    pub fn commit_listener(&self) -> Option<raceproof_core::audit::CommitListener> {
        self.0.as_ref().map(Recorder::commit_listener)
    }
}
