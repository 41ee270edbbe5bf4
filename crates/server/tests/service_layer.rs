//! The handlers reach the backends only through the service layer, the functions the model
//! catalogue checks: spy backends record every call that reaches them, and each endpoint's
//! calls must be exactly the service's (the credentials read first, then one repository
//! call; for `/operate`, the freshness window first, then one insert kept until
//! `timestamp + tolerance`). A handler that wrote to a backend itself, skipped the
//! service's admin rule or its admission, would show here as a call the service does not
//! make, or one missing.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::*;
use raceproof_core::audit::Commit;
use raceproof_core::auth::PasswordHash;
use raceproof_core::backend::{BackendError, CredentialSnapshot, ReplayStore, UserRepository};
use raceproof_core::replay::{DEFAULT_CAPACITY, ReplaySet, TAG_LEN, Tag};
use raceproof_core::store::{Principal, Role, User};
use raceproof_flows::{Narrator, Variant, users_repository};
use raceproof_server::{Settings, router};
use std::sync::{Arc, Mutex};

/// A repository that records each call, then answers as the variant's own does.
struct SpyUsers {
    inner: Box<dyn UserRepository>,
    calls: Mutex<Vec<String>>,
}

impl SpyUsers {
    fn of(variant: Variant) -> Arc<Self> {
        let users = users(&hasher());
        Arc::new(Self {
            inner: users_repository(variant, &users, false, &Narrator::silent()).unwrap(),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn saw(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    /// The calls since the last `take`.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// Who a write acts as: the principal's user and the epoch it authenticated at.
fn who(actor: &Principal) -> String {
    format!("{}@{}", actor.user_id(), actor.credential_epoch())
}

impl UserRepository for SpyUsers {
    fn insert(
        &self,
        id: &str,
        pw: PasswordHash,
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        self.saw(format!("insert {id}"));
        self.inner.insert(id, pw, role, email)
    }
    fn get(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        self.saw(format!("get {user_id}"));
        self.inner.get(user_id)
    }
    fn credentials(&self, user_id: &str) -> Result<Option<CredentialSnapshot>, BackendError> {
        self.saw(format!("credentials {user_id}"));
        self.inner.credentials(user_id)
    }
    fn replace_hash_if_unchanged(
        &self,
        user_id: &str,
        epoch: u64,
        verified: &PasswordHash,
        upgraded: PasswordHash,
    ) -> Result<bool, BackendError> {
        self.saw(format!("replace_hash {user_id}"));
        self.inner
            .replace_hash_if_unchanged(user_id, epoch, verified, upgraded)
    }
    fn promote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        self.saw(format!("promote {} {target}", who(actor)));
        self.inner.promote(actor, target)
    }
    fn demote(&self, actor: &Principal, target: &str) -> Result<(), BackendError> {
        self.saw(format!("demote {} {target}", who(actor)));
        self.inner.demote(actor, target)
    }
    fn change_password(
        &self,
        actor: &Principal,
        user: &str,
        new: PasswordHash,
    ) -> Result<(), BackendError> {
        self.saw(format!("change_password {} {user}", who(actor)));
        self.inner.change_password(actor, user, new)
    }
    fn update_email(
        &self,
        actor: &Principal,
        expected: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        self.saw(format!("update_email {} {expected:?} {email}", who(actor)));
        self.inner.update_email(actor, expected, email)
    }
    fn audit(&self) -> Result<Vec<Commit>, BackendError> {
        self.saw("audit".to_owned());
        self.inner.audit()
    }
}

#[tokio::test]
async fn every_account_endpoint_is_one_service_call_in_every_variant() {
    for variant in Variant::ALL {
        let spy = SpyUsers::of(variant);
        let state = state(settings(variant)).with_users(spy.clone(), false);
        let app = router(Arc::new(state));
        let steps = [
            (
                post_as("/promote", "admin", "adm1n", r#"{"target":"alice"}"#),
                StatusCode::OK,
                vec!["credentials admin", "promote admin@0 alice"],
            ),
            (
                post_as("/demote", "root", "r00t", r#"{"target":"alice"}"#),
                StatusCode::OK,
                vec!["credentials root", "demote root@0 alice"],
            ),
            (
                post_as(
                    "/update-email",
                    "bob",
                    "b0b",
                    r#"{"email":"b@example.com","expected_version":1}"#,
                ),
                StatusCode::OK,
                vec![
                    "credentials bob",
                    "update_email bob@0 Some(1) b@example.com",
                ],
            ),
            (
                post_as("/password", "bob", "b0b", r#"{"new_password":"n3w"}"#),
                StatusCode::OK,
                vec!["credentials bob", "change_password bob@0 bob"],
            ),
            (
                get_as("/users/bob", "bob", "n3w"),
                StatusCode::OK,
                vec!["credentials bob", "get bob"],
            ),
            // The old password no longer authenticates: nothing past the credentials.
            (
                post_as("/promote", "bob", "b0b", r#"{"target":"bob"}"#),
                StatusCode::UNAUTHORIZED,
                vec!["credentials bob"],
            ),
            // The audit is for admins: the service's rule, before the log is read.
            (
                get_as("/audit", "alice", "s3cr3t"),
                StatusCode::FORBIDDEN,
                vec!["credentials alice"],
            ),
            (
                get_as("/audit", "root", "r00t"),
                StatusCode::OK,
                vec!["credentials root", "audit"],
            ),
        ];
        for (request, status, calls) in steps {
            let what = format!("{variant} {} {}", request.method(), request.uri());
            send(&app, request).await.expect(status);
            assert_eq!(spy.take(), calls, "{what}");
        }
    }
}

/// A replay store that records each insert, then answers as the in-memory set does.
struct SpyStore {
    inner: ReplaySet,
    inserts: Mutex<Vec<(Tag, i64, i64)>>,
}

impl ReplayStore for SpyStore {
    fn insert_if_absent(
        &self,
        identity: &Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), BackendError> {
        self.inserts
            .lock()
            .unwrap()
            .push((*identity, expires_at, now));
        ReplayStore::insert_if_absent(&self.inner, identity, expires_at, now)
    }
}

const NOW: i64 = 1_700_000_000;
const TOLERANCE: i64 = 300;

fn operate_at(timestamp: i64, body: &str) -> (Request<Body>, Tag) {
    let secret = raceproof_server::WebhookSecret::parse(SECRET).unwrap();
    let signature = raceproof_server::webhook::WebhookKey::new(&secret)
        .unwrap()
        .sign("msg_spy", timestamp, body.as_bytes());
    let mut tag = [0u8; TAG_LEN];
    let decoded = base64::engine::general_purpose::STANDARD
        .decode_slice(signature.trim_start_matches("v1,"), &mut tag)
        .unwrap();
    assert_eq!(decoded, TAG_LEN);
    let request = Request::post("/operate")
        .header("content-type", "application/json")
        .header("webhook-id", "msg_spy")
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap();
    (request, Tag(tag))
}

#[tokio::test]
async fn operate_admits_through_the_services_window_and_expiry() {
    let spy = Arc::new(SpyStore {
        inner: ReplaySet::new(DEFAULT_CAPACITY),
        inserts: Mutex::new(Vec::new()),
    });
    let settings = Settings {
        timestamp_tolerance_secs: TOLERANCE,
        ..settings(Variant::ProvenFix)
    };
    let state = state_at(settings, Arc::new(Fixed(NOW))).with_replay_store(spy.clone(), false);
    let app = router(Arc::new(state));
    let take = || std::mem::take(&mut *spy.inserts.lock().unwrap());
    let body = r#"{"resource_id":"invoice-1","action":"refund"}"#;

    // Fresh: one insert, of the verified tag, kept until timestamp + tolerance.
    let (request, tag) = operate_at(NOW - 10, body);
    send(&app, request).await.expect(StatusCode::OK);
    assert_eq!(take(), [(tag, NOW - 10 + TOLERANCE, NOW)]);
    // Replayed: the same insert, refused by the store.
    let (request, _) = operate_at(NOW - 10, body);
    send(&app, request).await.expect(StatusCode::CONFLICT);
    assert_eq!(take(), [(tag, NOW - 10 + TOLERANCE, NOW)]);
    // Stale, either way: refused by the window before the store is asked.
    for timestamp in [NOW - TOLERANCE - 1, NOW + TOLERANCE + 1] {
        let (request, _) = operate_at(timestamp, body);
        send(&app, request).await.expect(StatusCode::BAD_REQUEST);
        assert_eq!(take(), [], "timestamp {timestamp}");
    }
    // Forged, or not the body `/operate` takes: never reaches the store.
    let (mut request, _) = operate_at(NOW, body);
    request
        .headers_mut()
        .insert("webhook-id", "msg_other".parse().unwrap());
    send(&app, request).await.expect(StatusCode::UNAUTHORIZED);
    let (request, _) = operate_at(NOW, r#"{"resource_id":"invoice-1"}"#);
    send(&app, request).await.expect(StatusCode::BAD_REQUEST);
    assert_eq!(take(), []);
}
