//! What the running service costs and how its deployments behave: `http.json` (the server's
//! loopback bench), `backends.json` (each shared-state operation in memory, Redis and
//! PostgreSQL) and `instances-<setup>.json` (bursts split across two server processes).

use serde::{Deserialize, Serialize};

/// `http.json`: throughput and latency per endpoint beside a bare axum handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpReport {
    pub machine: String,
    /// Concurrent client connections.
    pub connections: usize,
    /// Seconds each endpoint was measured for (in slices interleaved with the floor's).
    pub seconds_per_endpoint: f64,
    pub endpoints: Vec<HttpEndpoint>,
    /// Ratios between rows of this run that the service is held to (issue 19's targets),
    /// and raceproof beside the seed's FastAPI service. Absent in older reports.
    #[serde(default)]
    pub ratios: Vec<HttpRatio>,
}

/// One ratio of two rows' throughputs, measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRatio {
    /// What is compared, e.g. `POST /operate / POST /floor (same request)`.
    pub what: String,
    pub ratio: f64,
    /// The least the ratio should be, where there is a target.
    pub target: Option<f64>,
}

fn dash() -> String {
    "-".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpEndpoint {
    pub endpoint: String,
    /// The password hasher behind Basic auth (`fast`, `owasp`), `-` where none runs.
    pub hasher: String,
    /// The credential cache behind Basic auth (`on`, `off`), `-` where none runs.
    #[serde(default = "dash")]
    pub cache: String,
    /// The status every response should have (`None`: any 2xx).
    #[serde(default)]
    pub expected_status: Option<u16>,
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Throughput over the floor's, measured in slices interleaved with this one's.
    pub ratio_to_floor: f64,
    /// Responses other than the expected status, or than 2xx (expected 0).
    pub errors: u64,
    pub connections: usize,
}

/// `backends.json`: each shared-state operation per backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendsReport {
    pub machine: String,
    pub threads: usize,
    pub ops_per_thread: usize,
    /// Connections per pool.
    pub pool_connections: u32,
    /// What was not measured, and why (a backend that did not answer).
    pub notes: Vec<String>,
    pub results: Vec<BackendOp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendOp {
    /// `memory`, `redis`, `postgres`.
    pub backend: String,
    pub op: String,
    pub threads: usize,
    pub ops: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub ops_per_sec: f64,
}

/// `instances-<setup>.json`: the two-instance test's bursts, written once every assertion
/// on them held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceRuns {
    pub rows: Vec<InstanceRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRun {
    /// The deployment, e.g. `2 instances, Redis + PostgreSQL`.
    pub state: String,
    /// The race tester's scenario.
    pub scenario: String,
    /// `single-packet`, `last-byte` or `naive`.
    pub mode: String,
    /// Bursts in which an invariant broke.
    pub anomalies: usize,
    pub bursts: usize,
}
