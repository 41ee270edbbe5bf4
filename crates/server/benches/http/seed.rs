//! The seed's FastAPI service (`seed_app.py`) on uvicorn, 1 worker, on a free loopback port,
//! from the virtualenv `crates/race/tests/fastapi/setup.sh` makes (`target/fastapi-venv`,
//! pinned FastAPI and uvicorn). Stopped when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HERE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/http");
const SETUP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../race/tests/fastapi/setup.sh"
);
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/fastapi-venv");

pub struct Seed {
    pub addr: SocketAddr,
    child: Child,
}

impl Seed {
    /// Makes the virtualenv if needed and starts uvicorn; why not, when it cannot.
    pub fn start() -> Result<Self, String> {
        let setup = Command::new("bash")
            .args([SETUP, VENV])
            .status()
            .map_err(|e| format!("cannot run setup.sh: {e}"))?;
        let python = Path::new(VENV).join("bin/python");
        if !setup.success() || !python.exists() {
            return Err("no virtualenv (python3 missing, or setup.sh failed)".to_owned());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(python)
            .args(["-m", "uvicorn", "seed_app:app", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--workers", "1"])
            .args(["--no-access-log", "--log-level", "warning"])
            .env("PYTHONPATH", HERE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start uvicorn: {e}"))?;
        let seed = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(seed.addr).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err("uvicorn did not listen within 60 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(seed)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
