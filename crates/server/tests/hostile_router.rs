//! Issue 21 through the router (`oneshot`): password guessing gets 429 with an honest
//! `Retry-After` without locking the owner out, an admin's promotion survives a user's
//! write flood in `GET /audit`, `GET /users/{id}` is for the user and admins only, and a
//! full replay set says when space frees.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use raceproof_core::replay::ReplaySet;
use raceproof_flows::Variant;
use raceproof_server::connections::ClientAddr;
use raceproof_server::router;
use std::net::SocketAddr;
use std::sync::Arc;

const PROVEN: Variant = Variant::ProvenFix;

/// `request` as if it came from `ip` over TCP.
fn from(ip: &str, mut request: Request<Body>) -> Request<Body> {
    let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
    request.extensions_mut().insert(ClientAddr(peer));
    request
}

fn update(user: &str, password: &str) -> Request<Body> {
    post_as(
        "/update-email",
        user,
        password,
        &format!(r#"{{"email":"{user}@example.org"}}"#),
    )
}

#[tokio::test]
async fn guessing_beyond_the_limit_gets_429_with_an_honest_retry_after() {
    let app = app(PROVEN);
    let attacker = "203.0.113.7";
    // The default: 5 failures per (user, client) per 300 s window.
    for n in 0..5 {
        let guess = from(attacker, update("alice", &format!("guess-{n}")));
        check(&app, guess, StatusCode::UNAUTHORIZED).await;
    }
    let refused = check(
        &app,
        from(attacker, update("alice", "guess-5")),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        refused.json()["type"],
        "urn:raceproof:problem:too-many-failed-logins"
    );
    // The right password from the attacker's client is refused too: the attacker cannot
    // tell a right guess from a wrong one past the limit.
    check(
        &app,
        from(attacker, update("alice", "s3cr3t")),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // alice from her own machine is not affected.
    check(
        &app,
        from("198.51.100.2", update("alice", "s3cr3t")),
        StatusCode::OK,
    )
    .await;
    // An admin sees the counters: 5 failures, none beyond the limit, and can clear them.
    let limits = check(
        &app,
        from(
            "198.51.100.9",
            get_as("/login-limits/alice", "root", "r00t"),
        ),
        StatusCode::OK,
    )
    .await
    .json();
    assert_eq!(limits["over_limit"], false, "{limits}");
    assert_eq!(limits["clients"][0]["client"], attacker, "{limits}");
    assert_eq!(limits["clients"][0]["failures"], 5, "{limits}");
    let clear = Request::delete("/login-limits/alice")
        .header("authorization", basic("root", "r00t"))
        .body(Body::empty())
        .unwrap();
    check(&app, from("198.51.100.9", clear), StatusCode::OK).await;
    check(
        &app,
        from(attacker, update("alice", "guess-6")),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Plain users may not read the counters.
    check(
        &app,
        from(
            "198.51.100.2",
            get_as("/login-limits/alice", "alice", "s3cr3t"),
        ),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn many_clients_stop_at_the_user_cap_but_the_owners_known_machine_gets_in() {
    let app = app(PROVEN);
    let home = "198.51.100.2";
    check(&app, from(home, update("alice", "s3cr3t")), StatusCode::OK).await;
    // 20 failures per user per window from clients alice never used.
    for n in 0..20 {
        let guess = from(&format!("203.0.113.{n}"), update("alice", "wrong"));
        check(&app, guess, StatusCode::UNAUTHORIZED).await;
    }
    check(
        &app,
        from("203.0.113.99", update("alice", "s3cr3t")),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    check(&app, from(home, update("alice", "s3cr3t")), StatusCode::OK).await;
    // Unknown users are counted like known ones: the throttle does not enumerate accounts.
    for n in 0..5 {
        check(
            &app,
            from("203.0.113.200", update("nobody", &format!("g{n}"))),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    check(
        &app,
        from("203.0.113.200", update("nobody", "g5")),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn a_user_flooding_writes_does_not_push_an_admin_promotion_out_of_the_audit() {
    let app = app(PROVEN);
    check(
        &app,
        post_as("/promote", "root", "r00t", r#"{"target":"bob"}"#),
        StatusCode::OK,
    )
    .await;
    // More than the in-memory log's 4096 ordinary entries.
    for n in 0..4200 {
        let body = format!(r#"{{"email":"alice{n}@example.org"}}"#);
        check(
            &app,
            post_as("/update-email", "alice", "s3cr3t", &body),
            StatusCode::OK,
        )
        .await;
    }
    // Paged from the start: the promotion is still seq 1.
    let first = check(
        &app,
        get_as("/audit?after=0&limit=10", "root", "r00t"),
        StatusCode::OK,
    )
    .await
    .json();
    let entries = first["entries"].as_array().unwrap();
    assert_eq!(entries[0]["seq"], 1, "{first}");
    assert_eq!(entries[0]["action"], "promote");
    assert_eq!(entries[0]["target"], "bob");
    assert_eq!(entries.len(), 10);
    // What went, and why: alice's own oldest emails.
    assert_eq!(first["last_seq"], 4201);
    assert_eq!(first["dropped"]["ordinary"], 4200 - 4096);
    assert_eq!(first["dropped"]["protected"], 0);
    assert!(first["dropped"]["why"].is_string());
    // The next page starts where this one ends; walking them all finds every kept entry.
    let mut after = 0;
    let mut kept = 0;
    loop {
        let page = check(
            &app,
            get_as(&format!("/audit?after={after}&limit=1000"), "root", "r00t"),
            StatusCode::OK,
        )
        .await
        .json();
        kept += page["entries"].as_array().unwrap().len();
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(kept, 4097);
    // Without `after`: the newest entries.
    let newest = check(
        &app,
        get_as("/audit?limit=1", "root", "r00t"),
        StatusCode::OK,
    )
    .await
    .json();
    assert_eq!(newest["entries"][0]["seq"], 4201);
    for bad in ["/audit?limit=0", "/audit?after=x", "/audit?from=3"] {
        check(&app, get_as(bad, "root", "r00t"), StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_user_record_is_for_its_user_and_admins_only() {
    let app = app(PROVEN);
    check(&app, get("/users/alice"), StatusCode::UNAUTHORIZED).await;
    check(
        &app,
        get_as("/users/alice", "alice", "s3cr3t"),
        StatusCode::OK,
    )
    .await;
    check(&app, get_as("/users/alice", "root", "r00t"), StatusCode::OK).await;
    // bob is refused alike whether the user exists or not: no enumeration.
    for id in ["alice", "mallory"] {
        check(
            &app,
            get_as(&format!("/users/{id}"), "bob", "b0b"),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    check(
        &app,
        get_as("/users/mallory", "root", "r00t"),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_full_replay_set_says_when_space_frees() {
    use raceproof_server::webhook::WebhookKey;
    let now = 1_700_000_000;
    let state = state_at(settings(PROVEN), Arc::new(Fixed(now)))
        .with_replay_store(Arc::new(ReplaySet::new(1)), false);
    let app = router(Arc::new(state));
    let key = WebhookKey::new(&raceproof_server::WebhookSecret::parse(SECRET).unwrap()).unwrap();
    let body = r#"{"resource_id":"r1","action":"refund"}"#;
    let send_signed = |id: &str| {
        Request::post("/operate")
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", key.sign(id, now, body.as_bytes()))
            .body(Body::from(body))
            .unwrap()
    };
    check(&app, send_signed("msg_1"), StatusCode::OK).await;
    let full = check(&app, send_signed("msg_2"), StatusCode::SERVICE_UNAVAILABLE).await;
    // msg_1 is held until now + 300 (the tolerance), inclusive: room at now + 301.
    assert_eq!(full.header("retry-after"), Some("301"));
}
