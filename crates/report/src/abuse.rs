//! `abuse.json`: what `cargo xtask abuse` saw when it probed a fresh server as an attacker
//! would (issue 21), one row per probe.

use serde::{Deserialize, Serialize};

/// Whether the server held the limit a probe tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbuseVerdict {
    /// The server did what its limit says (closed, refused, answered, gave memory back).
    Holds,
    /// It did not.
    Fails,
    /// The probe could not tell (it could not set itself up); says why in `observed`.
    Inconclusive,
}

impl AbuseVerdict {
    pub fn label(self) -> &'static str {
        match self {
            AbuseVerdict::Holds => "holds",
            AbuseVerdict::Fails => "FAILS",
            AbuseVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// One probe's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbuseProbe {
    /// Short name, e.g. `silent-sockets`.
    pub probe: String,
    /// What the attacker does.
    pub attack: String,
    /// The limit under test, with the configured value.
    pub limit: String,
    /// What happened, with counts and measurements.
    pub observed: String,
    pub verdict: AbuseVerdict,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbuseReport {
    /// CPU model and cores.
    pub machine: String,
    /// The server's command line (limits included), as the suite started it.
    pub server_args: Vec<String>,
    pub probes: Vec<AbuseProbe>,
}

impl AbuseReport {
    /// Whether every probe holds.
    pub fn all_hold(&self) -> bool {
        self.probes.iter().all(|p| p.verdict == AbuseVerdict::Holds)
    }
}
