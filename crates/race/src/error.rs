//! One error type for the tester. Nothing here carries a secret: credentials and signing keys
//! never reach an error message.

use std::path::PathBuf;

/// Why a run could not be carried out (as opposed to an invariant breaking, which is a result).
#[derive(Debug, thiserror::Error)]
pub enum RaceError {
    /// The scenario file is not valid TOML or does not follow the format.
    #[error("{origin}:{line}:{column}: {message}")]
    Scenario {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    ReadScenario {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `race.json` could not be read or parsed.
    #[error("cannot read report {path}: {message}")]
    ReadReport { path: PathBuf, message: String },
    /// A scenario name that is neither a built-in nor an existing file.
    #[error("no built-in scenario or file named `{0}` (built-ins: {1})")]
    UnknownScenario(String, String),
    /// The target URL is malformed or unsupported.
    #[error("target `{0}`: {1}")]
    Target(String, String),
    /// No target was given (the CLI requires at least one `--target`).
    #[error("no target given: pass --target URL at least once")]
    NoTarget,
    /// The target resolves to a non-loopback address and `--allow-non-loopback` was not given.
    #[error(
        "target `{0}` resolves to {1}, which is not loopback; this is an attack tool, pass --allow-non-loopback only against a service you are allowed to test"
    )]
    NotLoopback(String, String),
    /// A bound on bursts, actors, bodies or responses was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// An environment variable a scenario names is unset.
    #[error("environment variable {0} (named by the scenario) is not set")]
    MissingEnv(String),
    /// A template or signer could not be applied to a request.
    #[error("request for actor `{actor}`: {message}")]
    Prepare { actor: String, message: String },
    /// Network or protocol failure outside a burst (setup, audit, final-state requests).
    #[error("{context}: {message}")]
    Transport { context: String, message: String },
    /// A setup request answered with a status the scenario does not accept.
    #[error(
        "setup request {index} ({method} {path}) answered {status}, expected one of {expected:?}"
    )]
    SetupStatus {
        index: usize,
        method: String,
        path: String,
        status: u16,
        expected: Vec<u16>,
    },
    /// Single-packet needs h2c with prior knowledge and a target refused it (checked before
    /// the first burst).
    #[error("{0}")]
    NoH2c(String),
    /// Bursts failed to fire over and over: the run stopped.
    #[error("{count} bursts in a row could not be fired, so the run stopped; the first: {first}")]
    Aborted { count: usize, first: String },
    /// Writing the report failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The async runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

impl RaceError {
    pub(crate) fn transport(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        RaceError::Transport {
            context: context.into(),
            message: message.to_string(),
        }
    }
}
