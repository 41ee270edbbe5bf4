//! The built-in scenarios (written for raceproof's server) against a stand-in that follows the
//! same contract (tests/support/contract.rs): the seed-like variant must be caught, the fixed one
//! must never be. Wiring against the real server comes when it lands.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod support;

use raceproof_race::{Mode, RaceScenario, Targets, runner};
use support::{ToyConfig, ToyServer};

const BURSTS: usize = 3;

fn findings(racy: bool, name: &str, mode: Mode) -> (usize, Vec<String>) {
    let server = ToyServer::start(ToyConfig {
        contract_racy: racy,
        ..ToyConfig::default()
    })
    .unwrap();
    let target = Targets::one(server.target().unwrap());
    let report = runner::run(&RaceScenario::load(name).unwrap(), &target, mode, BURSTS).unwrap();
    assert_eq!(
        (report.bursts, report.errors),
        (BURSTS, 0),
        "{:?}",
        report.first_error
    );
    assert!(
        report.bursts_without_success < BURSTS,
        "{name}: nothing was exercised"
    );
    let details = report
        .example
        .map(|example| {
            example
                .violations
                .into_iter()
                .map(|violation| violation.detail)
                .collect()
        })
        .unwrap_or_default();
    (report.anomalies, details)
}

#[test]
fn each_contract_scenario_finds_the_seed_like_race_and_not_the_fixed_one() {
    let cases = [
        (
            "promote-vs-demote",
            Mode::SinglePacket,
            "after admin's demote",
        ),
        (
            "promote-vs-password",
            Mode::LastByte,
            "after admin's change_password",
        ),
        ("update-email-same-version", Mode::Naive, "same new version"),
    ];
    for (name, mode, expected) in cases {
        let (anomalies, details) = findings(true, name, mode);
        assert!(anomalies > 0, "{name} / {mode:?} missed the race");
        assert!(
            details.iter().any(|detail| detail.contains(expected)),
            "{name}: {details:?}"
        );
        let (anomalies, details) = findings(false, name, mode);
        assert_eq!(
            anomalies, 0,
            "{name} / {mode:?} flagged the fixed variant: {details:?}"
        );
    }
}

#[test]
fn operate_scenarios_need_the_signing_secret_from_the_environment() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let target = Targets::one(server.target().unwrap());
    let scenario = RaceScenario::load("operate-replay").unwrap();
    // The variable is not set in tests: the run must say which one, not panic or send unsigned.
    if std::env::var_os("RACEPROOF_OPERATE_SECRET").is_none() {
        let error = runner::run(&scenario, &target, Mode::Naive, 1).unwrap_err();
        assert!(
            error.to_string().contains("RACEPROOF_OPERATE_SECRET"),
            "{error}"
        );
    }
}

#[test]
fn every_shipped_scenario_file_is_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut checked = 0;
    for dir in ["scenarios", "examples/scenarios", "tests/scenarios"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                let loaded = RaceScenario::load(path.to_str().unwrap());
                assert!(loaded.is_ok(), "{}: {:?}", path.display(), loaded.err());
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "only {checked} scenario files found");
}

#[test]
fn each_scenario_sets_up_its_own_preconditions_whatever_ran_before() {
    // promote-vs-demote leaves admin demoted, promote-vs-password leaves admin with another
    // password: run back to back on one server, each must still find the seed-like race.
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let target = Targets::one(server.target().unwrap());
    for name in [
        "promote-vs-demote",
        "promote-vs-password",
        "promote-vs-demote",
    ] {
        let report =
            runner::run(&RaceScenario::load(name).unwrap(), &target, Mode::Naive, 2).unwrap();
        assert!(
            report.anomalies > 0,
            "{name} after another scenario: {:?}",
            report.example
        );
    }
}
