//! Every status code of the Basic-auth account endpoints (`/promote`, `/demote`,
//! `/password`, `/users/{id}`), through the router itself (`oneshot`).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use raceproof_flows::Variant;
use raceproof_server::problem::BASIC_CHALLENGE;

const PROVEN: Variant = Variant::ProvenFix;

fn assert_challenge(reply: &Reply) {
    assert_eq!(reply.header("www-authenticate"), Some(BASIC_CHALLENGE));
}

// ---------------------------------------------------------------------------------------
// /promote

#[tokio::test]
async fn promote_by_an_admin_is_200_and_audited() {
    let app = app(PROVEN);
    let reply = send(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"alice"}"#),
    )
    .await;
    let reply = reply.expect(StatusCode::OK);
    assert_eq!(
        reply.json(),
        serde_json::json!({"target": "alice", "role": "admin"})
    );
    let record = check(
        &app,
        get_as("/users/alice", "alice", "s3cr3t"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(record.json()["role"], "admin");
    let audit = check(&app, get_as("/audit", "root", "r00t"), StatusCode::OK).await;
    assert_eq!(
        audit.json(),
        serde_json::json!({"entries": [{
            "seq": 1, "actor": "admin", "action": "promote", "target": "alice",
            "actor_role_at_commit": "admin", "actor_epoch_at_commit": 0,
            "authenticated_epoch": 0
        }], "next_after": null, "last_seq": 1, "dropped": {"ordinary": 0, "protected": 0}})
    );
}

#[tokio::test]
async fn promote_without_credentials_is_401_with_the_basic_challenge() {
    let app = app(PROVEN);
    let request = Request::post("/promote")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"target":"alice"}"#))
        .unwrap();
    let reply = check(&app, request, StatusCode::UNAUTHORIZED).await;
    assert_challenge(&reply);
}

#[tokio::test]
async fn promote_with_a_wrong_password_is_401_and_never_echoes_it() {
    let app = app(PROVEN);
    let reply = check(
        &app,
        post_as("/promote", "admin", "hunter2", r#"{"target":"alice"}"#),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_challenge(&reply);
    assert!(!String::from_utf8_lossy(&reply.body).contains("hunter2"));
    // Malformed credentials are 401 too, and the header is not echoed either.
    let request = Request::post("/promote")
        .header("authorization", "Basic not*base64")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"target":"alice"}"#))
        .unwrap();
    let reply = check(&app, request, StatusCode::UNAUTHORIZED).await;
    assert!(!String::from_utf8_lossy(&reply.body).contains("not*base64"));
}

#[tokio::test]
async fn promote_by_a_plain_user_is_403() {
    let app = app(PROVEN);
    check(
        &app,
        post_as("/promote", "alice", "s3cr3t", r#"{"target":"bob"}"#),
        StatusCode::FORBIDDEN,
    )
    .await;
    let record = check(&app, get_as("/users/bob", "root", "r00t"), StatusCode::OK).await;
    assert_eq!(record.json()["role"], "user");
}

#[tokio::test]
async fn promote_of_an_unknown_user_is_404() {
    let app = app(PROVEN);
    check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"mallory"}"#),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_400_415_and_413() {
    let app = app(PROVEN);
    check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"#),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let reply = check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":42}"#),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(!String::from_utf8_lossy(&reply.body).contains("42"));
    check(
        &app,
        post_as("/promote", "admin", "adm1n", r#"{"target":"a","x":1}"#),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let request = Request::post("/promote")
        .header("authorization", basic("admin", "adm1n"))
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"target":"alice"}"#))
        .unwrap();
    check(&app, request, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let huge = format!(r#"{{"target":"{}"}}"#, "a".repeat(20_000));
    check(
        &app,
        post_as("/promote", "admin", "adm1n", &huge),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Streamed without a Content-Length, the cap still holds.
    let request = Request::post("/promote")
        .header("authorization", basic("admin", "adm1n"))
        .header("content-type", "application/json")
        .body(Body::new(Chunks::new(vec![huge.into_bytes()])))
        .unwrap();
    check(&app, request, StatusCode::PAYLOAD_TOO_LARGE).await;
}

// ---------------------------------------------------------------------------------------
// /demote and /password

#[tokio::test]
async fn demote_is_200_until_the_last_admin_then_409() {
    let app = app(PROVEN);
    let reply = check(
        &app,
        post_as("/demote", "admin", "adm1n", r#"{"target":"root"}"#),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"target": "root", "role": "user"})
    );
    let reply = check(
        &app,
        post_as("/demote", "admin", "adm1n", r#"{"target":"admin"}"#),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(reply.json()["type"], "urn:raceproof:problem:last-admin");
    // root lost the role: 403 now.
    check(
        &app,
        post_as("/demote", "root", "r00t", r#"{"target":"admin"}"#),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn password_change_is_200_and_revokes_the_old_password() {
    let app = app(PROVEN);
    let body = r#"{"new_password":"n3w-pass"}"#;
    let reply = check(
        &app,
        post_as("/password", "alice", "s3cr3t", body),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"user": "alice", "password_changed": true})
    );
    assert!(!String::from_utf8_lossy(&reply.body).contains("n3w-pass"));
    check(
        &app,
        post_as("/password", "alice", "s3cr3t", body),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let email = r#"{"email":"a@example.org"}"#;
    check(
        &app,
        post_as("/update-email", "alice", "n3w-pass", email),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn password_that_basic_auth_cannot_carry_is_400() {
    let app = app(PROVEN);
    for body in [r#"{"new_password":""}"#, r#"{"new_password":"a\u0000b"}"#] {
        check(
            &app,
            post_as("/password", "alice", "s3cr3t", body),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// /users/{id}

#[tokio::test]
async fn user_record_has_a_strong_etag_and_never_the_hash() {
    let app = app(PROVEN);
    let reply = check(
        &app,
        get_as("/users/alice", "alice", "s3cr3t"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(
        reply.json(),
        serde_json::json!({"id": "alice", "role": "user", "email": "alice@example.com", "version": 1})
    );
    check(
        &app,
        get_as("/users/mallory", "root", "r00t"),
        StatusCode::NOT_FOUND,
    )
    .await;
}
