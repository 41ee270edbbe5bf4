//! raceproof's own server, in-process on a free loopback port, for the tester's tests and the
//! measured table (examples/race_table.rs).
#![allow(dead_code, clippy::unwrap_used)]

use raceproof_flows::Variant;
use raceproof_race::{RaceScenario, Target};
use raceproof_server::{AppState, HasherKind, Settings, UsersFile, WebhookSecret, router, serve};
use std::sync::Arc;

/// The demo secret of `users.example.toml`.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/users.example.toml");

/// raceproof-server on its own runtime (two workers, like the 2-core dev machine), stopped
/// when dropped.
pub struct Server {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start(variant: Variant) -> Self {
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

    pub fn target(&self) -> Target {
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

/// A built-in scenario, with the demo signing secret written in instead of read from the
/// environment (tests run in parallel; the environment is shared).
pub fn builtin(name: &str) -> RaceScenario {
    let (_, source) = raceproof_race::scenario::BUILTINS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .unwrap();
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
