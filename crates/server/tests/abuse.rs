//! The abuse suite (`cargo xtask abuse`) against this build of the binary: every probe
//! must hold (connections closed, requests refused with the status their limit promises,
//! memory back under its bound after each burst). Verdicts judge behaviour, never timing.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use raceproof_abuse::{Config, Target, run, table};
use raceproof_report::abuse::AbuseVerdict;

#[test]
fn every_abuse_probe_holds() {
    let config = Config::default();
    let args: Vec<String> = config.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = common::process::Server::start(&args);
    let target = Target {
        addr: server.addr,
        pid: server.child.id(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let probes = runtime.block_on(run(target, &config));
    println!("{}", table(&probes));
    let failed: Vec<String> = probes
        .iter()
        .filter(|p| p.verdict != AbuseVerdict::Holds)
        .map(|p| format!("{}: {}", p.probe, p.observed))
        .collect();
    assert!(failed.is_empty(), "probes that did not hold: {failed:?}");
    assert_eq!(probes.len(), 13);
}
