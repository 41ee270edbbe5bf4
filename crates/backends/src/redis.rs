//! The replay set in Redis: one `SET key 1 NX PXAT <ms>` per admission.
//!
//! `NX` makes check-and-insert one atomic command (never `GET` then `SET`, which admits a
//! request twice when two processes interleave); `PXAT` attaches the expiry in the same
//! command (never `SETNX` then `EXPIRE`, which leaks a key forever if the process dies in
//! between). The key lives exactly as long as the request could pass the freshness check:
//! the guard accepts while its clock, in whole seconds, reads at most `expires_at`, that is
//! until `(expires_at + 1) * 1000` ms, which is the `PXAT` sent.
//!
//! Redis must not evict keys before they expire (`maxmemory-policy noeviction`, the
//! default): an evicted key is a replay window reopened. Server clocks must agree with
//! Redis's to well within the tolerance window.

use crate::PoolConfig;
use raceproof_core::backend::{BackendError, ReplayStore, forget_at_millis};
use raceproof_core::replay::{ReplayError, Tag};

/// Longest key prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 64;
/// The default key prefix: keys are `raceproof:replay:<hex tag>`.
pub const DEFAULT_PREFIX: &str = "raceproof:replay:";

/// Makes Redis connections with timeouts on connect, reads and writes.
#[derive(Debug)]
pub struct RedisManager {
    client: ::redis::Client,
    config: PoolConfig,
}

impl r2d2::ManageConnection for RedisManager {
    type Connection = ::redis::Connection;
    type Error = ::redis::RedisError;

    fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let con = self
            .client
            .get_connection_with_timeout(self.config.connect_timeout)?;
        con.set_read_timeout(Some(self.config.command_timeout))?;
        con.set_write_timeout(Some(self.config.command_timeout))?;
        Ok(con)
    }

    fn is_valid(&self, con: &mut Self::Connection) -> Result<(), Self::Error> {
        ::redis::cmd("PING").query::<String>(con).map(|_| ())
    }

    fn has_broken(&self, con: &mut Self::Connection) -> bool {
        !::redis::ConnectionLike::is_open(con)
    }
}

/// Why a Redis store could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("the Redis URL is invalid")]
    InvalidUrl,
    #[error("the key prefix is empty, longer than {MAX_PREFIX_LEN} bytes or not printable")]
    InvalidPrefix,
}

/// A [`ReplayStore`] in Redis, shared by every process that uses the same server and prefix.
pub struct RedisReplayStore {
    pool: r2d2::Pool<RedisManager>,
    prefix: String,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A Redis failure as a 503, naming the kind of failure only.
pub(crate) fn unavailable(e: &::redis::RedisError) -> BackendError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connection_refusal() {
        "connection refused"
    } else if e.is_connection_dropped() || e.is_io_error() {
        "connection lost"
    } else {
        "unexpected answer"
    };
    BackendError::unavailable(format!("redis: {what}"))
}

impl RedisReplayStore {
    /// A store on `url` with [`DEFAULT_PREFIX`]. No connection is made yet: a process may
    /// start while Redis is down and answers 503 until it is up ([`Self::ping`] checks).
    pub fn connect(url: &str, config: PoolConfig) -> Result<Self, RedisSetupError> {
        Self::with_prefix(url, DEFAULT_PREFIX, config)
    }

    /// Connects to `url`, keeping keys under `prefix` (tests give each run its own).
    pub fn with_prefix(
        url: &str,
        prefix: &str,
        config: PoolConfig,
    ) -> Result<Self, RedisSetupError> {
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX_LEN
            || !prefix.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(RedisSetupError::InvalidPrefix);
        }
        let client = ::redis::Client::open(url).map_err(|_| RedisSetupError::InvalidUrl)?;
        let pool = crate::pool(RedisManager { client, config }, config);
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
        })
    }

    /// Whether Redis answers now.
    pub fn ping(&self) -> Result<(), BackendError> {
        self.query::<String>(&::redis::cmd("PING")).map(|_| ())
    }

    /// The key an identity is kept under.
    pub fn key(&self, identity: &Tag) -> String {
        format!("{}{}", self.prefix, identity.to_hex())
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<RedisManager>, BackendError> {
        self.pool
            .get()
            .map_err(|_| BackendError::unavailable("redis: no connection available in time"))
    }

    /// Runs `cmd` on a pooled connection.
    pub fn query<T: ::redis::FromRedisValue>(&self, cmd: &::redis::Cmd) -> Result<T, BackendError> {
        let mut con = self.connection()?;
        cmd.query(&mut *con).map_err(|e| unavailable(&e))
    }
}

impl ReplayStore for RedisReplayStore {
    fn insert_if_absent(
        &self,
        identity: &Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), BackendError> {
        let pxat = forget_at_millis(expires_at, now)?;
        // One command: admitted iff absent, with its expiry attached atomically.
        let mut set = ::redis::cmd("SET");
        set.arg(self.key(identity))
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(pxat);
        match self.query::<Option<String>>(&set)?.as_deref() {
            Some("OK") => Ok(()),
            None => Err(ReplayError::Replayed.into()),
            Some(_) => Err(BackendError::unavailable("redis: unexpected answer to SET")),
        }
    }
}
