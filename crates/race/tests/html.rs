//! `run --html FILE`: the run drawn as a page, from the race.json the tester wrote. The
//! page reads race.json field by field (it cannot link this crate), so this test is where a
//! renamed or dropped field shows: each burst's spread must be drawn, and the anomalous
//! burst's requests.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use support::{ToyConfig, ToyServer};

#[test]
fn run_with_html_draws_every_burst_and_the_anomalous_one() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("raceproof-race-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json_path, html_path) = (dir.join("race.json"), dir.join("race.html"));
    let scenario = format!(
        "{}/tests/scenarios/redeem-racy.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = Command::new(env!("CARGO_BIN_EXE_raceproof-race"))
        .args([
            "run",
            &scenario,
            "--target",
            &server.url(),
            "--mode",
            "naive",
        ])
        .args(["--bursts", "4", "--out", json_path.to_str().unwrap()])
        .args(["--html", html_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let run = &json["scenarios"][0];
    let per_burst = run["spread_us"]["per_burst"].as_array().unwrap();
    assert_eq!(per_burst.len(), 4, "one spread per burst");

    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<section id=\"race\""));
    assert!(html.contains("data-race=\"redeem-racy / naive\""));
    // A strip per way the spread was measured (the server's stamps, the client's arrivals),
    // a dot per burst in each.
    let client = run["client_spread_us"]["per_burst"].as_array().unwrap();
    assert_eq!(
        html.matches("<title>burst sample ").count(),
        per_burst.len() + client.len(),
        "a dot per burst"
    );
    assert!(
        html.contains("server-measured"),
        "the spread says where it was measured"
    );
    let requests = run["example"]["history"].as_array().unwrap().len();
    assert!(requests > 1);
    assert_eq!(
        html.matches("data-actor=").count(),
        requests,
        "a bar per request of the anomalous burst"
    );
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    std::fs::remove_dir_all(&dir).unwrap();
}
