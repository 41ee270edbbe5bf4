//! The race tester against real FastAPI services it did not write (issue 18): the seeds' routes
//! ported to FastAPI (tests/fastapi/seed_hmac.py, seed_basic.py), served by uvicorn (HTTP/1.1)
//! and hypercorn (h2c), on one worker and on four behind one port. Bursts are bounded, every
//! target is loopback, and no timing is asserted: only what was found, what was not, and
//! whether the bursts were synchronized.
//!
//! The servers run from the virtualenv tests/fastapi/setup.sh makes (`.ci/run` makes it first);
//! a test is skipped, and says so on stderr, only when there is no python3 at all.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "fastapi/served.rs"]
mod served;

use raceproof_race::report::{SpreadSource, Verdict};
use raceproof_race::runner::{self, Options};
use raceproof_race::{Mode, RaceError, RaceScenario, ScenarioReport, Targets};
use served::{Served, Server, one_at_a_time, python, skipped};

const BURSTS: usize = 20;

fn scenario(file: &str) -> RaceScenario {
    let path = format!(
        "{}/tests/fastapi/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    RaceScenario::load(&path).unwrap()
}

fn run(served: &Served, scenario: &RaceScenario, mode: Mode, connections: usize) -> ScenarioReport {
    let options = Options {
        connections,
        ..Options::new(BURSTS)
    };
    let targets = Targets::one(served.target());
    let report = runner::run_with(scenario, &targets, mode, &options).unwrap();
    eprintln!(
        "{} / {} on {} worker(s), {connections} connection(s): {} anomalies, {} unsynchronized, {} without a 2xx in {} bursts; spread {:?}",
        report.scenario,
        mode.as_str(),
        served.workers,
        report.anomalies,
        report.unsynchronized_bursts,
        report.bursts_without_success,
        report.bursts,
        report.spread_us
    );
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.bursts, BURSTS);
    report
}

/// Nothing broke and the run shows it: every burst synchronized and with a 2xx, nothing undecided.
fn held(report: &ScenarioReport) {
    assert_eq!(
        report.verdict(),
        Verdict::Held,
        "{}: {:?}",
        report.mode.as_str(),
        report.example
    );
}

fn found(report: &ScenarioReport) {
    assert!(
        report.anomalies > 0,
        "{} / {}: a race that is there went unseen",
        report.scenario,
        report.mode.as_str()
    );
}

#[test]
fn uvicorn_one_worker_replays_the_vulnerable_operate_and_not_the_hardened_one() {
    let Some(python) = python() else {
        return skipped("uvicorn_one_worker");
    };
    let _serial = one_at_a_time();
    let replay = scenario("operate-replay.toml");
    let vulnerable = Served::start(
        &python,
        Server::Uvicorn,
        "seed_hmac",
        1,
        &[("SEED_VARIANT", "vulnerable")],
    );
    // uvicorn speaks HTTP/1.1 only: single-packet says so before any burst.
    let refused = runner::run(
        &replay,
        &Targets::one(vulnerable.target()),
        Mode::SinglePacket,
        5,
    )
    .unwrap_err();
    assert!(
        matches!(&refused, RaceError::NoH2c(why) if why.contains("answers HTTP/1.1") && why.contains("--mode last-byte")),
        "{refused}"
    );
    for mode in [Mode::LastByte, Mode::Naive] {
        found(&run(&vulnerable, &replay, mode, 1));
    }
    drop(vulnerable);
    let hardened = Served::start(
        &python,
        Server::Uvicorn,
        "seed_hmac",
        1,
        &[("SEED_VARIANT", "hardened")],
    );
    for mode in [Mode::LastByte, Mode::Naive] {
        let report = run(&hardened, &replay, mode, 1);
        held(&report);
        assert_eq!(
            report.spread_us.map(|s| s.source),
            Some(SpreadSource::Server)
        );
    }
}

#[test]
fn uvicorn_four_workers_break_the_hardened_operate() {
    let Some(python) = python() else {
        return skipped("uvicorn_four_workers");
    };
    let _serial = one_at_a_time();
    let hardened = Served::start(
        &python,
        Server::Uvicorn,
        "seed_hmac",
        4,
        &[("SEED_VARIANT", "hardened")],
    );
    // One connection per request: the copies reach several workers, each with its own locks
    // and its own processed set.
    found(&run(
        &hardened,
        &scenario("operate-replay.toml"),
        Mode::LastByte,
        1,
    ));
}

#[test]
fn hypercorn_one_worker_single_packet_is_synchronized_with_and_without_bodies() {
    let Some(python) = python() else {
        return skipped("hypercorn_one_worker");
    };
    let _serial = one_at_a_time();
    let replay = scenario("operate-replay.toml");
    let vulnerable = Served::start(
        &python,
        Server::Hypercorn,
        "seed_hmac",
        1,
        &[("SEED_VARIANT", "vulnerable")],
    );
    let report = run(&vulnerable, &replay, Mode::SinglePacket, 1);
    found(&report);
    assert_eq!(
        report.unsynchronized_bursts, 0,
        "{:?}",
        report.first_unsynchronized
    );
    drop(vulnerable);

    let hardened = Served::start(
        &python,
        Server::Hypercorn,
        "seed_hmac",
        1,
        &[("SEED_VARIANT", "hardened")],
    );
    for mode in [Mode::SinglePacket, Mode::LastByte] {
        held(&run(&hardened, &replay, mode, 1));
    }
    drop(hardened);

    // /update-email takes query parameters: its requests have no body, and hypercorn starts
    // the app on the request's head. Held back whole, they are synchronized, and every burst
    // is measured by the server.
    let basic = Served::start(&python, Server::Hypercorn, "seed_basic", 1, &[]);
    let report = run(
        &basic,
        &scenario("update-email.toml"),
        Mode::SinglePacket,
        1,
    );
    assert_eq!(
        report.unsynchronized_bursts, 0,
        "{:?}",
        report.first_unsynchronized
    );
    assert_eq!(report.bursts_without_success, 0, "{:?}", report.outcomes);
    let spread = report.spread_us.as_ref().expect("a spread");
    assert_eq!(
        (spread.source, spread.samples),
        (SpreadSource::Server, BURSTS)
    );
    assert_eq!(report.outcomes["update"].requests, 4 * BURSTS);
}

#[test]
fn hypercorn_four_workers_break_the_hardened_operate_once_connections_reach_them() {
    let Some(python) = python() else {
        return skipped("hypercorn_four_workers");
    };
    let _serial = one_at_a_time();
    let hardened = Served::start(
        &python,
        Server::Hypercorn,
        "seed_hmac",
        4,
        &[("SEED_VARIANT", "hardened")],
    );
    let replay = scenario("operate-replay.toml");
    // One h2 connection is served by one worker, whose lock holds: nothing to see.
    held(&run(&hardened, &replay, Mode::SinglePacket, 1));
    // Eight connections, released together, reach several workers.
    let report = run(&hardened, &replay, Mode::SinglePacket, 8);
    found(&report);
    assert_eq!(report.connections, 8);
}
