//! Running the `raceproof-race` binary from a test: its exit status, its output, its race.json.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// What one run of the binary left.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The race.json it wrote, if any.
    pub json: Option<serde_json::Value>,
}

impl Ran {
    /// The report of scenario number `index` (in the order run), or `Null`.
    pub fn report(&self, index: usize) -> &serde_json::Value {
        self.json
            .as_ref()
            .map_or(&serde_json::Value::Null, |json| &json["scenarios"][index])
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A test scenario file under tests/scenarios.
pub fn scenario(file: &str) -> String {
    format!("{}/tests/scenarios/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test's output.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "raceproof-race-{}-{name}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// Runs the binary with `args` and `--out DIR/race.json` appended for `run` and `compare`.
pub fn tester(name: &str, args: &[&str]) -> Ran {
    let out = out_dir(name).join("race.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_raceproof-race"));
    command.args(args);
    if matches!(args.first(), Some(&"run" | &"compare")) {
        command.arg("--out").arg(&out);
        if args.first() == Some(&"compare") {
            command.arg("--markdown").arg(out.with_extension("md"));
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the binary runs");
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        json: std::fs::read(&out)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
    }
}
