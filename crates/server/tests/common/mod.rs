//! Shared by the test files: the demo users, a router over them, one-shot requests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod process;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use raceproof_core::auth::{Argon2Hasher, Credentials};
use raceproof_core::replay::Clock;
use raceproof_flows::{UserSpec, Variant};
use raceproof_server::{AppState, Settings, UsersFile, WebhookSecret, router};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt as _;

/// The demo secret of users.example.toml and of the Standard Webhooks test vector.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn hasher() -> Argon2Hasher {
    raceproof_server::HasherKind::Fast.build().unwrap()
}

/// The accounts of users.example.toml: root and admin (admins), alice and bob (users).
pub fn users(hasher: &Argon2Hasher) -> Vec<UserSpec> {
    UsersFile::load(Path::new(EXAMPLE_USERS))
        .unwrap()
        .specs(hasher)
        .unwrap()
}

pub const EXAMPLE_USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");

pub fn settings(variant: Variant) -> Settings {
    Settings {
        variant,
        ..Settings::default()
    }
}

pub fn state(settings: Settings) -> AppState {
    let hasher = hasher();
    let secret = WebhookSecret::parse(SECRET).unwrap();
    AppState::new(&users(&hasher), hasher, &secret, settings).unwrap()
}

pub fn state_at(settings: Settings, clock: Arc<dyn Clock>) -> AppState {
    let hasher = hasher();
    let secret = WebhookSecret::parse(SECRET).unwrap();
    AppState::with_clock(&users(&hasher), hasher, &secret, settings, clock).unwrap()
}

pub fn app(variant: Variant) -> Router {
    router(Arc::new(state(settings(variant))))
}

pub struct Fixed(pub i64);

impl Clock for Fixed {
    fn now(&self) -> i64 {
        self.0
    }
}

pub fn basic(user: &str, password: &str) -> String {
    Credentials::new(user, password).unwrap().to_header()
}

/// A JSON POST with Basic credentials.
pub fn post_as(path: &str, user: &str, password: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", basic(user, password))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

pub fn get_as(path: &str, user: &str, password: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", basic(user, password))
        .body(Body::empty())
        .unwrap()
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, and for an error a problem body of that status.
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                self.header("content-type"),
                Some("application/problem+json")
            );
            let problem = self.json();
            assert_eq!(problem["status"], status.as_u16());
            for field in ["type", "title", "detail"] {
                assert!(problem[field].is_string(), "{field} missing: {problem}");
            }
        }
        self
    }
}

/// Sends `request` and asserts the answer's status (and problem body, for an error).
pub async fn check(app: &Router, request: Request<Body>, status: StatusCode) -> Reply {
    send(app, request).await.expect(status)
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// A request body of data chunks with no known length (as a chunked upload), which
/// stalls forever after the last chunk when `stall` is set.
pub struct Chunks {
    chunks: std::collections::VecDeque<Vec<u8>>,
    stall: bool,
}

impl Chunks {
    pub fn new(chunks: Vec<Vec<u8>>) -> Self {
        Self {
            chunks: chunks.into(),
            stall: false,
        }
    }

    /// A body that never arrives.
    pub fn stalled() -> Self {
        Self {
            chunks: Default::default(),
            stall: true,
        }
    }
}

impl axum::body::HttpBody for Chunks {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match this.chunks.pop_front() {
            Some(chunk) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk.into())))),
            None if this.stall => std::task::Poll::Pending,
            None => std::task::Poll::Ready(None),
        }
    }
}
