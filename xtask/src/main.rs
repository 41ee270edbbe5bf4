//! `cargo xtask <command>`: the project's entry points, the same locally and in CI.
//!
//! - `verify`: the model catalogue under loom (release, its own target dir), verdict table,
//!   counterexamples, `target/raceproof/verdicts.json`; fails on any unexpected verdict.
//! - `stress [RUNS]`: the catalogue on real threads, `target/raceproof/stress.json`.
//! - `test`: every test, the normal suite and then the loom suite.
//! - `bench [--quick]`: the criterion benches, `target/raceproof/bench.json` and `bench.md`.
//! - `readme`: regenerates the README's tables from the reports in `target/raceproof/`.

mod bench;
mod readme;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <verify | stress [RUNS] | test | bench [--quick] | readme>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("verify") => verify(&root),
        Some("stress") => stress(&root, args.get(1).map(String::as_str)),
        Some("test") => test(&root),
        Some("bench") => bench::run(&root, args.iter().any(|a| a == "--quick")),
        Some("readme") => readme::regenerate(&root),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn reports_dir(root: &Path) -> PathBuf {
    root.join("target").join("raceproof")
}

/// A cargo command in the workspace; measuring binaries learn the machine's name from
/// `RACEPROOF_MACHINE`.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .current_dir(root)
        .env("RACEPROOF_MACHINE", machine());
    command
}

/// The machine figures are measured on: CPU model and cores.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!("{cpu}, {cores} cores")
}

/// A cargo command that builds with `--cfg loom`, in its own target dir so that switching
/// between loom and normal builds never rebuilds everything.
fn loom_cargo(root: &Path) -> Command {
    let mut command = cargo(root);
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    command
        .env("RUSTFLAGS", format!("{flags} --cfg loom").trim())
        .env("CARGO_TARGET_DIR", root.join("target").join("loom"));
    command
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

fn verify(root: &Path) -> Result<(), String> {
    let out = reports_dir(root).join("verdicts.json");
    run(loom_cargo(root)
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "raceproof",
            "--bin",
            "verify",
            "--",
        ])
        .arg(&out))
}

fn stress(root: &Path, runs: Option<&str>) -> Result<(), String> {
    let runs = runs.unwrap_or("10000");
    let out = reports_dir(root).join("stress.json");
    run(cargo(root)
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "raceproof",
            "--bin",
            "stress",
            "--",
        ])
        .arg(runs)
        .arg(&out))
}

fn test(root: &Path) -> Result<(), String> {
    run(cargo(root).args(["test", "--workspace"]))?;
    run(loom_cargo(root).args(["test", "--workspace", "--release"]))
}
