//! raceproof's shared storage backends (issue 11): the replay set in Redis and the user
//! records in PostgreSQL, behind `raceproof_core::backend`'s [`ReplayStore`] and
//! [`UserRepository`] traits, so that several server processes admit each signed request
//! once and authorize each write against the same records.
//!
//! Both use blocking clients with connection pools and timeouts on connect and on every
//! command; call them from a blocking thread (`spawn_blocking`). Any failure to reach or
//! understand a backend is [`BackendError::Unavailable`], after which nothing was admitted
//! or written (fail closed): the server answers 503.
//!
//! The protocols are model-checked under loom in `raceproof-flows::backends` (one `SET NX
//! PXAT` per admission; one conditional `UPDATE` per compare-and-set; the actor's row locked
//! in the writing transaction). Under `--cfg loom` this crate is empty: its clients need
//! real sockets.
//!
//! [`ReplayStore`]: raceproof_core::backend::ReplayStore
//! [`UserRepository`]: raceproof_core::backend::UserRepository
//! [`BackendError::Unavailable`]: raceproof_core::backend::BackendError::Unavailable
#![cfg(not(loom))]

pub mod postgres;
pub mod redis;

use std::time::Duration;

/// Timeouts and pool size shared by both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections kept per process.
    pub max_connections: u32,
    /// Longest wait for a TCP connection, and for a pooled connection to become free.
    pub connect_timeout: Duration,
    /// Longest wait for one command's (statement's) answer.
    pub command_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        }
    }
}

/// A pool that connects lazily (a process may start while its backend is down and answer
/// 503 until it is up), waits at most `connect_timeout` for a connection, and does not log
/// connection errors (they may name the address; callers report a redacted
/// `BackendError::Unavailable`).
fn pool<M: r2d2::ManageConnection>(manager: M, config: PoolConfig) -> r2d2::Pool<M> {
    r2d2::Pool::builder()
        .max_size(config.max_connections.max(1))
        .min_idle(Some(0))
        .connection_timeout(config.connect_timeout)
        .test_on_check_out(false)
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build_unchecked(manager)
}

/// Default Redis address (the `REDIS_URL` tests and benches read).
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default PostgreSQL address (the `DATABASE_URL` tests and benches read).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
