//! The three ways of firing a burst. Each returns one [`Outcome`] per request, in request order.

pub mod last_byte;
pub mod naive;
pub mod single_packet;

use std::future::Future;
use std::time::Instant;

use tokio::task::JoinHandle;

use crate::wire::{Prepared, REQUEST_TIMEOUT, Response, Targets, since};

/// How the requests of a burst are synchronized.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// HTTP/2 (h2c, prior knowledge), one connection per target: every request but its final
    /// frame, a PING, then every final frame in one write per connection.
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

    /// Fires one burst, request `i` to `targets.for_request(i)`. `Err` means the burst as a whole
    /// could not be sent.
    pub async fn fire(
        self,
        targets: &Targets,
        requests: &[Prepared],
        origin: Instant,
    ) -> Result<Vec<Outcome>, String> {
        match self {
            Mode::SinglePacket => single_packet::fire(targets, requests, origin).await,
            Mode::LastByte => last_byte::fire(targets, requests, origin).await,
            Mode::Naive => naive::fire(targets, requests, origin).await,
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
    pub result: Result<Response, String>,
}

impl Outcome {
    pub(crate) fn failed(invoke_ns: u64, origin: Instant, error: String) -> Self {
        Outcome {
            invoke_ns,
            first_byte_ns: None,
            complete_ns: crate::wire::since(origin),
            result: Err(error),
        }
    }
}

/// Awaits one response (for at most [`REQUEST_TIMEOUT`]) and records when it came.
pub(crate) async fn record<F>(invoke_ns: u64, origin: Instant, response: F) -> Outcome
where
    F: Future<Output = Result<(Response, u64), String>>,
{
    let result = tokio::time::timeout(REQUEST_TIMEOUT, response)
        .await
        .unwrap_or_else(|_| Err(format!("no response within {REQUEST_TIMEOUT:?}")));
    match result {
        Ok((response, first_byte)) => Outcome {
            invoke_ns,
            first_byte_ns: Some(first_byte),
            complete_ns: since(origin),
            result: Ok(response),
        },
        Err(error) => Outcome::failed(invoke_ns, origin, error),
    }
}

/// Receives every released request's response on its own task; outcomes in request order.
/// An `Err` entry is a request whose release already failed.
pub(crate) async fn gather<F>(
    released: Vec<Result<F, String>>,
    invoke_ns: u64,
    origin: Instant,
) -> Result<Vec<Outcome>, String>
where
    F: Future<Output = Result<(Response, u64), String>> + Send + 'static,
{
    let tasks = released
        .into_iter()
        .map(|released| {
            tokio::spawn(async move {
                match released {
                    Ok(response) => record(invoke_ns, origin, response).await,
                    Err(error) => Outcome::failed(invoke_ns, origin, error),
                }
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
