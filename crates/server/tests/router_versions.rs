//! Every status code of `/update-email` and `/audit`, and routing, timing and limits,
//! through the router itself (`oneshot`).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use raceproof_core::audit::Commit;
use raceproof_core::auth::PasswordHash;
use raceproof_core::backend::{BackendError, CredentialSnapshot, UserRepository};
use raceproof_core::store::{Principal, Role, User, UserStore};
use raceproof_flows::Variant;
use raceproof_server::middleware::HANDLER_START_HEADER;
use raceproof_server::problem::BASIC_CHALLENGE;
use raceproof_server::{Settings, router};
use std::sync::Arc;
use std::time::Duration;

const PROVEN: Variant = Variant::ProvenFix;

fn assert_challenge(reply: &Reply) {
    assert_eq!(reply.header("www-authenticate"), Some(BASIC_CHALLENGE));
}

// ---------------------------------------------------------------------------------------
// /update-email

fn update_email(if_match: Option<&str>, body: &str) -> Request<Body> {
    let mut request = post_as("/update-email", "alice", "s3cr3t", body);
    if let Some(tag) = if_match {
        request
            .headers_mut()
            .insert("if-match", tag.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn update_email_with_the_current_etag_is_200_with_the_new_etag() {
    let app = app(PROVEN);
    let reply = check(
        &app,
        update_email(Some("\"1\""), r#"{"email":"a@example.org"}"#),
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(
        reply.json(),
        serde_json::json!({"email": "a@example.org", "version": 2})
    );
    let record = send(&app, get_as("/users/alice", "alice", "s3cr3t")).await;
    assert_eq!(record.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn update_email_with_a_stale_etag_is_412_and_writes_nothing() {
    let app = app(PROVEN);
    check(
        &app,
        update_email(Some("\"1\""), r#"{"email":"a@example.org"}"#),
        StatusCode::OK,
    )
    .await;
    check(
        &app,
        update_email(Some("\"1\""), r#"{"email":"b@example.org"}"#),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    let record = send(&app, get_as("/users/alice", "alice", "s3cr3t")).await;
    assert_eq!(record.json()["email"], "a@example.org");
}

#[tokio::test]
async fn if_match_is_strict() {
    let app = app(PROVEN);
    let body = r#"{"email":"a@example.org"}"#;
    // Weak and foreign tags are well formed but never match (strong comparison): 412.
    for tag in ["W/\"1\"", "\"abc\"", "\"01\""] {
        check(
            &app,
            update_email(Some(tag), body),
            StatusCode::PRECONDITION_FAILED,
        )
        .await;
    }
    // `*`, lists and malformed values are refused: 400.
    for tag in ["*", "\"1\", \"2\"", "1", "\"1", ""] {
        check(&app, update_email(Some(tag), body), StatusCode::BAD_REQUEST).await;
    }
    let mut twice = update_email(Some("\"1\""), body);
    twice
        .headers_mut()
        .append("if-match", "\"1\"".parse().unwrap());
    check(&app, twice, StatusCode::BAD_REQUEST).await;
    // Both kinds of precondition at once: 400.
    let both = r#"{"email":"a@example.org","expected_version":1}"#;
    check(
        &app,
        update_email(Some("\"1\""), both),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Nothing was written by any of these.
    assert_eq!(
        send(&app, get_as("/users/alice", "alice", "s3cr3t"))
            .await
            .header("etag"),
        Some("\"1\"")
    );
}

#[tokio::test]
async fn update_email_without_a_precondition_is_428_when_required() {
    for variant in Variant::ALL {
        let state = state(Settings {
            require_if_match: true,
            ..settings(variant)
        });
        let app = router(Arc::new(state));
        check(
            &app,
            update_email(None, r#"{"email":"a@example.org"}"#),
            StatusCode::PRECONDITION_REQUIRED,
        )
        .await;
        check(
            &app,
            update_email(Some("\"1\""), r#"{"email":"a@example.org"}"#),
            StatusCode::OK,
        )
        .await;
    }
    // Not required: applied.
    let app = app(PROVEN);
    check(
        &app,
        update_email(None, r#"{"email":"a@example.org"}"#),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn seed_clients_send_expected_version_and_get_409_when_stale() {
    for variant in [Variant::ProvenFix, Variant::SeedFix] {
        let app = app(variant);
        let body = r#"{"email":"a@example.org","expected_version":1}"#;
        let reply = check(&app, update_email(None, body), StatusCode::OK).await;
        assert_eq!(reply.json()["version"], 2, "{variant}");
        let reply = check(&app, update_email(None, body), StatusCode::CONFLICT).await;
        assert_eq!(
            reply.json()["type"],
            "urn:raceproof:problem:version-conflict"
        );
    }
}

#[tokio::test]
async fn update_email_rejects_invalid_emails_with_400() {
    let app = app(PROVEN);
    let long = format!(r#"{{"email":"{}"}}"#, "a".repeat(300));
    for body in [r#"{"email":""}"#, r#"{"email":"a\nb"}"#, long.as_str()] {
        check(&app, update_email(None, body), StatusCode::BAD_REQUEST).await;
    }
}

// ---------------------------------------------------------------------------------------
// /audit

#[tokio::test]
async fn audit_lists_commits_in_order_for_admins_only() {
    let app = app(PROVEN);
    check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"bob"}"#),
        StatusCode::OK,
    )
    .await;
    check(
        &app,
        update_email(Some("\"1\""), r#"{"email":"a@example.org"}"#),
        StatusCode::OK,
    )
    .await;
    let reply = check(&app, get_as("/audit", "admin", "adm1n"), StatusCode::OK).await;
    let entries = reply.json()["entries"].clone();
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["action"], "promote");
    assert_eq!(
        entries[1],
        serde_json::json!({
            "seq": 2, "actor": "alice", "action": "update_email", "target": "alice",
            "actor_role_at_commit": "user", "actor_epoch_at_commit": 0,
            "authenticated_epoch": 0, "email": "a@example.org", "version": 2
        })
    );
    check(
        &app,
        get_as("/audit", "alice", "s3cr3t"),
        StatusCode::FORBIDDEN,
    )
    .await;
    let reply = check(&app, get("/audit"), StatusCode::UNAUTHORIZED).await;
    assert_challenge(&reply);
    check(
        &app,
        get_as("/audit", "admin", "wrong"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Routing, timing, limits

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_as_problems() {
    let app = app(PROVEN);
    check(&app, get("/nope"), StatusCode::NOT_FOUND).await;
    let reply = check(&app, get("/promote"), StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = app(PROVEN);
    let reply = send(&app, get_as("/users/alice", "alice", "s3cr3t")).await;
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 16)
    );
    let request = Request::get("/nope")
        .header("x-request-id", "client-chosen-1")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.header("x-request-id"), Some("client-chosen-1"));
}

#[tokio::test]
async fn expose_timing_adds_the_handler_start_header() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let timed = router(Arc::new(state(Settings {
        expose_timing: true,
        ..settings(PROVEN)
    })));
    let reply = send(&timed, get_as("/users/alice", "alice", "s3cr3t")).await;
    let start: u128 = reply.header(HANDLER_START_HEADER).unwrap().parse().unwrap();
    assert!(start >= before);
    let plain = app(PROVEN);
    assert!(
        send(&plain, get_as("/users/alice", "alice", "s3cr3t"))
            .await
            .header(HANDLER_START_HEADER)
            .is_none()
    );
}

/// A body whose only frame arrives `delay` after the headers.
struct LateBody {
    delay: std::pin::Pin<Box<tokio::time::Sleep>>,
    data: Option<axum::body::Bytes>,
}

impl http_body::Body for LateBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::ready!(self.delay.as_mut().poll(cx));
        std::task::Poll::Ready(
            self.data
                .take()
                .map(|data| Ok(http_body::Frame::data(data))),
        )
    }
}

#[tokio::test]
async fn the_handler_start_stamp_is_taken_once_the_body_has_arrived() {
    // hyper hands the request over at its headers; a synchronized burst sends those ahead of
    // its release, so the stamp must wait for the body's end.
    let timed = router(Arc::new(state(Settings {
        expose_timing: true,
        ..settings(PROVEN)
    })));
    let delay = Duration::from_millis(50);
    let headers_sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let request = Request::post("/promote")
        .header("authorization", basic("admin", "adm1n"))
        .header("content-type", "application/json")
        .body(Body::new(LateBody {
            delay: Box::pin(tokio::time::sleep(delay)),
            data: Some(r#"{"target":"bob"}"#.into()),
        }))
        .unwrap();
    let reply = send(&timed, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    let start: u128 = reply.header(HANDLER_START_HEADER).unwrap().parse().unwrap();
    assert!(start >= headers_sent + delay.as_nanos());
}

#[tokio::test]
async fn a_body_that_never_arrives_is_408() {
    let app = router(Arc::new(state(Settings {
        timeout: Duration::from_millis(100),
        ..settings(PROVEN)
    })));
    let request = Request::post("/promote")
        .header("authorization", basic("admin", "adm1n"))
        .header("content-type", "application/json")
        .body(Body::new(Chunks::stalled()))
        .unwrap();
    check(&app, request, StatusCode::REQUEST_TIMEOUT).await;
}

// ---------------------------------------------------------------------------------------
// Failure isolation: a handler that panics, a saturated hasher

/// Users whose every call panics, to stand for a bug; or, with `sleep`, the example users
/// whose writes each take that long, to stand for a slow backend holding a hash slot.
struct Faulty {
    sleep: Option<Duration>,
    users: UserStore,
}

impl Faulty {
    fn panicking() -> Self {
        Self {
            sleep: None,
            users: UserStore::new(),
        }
    }

    fn slow(sleep: Duration) -> Self {
        let users = UserStore::new();
        for u in common::users(&hasher()) {
            users.insert(&u.id, u.password, u.role, &u.email).unwrap();
        }
        Self {
            sleep: Some(sleep),
            users,
        }
    }

    /// A slow call answers as the store does; a faulty one panics.
    fn act<T>(
        &self,
        call: impl FnOnce(&UserStore) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        match self.sleep {
            Some(d) => {
                std::thread::sleep(d);
                call(&self.users)
            }
            None => panic!("a bug in a handler"),
        }
    }
}

impl UserRepository for Faulty {
    fn insert(&self, _: &str, _: PasswordHash, _: Role, _: &str) -> Result<(), BackendError> {
        self.act(|_| Ok(()))
    }
    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        self.act(|users| Ok(users.get(user_id)))
    }
    /// Logins are quick either way: the slow part is the write that follows.
    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        match self.sleep {
            Some(_) => UserRepository::credentials(&self.users, user_id),
            None => panic!("a bug in a handler"),
        }
    }
    fn replace_hash_if_unchanged(
        &self,
        _: &str,
        _: u64,
        _: &PasswordHash,
        _: PasswordHash,
    ) -> Result<bool, BackendError> {
        self.act(|_| Ok(false))
    }
    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        self.act(|users| UserRepository::promote(users, actor, target))
    }
    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        self.act(|users| UserRepository::demote(users, actor, target))
    }
    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new: PasswordHash,
    ) -> Result<(), BackendError> {
        self.act(|users| UserRepository::change_password(users, actor, user, new))
    }
    fn update_email(
        &self,
        actor: &Principal,
        expected: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        self.act(|users| UserRepository::update_email(users, actor, expected, email))
    }
    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        self.act(UserRepository::audit)
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_and_the_server_goes_on() {
    let state = state(settings(PROVEN)).with_users(Arc::new(Faulty::panicking()), false);
    let app = router(Arc::new(state));
    // In the handler itself, and in its blocking task.
    let reply = check(
        &app,
        get_as("/users/alice", "alice", "s3cr3t"),
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert!(!String::from_utf8_lossy(&reply.body).contains("a bug"));
    check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"bob"}"#),
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    check(&app, get("/nope"), StatusCode::NOT_FOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_password_checks_are_503_with_retry_after_and_operate_still_answers() {
    let state = state(Settings {
        hash_concurrency: 1,
        hash_wait: Duration::from_millis(50),
        ..settings(PROVEN)
    })
    .with_users(Arc::new(Faulty::slow(Duration::from_millis(600))), false);
    let app = router(Arc::new(state));
    let slow = tokio::spawn({
        let app = app.clone();
        async move {
            send(
                &app,
                post_as("/promote", "admin", "adm1n", r#"{"target":"bob"}"#),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let reply = check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"bob"}"#),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(reply.header("retry-after"), Some("1"));
    // /operate needs no hashing: it answers (here 400, unsigned) while the slot is taken.
    let started = std::time::Instant::now();
    let request = Request::post("/operate")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    check(&app, request, StatusCode::BAD_REQUEST).await;
    assert!(started.elapsed() < Duration::from_millis(300));
    slow.await.unwrap().expect(StatusCode::OK);
}

/// A user database that never answers, as `--users-db` sees one that is down. Its message
/// names an address with a password, which must not reach a client.
struct Down;

const DOWN: &str = "postgres: connection failed to postgres://app:hunter2@db.internal";

impl UserRepository for Down {
    fn insert(&self, _: &str, _: PasswordHash, _: Role, _: &str) -> Result<(), BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn get(&self, _: &str) -> Result<Option<User>, BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn credentials(&self, _: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn replace_hash_if_unchanged(
        &self,
        _: &str,
        _: u64,
        _: &PasswordHash,
        _: PasswordHash,
    ) -> Result<bool, BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn promote(&self, _: &Principal, _: &str) -> Result<(), BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn demote(&self, _: &Principal, _: &str) -> Result<(), BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn change_password(&self, _: &Principal, _: &str, _: PasswordHash) -> Result<(), BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn update_email(&self, _: &Principal, _: Option<u64>, _: &str) -> Result<u64, BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        Err(BackendError::unavailable(DOWN))
    }
}

#[tokio::test]
async fn a_user_database_that_is_down_is_a_503_on_every_account_endpoint() {
    let state = state(settings(PROVEN)).with_users(Arc::new(Down), true);
    let app = router(Arc::new(state));
    let requests = [
        post_as("/promote", "admin", "adm1n", r#"{"target":"bob"}"#),
        post_as("/demote", "admin", "adm1n", r#"{"target":"root"}"#),
        post_as("/password", "alice", "s3cr3t", r#"{"new_password":"x"}"#),
        post_as("/update-email", "alice", "s3cr3t", r#"{"email":"a@x"}"#),
        get_as("/users/alice", "alice", "s3cr3t"),
        get_as("/audit", "admin", "adm1n"),
    ];
    for request in requests {
        let path = request.uri().path().to_owned();
        let reply = check(&app, request, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(reply.header("retry-after"), Some("1"), "{path}");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(body.contains("user database"), "{path}: {body}");
        assert!(
            !body.contains("hunter2") && !body.contains("db.internal"),
            "{path}: {body}"
        );
    }
    // The input checks still come first: a malformed request is a 400, not a 503.
    check(
        &app,
        post_as("/promote", "admin", "adm1n", "{}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
}
