//! Random methods, paths, headers and bodies thrown at the router: never a 500, never a
//! panic, and every error is a problem body.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use common::*;
use proptest::prelude::*;
use raceproof_flows::Variant;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::HEAD),
        Just(Method::OPTIONS),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let known = prop_oneof![
        Just("/promote"),
        Just("/demote"),
        Just("/password"),
        Just("/update-email"),
        Just("/users/"),
        Just("/audit"),
        Just("/operate"),
        Just("/"),
    ];
    (known, "[a-zA-Z0-9%._~/-]{0,24}").prop_map(|(p, tail)| format!("{p}{tail}"))
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let name = prop_oneof![
        Just("authorization".to_owned()),
        Just("if-match".to_owned()),
        Just("content-type".to_owned()),
        Just("content-length".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        Just("x-request-id".to_owned()),
        "[a-z-]{1,12}",
    ];
    let value = prop_oneof![
        Just(b"application/json".to_vec()),
        Just(basic("admin", "adm1n").into_bytes()),
        Just(basic("alice", "s3cr3t").into_bytes()),
        Just(b"\"1\"".to_vec()),
        Just(b"v1,BC0YOP7WacIerT/S7sdRVGrvGH+WtHv6+t+BluYuhv0=".to_vec()),
        Just(b"1614265330".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    (name, value)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("target"),
        Just("new_password"),
        Just("email"),
        Just("expected_version"),
        Just("resource_id"),
        Just("action"),
        Just("timestamp"),
        Just("signature"),
    ];
    let value = prop_oneof![
        Just("\"alice\"".to_owned()),
        Just("\"admin\"".to_owned()),
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("null".to_owned()),
        "\"[^\"\\\\]{0,40}\"",
    ];
    let json = proptest::collection::vec((field, value), 0..4).prop_map(|fields| {
        let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", inner.join(",")).into_bytes()
    });
    prop_oneof![json, proptest::collection::vec(any::<u8>(), 0..256)]
}

fn variant() -> impl Strategy<Value = Variant> {
    prop_oneof![
        Just(Variant::ProvenFix),
        Just(Variant::SeedFix),
        Just(Variant::SeedVulnerable),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_get_a_500(
        variant in variant(),
        method in method(),
        path in path(),
        headers in proptest::collection::vec(header(), 0..6),
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let reply = runtime.block_on(async {
            let app = app(variant);
            let mut request = Request::builder().method(method).uri(&path);
            for (name, value) in &headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name.as_str()), HeaderValue::from_bytes(value))
                {
                    request = request.header(name, value);
                }
            }
            let Ok(request) = request.body(Body::from(body)) else {
                return None;
            };
            Some(send(&app, request).await)
        });
        if let Some(reply) = reply {
            prop_assert!(!reply.status.is_server_error(),
                "{} {path}: {}", reply.status, String::from_utf8_lossy(&reply.body));
            if reply.status.is_client_error() {
                prop_assert_eq!(reply.header("content-type"), Some("application/problem+json"));
            }
        }
    }
}
