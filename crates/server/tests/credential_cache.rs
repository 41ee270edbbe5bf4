//! The verified-credential cache through the router: on by default in `proven_fix`, where a
//! repeated login is a hit and a password change still refuses the old password from the
//! next request on; off when told, and always off for the seeds' ports.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use clap::Parser as _;
use common::*;
use raceproof_core::auth::{CacheConfig, CacheStats};
use raceproof_flows::Variant;
use raceproof_server::config::ConfigError;
use raceproof_server::{AppState, Cli, UsersFile, router};
use std::sync::Arc;

fn served(settings: raceproof_server::Settings) -> (Arc<AppState>, axum::Router) {
    let state = Arc::new(state(settings));
    (Arc::clone(&state), router(state))
}

fn stats(state: &AppState) -> CacheStats {
    state.accounts().cache().stats()
}

#[tokio::test]
async fn a_repeated_login_hits_and_a_password_change_counts_from_the_next_request() {
    let (state, app) = served(settings(Variant::ProvenFix));
    for n in 0..3 {
        let body = format!(r#"{{"email":"alice{n}@example.com"}}"#);
        check(
            &app,
            post_as("/update-email", "alice", "s3cr3t", &body),
            StatusCode::OK,
        )
        .await;
    }
    let after_three = stats(&state);
    assert_eq!((after_three.fills, after_three.hits), (1, 2));

    let change = r#"{"new_password":"n3w-s3cr3t"}"#;
    check(
        &app,
        post_as("/password", "alice", "s3cr3t", change),
        StatusCode::OK,
    )
    .await;
    let body = r#"{"email":"old@example.com"}"#;
    check(
        &app,
        post_as("/update-email", "alice", "s3cr3t", body),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    check(
        &app,
        post_as("/update-email", "alice", "n3w-s3cr3t", body),
        StatusCode::OK,
    )
    .await;
    let after = stats(&state);
    // The change's own login hit; the old password missed and failed; the new one filled.
    assert_eq!((after.hits, after.fills), (3, 2));
}

#[tokio::test]
async fn a_demoted_admin_is_refused_the_audit_from_its_next_request() {
    let (state, app) = served(settings(Variant::ProvenFix));
    check(&app, get_as("/audit", "admin", "adm1n"), StatusCode::OK).await;
    let demote = r#"{"target":"admin"}"#;
    check(
        &app,
        post_as("/demote", "root", "r00t", demote),
        StatusCode::OK,
    )
    .await;
    check(
        &app,
        get_as("/audit", "admin", "adm1n"),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        stats(&state).hits,
        1,
        "the refusal was a hit, with the role read now"
    );
}

#[tokio::test]
async fn off_and_in_the_seed_variants_every_login_verifies() {
    let off = raceproof_server::Settings {
        credential_cache: CacheConfig::OFF,
        ..settings(Variant::ProvenFix)
    };
    for settings in [
        off,
        settings(Variant::SeedFix),
        settings(Variant::SeedVulnerable),
    ] {
        let (state, app) = served(settings);
        for _ in 0..2 {
            check(&app, get_as("/audit", "root", "r00t"), StatusCode::OK).await;
        }
        assert_eq!(stats(&state), CacheStats::default());
    }
}

#[test]
fn the_credential_cache_takes_each_flag_over_the_file_over_the_default() {
    let cli = |args: &[&str]| {
        let mut argv = vec!["raceproof-server", "--users", "u.toml"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap()
    };
    let file = |text: &str| {
        UsersFile::parse(&format!(
            "{text}\n[[users]]\nid = \"ann\"\nrole = \"user\"\nemail = \"a@x\"\npassword = \"x\"\n"
        ))
    };
    let none = file("").unwrap().credential_cache;
    assert_eq!(
        cli(&[]).credential_cache(&none).unwrap(),
        CacheConfig::default()
    );
    let from_file = file("[credential_cache]\ncapacity = 5\nlifetime_secs = 30")
        .unwrap()
        .credential_cache;
    assert_eq!(
        cli(&[]).credential_cache(&from_file).unwrap(),
        CacheConfig::new(5, 30).unwrap()
    );
    let flags = cli(&["--credential-cache-capacity", "7"]);
    assert_eq!(
        flags.credential_cache(&from_file).unwrap(),
        CacheConfig::new(7, 30).unwrap()
    );
    let off = file("[credential_cache]\nenabled = false")
        .unwrap()
        .credential_cache;
    assert!(cli(&[]).credential_cache(&off).unwrap().is_off());
    assert!(
        !cli(&["--credential-cache", "on"])
            .credential_cache(&off)
            .unwrap()
            .is_off()
    );
    assert!(
        cli(&["--credential-cache", "off"])
            .credential_cache(&none)
            .unwrap()
            .is_off()
    );
    let too_long = cli(&["--credential-cache-lifetime-secs", "86400"]);
    assert!(matches!(
        too_long.credential_cache(&none),
        Err(ConfigError::CredentialCache(_))
    ));
    assert!(file("[credential_cache]\nsize = 5").is_err());
}
