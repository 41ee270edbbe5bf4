//! Connections that never finish speaking: silent sockets past the cap, bare `PRI`
//! prefixes, idle h2c, slowloris.

use crate::wire::{self, closed_by_server};
use crate::{Config, Target, row};
use raceproof_report::abuse::AbuseProbe;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A margin for a loaded machine on top of each timeout: the wait's bound, not a claim.
const MARGIN: Duration = Duration::from_secs(5);

pub async fn run(target: Target, config: &Config) -> Vec<AbuseProbe> {
    vec![
        silent_sockets(target, config).await,
        pri_prefixes(target, config).await,
        idle_h2c(target, config).await,
        slowloris(target, config).await,
    ]
}

/// Opens `n` sockets, writing `first` on each (nothing if empty); each with when it opened.
async fn open(target: Target, n: usize, first: &[u8]) -> Vec<(TcpStream, Instant)> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut stream) = TcpStream::connect(target.addr).await else {
            break;
        };
        if !first.is_empty() {
            let _ = stream.write_all(first).await;
        }
        streams.push((stream, Instant::now()));
    }
    streams
}

/// How many of `streams` the server closed within `within` of their opening, and the
/// longest any of those stayed open. Every socket is watched at once, so each close is
/// seen when it happens; the attacker keeps its end of every socket.
async fn count_closed(
    streams: &mut Vec<(TcpStream, Instant)>,
    within: Duration,
) -> (usize, Duration) {
    let mut watchers = tokio::task::JoinSet::new();
    for (mut stream, opened) in streams.drain(..) {
        watchers.spawn(async move {
            let left = (opened + within).saturating_duration_since(Instant::now());
            let closed = closed_by_server(&mut stream, left)
                .await
                .map(|_| opened.elapsed());
            (stream, opened, closed)
        });
    }
    let (mut closed, mut longest) = (0, Duration::ZERO);
    while let Some(Ok((stream, opened, after))) = watchers.join_next().await {
        if let Some(after) = after.filter(|after| *after <= within) {
            closed += 1;
            longest = longest.max(after);
        }
        streams.push((stream, opened));
    }
    (closed, longest)
}

/// A legitimate login request, answered while the attacker holds its sockets.
async fn legitimate(target: Target) -> u16 {
    let raw = wire::request("GET", "/users/bob", &wire::basic("bob", "b0b"), "");
    wire::exchange(target.addr, &raw, Duration::from_secs(10))
        .await
        .map_or(0, |a| a.status)
}

async fn silent_sockets(target: Target, config: &Config) -> AbuseProbe {
    let n = config.max_connections + config.max_connections / 4;
    let handshake = Config::secs(config.handshake_timeout_secs);
    let mut streams = open(target, n, b"").await;
    let opened = streams.len();
    let (closed, slowest) = count_closed(&mut streams, handshake + MARGIN).await;
    let status = legitimate(target).await;
    let holds = opened == n && closed == opened && status == 200;
    row(
        "silent-sockets",
        "sockets that never send a byte, 25% more than the connection cap",
        format!(
            "cap {} connections; first bytes within {}s",
            config.max_connections, config.handshake_timeout_secs
        ),
        format!(
            "{closed} of {opened} closed by the server, each within {:.1}s of opening; a \
             login request answered {status} while all were held",
            slowest.as_secs_f64()
        ),
        holds,
    )
}

async fn pri_prefixes(target: Target, config: &Config) -> AbuseProbe {
    let n = 256;
    let handshake = Config::secs(config.handshake_timeout_secs);
    let mut streams = open(target, n, b"PRI * HTTP/2.0\r\n").await;
    let opened = streams.len();
    let (closed, slowest) = count_closed(&mut streams, handshake + MARGIN).await;
    row(
        "pri-prefix",
        "sockets that send `PRI * HTTP/2.0\\r\\n` and stop",
        format!("preface within {}s", config.handshake_timeout_secs),
        format!(
            "{closed} of {opened} closed, each within {:.1}s",
            slowest.as_secs_f64()
        ),
        opened == n && closed == n,
    )
}

async fn idle_h2c(target: Target, config: &Config) -> AbuseProbe {
    let n = 64;
    // The whole preface and an empty SETTINGS frame, then silence (PINGs go unanswered).
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let bound = Config::secs(config.idle_timeout_secs.max(2 * config.h2_keepalive_secs)) + MARGIN;
    let mut streams = open(target, n, preface).await;
    let opened = streams.len();
    let (closed, slowest) = count_closed(&mut streams, bound).await;
    row(
        "idle-h2c",
        "h2c connections that send the preface and SETTINGS, then nothing",
        format!(
            "idle {}s; PING every {}s",
            config.idle_timeout_secs, config.h2_keepalive_secs
        ),
        format!(
            "{closed} of {opened} closed, each within {:.1}s",
            slowest.as_secs_f64()
        ),
        opened == n && closed == n,
    )
}

async fn slowloris(target: Target, config: &Config) -> AbuseProbe {
    let n = 128;
    let header = Config::secs(config.header_timeout_secs);
    let mut streams = open(target, n, b"GET /users/bob HTTP/1.1\r\nHost: x\r\n").await;
    let opened = streams.len();
    // One more header line per stream every 500 ms, until the server hangs up.
    let start = Instant::now();
    let deadline = start + header + MARGIN;
    let mut open_now = opened;
    let mut line = 0;
    while open_now > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        line += 1;
        open_now = 0;
        for (stream, _) in &mut streams {
            let drip = format!("X-Drip-{line}: a\r\n");
            if stream.write_all(drip.as_bytes()).await.is_ok() {
                open_now += 1;
            }
        }
    }
    let (closed, _) = count_closed(&mut streams, start.elapsed() + MARGIN).await;
    row(
        "slowloris",
        "HTTP/1.1 heads sent one header line per 500 ms, never finished",
        format!("head within {}s", config.header_timeout_secs),
        format!("{closed} of {opened} closed after {line} header lines"),
        opened == n && closed == n,
    )
}
