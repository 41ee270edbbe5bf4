//! Serving the FastAPI fixtures (seed_hmac.py, seed_basic.py) with uvicorn (HTTP/1.1) or
//! hypercorn (h2c, prior knowledge), one or several workers on one loopback port, from the
//! virtualenv `setup.sh` makes. Python missing: the tests say they are skipped, loudly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raceproof_race::Target;
use raceproof_race::wire::{Http1, Prepared};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fastapi");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
/// How long a server may take to have every worker answering.
const STARTUP: Duration = Duration::from_secs(60);

static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// The virtualenv's python, made by `setup.sh` on first use; `None` only when there is no
/// python3 at all. A setup that fails with python3 present fails the test.
pub fn python() -> Option<PathBuf> {
    static VENV: OnceLock<Option<PathBuf>> = OnceLock::new();
    VENV.get_or_init(|| {
        let found = Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return None;
        }
        let venv = std::env::var_os("RACEPROOF_FASTAPI_VENV").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fastapi-venv"),
            PathBuf::from,
        );
        let status = Command::new("bash")
            .arg(Path::new(FIXTURES).join("setup.sh"))
            .arg(&venv)
            .status()
            .expect("bash runs setup.sh");
        assert!(status.success(), "tests/fastapi/setup.sh failed: {status}");
        Some(venv.join("bin/python"))
    })
    .clone()
}

/// Says, on stderr, that `test` did not run because python3 is missing, and counts it. With
/// RACEPROOF_REQUIRE_FASTAPI set (CI sets it), a skip is a failure.
pub fn skipped(test: &str) {
    let count = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
    eprintln!(
        "SKIPPED {test}: python3 not found, so no FastAPI server could be started ({count} FastAPI test(s) skipped in this run)"
    );
    assert!(
        std::env::var_os("RACEPROOF_REQUIRE_FASTAPI").is_none(),
        "RACEPROOF_REQUIRE_FASTAPI is set: {test} may not be skipped"
    );
}

/// One test at a time: servers and bursts share 2 cores.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which ASGI server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// HTTP/1.1 only.
    Uvicorn,
    /// HTTP/1.1 and h2c (prior knowledge).
    Hypercorn,
}

/// A running server; stopped (its whole process group) when dropped.
pub struct Served {
    pub url: String,
    pub workers: usize,
    child: Child,
    log: PathBuf,
}

impl Served {
    /// Serves `app` (`seed_hmac` or `seed_basic`) on a free loopback port with `workers`
    /// workers and the given environment; returns once every worker has answered.
    pub fn start(
        python: &Path,
        server: Server,
        app: &str,
        workers: usize,
        env: &[(&str, &str)],
    ) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let bind = format!("127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!(
            "raceproof-fastapi-{}-{port}.log",
            std::process::id()
        ));
        let mut command = Command::new(python);
        command.arg("-m");
        match server {
            Server::Uvicorn => command.args([
                "uvicorn",
                &format!("{app}:app"),
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                &workers.to_string(),
                "--no-access-log",
                "--log-level",
                "warning",
            ]),
            Server::Hypercorn => command.args([
                "hypercorn",
                &format!("{app}:app"),
                "--bind",
                &bind,
                "--workers",
                &workers.to_string(),
                "--log-level",
                "warning",
            ]),
        };
        let output = std::fs::File::create(&log).expect("a log file");
        command
            .env("PYTHONPATH", format!("{FIXTURES}:{EXAMPLES}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("the log file"))
            .stderr(output);
        // Its own process group, so that stopping it stops every worker it forked.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("the server starts");
        let served = Served {
            url: format!("http://{bind}"),
            workers,
            child,
            log,
        };
        served.wait_for_workers();
        served
    }

    pub fn target(&self) -> Target {
        runtime()
            .block_on(Target::resolve(&self.url, false))
            .expect("a loopback target")
    }

    /// Asks `GET /worker` on new connections until `workers` distinct process ids answered.
    fn wait_for_workers(&self) {
        let target = self.target();
        let started = Instant::now();
        let mut pids = std::collections::BTreeSet::new();
        while pids.len() < self.workers {
            assert!(
                started.elapsed() < STARTUP,
                "{} workers answered within {STARTUP:?} ({pids:?}); server log:\n{}",
                pids.len(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            if let Some(pid) = runtime().block_on(worker_pid(&target)) {
                pids.insert(pid);
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

async fn worker_pid(target: &Target) -> Option<u64> {
    let request = Prepared {
        actor: usize::MAX,
        method: http::Method::GET,
        path: "/worker".to_owned(),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    let mut connection = Http1::connect(target).await.ok()?;
    let (response, _) = connection
        .send(target, &request, Instant::now(), Duration::from_secs(5))
        .await
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    json["pid"].as_u64()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Drop for Served {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Workers that outlived their parent, or a parent that would not stop.
        signal("-KILL");
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
