//! The three ways of firing a burst. Each returns one [`Outcome`] per request, in request order.

pub mod last_byte;
pub mod naive;
pub mod single_packet;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

pub use crate::failure::{Failure, FailureKind};
use crate::wire::{Prepared, REQUEST_TIMEOUT, Response, Targets, since};

/// How the requests of a burst are synchronized.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// HTTP/2 (h2c, prior knowledge), one connection per target (or `--connections N`): every
    /// request held back before its final frame (a request without a body: all of it), a PING,
    /// then every final frame in one write per connection.
    SinglePacket,
    /// HTTP/1.1, one connection per request: all but the last byte, then the last bytes together.
    LastByte,
    /// HTTP/1.1, one pre-opened connection per request, tasks released by a barrier.
    Naive,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::SinglePacket, Mode::LastByte, Mode::Naive];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::SinglePacket => "single-packet",
            Mode::LastByte => "last-byte",
            Mode::Naive => "naive",
        }
    }

    /// Whether the mode holds requests back and releases them at one instant: only then can a
    /// response come "before the release".
    pub fn releases(self) -> bool {
        matches!(self, Mode::SinglePacket | Mode::LastByte)
    }

    /// Fires one burst, request `i` to `plan.targets.for_request(i)`. `Err` means the burst as
    /// a whole could not be sent.
    pub async fn fire(
        self,
        plan: &Plan<'_>,
        requests: &[Prepared],
        origin: Instant,
    ) -> Result<Vec<Outcome>, String> {
        match self {
            Mode::SinglePacket => single_packet::fire(plan, requests, origin).await,
            Mode::LastByte => last_byte::fire(plan, requests, origin).await,
            Mode::Naive => naive::fire(plan, requests, origin).await,
        }
    }
}

/// Where and how a burst goes.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub targets: &'a Targets,
    /// Single-packet: h2 connections per target, the burst's requests dealt round robin over
    /// them (last-byte and naive already open one connection per request).
    pub connections: usize,
    /// How long one request may take before it counts as a timeout.
    pub timeout: Duration,
}

impl<'a> Plan<'a> {
    /// One connection per target, the default timeout.
    pub fn new(targets: &'a Targets) -> Self {
        Plan {
            targets,
            connections: 1,
            timeout: REQUEST_TIMEOUT,
        }
    }
}

/// What happened to one request of a burst. Times are nanoseconds since the burst's origin.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the request was released (its last byte or frame handed to the socket).
    pub invoke_ns: u64,
    /// When the response head arrived.
    pub first_byte_ns: Option<u64>,
    /// When the response was complete, or the request failed.
    pub complete_ns: u64,
    /// A response (or a reset, or the connection's end) had come back before the release: the
    /// server did not wait for what was held back, so this request was not synchronized.
    pub early: bool,
    pub result: Result<Response, Failure>,
}

impl Outcome {
    pub(crate) fn failed(invoke_ns: u64, origin: Instant, failure: Failure) -> Self {
        Outcome {
            invoke_ns,
            first_byte_ns: None,
            complete_ns: since(origin),
            early: false,
            result: Err(failure),
        }
    }

    /// The response, if it is a 2xx.
    pub fn success(&self) -> Option<&Response> {
        self.result
            .as_ref()
            .ok()
            .filter(|response| response.is_success())
    }
}

/// Awaits one response (for at most `timeout`) and records when it came.
pub(crate) async fn record<F>(
    invoke_ns: u64,
    origin: Instant,
    timeout: Duration,
    response: F,
) -> Outcome
where
    F: Future<Output = Result<(Response, u64), Failure>>,
{
    let result = tokio::time::timeout(timeout, response)
        .await
        .unwrap_or_else(|_| Err(Failure::timeout(timeout)));
    match result {
        Ok((response, first_byte)) => Outcome {
            invoke_ns,
            first_byte_ns: Some(first_byte),
            complete_ns: since(origin),
            early: false,
            result: Ok(response),
        },
        Err(failure) => Outcome::failed(invoke_ns, origin, failure),
    }
}

/// One released request: its response to come, or why its release failed; and whether
/// something had come back before the release.
pub(crate) struct Released<F> {
    pub response: Result<F, Failure>,
    pub early: bool,
}

/// Receives every released request's response on its own task; outcomes in request order.
pub(crate) async fn gather<F>(
    released: Vec<Released<F>>,
    invoke_ns: u64,
    origin: Instant,
    timeout: Duration,
) -> Result<Vec<Outcome>, String>
where
    F: Future<Output = Result<(Response, u64), Failure>> + Send + 'static,
{
    let tasks = released
        .into_iter()
        .map(|Released { response, early }| {
            tokio::spawn(async move {
                let mut outcome = match response {
                    Ok(response) => record(invoke_ns, origin, timeout, response).await,
                    Err(failure) => Outcome::failed(invoke_ns, origin, failure),
                };
                outcome.early = early;
                outcome
            })
        })
        .collect();
    join(tasks).await
}

/// Joins per-request tasks in order.
pub(crate) async fn join(tasks: Vec<JoinHandle<Outcome>>) -> Result<Vec<Outcome>, String> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(
            task.await
                .map_err(|error| format!("request task failed: {error}"))?,
        );
    }
    Ok(outcomes)
}
