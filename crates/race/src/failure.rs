//! How a request of a burst can fail to get a response, in kinds the report counts. Its own
//! module because both the modes and the wire produce failures.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a request of a burst got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No response within the timeout.
    Timeout,
    /// The server reset the stream or closed the connection before a whole response.
    Reset,
    /// The connection failed otherwise (refused, broken pipe...).
    Connection,
    /// Something came back that is not a valid HTTP response.
    Protocol,
}

/// A request of a burst that got no response: its outcome is unknown (`info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn timeout(timeout: Duration) -> Self {
        Failure::new(
            FailureKind::Timeout,
            format!("no response within {timeout:?}"),
        )
    }

    /// An I/O error, as a reset when the peer reset or closed the connection.
    pub(crate) fn io(context: &str, error: &std::io::Error) -> Self {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
        let kind = match error.kind() {
            ConnectionReset | ConnectionAborted | UnexpectedEof => FailureKind::Reset,
            _ => FailureKind::Connection,
        };
        Failure::new(kind, format!("{context}: {error}"))
    }

    /// An `h2` error: a RST_STREAM or GOAWAY is a reset.
    pub(crate) fn h2(context: &str, error: &h2::Error) -> Self {
        let kind = if error.is_reset() || error.is_go_away() || error.is_remote() {
            FailureKind::Reset
        } else if let Some(io) = error.get_io() {
            return Failure::io(context, io);
        } else {
            FailureKind::Protocol
        };
        Failure::new(kind, format!("{context}: {error}"))
    }

    /// A `hyper` client error: a connection closed before the whole response is a reset.
    pub(crate) fn hyper(context: &str, error: &hyper::Error) -> Self {
        let kind = if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
            FailureKind::Reset
        } else if error.is_parse() || error.is_parse_status() {
            FailureKind::Protocol
        } else {
            FailureKind::Connection
        };
        Failure::new(kind, format!("{context}: {error}"))
    }
}
