#![cfg(not(loom))]
//! raceproof-abuse: raceproof-server probed as an attacker would (issue 21), on loopback,
//! every probe bounded in connections, bytes and time. Each probe reports the limit it
//! tests, what it observed, and whether the server held it; `cargo xtask abuse` starts a
//! fresh server with [`Config::server_args`], runs [`run`], prints the table and writes
//! `target/raceproof/abuse.json`.
//!
//! Verdicts judge behaviour (closed, refused, a status, memory back under a bound), never
//! a latency: latencies are measured and printed, for a reader to weigh.
//!
//! Under `--cfg loom` this crate is empty.

pub mod connections;
pub mod memory;
pub mod requests;
pub mod wire;

use raceproof_report::abuse::{AbuseProbe, AbuseVerdict};
use std::net::SocketAddr;
use std::time::Duration;

/// The limits the suite starts the server with: short, so that probes finish in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub max_connections: usize,
    pub handshake_timeout_secs: u64,
    pub header_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub h2_keepalive_secs: u64,
    pub body_timeout_secs: u64,
    pub max_in_flight: usize,
    pub max_streams: u32,
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    /// Failed logins per (user, client) per window (the server's default).
    pub login_per_client_user: u32,
    /// How many connections the memory probe holds open (two rounds).
    pub memory_connections: usize,
    /// Run only this group of probes (`memory`), for experiments.
    pub only: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            handshake_timeout_secs: 2,
            header_timeout_secs: 2,
            idle_timeout_secs: 3,
            h2_keepalive_secs: 2,
            body_timeout_secs: 2,
            max_in_flight: 128,
            max_streams: 64,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 16 * 1024,
            login_per_client_user: 5,
            memory_connections: 2000,
            only: None,
        }
    }
}

impl Config {
    /// The server's limits for these probes, as flags (to add to `--listen`, `--users` and
    /// `--hasher fast`: the probes log in thousands of times).
    pub fn server_args(&self) -> Vec<String> {
        let flags: [(&str, String); 10] = [
            ("--max-connections", self.max_connections.to_string()),
            (
                "--handshake-timeout-secs",
                self.handshake_timeout_secs.to_string(),
            ),
            (
                "--header-timeout-secs",
                self.header_timeout_secs.to_string(),
            ),
            ("--idle-timeout-secs", self.idle_timeout_secs.to_string()),
            ("--h2-keepalive-secs", self.h2_keepalive_secs.to_string()),
            ("--timeout-secs", self.body_timeout_secs.to_string()),
            ("--max-in-flight", self.max_in_flight.to_string()),
            ("--max-streams", self.max_streams.to_string()),
            ("--max-header-bytes", self.max_header_bytes.to_string()),
            (
                "--login-per-client-user",
                self.login_per_client_user.to_string(),
            ),
        ];
        flags
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_owned(), value])
            .collect()
    }

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }
}

/// The server under test: where it listens, and its process id (for its memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// A probe's row.
pub fn row(
    probe: &str,
    attack: &str,
    limit: impl Into<String>,
    observed: impl Into<String>,
    holds: bool,
) -> AbuseProbe {
    AbuseProbe {
        probe: probe.to_owned(),
        attack: attack.to_owned(),
        limit: limit.into(),
        observed: observed.into(),
        verdict: if holds {
            AbuseVerdict::Holds
        } else {
            AbuseVerdict::Fails
        },
    }
}

/// A probe that could not set itself up.
pub fn inconclusive(
    probe: &str,
    attack: &str,
    limit: impl Into<String>,
    why: String,
) -> AbuseProbe {
    AbuseProbe {
        verdict: AbuseVerdict::Inconclusive,
        ..row(probe, attack, limit, why, false)
    }
}

/// Every probe, in order. The server must run with `config`'s limits and the example
/// users file (`crates/server/users.example.toml`).
pub async fn run(target: Target, config: &Config) -> Vec<AbuseProbe> {
    raise_open_files();
    let mut probes = Vec::new();
    if config.only.as_deref().is_none_or(|only| only == "memory") {
        probes.push(memory::unfinished_heads(target, config).await);
    }
    if config.only.is_none() {
        probes.extend(connections::run(target, config).await);
        probes.extend(requests::run(target, config).await);
    }
    probes
}

/// The suite holds thousands of sockets: raise this process's open-files limit too.
fn raise_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (current.current, current.maximum)
        && soft < hard
    {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard.min(1 << 20)),
                maximum: Some(hard),
            },
        );
    }
}

/// Formats a table of probes (probe, limit, observed, verdict) for a terminal.
pub fn table(probes: &[AbuseProbe]) -> String {
    let mut out = format!(
        "{:<20} {:<9} {:<52} {}\n",
        "probe", "verdict", "limit", "observed"
    );
    for p in probes {
        out.push_str(&format!(
            "{:<20} {:<9} {:<52} {}\n",
            p.probe,
            p.verdict.label(),
            p.limit,
            p.observed
        ));
    }
    out
}
