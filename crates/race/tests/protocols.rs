//! Single-packet against a server that speaks HTTP/1.1 only (issue 18, bug 3): one clear error
//! before any burst, and `compare` goes on with the other modes and marks the failed one.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod binary;
mod support;

use binary::{scenario, tester};
use support::{ToyConfig, ToyServer};

fn http1_only() -> ToyServer {
    ToyServer::start(ToyConfig {
        http1_only: true,
        ..ToyConfig::default()
    })
    .unwrap()
}

#[test]
fn single_packet_against_http1_only_says_so_up_front() {
    let server = http1_only();
    let ran = tester(
        "h1-run",
        &[
            "run",
            &scenario("redeem-safe.toml"),
            "--target",
            &server.url(),
            "--mode",
            "single-packet",
            "--bursts",
            "20",
        ],
    );
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(
        ran.stderr.contains("HTTP/1.1") && ran.stderr.contains("--mode last-byte"),
        "{ran:?}"
    );
    assert!(!ran.stderr.contains("burst 5"), "{ran:?}");
}

#[test]
fn compare_goes_on_with_the_other_modes_and_marks_the_failed_one() {
    let server = http1_only();
    let ran = tester(
        "h1-compare",
        &[
            "compare",
            &scenario("redeem-safe.toml"),
            "--target",
            &server.url(),
            "--bursts",
            "2",
        ],
    );
    assert_eq!(ran.code, Some(2), "{ran:?}");
    let single = ran.report(0);
    assert_eq!(single["mode"], "single-packet", "{ran:?}");
    assert!(
        single["failed"]
            .as_str()
            .is_some_and(|why| why.contains("HTTP/1.1")),
        "{ran:?}"
    );
    for (index, mode) in [(1, "last-byte"), (2, "naive")] {
        assert_eq!(ran.report(index)["mode"], mode, "{ran:?}");
        assert_eq!(ran.report(index)["bursts"], 2, "{ran:?}");
        assert_eq!(ran.report(index)["anomalies"], 0, "{ran:?}");
    }
    assert!(ran.stdout.contains("failed"), "{ran:?}");
}
