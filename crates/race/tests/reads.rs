//! Setup, final-state and audit reads reach one worker (issue 18, bug 5): they share one
//! connection kept open for the run, or go to `--read-target`.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod binary;
mod support;

use binary::{scenario, tester};
use support::{ToyConfig, ToyServer};

const BURSTS: usize = 4;

#[test]
fn setup_and_final_state_reads_reach_the_same_worker() {
    // Three workers behind one port, each with its own state, taking connections in turn: a
    // new connection per read would read the final state on another worker than the setup's.
    let server = ToyServer::start(ToyConfig {
        workers: 3,
        ..ToyConfig::default()
    })
    .unwrap();
    for mode in ["naive", "last-byte", "single-packet"] {
        let ran = tester(
            "pinned",
            &[
                "run",
                &scenario("item-pinned.toml"),
                "--target",
                &server.url(),
                "--mode",
                mode,
                "--bursts",
                &BURSTS.to_string(),
            ],
        );
        assert_eq!(ran.code, Some(0), "{mode}: {ran:?}");
        assert_eq!(ran.report(0)["anomalies"], 0, "{mode}: {ran:?}");
    }
}

#[test]
fn read_target_takes_every_read() {
    let (burst, reads) = (
        ToyServer::start(ToyConfig::default()).unwrap(),
        ToyServer::start(ToyConfig::default()).unwrap(),
    );
    let ran = tester(
        "read-target",
        &[
            "run",
            &scenario("item-pinned.toml"),
            "--target",
            &burst.url(),
            "--read-target",
            &reads.url(),
            "--mode",
            "naive",
            "--bursts",
            &BURSTS.to_string(),
        ],
    );
    // The setup wrote on the read target and the final state read it there.
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(reads.requests(), 2 * BURSTS, "{ran:?}");
    assert_eq!(burst.requests(), BURSTS, "{ran:?}");
    assert_eq!(ran.report(0)["reads"], reads.url(), "{ran:?}");
}
