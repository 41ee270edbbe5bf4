//! `POST /operate`: Standard Webhooks signatures (proven_fix) and the seed's body (seeds).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use raceproof_flows::Variant;
use raceproof_server::router;
use std::sync::Arc;

/// Made by an independent implementation, Python's `hmac` and `base64`:
///
/// ```text
/// python3 -c 'import hmac,hashlib,base64
/// key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
/// msg = b"msg_raceproof_1.1614265330." + b"{\"resource_id\":\"invoice-42\",\"action\":\"refund\"}"
/// print("v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())'
/// ```
const PY_ID: &str = "msg_raceproof_1";
const PY_TIMESTAMP: i64 = 1_614_265_330;
const PY_BODY: &str = r#"{"resource_id":"invoice-42","action":"refund"}"#;
const PY_SIGNATURE: &str = "v1,BC0YOP7WacIerT/S7sdRVGrvGH+WtHv6+t+BluYuhv0=";

/// The seed's signature of the same operation, by Python too:
/// `hmac.new(key, b"invoice-42refund1614265330", hashlib.sha256).hexdigest()`.
const PY_SEED_SIGNATURE: &str = "c6b7361c4e89b9f5589805f7a1a67dec1e1903181c825789d120d09e0c1b5d23";

fn signed(id: &str, timestamp: &str, signature: &str, body: &str) -> Request<Body> {
    Request::post("/operate")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn app_at(now: i64) -> axum::Router {
    router(Arc::new(state_at(
        settings(Variant::ProvenFix),
        Arc::new(Fixed(now)),
    )))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// A signature made with the server's own signer (the Standard Webhooks vector pins it).
fn sign(id: &str, timestamp: i64, body: &str) -> String {
    let secret = raceproof_server::WebhookSecret::parse(SECRET).unwrap();
    raceproof_server::webhook::WebhookKey::new(&secret)
        .unwrap()
        .sign(id, timestamp, body.as_bytes())
}

#[tokio::test]
async fn an_independently_signed_request_is_200_once_then_409() {
    let app = app_at(PY_TIMESTAMP + 10);
    let ts = PY_TIMESTAMP.to_string();
    let reply = check(
        &app,
        signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"processed": true, "resource_id": "invoice-42", "action": "refund"})
    );
    let reply = check(
        &app,
        signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(reply.json()["type"], "urn:raceproof:problem:replayed");
}

#[tokio::test]
async fn one_valid_signature_among_several_is_enough() {
    let app = app_at(PY_TIMESTAMP);
    let ts = PY_TIMESTAMP.to_string();
    let several = format!("v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= {PY_SIGNATURE} v2,xyz");
    check(&app, signed(PY_ID, &ts, &several, PY_BODY), StatusCode::OK).await;
}

#[tokio::test]
async fn a_bad_signature_is_401() {
    let app = app_at(PY_TIMESTAMP);
    let ts = PY_TIMESTAMP.to_string();
    let tampered = PY_BODY.replace("refund", "refunf");
    check(
        &app,
        signed(PY_ID, &ts, PY_SIGNATURE, &tampered),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    check(
        &app,
        signed("msg_other", &ts, PY_SIGNATURE, PY_BODY),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    check(
        &app,
        signed(PY_ID, &ts, "v1,not-base64!", PY_BODY),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The message was never admitted: the genuine one still goes through.
    check(
        &app,
        signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn a_stale_timestamp_is_400_with_the_reason() {
    let app = app_at(PY_TIMESTAMP + 301);
    let ts = PY_TIMESTAMP.to_string();
    let reply = check(
        &app,
        signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        reply.json()["type"],
        "urn:raceproof:problem:stale-timestamp"
    );
    assert_eq!(
        reply.json()["detail"],
        "webhook-timestamp is 301 s behind the server's clock (tolerance 300 s)"
    );
    // From the future, on the system clock.
    let app = common::app(Variant::ProvenFix);
    let future = now() + 3600;
    let signature = sign("msg_f", future, PY_BODY);
    let reply = check(
        &app,
        signed("msg_f", &future.to_string(), &signature, PY_BODY),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("ahead of")
    );
}

#[tokio::test]
async fn the_same_operation_under_a_new_id_is_a_new_message() {
    let app = app(Variant::ProvenFix);
    let t = now();
    for id in ["msg_a", "msg_b"] {
        let signature = sign(id, t, PY_BODY);
        check(
            &app,
            signed(id, &t.to_string(), &signature, PY_BODY),
            StatusCode::OK,
        )
        .await;
    }
}

#[tokio::test]
async fn missing_or_malformed_parts_are_400() {
    let app = app_at(PY_TIMESTAMP);
    let ts = PY_TIMESTAMP.to_string();
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut request = signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY);
        request.headers_mut().remove(header);
        check(&app, request, StatusCode::BAD_REQUEST).await;
    }
    check(
        &app,
        signed(PY_ID, "01614265330", PY_SIGNATURE, PY_BODY),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Signed, but not the body /operate expects.
    let body = r#"{"resource_id":"invoice-42"}"#;
    let signature = sign(PY_ID, PY_TIMESTAMP, body);
    check(
        &app,
        signed(PY_ID, &ts, &signature, body),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let body = r#"{"resource_id":"","action":"refund"}"#;
    let signature = sign(PY_ID, PY_TIMESTAMP, body);
    check(
        &app,
        signed(PY_ID, &ts, &signature, body),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

fn seed_request(body: &str) -> Request<Body> {
    Request::post("/operate")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn seed_variants_take_the_seed_body_once_then_409() {
    for variant in [Variant::SeedVulnerable, Variant::SeedFix] {
        let app = app(variant);
        for timestamp in [r#""1614265330""#, "1614265330"] {
            let body = format!(
                r#"{{"resource_id":"invoice-42","action":"refund","timestamp":{timestamp},"signature":"{PY_SEED_SIGNATURE}"}}"#
            );
            let expected = if timestamp.starts_with('"') {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            check(&app, seed_request(&body), expected).await;
        }
        let forged = format!(
            r#"{{"resource_id":"invoice-43","action":"refund","timestamp":"1614265330","signature":"{PY_SEED_SIGNATURE}"}}"#
        );
        check(&app, seed_request(&forged), StatusCode::UNAUTHORIZED).await;
        // The Standard Webhooks form is not what the seed reads.
        let ts = PY_TIMESTAMP.to_string();
        check(
            &app,
            signed(PY_ID, &ts, PY_SIGNATURE, PY_BODY),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

/// A replay store that is down until `up` is set, then an in-memory set.
struct Flaky {
    up: std::sync::atomic::AtomicBool,
    set: raceproof_core::replay::ReplaySet,
}

impl raceproof_core::backend::ReplayStore for Flaky {
    fn insert_if_absent(
        &self,
        identity: &raceproof_core::replay::Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), raceproof_core::backend::BackendError> {
        if !self.up.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(raceproof_core::backend::BackendError::unavailable(
                "redis: connection refused",
            ));
        }
        raceproof_core::backend::ReplayStore::insert_if_absent(&self.set, identity, expires_at, now)
    }
}

#[tokio::test]
async fn a_shared_store_that_is_down_gets_503_and_admits_nothing() {
    let store = Arc::new(Flaky {
        up: std::sync::atomic::AtomicBool::new(false),
        set: raceproof_core::replay::ReplaySet::new(1024),
    });
    let now = now();
    let state = state_at(settings(Variant::ProvenFix), Arc::new(Fixed(now)))
        .with_replay_store(store.clone(), true);
    let app = router(Arc::new(state));
    let body = r#"{"resource_id":"invoice-7","action":"refund"}"#;
    let request = || {
        signed(
            "msg_down",
            &now.to_string(),
            &sign("msg_down", now, body),
            body,
        )
    };
    let reply = check(&app, request(), StatusCode::SERVICE_UNAVAILABLE).await;
    // The problem names no backend address.
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(!text.contains("redis"), "{text}");
    // Nothing was admitted during the outage: once the store is back, the message passes
    // once, then is a replay.
    store.up.store(true, std::sync::atomic::Ordering::SeqCst);
    check(&app, request(), StatusCode::OK).await;
    check(&app, request(), StatusCode::CONFLICT).await;
}
