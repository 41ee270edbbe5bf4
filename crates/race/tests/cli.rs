//! The binary: exit codes, race.json, and errors for bad input (never a panic).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Output};

use support::{ToyConfig, ToyServer};

fn tester(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raceproof-race"))
        .args(args)
        .output()
        .unwrap()
}

fn scenario(file: &str) -> String {
    format!("{}/tests/scenarios/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn out_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("raceproof-race-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_exits_1_on_an_anomaly_0_without_and_writes_race_json() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let dir = out_dir("run");
    let out = dir.join("race.json");
    let out_arg = out.to_str().unwrap();
    let url = server.url();
    let racy = tester(&[
        "run",
        &scenario("redeem-racy.toml"),
        "--target",
        &url,
        "--mode",
        "naive",
        "--bursts",
        "3",
        "--out",
        out_arg,
    ]);
    assert_eq!(
        racy.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&racy.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let report = &json["scenarios"][0];
    assert_eq!(report["scenario"], "redeem-racy");
    assert_eq!(report["mode"], "naive");
    assert_eq!(report["bursts"], 3);
    assert_eq!(report["spread_us"]["source"], "server");
    assert!(report["first_anomaly_burst"].is_u64());
    assert!(json["machine"].is_string());
    let table = String::from_utf8_lossy(&racy.stdout);
    assert!(
        table.contains("redeem-racy") && table.contains("naive"),
        "{table}"
    );

    let safe = tester(&[
        "run",
        &scenario("redeem-safe.toml"),
        "--target",
        &url,
        "--bursts",
        "3",
        "--out",
        out_arg,
    ]);
    assert_eq!(
        safe.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&safe.stderr)
    );
}

#[test]
fn compare_runs_all_three_modes_and_writes_markdown() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let dir = out_dir("compare");
    let (out, markdown) = (dir.join("race.json"), dir.join("compare.md"));
    let output = tester(&[
        "compare",
        &scenario("redeem-safe.toml"),
        "--target",
        &server.url(),
        "--bursts",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = std::fs::read_to_string(&markdown).unwrap();
    for mode in ["single-packet", "last-byte", "naive"] {
        assert!(
            table.contains(&format!("| redeem-safe | {mode} |")),
            "{table}"
        );
    }
}

#[test]
fn a_malformed_scenario_is_an_error_naming_the_line() {
    let dir = out_dir("malformed");
    let cases = [
        (
            "name = \"x\"\n[[actors]]\nname = \"a\"\nmethod = \"GET\"\npath = \"/{{nope}}\"\n",
            ":5:",
        ),
        ("name = \"x\"\n[[actors]]\nname = \n", ":3:"),
        (
            "name = \"x\"\n\n[[actors]]\nname = \"a\"\nmethod = \"GET\"\npath = \"/\"\nsurprise = true\n",
            ":7:",
        ),
    ];
    for (index, (source, line)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{index}.toml"));
        std::fs::write(&path, source).unwrap();
        let output = tester(&["check", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("bad{index}.toml{line}")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn refuses_non_loopback_targets_and_absurd_burst_counts() {
    let refused = tester(&[
        "run",
        "promote-vs-demote",
        "--target",
        "http://192.0.2.1:8080",
        "--bursts",
        "1",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not loopback"));
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let too_many = tester(&[
        "run",
        &scenario("redeem-safe.toml"),
        "--target",
        &server.url(),
        "--bursts",
        "100001",
    ]);
    assert_eq!(too_many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("--bursts must be"));
    // Refused before anything runs: no report is written (the default is under the cwd).
    assert!(
        !std::path::Path::new("target/raceproof/race.json").exists(),
        "a refused command wrote a report"
    );
}

#[test]
fn builtins_are_listed_and_valid() {
    let listed = tester(&["list"]);
    assert_eq!(listed.status.code(), Some(0));
    let names = String::from_utf8_lossy(&listed.stdout);
    for name in [
        "promote-vs-demote",
        "promote-vs-password",
        "update-email-same-version",
        "operate-replay",
        "operate-splice",
    ] {
        assert!(names.contains(name), "{names}");
        assert_eq!(tester(&["check", name]).status.code(), Some(0));
    }
}

#[test]
fn every_target_must_be_valid_and_loopback() {
    let server = ToyServer::start(ToyConfig::default()).unwrap();
    let url = server.url();
    let with_second = |second: &str| {
        let output = tester(&[
            "run",
            &scenario("redeem-safe.toml"),
            "--target",
            &url,
            "--target",
            second,
            "--bursts",
            "1",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (output.status.code(), stderr)
    };
    let (code, stderr) = with_second("http://192.0.2.1:8080");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("192.0.2.1") && stderr.contains("not loopback"),
        "{stderr}"
    );
    let (code, stderr) = with_second("ftp://127.0.0.1:21");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("target `ftp://127.0.0.1:21`"), "{stderr}");
    assert_eq!(
        server.requests(),
        0,
        "nothing may be sent before every target is checked"
    );

    let none = tester(&["run", &scenario("redeem-safe.toml"), "--bursts", "1"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--target"));
}

#[test]
fn a_burst_split_across_two_instances_is_reported_with_both() {
    let (a, b) = (
        ToyServer::start(ToyConfig::default()).unwrap(),
        ToyServer::start(ToyConfig::default()).unwrap(),
    );
    let out = out_dir("split").join("race.json");
    // Each instance redeems the code once: the safe endpoint breaks across two processes.
    let output = tester(&[
        "run",
        &scenario("redeem-safe.toml"),
        "--target",
        &a.url(),
        "--target",
        &b.url(),
        "--bursts",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!((a.requests(), b.requests()), (8, 8));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["target"], a.url());
    assert_eq!(json["targets"], serde_json::json!([a.url(), b.url()]));
    assert_eq!(json["scenarios"][0]["anomalies"], 2);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains(&format!("across 2 targets: {}, {}", a.url(), b.url())),
        "{table}"
    );
}
