//! One burst split across several instances (`--target` more than once): two toy targets on
//! loopback, each with its own state, like two processes behind a load balancer without a
//! shared store.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod support;

use raceproof_race::{Mode, RaceScenario, ScenarioReport, Targets, report, runner};
use support::{ToyConfig, ToyServer};

const BURSTS: usize = 3;
/// Requests per burst in redeem-safe.toml.
const COPIES: usize = 8;

fn scenario(file: &str) -> RaceScenario {
    let path = format!("{}/tests/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    RaceScenario::load(&path).unwrap()
}

/// Two instances, each with its own state.
fn two(config: ToyConfig) -> (ToyServer, ToyServer) {
    (
        ToyServer::start(config).unwrap(),
        ToyServer::start(config).unwrap(),
    )
}

fn targets(servers: &[&ToyServer]) -> Targets {
    Targets::new(
        servers
            .iter()
            .map(|server| server.target().unwrap())
            .collect(),
    )
    .unwrap()
}

fn run(targets: &Targets, scenario: &RaceScenario, mode: Mode) -> ScenarioReport {
    let report = runner::run(scenario, targets, mode, BURSTS).unwrap();
    assert_eq!(
        (report.bursts, report.errors),
        (BURSTS, 0),
        "{mode:?}: {:?}",
        report.first_error
    );
    report
}

#[test]
fn a_split_burst_goes_round_robin_to_every_instance_in_every_mode() {
    let (a, b) = two(ToyConfig::default());
    let both = targets(&[&a, &b]);
    let safe = scenario("redeem-safe.toml");
    for mode in Mode::ALL {
        let before = (a.requests(), b.requests());
        let report = run(&both, &safe, mode);
        let (to_a, to_b) = (a.requests() - before.0, b.requests() - before.1);
        // redeem-safe has no setup or final-state request: only the burst reaches the servers.
        assert_eq!(
            (to_a, to_b),
            (BURSTS * COPIES / 2, BURSTS * COPIES / 2),
            "{mode:?}"
        );
        assert_eq!(report.target, a.url());
        assert_eq!(report.targets, vec![a.url(), b.url()]);
    }
}

#[test]
fn redeem_once_holds_on_one_instance_and_breaks_in_every_burst_across_two() {
    let (a, b) = two(ToyConfig::default());
    let safe = scenario("redeem-safe.toml");
    for mode in Mode::ALL {
        let alone = run(&targets(&[&a]), &safe, mode);
        assert_eq!(alone.anomalies, 0, "{mode:?}: {:?}", alone.example);

        // Each process admits the code once: two successes per burst, whatever the timing.
        let split = run(&targets(&[&a, &b]), &safe, mode);
        assert_eq!(split.anomalies, BURSTS, "{mode:?}");
        assert_eq!(
            split.violations_by_invariant.get("at_most_one_success"),
            Some(&BURSTS)
        );
        let example = split.example.as_ref().unwrap();
        let successes = example
            .history
            .iter()
            .filter(|entry| entry.kind == raceproof_history::Kind::Ok)
            .count();
        assert_eq!(successes, 2, "{mode:?}: {:?}", example.history);
    }
}

#[test]
fn the_same_origin_twice_is_two_connections_to_one_instance() {
    let a = ToyServer::start(ToyConfig::default()).unwrap();
    let twice = targets(&[&a, &a]);
    for mode in Mode::ALL {
        let before = a.requests();
        let report = run(&twice, &scenario("redeem-safe.toml"), mode);
        assert_eq!(report.anomalies, 0, "{mode:?}: one state, one success");
        assert_eq!(a.requests() - before, BURSTS * COPIES);
    }
}

#[test]
fn setup_and_final_state_requests_go_to_the_primary_only() {
    let (a, b) = two(ToyConfig::default());
    // item-safe: one setup read, four writers, one final-state read per burst.
    run(
        &targets(&[&a, &b]),
        &scenario("item-safe.toml"),
        Mode::Naive,
    );
    assert_eq!((a.requests(), b.requests()), (BURSTS * 4, BURSTS * 2));
}

#[test]
fn single_packet_checks_the_stream_limit_per_connection() {
    let limited = ToyConfig {
        max_streams: 4,
        ..ToyConfig::default()
    };
    let (a, b) = two(limited);
    let safe = scenario("redeem-safe.toml");
    let error = runner::run(&safe, &targets(&[&a]), Mode::SinglePacket, 1).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("SETTINGS_MAX_CONCURRENT_STREAMS (4)"),
        "{error}"
    );
    // Four of the eight on each connection: within each server's limit.
    let report = runner::run(&safe, &targets(&[&a, &b]), Mode::SinglePacket, 1).unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!((a.requests(), b.requests()), (COPIES / 2, COPIES / 2));
}

#[test]
fn a_failure_names_the_instance_when_there_are_several() {
    let a = ToyServer::start(ToyConfig::default()).unwrap();
    let gone = ToyServer::start(ToyConfig::default()).unwrap();
    let both = targets(&[&a, &gone]);
    let gone_url = gone.url();
    drop(gone);
    let error = runner::run(&scenario("redeem-safe.toml"), &both, Mode::LastByte, 1).unwrap_err();
    assert!(error.to_string().contains(&gone_url), "{error}");
}

#[test]
fn the_report_names_every_target() {
    let (a, b) = two(ToyConfig::default());
    let both = targets(&[&a, &b]);
    let reports = vec![run(&both, &scenario("redeem-safe.toml"), Mode::Naive)];
    let json: serde_json::Value = serde_json::from_str(&report::to_json(&both, &reports)).unwrap();
    assert_eq!(json["target"], a.url());
    assert_eq!(json["targets"], serde_json::json!([a.url(), b.url()]));
    assert_eq!(
        json["scenarios"][0]["targets"],
        serde_json::json!([a.url(), b.url()])
    );
    let split = format!("across 2 targets: {}, {}", a.url(), b.url());
    assert!(report::table(&reports).contains(&split));
    assert!(report::compare_markdown(&reports).contains(&split));

    let alone = targets(&[&a]);
    let reports = vec![run(&alone, &scenario("redeem-safe.toml"), Mode::Naive)];
    assert!(!report::table(&reports).contains("targets"));
    let json: serde_json::Value = serde_json::from_str(&report::to_json(&alone, &reports)).unwrap();
    assert_eq!(json["targets"], serde_json::json!([a.url()]));
}
