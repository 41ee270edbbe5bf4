//! The reports raceproof's tools write under `target/raceproof/`, as types shared by the
//! code that writes them and the code that reads them (`cargo xtask readme`, and any later
//! report page), so that a field renamed on one side fails to compile on the other.
//!
//! | file | written by | type |
//! |---|---|---|
//! | `verdicts.json` | `cargo xtask verify` (the catalogue under loom) | [`verdicts::VerdictsReport`] |
//! | `random.json` | `cargo xtask verify --random` (the catalogue under PCT, `--cfg shuttle`) | [`random::RandomReport`] |
//! | `stress.json` | `cargo xtask stress` (the catalogue on real threads) | [`stress::StressReport`] |
//! | `bench.json` | `cargo xtask bench` (criterion, callgrind) | [`bench::BenchReport`] |
//! | `replay_turnover.json` | `benches/replay_turnover.rs` | [`bench::ReplayTurnover`] |
//! | `http.json` | `cargo xtask bench --http` (the server's loopback bench) | [`services::HttpReport`] |
//! | `backends.json` | `cargo xtask bench --backends` | [`services::BackendsReport`] |
//! | `instances-<setup>.json` | the server's two-instance test | [`services::InstanceRuns`] |
//! | `abuse.json` | `cargo xtask abuse` (the server probed as an attacker would) | [`abuse::AbuseReport`] |
//!
//! `race.json`, the race tester's report, is the race tester's own.

pub mod abuse;
pub mod bench;
pub mod deployment;
pub mod random;
pub mod services;
pub mod stress;
pub mod verdicts;

pub use deployment::Deployment;
pub use verdicts::{Expected, VerdictKind};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// File names under the reports directory, one per report.
pub mod file {
    pub const VERDICTS: &str = "verdicts.json";
    pub const RANDOM: &str = "random.json";
    pub const STRESS: &str = "stress.json";
    pub const BENCH: &str = "bench.json";
    pub const REPLAY_TURNOVER: &str = "replay_turnover.json";
    pub const HTTP: &str = "http.json";
    pub const BACKENDS: &str = "backends.json";
    pub const ABUSE: &str = "abuse.json";

    /// `instances-<setup>.json`: one file per deployment the two-instance test runs.
    pub fn instances(setup: &str) -> String {
        format!("instances-{setup}.json")
    }
}

/// `target/raceproof/` of the workspace at `root`, or under `CARGO_TARGET_DIR` when that is
/// set: where every tool writes its report.
pub fn dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("raceproof")
}

/// The machine figures are measured on, as `cargo xtask` names it for every tool it runs
/// (`RACEPROOF_MACHINE`: CPU model and cores).
pub fn machine() -> String {
    std::env::var("RACEPROOF_MACHINE").unwrap_or_else(|_| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        format!("an unnamed machine with {cores} cores (run it through `cargo xtask`)")
    })
}

/// A report that could not be read or written.
#[derive(Debug)]
pub enum Error {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Json { path, error } => {
                write!(f, "{} does not match its schema: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Writes `report` as pretty JSON to `path`, creating its directory.
pub fn write<T: Serialize>(path: &Path, report: &T) -> Result<(), Error> {
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|error| Error::Json {
        path: path.to_path_buf(),
        error,
    })?;
    std::fs::write(path, json + "\n").map_err(io)
}

/// Reads the report at `path`: `None` when there is no such file (the tool that writes it
/// has not run), an error when it is there but unreadable or of another shape.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| Error::Json {
            path: path.to_path_buf(),
            error,
        })
}
