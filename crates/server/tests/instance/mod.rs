//! What the process-level tests share: the backends' opt-in, unique names, a server
//! process on a free loopback port, and one-shot HTTP requests to it.
#![allow(dead_code, clippy::unwrap_used)]

use axum::body::Bytes;
use http_body_util::Full;
use hyper::Request;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub fn opted_in(test: &str) -> bool {
    let on = std::env::var("RACEPROOF_BACKEND_TESTS").is_ok_and(|v| v == "1") || in_ci();
    if !on {
        eprintln!("{test}: skipped; set RACEPROOF_BACKEND_TESTS=1 to run the backend tests");
    }
    on
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| raceproof_backends::DEFAULT_REDIS_URL.to_owned())
}

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| raceproof_backends::DEFAULT_DATABASE_URL.to_owned())
}

/// Whether a backend answered: in CI a silent one fails the test; locally the test says how
/// to start it and is skipped.
pub fn answered(test: &str, name: &str, answered: bool) -> bool {
    if answered {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: {name} is not answering in CI (REDIS_URL / DATABASE_URL)"
    );
    let how = match name {
        "redis" => {
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
        }
        _ => "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    };
    eprintln!("{test}: skipped, {name} is not answering; start it with: {how}");
    false
}

/// The Redis URL when Redis answers.
pub fn redis(test: &str) -> Option<String> {
    if !opted_in(test) {
        return None;
    }
    let url = redis_url();
    let up = raceproof_backends::redis::RedisReplayStore::connect(
        &url,
        raceproof_backends::PoolConfig::default(),
    )
    .is_ok_and(|store| store.ping().is_ok());
    answered(test, "redis", up).then_some(url)
}

/// The PostgreSQL URL when PostgreSQL answers.
pub fn postgres(test: &str) -> Option<String> {
    if !opted_in(test) {
        return None;
    }
    let url = database_url();
    let up = raceproof_backends::postgres::PgUserRepository::connect(
        &url,
        raceproof_backends::PoolConfig::default(),
    )
    .is_ok_and(|repo| repo.ping().is_ok());
    answered(test, "postgres", up).then_some(url)
}

/// A key prefix or schema name no other run uses (lowercase letters, digits and '_').
pub fn unique_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("rptest_{}_{nanos}_{n}", std::process::id())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// A server process; killed (by its PID) if a test fails before stopping it.
pub struct Instance {
    child: Child,
    pub addr: SocketAddr,
    /// What it logged up to "listening".
    pub log: String,
}

/// The state instances share; `None` keeps it in each process's memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shared<'a> {
    /// `/operate`'s replay set: Redis URL and key prefix.
    pub replay: Option<(&'a str, &'a str)>,
    /// The users and the audit log: PostgreSQL URL and schema.
    pub users: Option<(&'a str, &'a str)>,
}

impl<'a> Shared<'a> {
    pub fn replay(url: &'a str, prefix: &'a str) -> Self {
        Self {
            replay: Some((url, prefix)),
            users: None,
        }
    }

    pub fn users(url: &'a str, schema: &'a str) -> Self {
        Self {
            replay: None,
            users: Some((url, schema)),
        }
    }
}

impl Instance {
    /// Starts the binary on a free loopback port with its handler-start stamps on (the
    /// race tester reports the spread of a burst across both processes).
    pub fn start(shared: Shared<'_>) -> Self {
        Self::start_with(shared, &[])
    }

    /// [`Instance::start`] with more command-line arguments (`--variant`, `--runtime`, ...).
    pub fn start_with(shared: Shared<'_>, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_raceproof-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--users", USERS])
            .args(["--hasher", "fast", "--webhook-secret", SECRET])
            .arg("--expose-timing")
            // The scenarios send passwords that a burst's own password change made stale,
            // from one address, burst after burst: the login throttle would refuse that
            // client its own failures' worth (5 per window by default). It is not what these
            // tests test; tests/login_race.rs and tests/hostile_router.rs test it.
            .args(["--login-per-client-user", "100000"])
            .env("RUST_LOG", "info")
            .env_remove("RACEPROOF_WEBHOOK_SECRET")
            .env_remove("RACEPROOF_REPLAY_STORE")
            .env_remove("RACEPROOF_USERS_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command.args(args);
        if let Some((url, prefix)) = shared.replay {
            command.args(["--replay-store", url, "--replay-prefix", prefix]);
        }
        if let Some((url, schema)) = shared.users {
            command.args(["--users-db", url, "--users-schema", schema]);
        }
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut log = String::new();
        let addr = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "server exited early: {log}"
            );
            log.push_str(&line);
            if let Some(rest) = line.split("addr=").nth(1) {
                let replay = if shared.replay.is_some() {
                    "redis"
                } else {
                    "memory"
                };
                let users = if shared.users.is_some() {
                    "postgres"
                } else {
                    "memory"
                };
                for (field, expected) in [("replay_store", replay), ("users_store", users)] {
                    assert!(
                        line.contains(&format!("{field}=\"{expected}\""))
                            || line.contains(&format!("{field}={expected}")),
                        "{line}"
                    );
                }
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep draining the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self { child, addr, log }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
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
pub struct Message {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

pub fn message(id: String) -> Message {
    let timestamp = now();
    let body = format!(r#"{{"resource_id":"invoice-{id}","action":"refund"}}"#);
    let secret = raceproof_server::WebhookSecret::parse(SECRET).unwrap();
    let signature = raceproof_server::webhook::WebhookKey::new(&secret)
        .unwrap()
        .sign(&id, timestamp, body.as_bytes());
    Message {
        id,
        timestamp,
        signature,
        body,
    }
}

pub fn operate(addr: SocketAddr, message: &Message) -> Request<Full<Bytes>> {
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
pub async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

pub async fn send_once(addr: SocketAddr, message: &Message) -> u16 {
    let mut sender = connect(addr).await;
    sender
        .send_request(operate(addr, message))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends `request` on a new connection: status, ETag, JSON body.
pub async fn send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> (u16, Option<String>, serde_json::Value) {
    let response = connect(addr).await.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        etag,
        serde_json::from_slice(&body).unwrap_or_default(),
    )
}

pub fn update_email(addr: SocketAddr, if_match: &str, email: &str) -> Request<Full<Bytes>> {
    let credentials = raceproof_core::auth::Credentials::new("alice", "s3cr3t").unwrap();
    Request::post(format!("http://{addr}/update-email"))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", credentials.to_header())
        .header("if-match", if_match)
        .body(Full::new(Bytes::from(format!(r#"{{"email":"{email}"}}"#))))
        .unwrap()
}

/// `GET /users/{id}` as root (an admin may read any record).
pub fn get_user(addr: SocketAddr, id: &str) -> Request<Full<Bytes>> {
    let credentials = raceproof_core::auth::Credentials::new("root", "r00t").unwrap();
    Request::get(format!("http://{addr}/users/{id}"))
        .header("host", addr.to_string())
        .header("authorization", credentials.to_header())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Removes a test's schema (best effort: a leftover one only takes space).
pub fn drop_schema(url: &str, schema: &str) {
    if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
