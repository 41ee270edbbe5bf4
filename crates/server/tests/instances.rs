//! Several instances, for real (issue 11): two server processes on loopback.
//!
//! - One signed message sent to both at once: sharing a Redis replay store they admit it
//!   once between them; each with its own memory, each admits it.
//! - The race tester's scenarios, each burst split between the two: sharing Redis and
//!   PostgreSQL, no anomaly and one audit log; each with its own memory, the cross-instance
//!   double update and replay in every burst.
//! - Restarts: with Redis a replay is still refused, with memory it is admitted again; with
//!   PostgreSQL the users keep what they changed.
//!
//! The backend tests are opted in like those of `raceproof-backends`
//! (`RACEPROOF_BACKEND_TESTS=1`, or `CI=true`, where a backend that does not answer fails the
//! test); `REDIS_URL` and `DATABASE_URL` name the servers (defaults
//! `redis://127.0.0.1:6379`, `postgres://postgres@127.0.0.1:5432/test`).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod instance;

use axum::body::Bytes;
use http_body_util::Full;
use hyper::Request;
use instance::*;
use std::process::Command;

use raceproof_race::Targets;
use raceproof_race::{Mode, RaceScenario, ScenarioReport, runner};
use raceproof_report::services::{InstanceRun, InstanceRuns};

/// Bursts per scenario and mode.
const BURSTS: usize = 10;

// ---------------------------------------------------------------------------------------
// The race tester's scenarios, each burst split between the two instances

/// A scenario of the race tester, built in or under `crates/race/scenarios/`, with the
/// webhook secret written in (tests run in parallel and share the environment).
fn scenario(name: &str) -> RaceScenario {
    let source = raceproof_race::scenario::BUILTINS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map_or_else(
            || {
                let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../race/scenarios");
                std::fs::read_to_string(format!("{dir}/{name}.toml")).unwrap()
            },
            |(_, source)| (*source).to_owned(),
        )
        .replace(
            r#"secret_env = "RACEPROOF_WEBHOOK_SECRET""#,
            &format!(r#"secret = "{SECRET}""#),
        );
    RaceScenario::parse(&source, name).unwrap()
}

fn targets(instances: &[&Instance]) -> Targets {
    let urls: Vec<String> = instances
        .iter()
        .map(|instance| format!("http://{}", instance.addr))
        .collect();
    runtime().block_on(Targets::resolve(&urls, false)).unwrap()
}

/// Runs `name` for [`BURSTS`] bursts in `mode`, request `i` of each burst to
/// `targets[i % n]`; every burst fired and some request succeeded (else nothing was tested).
fn race(targets: &Targets, name: &str, mode: Mode) -> ScenarioReport {
    let report = runner::run(&scenario(name), targets, mode, BURSTS).unwrap();
    assert_eq!(
        report.errors, 0,
        "{name} / {mode:?}: {:?}",
        report.first_error
    );
    assert!(
        report.bursts_without_success < report.bursts,
        "{name} / {mode:?}: no request succeeded"
    );
    eprintln!(
        "{name} / {}: {} of {} bursts anomalous, across {} instance(s)",
        mode.as_str(),
        report.anomalies,
        report.bursts,
        targets.as_slice().len()
    );
    report
}

/// The rows a passing test leaves in `target/raceproof/instances-<file>.json`, from which
/// `cargo xtask readme` builds the table of `docs/instances.md` (nothing there is typed by
/// hand).
struct Tally {
    file: &'static str,
    runs: InstanceRuns,
}

impl Tally {
    fn new(file: &'static str) -> Self {
        Self {
            file,
            runs: InstanceRuns::default(),
        }
    }

    fn add(&mut self, state: &str, name: &str, mode: Mode, report: &ScenarioReport) {
        self.runs.rows.push(InstanceRun {
            state: state.to_owned(),
            scenario: name.to_owned(),
            mode: mode.as_str().to_owned(),
            anomalies: report.anomalies,
            bursts: report.bursts,
        });
    }

    /// Called once every assertion has held.
    fn write(self) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = raceproof_report::dir(&root).join(raceproof_report::file::instances(self.file));
        raceproof_report::write(&path, &self.runs).unwrap();
    }
}

/// `GET /audit` as root.
fn audit(instance: &Instance) -> raceproof_server::handlers::accounts::AuditResponse {
    let addr = instance.addr;
    let credentials = raceproof_core::auth::Credentials::new("root", "r00t").unwrap();
    runtime().block_on(async move {
        let request = Request::get(format!("http://{addr}/audit"))
            .header("host", addr.to_string())
            .header("authorization", credentials.to_header())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = connect(addr).await.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&body).unwrap()
    })
}

/// What issue 11 asks of several instances: with the replay set in Redis and the users in
/// PostgreSQL, no scenario finds an anomaly when its bursts are split between two
/// processes, and both processes serve the same audit log.
#[test]
fn split_bursts_find_nothing_when_two_instances_share_redis_and_postgres() {
    let test = "split_bursts_find_nothing_when_two_instances_share_redis_and_postgres";
    let (Some(redis), Some(pg)) = (redis(test), postgres(test)) else {
        return;
    };
    let prefix = unique_prefix();
    let shared = Shared {
        replay: Some((&redis, &prefix)),
        users: Some((&pg, &prefix)),
    };
    let a = Instance::start(shared);
    let b = Instance::start(shared);
    let both = targets(&[&a, &b]);
    let mut tally = Tally::new("shared");
    for name in [
        "update-email-same-version",
        "promote-vs-demote",
        "promote-vs-password",
        "operate-replay-webhooks",
        // The primary's credential cache holds the old password while the other instance
        // changes it (issue 19).
        "password-vs-cached-login",
    ] {
        for mode in Mode::ALL {
            let report = race(&both, name, mode);
            assert_eq!(
                report.anomalies, 0,
                "{name} / {mode:?}: {:?}",
                report.example
            );
            tally.add("2 instances, Redis + PostgreSQL", name, mode, &report);
        }
    }
    // One log, whichever instance answers: every commit of both, numbered without a gap.
    let (log_a, log_b) = (audit(&a), audit(&b));
    assert_eq!(log_a, log_b);
    assert!(log_a.entries.len() > 3 * BURSTS, "{}", log_a.entries.len());
    for (n, entry) in log_a.entries.iter().enumerate() {
        assert_eq!(entry.seq, n as u64 + 1, "{entry:?}");
    }
    a.stop();
    b.stop();
    drop_schema(&pg, &prefix);
    tally.write();
}

/// The same split with each process keeping its own state: the double update and the
/// replay get through in every burst (each instance grants one), and a password changed on
/// one instance still works on the other; one instance alone refuses them. No backend
/// involved: runs everywhere.
#[test]
fn split_bursts_break_per_process_state_in_every_burst() {
    let a = Instance::start(Shared::default());
    let b = Instance::start(Shared::default());
    let (alone, both) = (targets(&[&a]), targets(&[&a, &b]));
    let (mut split, mut single) = (Tally::new("memory"), Tally::new("alone"));
    for name in [
        "update-email-same-version",
        "operate-replay-webhooks",
        "password-vs-cached-login",
    ] {
        // Split first: the scenario's setup reads alice's version from the first instance,
        // so both must have seen the same number of updates.
        for mode in Mode::ALL {
            let report = race(&both, name, mode);
            assert_eq!(report.anomalies, report.bursts, "{name} / {mode:?}");
            split.add("2 instances, each its own memory", name, mode, &report);
        }
        for mode in Mode::ALL {
            let report = race(&alone, name, mode);
            assert_eq!(report.anomalies, 0, "{name} / {mode:?}");
            single.add("1 instance, memory", name, mode, &report);
        }
    }
    a.stop();
    b.stop();
    split.write();
    single.write();
}

// ---------------------------------------------------------------------------------------
// /operate across instances and restarts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_admitted_once_per_process_with_memory_state() {
    // No backend involved: runs everywhere.
    let a = Instance::start(Shared::default());
    let b = Instance::start(Shared::default());
    // Deterministic: A admits, then B, which never saw A's set, admits the replay.
    let replayed = message(format!("msg_sequential_{}", unique_prefix()));
    let sequential = [
        send_once(a.addr, &replayed).await,
        send_once(b.addr, &replayed).await,
        send_once(a.addr, &replayed).await,
    ];
    eprintln!("memory, sequential A, B, A: {sequential:?}");
    assert_eq!(sequential, [200, 200, 409]);
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_forgets_nothing_with_redis_and_everything_in_memory() {
    let test = "a_restart_forgets_nothing_with_redis_and_everything_in_memory";
    let Some(url) = redis(test) else { return };
    let prefix = unique_prefix();
    for (label, shared) in [
        ("redis", Shared::replay(&url, &prefix)),
        ("memory", Shared::default()),
    ] {
        let message = message(format!("msg_restart_{label}_{}", unique_prefix()));
        let first = Instance::start(shared);
        let admitted = send_once(first.addr, &message).await;
        let again = send_once(first.addr, &message).await;
        first.stop();
        let second = Instance::start(shared);
        let after_restart = send_once(second.addr, &message).await;
        second.stop();
        eprintln!("{label}: admit {admitted}, replay {again}, restart, replay {after_restart}");
        assert_eq!((admitted, again), (200, 409), "{label}");
        let expected = if shared.replay.is_some() { 409 } else { 200 };
        assert_eq!(after_restart, expected, "{label}: replay after a restart");
    }
}

// ---------------------------------------------------------------------------------------
// Users in PostgreSQL across restarts

/// Plain `#[test]`: the PostgreSQL client that checks the database blocks on its own
/// runtime.
#[test]
fn users_in_postgres_outlive_a_restart_and_the_file_adds_only_missing_ones() {
    let test = "users_in_postgres_outlive_a_restart_and_the_file_adds_only_missing_ones";
    let Some(url) = postgres(test) else { return };
    let schema = unique_prefix();
    let shared = Shared::users(&url, &schema);
    let rt = runtime();
    let first = Instance::start(shared);
    assert!(first.log.contains("added=4 kept=0"), "{}", first.log);
    let changed = rt.block_on(send(
        first.addr,
        update_email(first.addr, "\"1\"", "alice@new.example"),
    ));
    assert_eq!(changed.0, 200, "{:?}", changed.2);
    assert_eq!(changed.1.as_deref(), Some("\"2\""));
    first.stop();

    // The file still says alice@example.com: the stored record wins.
    let second = Instance::start(shared);
    assert!(second.log.contains("added=0 kept=4"), "{}", second.log);
    let (status, etag, body) = rt.block_on(send(second.addr, get_user(second.addr, "alice")));
    assert_eq!((status, etag.as_deref()), (200, Some("\"2\"")));
    assert_eq!(body["email"], "alice@new.example");
    // The version it read before the restart is stale now.
    let stale = rt.block_on(send(
        second.addr,
        update_email(second.addr, "\"1\"", "again@example"),
    ));
    assert_eq!(stale.0, 412, "{:?}", stale.2);
    second.stop();
    drop_schema(&url, &schema);
}

/// `--users-db` is refused, with a clear message and before any connection, for a seed
/// variant and for a URL that is not PostgreSQL's; the URL is never printed.
#[test]
fn users_db_is_refused_for_seed_variants_and_other_urls() {
    for (args, expected) in [
        (
            [
                "--variant",
                "seed_fix",
                "--users-db",
                "postgres://u:hunter2@127.0.0.1:1/db",
            ],
            "only proven_fix keeps its users in a database",
        ),
        (
            [
                "--variant",
                "proven_fix",
                "--users-db",
                "mysql://u:hunter2@127.0.0.1:1/db",
            ],
            "expected a postgres:// URL",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_raceproof-server"))
            .args(["--listen", "127.0.0.1:0", "--users", USERS])
            .args(["--hasher", "fast", "--webhook-secret", SECRET])
            .args(args)
            .env_remove("RACEPROOF_USERS_DB")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{log}");
        assert!(log.contains(expected), "{log}");
        assert!(!log.contains("hunter2"), "{log}");
    }
}
