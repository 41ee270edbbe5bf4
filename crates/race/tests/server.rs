#![cfg(not(loom))]
//! The built-in scenarios against raceproof's own server, started in-process on a free
//! loopback port, in every mode: where a seed variant's race is deterministic it is found
//! in every burst, and `proven_fix` shows no anomaly while its requests do succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use raceproof_flows::Variant;
use raceproof_race::{Mode, ScenarioReport, runner};

#[path = "raceproof_server/mod.rs"]
mod raceproof_server;

use raceproof_server::{Server, builtin};

const MODES: [Mode; 3] = [Mode::SinglePacket, Mode::LastByte, Mode::Naive];

fn run(server: &Server, name: &str, mode: Mode, bursts: usize) -> ScenarioReport {
    let report = runner::run(&builtin(name), &server.target().into(), mode, bursts).unwrap();
    assert_eq!(
        report.errors, 0,
        "{name} / {mode:?}: {:?}",
        report.first_error
    );
    assert!(
        report.bursts_without_success < report.bursts,
        "{name} / {mode:?}: no request ever succeeded, so nothing was tested"
    );
    report
}

/// Every burst of each scenario breaks its invariant, in every mode.
fn found_in_every_burst(variant: Variant, names: &[&str]) {
    let server = Server::start(variant);
    for mode in MODES {
        for name in names {
            let report = run(&server, name, mode, 3);
            assert_eq!(
                report.anomalies, report.bursts,
                "{variant:?} {name} / {mode:?}: {:?}",
                report.example
            );
        }
    }
}

#[test]
fn seed_vulnerable_races_are_found_in_every_burst_of_every_mode() {
    // The seed signs resource_id + action + timestamp concatenated: the spliced message
    // verifies and names a new resource, so both are processed, whatever the timing.
    // update-email ignores the version in this variant: every update succeeds.
    found_in_every_burst(
        Variant::SeedVulnerable,
        &["operate-splice", "update-email-same-version"],
    );
}

#[test]
fn seed_fix_splice_is_found_in_every_burst_of_every_mode() {
    found_in_every_burst(Variant::SeedFix, &["operate-splice"]);
}

#[test]
fn proven_fix_shows_no_anomaly_in_any_scenario_or_mode() {
    let server = Server::start(Variant::ProvenFix);
    for mode in MODES {
        for name in [
            "promote-vs-demote",
            "promote-vs-password",
            "update-email-same-version",
            "operate-replay-webhooks",
        ] {
            let report = run(&server, name, mode, 10);
            assert_eq!(
                report.anomalies, 0,
                "{name} / {mode:?}: {:?}",
                report.example
            );
        }
    }
}
