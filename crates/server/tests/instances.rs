//! Several instances, for real (issue 11): two server processes on loopback, one signed
//! message sent to both at once. Sharing a Redis replay store they admit it once between
//! them; each with its own memory, each admits it. Then a restart: with Redis the replay is
//! still refused, with memory it is admitted again.
//!
//! The Redis tests are opted in like the backend tests (`RACEPROOF_BACKEND_TESTS=1`, or `CI=true`, where a
//! Redis that does not answer fails the test); `REDIS_URL` names the server
//! (default `redis://127.0.0.1:6379`).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use http_body_util::Full;
use hyper::Request;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Messages per configuration, and copies of each sent to each instance at once.
const ROUNDS: usize = 50;
const PER_INSTANCE: usize = 4;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn opted_in(test: &str) -> bool {
    let on = std::env::var("RACEPROOF_BACKEND_TESTS").is_ok_and(|v| v == "1") || in_ci();
    if !on {
        eprintln!("{test}: skipped; set RACEPROOF_BACKEND_TESTS=1 to run the backend tests");
    }
    on
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| raceproof_backends::DEFAULT_REDIS_URL.to_owned())
}

/// The Redis URL when Redis answers; in CI a silent Redis fails the test.
fn redis(test: &str) -> Option<String> {
    if !opted_in(test) {
        return None;
    }
    let url = redis_url();
    let answered = raceproof_backends::redis::RedisReplayStore::connect(
        &url,
        raceproof_backends::PoolConfig::default(),
    )
    .is_ok_and(|store| store.ping().is_ok());
    if answered {
        return Some(url);
    }
    assert!(!in_ci(), "{test}: redis is not answering in CI (REDIS_URL)");
    eprintln!(
        "{test}: skipped, redis is not answering; start it with: redis-server --daemonize yes \
         --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
    );
    None
}

/// A key prefix no other run uses.
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rptest_{}_{nanos}", std::process::id())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// A server process; killed (by its PID) if a test fails before stopping it.
struct Instance {
    child: Child,
    addr: SocketAddr,
}

impl Instance {
    /// Starts the binary on a free loopback port; `replay` is the Redis URL and prefix, or
    /// `None` for in-memory state.
    fn start(replay: Option<(&str, &str)>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_raceproof-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--users", USERS])
            .args(["--hasher", "fast", "--webhook-secret", SECRET])
            .env("RUST_LOG", "info")
            .env_remove("RACEPROOF_WEBHOOK_SECRET")
            .env_remove("RACEPROOF_REPLAY_STORE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((url, prefix)) = replay {
            command.args(["--replay-store", url, "--replay-prefix", prefix]);
        }
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "server exited early"
            );
            if let Some(rest) = line.split("addr=").nth(1) {
                let expected = if replay.is_some() { "redis" } else { "memory" };
                assert!(
                    line.contains(&format!("replay_store=\"{expected}\""))
                        || line.contains(&format!("replay_store={expected}")),
                    "{line}"
                );
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep draining the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self { child, addr }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One signed message: its headers and body.
#[derive(Clone)]
struct Message {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

fn message(id: String) -> Message {
    let timestamp = now();
    let body = format!(r#"{{"resource_id":"invoice-{id}","action":"refund"}}"#);
    let secret = raceproof_server::WebhookSecret::parse(SECRET).unwrap();
    let clock = Arc::new(FixedClock(timestamp));
    let signature = raceproof_server::webhook::WebhookGuard::new(&secret, clock, 300)
        .unwrap()
        .sign(&id, timestamp, body.as_bytes());
    Message {
        id,
        timestamp,
        signature,
        body,
    }
}

struct FixedClock(i64);

impl raceproof_core::replay::Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

fn operate(addr: SocketAddr, message: &Message) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/operate"))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("webhook-id", &message.id)
        .header("webhook-timestamp", message.timestamp.to_string())
        .header("webhook-signature", &message.signature)
        .body(Full::new(Bytes::from(message.body.clone())))
        .unwrap()
}

/// An HTTP/1.1 connection to `addr`, ready to send.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn send_once(addr: SocketAddr, message: &Message) -> u16 {
    let mut sender = connect(addr).await;
    sender
        .send_request(operate(addr, message))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends `message` `PER_INSTANCE` times to each instance, every request on its own open
/// connection, all released together by a barrier; the statuses.
async fn burst(addrs: [SocketAddr; 2], message: &Message) -> Vec<u16> {
    let copies = 2 * PER_INSTANCE;
    let barrier = Arc::new(tokio::sync::Barrier::new(copies));
    let mut tasks = Vec::with_capacity(copies);
    for i in 0..copies {
        let addr = addrs[i % 2];
        let request = operate(addr, message);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            barrier.wait().await;
            sender
                .send_request(request)
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::with_capacity(copies);
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Runs `ROUNDS` bursts of fresh messages across `a` and `b`; admissions (200s) per
/// message, after checking that every other answer is a 409.
async fn admissions_per_message(a: &Instance, b: &Instance, label: &str) -> Vec<usize> {
    let mut admissions = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let message = message(format!("msg_{label}_{round}_{}", unique_prefix()));
        let statuses = burst([a.addr, b.addr], &message).await;
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "round {round}: {statuses:?}"
        );
        admissions.push(statuses.iter().filter(|s| **s == 200).count());
    }
    let min = admissions.iter().min().unwrap();
    let max = admissions.iter().max().unwrap();
    let twice = admissions.iter().filter(|n| **n > 1).count();
    eprintln!(
        "{label}: {ROUNDS} messages x {} requests ({PER_INSTANCE} per instance, released \
         together): admissions per message min {min} max {max}; messages admitted more than \
         once: {twice}",
        2 * PER_INSTANCE
    );
    admissions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_redis_admit_each_message_once() {
    let test = "two_instances_sharing_redis_admit_each_message_once";
    let Some(url) = redis(test) else { return };
    let prefix = unique_prefix();
    let a = Instance::start(Some((&url, &prefix)));
    let b = Instance::start(Some((&url, &prefix)));
    let admissions = admissions_per_message(&a, &b, "redis").await;
    // Zero anomalies: every message admitted exactly once across both instances.
    assert!(admissions.iter().all(|n| *n == 1), "{admissions:?}");
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_with_memory_state_each_admit_the_same_message() {
    // No backend involved: runs everywhere.
    let a = Instance::start(None);
    let b = Instance::start(None);
    // Deterministic: A admits, then B, which never saw A's set, admits the replay.
    let replayed = message(format!("msg_sequential_{}", unique_prefix()));
    let sequential = [
        send_once(a.addr, &replayed).await,
        send_once(b.addr, &replayed).await,
        send_once(a.addr, &replayed).await,
    ];
    eprintln!("memory, sequential A, B, A: {sequential:?}");
    assert_eq!(sequential, [200, 200, 409]);
    // Split bursts: each process admits each message once, so twice in all.
    let admissions = admissions_per_message(&a, &b, "memory").await;
    assert!(admissions.iter().all(|n| *n == 2), "{admissions:?}");
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_forgets_nothing_with_redis_and_everything_in_memory() {
    let test = "a_restart_forgets_nothing_with_redis_and_everything_in_memory";
    let Some(url) = redis(test) else { return };
    let prefix = unique_prefix();
    for (label, replay) in [
        ("redis", Some((url.as_str(), prefix.as_str()))),
        ("memory", None),
    ] {
        let message = message(format!("msg_restart_{label}_{}", unique_prefix()));
        let first = Instance::start(replay);
        let admitted = send_once(first.addr, &message).await;
        let again = send_once(first.addr, &message).await;
        first.stop();
        let second = Instance::start(replay);
        let after_restart = send_once(second.addr, &message).await;
        second.stop();
        eprintln!("{label}: admit {admitted}, replay {again}, restart, replay {after_restart}");
        assert_eq!((admitted, again), (200, 409), "{label}");
        let expected = if replay.is_some() { 409 } else { 200 };
        assert_eq!(after_restart, expected, "{label}: replay after a restart");
    }
}
