//! Requests that fail are visible (issue 18, bug 2): timeouts and statuses per actor in
//! race.json and the table, a path that cannot be sent is refused by `check`, and a run whose
//! bursts did not succeed as written cannot exit 0.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod binary;
mod support;

use binary::{out_dir, scenario, tester};
use support::{ToyConfig, ToyServer};

#[test]
fn timeouts_are_counted_per_actor_and_fail_the_run() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let ran = tester(
        "timeouts",
        &[
            "run",
            &scenario("sleep.toml"),
            "--target",
            &server.url(),
            "--mode",
            "naive",
            "--bursts",
            "2",
            "--timeout-ms",
            "200",
        ],
    );
    let sleeper = &ran.report(0)["outcomes"]["sleeper"];
    assert_eq!(sleeper["requests"], 4, "{ran:?}");
    assert_eq!(sleeper["timeouts"], 4, "{ran:?}");
    assert_eq!(ran.report(0)["bursts_without_success"], 2, "{ran:?}");
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stdout.contains("timeouts 4"), "{ran:?}");
}

#[test]
fn statuses_are_counted_per_actor() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let ran = tester(
        "statuses",
        &[
            "run",
            &scenario("redeem-safe.toml"),
            "--target",
            &server.url(),
            "--mode",
            "last-byte",
            "--bursts",
            "3",
        ],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let redeemer = &ran.report(0)["outcomes"]["redeemer"];
    assert_eq!(redeemer["statuses"]["200"], 3, "{ran:?}");
    assert_eq!(redeemer["statuses"]["409"], 21, "{ran:?}");
    assert_eq!(redeemer["timeouts"], 0, "{ran:?}");
    assert!(ran.stdout.contains("redeemer: 200 x3, 409 x21"), "{ran:?}");
}

#[test]
fn a_path_that_is_not_a_valid_url_is_refused_by_check() {
    let dir = out_dir("space");
    let path = dir.join("space.toml");
    let source = std::fs::read_to_string(scenario("redeem-safe.toml"))
        .unwrap()
        .replace("/redeem/safe", "/redeem/safe?note=two words");
    std::fs::write(&path, source).unwrap();
    let ran = tester("space", &["check", path.to_str().unwrap()]);
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(
        ran.stderr.contains("space.toml:") && ran.stderr.contains("%20"),
        "{ran:?}"
    );
}

#[test]
fn bursts_without_a_success_fail_the_run_unless_a_floor_allows_them() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let url = server.url();
    let one_code = scenario("redeem-one-code.toml");
    // The code can be redeemed once: bursts 2 and 3 have no success.
    let ran = tester(
        "floor-default",
        &["run", &one_code, "--target", &url, "--bursts", "3"],
    );
    assert_eq!(ran.report(0)["bursts_without_success"], 2, "{ran:?}");
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("2 of 3 bursts had no 2xx"), "{ran:?}");

    let ran = tester(
        "floor-none",
        &["run", &one_code, "--target", &url, "--bursts", "2"],
    );
    assert_eq!(ran.report(0)["bursts_without_success"], 2, "{ran:?}");
    assert_eq!(ran.code, Some(2), "{ran:?}");

    let ran = tester(
        "floor-one",
        &[
            "run",
            &scenario("redeem-safe.toml"),
            "--target",
            &url,
            "--bursts",
            "3",
            "--min-success-bursts",
            "1",
        ],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lowered = ToyServer::start(ToyConfig::default()).unwrap();
    let ran = tester(
        "floor-lowered",
        &[
            "run",
            &one_code,
            "--target",
            &lowered.url(),
            "--bursts",
            "3",
            "--min-success-bursts",
            "1",
        ],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
}
