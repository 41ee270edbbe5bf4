#![cfg(not(loom))]
//! The built-in scenarios against raceproof's own server, started in-process on a free
//! loopback port, in every mode: where a seed variant's race is deterministic it is found
//! in every burst, and `proven_fix` shows no anomaly while its requests do succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use raceproof_flows::Variant;
use raceproof_race::{Mode, RaceScenario, ScenarioReport, Target, runner};
use raceproof_server::{AppState, HasherKind, Settings, UsersFile, WebhookSecret, router, serve};
use std::sync::Arc;

/// The demo secret of `users.example.toml`.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/users.example.toml");
const MODES: [Mode; 3] = [Mode::SinglePacket, Mode::LastByte, Mode::Naive];

/// raceproof-server on its own runtime (two workers, like the 2-core dev machine), stopped
/// when dropped.
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    fn start(variant: Variant) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hasher = HasherKind::Fast.build().unwrap();
        let users = UsersFile::load(std::path::Path::new(USERS))
            .unwrap()
            .specs(&hasher)
            .unwrap();
        let settings = Settings {
            variant,
            expose_timing: true,
            ..Settings::default()
        };
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let state = AppState::new(&users, hasher, &secret, settings).unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(serve::serve(listener, router(Arc::new(state)), async {
            let _ = stopped.await;
        }));
        Self {
            url,
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }

    fn target(&self) -> Target {
        let resolver = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        resolver
            .block_on(Target::resolve(&self.url, false))
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

/// A built-in scenario, with the signing secret written in instead of read from the
/// environment (tests run in parallel; the environment is shared).
fn builtin(name: &str) -> RaceScenario {
    let source = match name {
        "operate-splice" => include_str!("../scenarios/operate-splice.toml"),
        "operate-replay-webhooks" => include_str!("../scenarios/operate-replay-webhooks.toml"),
        other => return RaceScenario::load(other).unwrap(),
    };
    let source = source
        .replace(
            r#"secret_env = "RACEPROOF_OPERATE_SECRET""#,
            &format!(r#"secret = "{SECRET}""#),
        )
        .replace(
            r#"secret_env = "RACEPROOF_WEBHOOK_SECRET""#,
            &format!(r#"secret = "{SECRET}""#),
        );
    RaceScenario::parse(&source, name).unwrap()
}

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
