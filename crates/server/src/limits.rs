//! What one client may hold and for how long (issue 21): connection lifetimes, the
//! connection cap, header and concurrency limits, and login throttling. Flags here, with
//! their defaults; `serve.rs` and `connections.rs` apply them.

use raceproof_core::throttle::LimitPolicy;
use std::time::Duration;

/// The command line's limits (flattened into [`crate::Cli`]).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Seconds from accept until the first bytes tell HTTP/1.1 from HTTP/2 (24 bytes of
    /// the HTTP/2 preface, or any bytes that are not one): silent sockets and bare `PRI`
    /// prefixes are closed after this.
    #[arg(long, default_value_t = 10)]
    pub handshake_timeout_secs: u64,

    /// Seconds an HTTP/1.1 request head may take to arrive, counted from when the server
    /// starts waiting for it: also how long an idle HTTP/1.1 keep-alive connection lives.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a connection may stay open with no request in flight (HTTP/2 gets a GOAWAY).
    #[arg(long, default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// HTTP/2: a PING every this many idle seconds; a peer that does not answer within as
    /// many again is disconnected.
    #[arg(long, default_value_t = 20)]
    pub h2_keepalive_secs: u64,

    /// Open connections at most (lowered to fit the open-files limit). At the cap, a new
    /// connection closes the one idle longest; with none idle, accepting pauses.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,

    /// Requests handled at once, over all connections; beyond it, a request on a
    /// connection with one in flight already gets 503 + Retry-After (one on an idle
    /// connection still gets in, up to twice this).
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,

    /// HTTP/2 streams open at once per connection.
    #[arg(long, default_value_t = 128)]
    pub max_streams: u32,

    /// Largest request head in bytes: HTTP/1.1 request line and headers (431 beyond), and
    /// HTTP/2's header list.
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Login throttling window, in seconds.
    #[arg(long, default_value_t = LimitPolicy::default().window_secs)]
    pub login_window_secs: i64,

    /// Failed logins per (user, client) per window.
    #[arg(long, default_value_t = LimitPolicy::default().per_pair)]
    pub login_per_client_user: u32,

    /// Failed logins per user per window from clients it never logged in from.
    #[arg(long, default_value_t = LimitPolicy::default().per_user)]
    pub login_per_user: u32,

    /// Failed logins per client per window, over users it never logged in as.
    #[arg(long, default_value_t = LimitPolicy::default().per_client)]
    pub login_per_client: u32,
}

/// The limits of a running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub h2_keepalive: Duration,
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub max_streams: u32,
    pub max_header_bytes: usize,
    pub login: LimitPolicy,
}

/// hyper's smallest HTTP/1 read buffer: a head limit below it is raised to it.
pub const MIN_HEADER_BYTES: usize = 8192;

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            h2_keepalive: Duration::from_secs(20),
            max_connections: 10_000,
            max_in_flight: 1024,
            max_streams: 128,
            max_header_bytes: 16 * 1024,
            login: LimitPolicy::default(),
        }
    }
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        let secs = |s: u64| Duration::from_secs(s.max(1));
        Limits {
            handshake_timeout: secs(self.handshake_timeout_secs),
            header_timeout: secs(self.header_timeout_secs),
            idle_timeout: secs(self.idle_timeout_secs),
            h2_keepalive: secs(self.h2_keepalive_secs),
            max_connections: self.max_connections.max(1),
            max_in_flight: self.max_in_flight.max(1),
            max_streams: self.max_streams.max(1),
            max_header_bytes: self.max_header_bytes.max(MIN_HEADER_BYTES),
            login: LimitPolicy {
                window_secs: self.login_window_secs.max(1),
                per_pair: self.login_per_client_user.max(1),
                per_user: self.login_per_user.max(1),
                per_client: self.login_per_client.max(1),
                ..LimitPolicy::default()
            },
        }
    }
}

/// Raises the open-files soft limit toward the hard limit (where the OS allows), and
/// returns the connection cap that fits in it: each connection takes one descriptor, and
/// a few dozen are kept for the listener, logs, backends and blocking threads' files.
pub fn fit_connections(wanted: usize) -> usize {
    const RESERVED: u64 = 64;
    let Some(files) = raise_open_files() else {
        return wanted;
    };
    let fits = usize::try_from(files.saturating_sub(RESERVED).max(1)).unwrap_or(usize::MAX);
    if fits < wanted {
        tracing::warn!(
            open_files = files,
            max_connections = fits,
            wanted,
            "the open-files limit is lower than --max-connections: the cap is lowered to fit"
        );
    }
    wanted.min(fits)
}

/// The open-files soft limit after raising it as far as the hard limit allows; `None`
/// where the platform has no such limit.
#[cfg(unix)]
fn raise_open_files() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    let soft = current.current?;
    if current.maximum.is_some_and(|hard| hard <= soft) {
        return Some(soft);
    }
    // Some kernels refuse an unlimited soft limit (or one above nr_open): stop at 1 Mi.
    let target = current.maximum.unwrap_or(u64::MAX).min(1 << 20);
    let raised = Rlimit {
        current: Some(target),
        maximum: current.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = soft, to = target, "raised the open-files soft limit");
            Some(target)
        }
        Err(e) => {
            tracing::warn!(error = %e, soft, "cannot raise the open-files limit");
            Some(soft)
        }
    }
}

#[cfg(not(unix))]
fn raise_open_files() -> Option<u64> {
    None
}
