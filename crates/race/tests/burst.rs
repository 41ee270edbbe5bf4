//! Bursts in every mode against the toy target (tests/support) on a free loopback port.
//! Spreads are measured and reported, never asserted: only that they were measured.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use raceproof_race::report::SpreadSource;
use raceproof_race::{Mode, RaceScenario, ScenarioReport, Target, runner};
use support::{ToyConfig, ToyServer};

const BURSTS: usize = 4;

fn scenario(file: &str) -> RaceScenario {
    let path = format!("{}/tests/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    RaceScenario::load(&path).unwrap()
}

fn target(server: &ToyServer) -> Target {
    server.target().unwrap()
}

fn run(server: &ToyServer, scenario: &RaceScenario, mode: Mode, bursts: usize) -> ScenarioReport {
    let report = runner::run(scenario, &target(server).into(), mode, bursts).unwrap();
    eprintln!(
        "{} / {}: {} anomalies in {} bursts, spread {:?}",
        report.scenario,
        mode.as_str(),
        report.anomalies,
        report.bursts,
        report.spread_us
    );
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.bursts, bursts);
    report
}

/// A racy window far wider than any mode's spread on loopback, so every mode must see the race.
fn wide_window() -> ToyConfig {
    ToyConfig {
        window: Duration::from_millis(100),
        ..ToyConfig::default()
    }
}

#[test]
fn every_mode_finds_the_racy_redeem_and_measures_server_spread() {
    let server = ToyServer::start(wide_window()).unwrap();
    let racy = scenario("redeem-racy.toml");
    for mode in Mode::ALL {
        let report = run(&server, &racy, mode, BURSTS);
        assert!(report.anomalies > 0, "{mode:?} missed a 100 ms race window");
        assert_eq!(report.first_anomaly_burst.is_some(), report.anomalies > 0);
        let spread = report.spread_us.as_ref().unwrap();
        assert_eq!(
            (spread.samples, spread.source),
            (BURSTS, SpreadSource::Server)
        );
        let example = report.example.as_ref().unwrap();
        assert_eq!(example.history.len(), 8);
        assert!(
            example
                .history
                .iter()
                .all(|entry| entry.server_start_us.is_some())
        );
        assert_eq!(example.violations[0].invariant, "at_most_one_success");
    }
}

#[test]
fn an_invariant_that_cannot_break_reports_zero_anomalies() {
    let server = ToyServer::start(wide_window()).unwrap();
    for file in ["redeem-safe.toml", "item-safe.toml"] {
        let safe = scenario(file);
        for mode in Mode::ALL {
            let report = run(&server, &safe, mode, BURSTS);
            assert_eq!(
                report.anomalies, 0,
                "{file} / {mode:?}: {:?}",
                report.example
            );
            assert!(report.example.is_none());
        }
    }
}

#[test]
fn the_racy_register_breaks_versions_and_linearizability_but_not_its_final_state() {
    let server = ToyServer::start(wide_window()).unwrap();
    let report = run(
        &server,
        &scenario("item-racy.toml"),
        Mode::SinglePacket,
        BURSTS,
    );
    assert!(report.anomalies > 0);
    assert!(
        report
            .violations_by_invariant
            .contains_key("distinct_versions")
    );
    assert!(report.violations_by_invariant.contains_key("linearizable"));
    assert!(!report.violations_by_invariant.contains_key("final_state"));
}

#[test]
fn a_final_state_expectation_that_is_false_breaks_every_burst() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let source = std::fs::read_to_string(format!(
        "{}/tests/scenarios/item-safe.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let wrong = RaceScenario::parse(
        &source.replace("'/version == 1'", "'/version == 2'"),
        "wrong.toml",
    )
    .unwrap();
    let report = run(&server, &wrong, Mode::LastByte, 2);
    assert_eq!(report.anomalies, 2);
    assert_eq!(report.violations_by_invariant.get("final_state"), Some(&2));
}

#[test]
fn without_server_stamps_the_spread_is_client_side() {
    let server = ToyServer::start(ToyConfig {
        stamp: false,
        ..wide_window()
    })
    .unwrap();
    let report = run(
        &server,
        &scenario("redeem-racy.toml"),
        Mode::SinglePacket,
        2,
    );
    let spread = report.spread_us.as_ref().unwrap();
    assert_eq!((spread.samples, spread.source), (2, SpreadSource::Client));
    assert!(raceproof_race::report::table(&[report]).contains("measured by `client`"));
}

#[test]
fn single_packet_respects_the_server_stream_limit() {
    let server = ToyServer::start(ToyConfig {
        max_streams: 4,
        ..ToyConfig::default()
    })
    .unwrap();
    let error = runner::run(
        &scenario("redeem-safe.toml"),
        &target(&server).into(),
        Mode::SinglePacket,
        1,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("SETTINGS_MAX_CONCURRENT_STREAMS (4)"),
        "{error}"
    );
}

#[test]
fn non_loopback_targets_are_refused_without_the_flag() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // TEST-NET-1: resolving an address literal needs no network.
    let refused = runtime
        .block_on(Target::resolve("http://192.0.2.1:8080", false))
        .unwrap_err();
    assert!(refused.to_string().contains("not loopback"), "{refused}");
    let allowed = runtime
        .block_on(Target::resolve("http://192.0.2.1:8080", true))
        .unwrap();
    assert!(!allowed.loopback);
    assert!(
        runtime
            .block_on(Target::resolve("http://[::1]:8080", false))
            .unwrap()
            .loopback
    );
    assert!(
        runtime
            .block_on(Target::resolve("https://127.0.0.1", false))
            .is_err()
    );
    assert!(
        runtime
            .block_on(Target::resolve("http://127.0.0.1:1/path", false))
            .is_err()
    );
}
