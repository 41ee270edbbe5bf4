//! Raw sockets and small HTTP/1.1 exchanges: the probes speak bytes, not a client
//! library, since malformed and unfinished requests are the point.

use raceproof_core::auth::Credentials;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The `Authorization` header line of `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    match Credentials::new(user, password) {
        Ok(credentials) => format!("Authorization: {}\r\n", credentials.to_header()),
        Err(_) => String::new(),
    }
}

/// An HTTP/1.1 request that closes its connection after the answer.
pub fn request(method: &str, path: &str, headers: &str, body: &str) -> Vec<u8> {
    let length = if body.is_empty() && method == "GET" {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}{length}Connection: close\r\n\r\n{body}")
        .into_bytes()
}

/// An answer read whole.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Self {
            status: head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    /// A header's value (the first), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn is_problem(&self) -> bool {
        self.header("content-type") == Some("application/problem+json")
    }
}

/// Sends `raw` on a new connection and reads until the server closes it (at most
/// `within`). `None`: no connection, or nothing came back in time.
pub async fn exchange(addr: SocketAddr, raw: &[u8], within: Duration) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    // A server that answers early may reset the rest of a large write: read regardless.
    let _ = stream.write_all(raw).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    (!answer.is_empty()).then(|| Answer::parse(&answer))
}

/// Waits (at most `within`) until the server closes `stream`: end of file or a reset.
/// Bytes it sends first (a GOAWAY, an error answer) are skipped. Returns how long it took.
pub async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .ok()
        .map(|()| start.elapsed())
}

/// A process's resident memory, in KiB (Linux: `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// `n` KiB as MiB, one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Percentile `p` (0 to 100) of sorted durations, in ms.
pub fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = (sorted.len() - 1) * p / 100;
    sorted[at].as_secs_f64() * 1000.0
}
