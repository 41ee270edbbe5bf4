//! The history format: Jepsen's invoke/ok/fail/info operations.
//!
//! Times are plain `u64`s on one clock shared by the whole history (nanoseconds since a burst
//! started, or the index of a step in a recorded model history). Operation A precedes B in real
//! time when A completed *before* B was invoked (`A.complete < B.invoke`); equal times count as
//! overlapping.

use serde::{Deserialize, Serialize};

/// How an operation ended, as Jepsen names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// It took effect and its result is known.
    Ok,
    /// It definitely did not take effect.
    Fail,
    /// Its outcome is unknown: it may have taken effect, or not.
    Info,
}

impl Kind {
    /// `ok`, `fail` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Fail => "fail",
            Kind::Info => "info",
        }
    }
}

/// How one operation ended, with what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion<R> {
    /// It took effect and returned `ret` at time `at`.
    Ok { at: u64, ret: R },
    /// It definitely did not take effect (refused before touching anything); answered at `at`.
    Fail { at: u64 },
    /// Unknown (a timeout, a reset connection, a 5xx, a call that never returned): it may have
    /// taken effect at any instant after its invocation, or never.
    Info,
}

impl<R> Completion<R> {
    pub fn kind(&self) -> Kind {
        match self {
            Completion::Ok { .. } => Kind::Ok,
            Completion::Fail { .. } => Kind::Fail,
            Completion::Info => Kind::Info,
        }
    }

    /// When the caller learnt the outcome; `None` for `info`.
    pub fn at(&self) -> Option<u64> {
        match self {
            Completion::Ok { at, .. } | Completion::Fail { at } => Some(*at),
            Completion::Info => None,
        }
    }

    /// The observed result of an `ok` operation.
    pub fn ret(&self) -> Option<&R> {
        match self {
            Completion::Ok { ret, .. } => Some(ret),
            _ => None,
        }
    }
}

/// One operation of a history: which process asked for what, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<C, R> {
    /// Who made the call (a thread label, an actor of a burst): for reports only, the search
    /// does not read it.
    pub process: String,
    pub call: C,
    /// When it was invoked.
    pub invoke: u64,
    pub completion: Completion<R>,
}

impl<C, R> Operation<C, R> {
    pub fn new(
        process: impl Into<String>,
        call: C,
        invoke: u64,
        completion: Completion<R>,
    ) -> Self {
        Self {
            process: process.into(),
            call,
            invoke,
            completion,
        }
    }

    pub fn kind(&self) -> Kind {
        self.completion.kind()
    }
}
