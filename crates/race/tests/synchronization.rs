//! Single-packet against servers that start a handler on the request's head (issue 18, bugs 1
//! and 4): a request without a body is held back whole until the release, a request the
//! release did not hold back is detected and the burst counted as unsynchronized (never as
//! clean), and `--connections N` spreads a burst over the workers behind one port.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod binary;
mod support;

use binary::{scenario, tester};
use raceproof_race::{Mode, RaceScenario, runner};
use support::{ToyConfig, ToyServer};

const BURSTS: usize = 3;

#[test]
fn single_packet_holds_back_a_bodiless_request_until_the_release() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let bodiless = RaceScenario::load(&scenario("early-bodiless.toml")).unwrap();
    let report = runner::run(
        &bodiless,
        &server.target().unwrap().into(),
        Mode::SinglePacket,
        BURSTS,
    )
    .unwrap();
    assert_eq!(report.bursts, BURSTS, "{:?}", report.first_error);
    // Each request's head and END_STREAM leave together in the release write: no handler of
    // an endpoint that starts on the head can start before it.
    assert_eq!(server.started_incomplete(), 0);
    assert_eq!(report.anomalies, 0, "{:?}", report.example);
}

#[test]
fn a_request_the_release_did_not_hold_back_marks_the_burst_unsynchronized() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    // The body's last byte is held back, but the endpoint never waits for it. Only what came
    // back (or started, by the server's stamp) before the release is flagged, so a burst whose
    // early handlers happened to start after it is not: some bursts, not necessarily all.
    let bursts = 3 * BURSTS;
    let ran = tester(
        "early-body",
        &[
            "run",
            &scenario("early-body.toml"),
            "--target",
            &server.url(),
            "--mode",
            "single-packet",
            "--bursts",
            &bursts.to_string(),
        ],
    );
    assert_eq!(
        server.started_incomplete(),
        8 * bursts,
        "the endpoint starts early"
    );
    let report = ran.report(0);
    assert_eq!(report["anomalies"], 0, "{ran:?}");
    assert!(
        report["unsynchronized_bursts"]
            .as_u64()
            .is_some_and(|unsynchronized| unsynchronized > 0),
        "{ran:?}"
    );
    // Not a clean pass: the run says why and exits 2.
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("not synchronized"), "{ran:?}");
    assert!(ran.stdout.contains("unsync"), "{ran:?}");
}

#[test]
fn several_connections_reach_several_workers_behind_one_port() {
    let workers = ToyConfig {
        workers: 2,
        ..ToyConfig::default()
    };
    let safe = scenario("redeem-safe.toml");
    let bursts = BURSTS.to_string();
    // One connection lands on one worker, which admits the code once: nothing to see.
    let one = ToyServer::start(workers).unwrap();
    let ran = tester(
        "one-connection",
        &["run", &safe, "--target", &one.url(), "--bursts", &bursts],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.report(0)["anomalies"], 0, "{ran:?}");

    // Two connections released together reach both workers: each admits the code once.
    let two = ToyServer::start(workers).unwrap();
    let ran = tester(
        "two-connections",
        &[
            "run",
            &safe,
            "--target",
            &two.url(),
            "--bursts",
            &bursts,
            "--connections",
            "2",
        ],
    );
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(ran.report(0)["anomalies"], BURSTS, "{ran:?}");
    assert_eq!(ran.report(0)["connections"], 2, "{ran:?}");
    assert!(
        two.requests_per_worker().iter().all(|&handled| handled > 0),
        "{:?}",
        two.requests_per_worker()
    );
}
