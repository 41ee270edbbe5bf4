//! `cargo xtask <command>`: the project's entry points, the same locally and in CI.
//!
//! - `verify [--random]`: the model catalogue under loom (release, its own target dir), verdict table,
//!   counterexamples, `target/raceproof/verdicts.json`; fails on any unexpected verdict.
//! - `stress [RUNS]`: the catalogue on real threads, `target/raceproof/stress.json`.
//!   With `--random`: the catalogue under the randomized mode (PCT schedules, `--cfg shuttle`,
//!   `target/shuttle`), `target/raceproof/random.json`; `RACEPROOF_SCHEDULES`,
//!   `RACEPROOF_DEPTH` and `RACEPROOF_SEED` change the run.
//! - `replay [--random] FLOW/VARIANT[@DEPLOYMENT] [--log]`: re-runs one violated catalogue
//!   model on exactly its failing schedule (loom's checkpoint), with loom's own log on
//!   `--log`.
//! - `test`: every test, the normal suite and then the loom suite.
//! - `bench [--quick] [--http] [--backends]`: the criterion benches (several runs: medians
//!   and spreads), instruction counts under callgrind, the replay set's turnover
//!   percentiles, into `target/raceproof/bench.json`; `--http` adds the server's HTTP bench
//!   (`http.json`), `--backends` the in-memory / Redis / PostgreSQL one (`backends.json`).
//! - `abuse`: builds the server and the abuse suite (release), starts a fresh server with
//!   the suite's short limits, probes it as an attacker would, prints the table and writes
//!   `target/raceproof/abuse.json` (fails if a probe fails).
//! - `readme`: regenerates the tables of README.md and `docs/` from the reports in
//!   `target/raceproof/` (keeping those whose report is missing), then checks that every
//!   relative link there resolves.
//! - `layout`: import circles within each crate (an error) and source files over 500 lines.
//! - `race-table [--render-only]`: the race tester against the seeds' FastAPI ports (uvicorn,
//!   hypercorn, 1 and 4 workers) and raceproof's server, every mode, into
//!   `target/raceproof/race-table.json` and the table of `crates/race/README.md`.
//! - `report [--screenshots]`: `target/raceproof/report.html`, one self-contained page from
//!   the reports (`verify`, `stress` and `bench` refresh it too); `--screenshots` also
//!   writes the README's figures to `docs/img/` with headless Chromium.

mod bench;
mod layout;
mod links;
mod pages;
mod render;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <verify [--random] | replay [--random] FLOW/VARIANT[@DEPLOYMENT] [--log] | stress [RUNS] | test | bench [--quick] [--http] [--backends] | abuse | readme | layout | race-table [--render-only] | report [--screenshots]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("verify") => verify(&root, args.iter().any(|a| a == "--random")),
        Some("replay") => match args.iter().skip(1).find(|a| !a.starts_with("--")) {
            Some(which) => replay(
                &root,
                which,
                args.iter().any(|a| a == "--log"),
                args.iter().any(|a| a == "--random"),
            ),
            None => Err(USAGE.to_owned()),
        },
        Some("stress") => stress(&root, args.get(1).map(String::as_str)),
        Some("report") => report::run(&root, args.iter().any(|a| a == "--screenshots")),
        Some("test") => test(&root),
        Some("bench") => bench::run(
            &root,
            args.iter().any(|a| a == "--quick"),
            args.iter().any(|a| a == "--http"),
            args.iter().any(|a| a == "--backends"),
        ),
        Some("abuse") => abuse(&root),
        Some("readme") => pages::regenerate(&root),
        Some("layout") => layout::check(&root),
        Some("race-table") => race_table(&root, args.iter().any(|a| a == "--render-only")),
        _ => Err(USAGE.to_owned()),
    };
    // A command that writes a report refreshes the page made from them, pass or fail.
    if matches!(
        args.first().map(String::as_str),
        Some("verify" | "stress" | "bench")
    ) {
        report::refresh(&root);
    }
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

/// Where the tools write their reports (`target/raceproof/`).
fn reports_dir(root: &Path) -> PathBuf {
    raceproof_report::dir(root)
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
    // rustdoc does not read RUSTFLAGS: doctests need the cfg too, or they link a loom build
    // of the library against code compiled for std.
    for var in ["RUSTFLAGS", "RUSTDOCFLAGS"] {
        let flags = std::env::var(var).unwrap_or_default();
        command.env(var, format!("{flags} --cfg loom").trim());
    }
    command.env("CARGO_TARGET_DIR", root.join("target").join("loom"));
    command
}

/// A cargo command that builds with `--cfg shuttle` (the randomized mode), in its own
/// target dir. Only the suite package builds there: the server, backends and race tester
/// have no shuttle build.
fn shuttle_cargo(root: &Path) -> Command {
    let mut command = cargo(root);
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    command.env("RUSTFLAGS", format!("{flags} --cfg shuttle").trim());
    command.env("CARGO_TARGET_DIR", root.join("target").join("shuttle"));
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

/// Runs one of the suite's binaries (`src/bin/`) in release mode with `args`.
fn run_suite_bin(mut command: Command, bin: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    command.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "raceproof",
        "--bin",
        bin,
        "--",
    ]);
    run(command.args(args))
}

fn verify(root: &Path, random: bool) -> Result<(), String> {
    if random {
        let out = reports_dir(root).join(raceproof_report::file::RANDOM);
        return run_suite_bin(shuttle_cargo(root), "verify", &[out.as_os_str()]);
    }
    let out = reports_dir(root).join(raceproof_report::file::VERDICTS);
    run_suite_bin(loom_cargo(root), "verify", &[out.as_os_str()])
}

fn replay(root: &Path, which: &str, log: bool, random: bool) -> Result<(), String> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--replay".as_ref(), which.as_ref()];
    if random {
        return run_suite_bin(shuttle_cargo(root), "verify", &args);
    }
    if log {
        args.push("--log".as_ref());
    }
    run_suite_bin(loom_cargo(root), "verify", &args)
}

fn stress(root: &Path, runs: Option<&str>) -> Result<(), String> {
    let runs = runs.unwrap_or("10000");
    let out = reports_dir(root).join(raceproof_report::file::STRESS);
    run_suite_bin(cargo(root), "stress", &[runs.as_ref(), out.as_os_str()])
}

/// The abuse suite against a fresh release build of the server.
fn abuse(root: &Path) -> Result<(), String> {
    run(cargo(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "raceproof-server",
        "-p",
        "raceproof-abuse",
    ]))?;
    let bin = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release");
    let out = reports_dir(root).join(raceproof_report::file::ABUSE);
    let mut suite = Command::new(bin.join("raceproof-abuse"));
    suite
        .current_dir(root)
        .env("RACEPROOF_MACHINE", machine())
        .arg("--server")
        .arg(bin.join("raceproof-server"))
        .args(["--users", "crates/server/users.example.toml", "--out"])
        .arg(&out);
    run(&mut suite)
}

/// The FastAPI virtualenv (skipped when only re-rendering), then the race table example.
fn race_table(root: &Path, render_only: bool) -> Result<(), String> {
    if !render_only {
        let setup = root.join("crates/race/tests/fastapi/setup.sh");
        let status = Command::new("bash")
            .arg(&setup)
            .status()
            .map_err(|e| format!("{}: {e}", setup.display()))?;
        if !status.success() {
            return Err(format!("{} failed ({status})", setup.display()));
        }
    }
    let mut command = cargo(root);
    command.args([
        "run",
        "--release",
        "-p",
        "raceproof-race",
        "--example",
        "race_table",
    ]);
    if render_only {
        command.args(["--", "--render-only"]);
    }
    let status = command.status().map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("race_table failed ({status})"))
}

fn test(root: &Path) -> Result<(), String> {
    let normal = run_tests(cargo(root).args(["test", "--workspace"]));
    // Exactly the line users type, `RUSTFLAGS="--cfg loom" cargo test --workspace`
    // (release, in target/loom): rustdoc gets no `--cfg loom`, so the doctests prove that
    // line works as it is.
    let mut loom_test = loom_cargo(root);
    loom_test.env(
        "RUSTDOCFLAGS",
        std::env::var("RUSTDOCFLAGS").unwrap_or_default(),
    );
    let loom = run_tests(loom_test.args(["test", "--workspace", "--release"]));
    // The randomized mode's own tests (the suite package only: nothing else builds there).
    let random = run_tests(shuttle_cargo(root).args([
        "test",
        "--release",
        "-p",
        "raceproof",
        "--test",
        "randomized",
    ]));
    let suites = [
        ("normal", &normal),
        ("loom", &loom),
        ("randomized", &random),
    ];
    let (passed, failed) = suites
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .fold((0, 0), |(p, f), (rp, rf)| (p + rp, f + rf));
    // A suite whose command failed may have stopped before its failing tests (a test that
    // does not compile prints no FAILED line): name it, so the count is not read as all.
    let broken: Vec<&str> = suites
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| *name)
        .collect();
    // One closing line for the three suites: normal, loom and randomized.
    if broken.is_empty() {
        println!("\ntests: {passed} passed, {failed} failed");
    } else {
        println!(
            "\ntests: {passed} passed, {failed} failed; did not complete: the {} suite (see above)",
            broken.join(" and the ")
        );
    }
    normal.and(loom).and(random).map(|_| ())
}

/// Runs a `cargo test` command, echoing its output, and adds up its `test result:` lines.
fn run_tests(command: &mut Command) -> Result<(usize, usize), String> {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(summary) = line.strip_prefix("test result: ") {
                passed += count(summary, " passed");
                failed += count(summary, " failed");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok((passed, failed))
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// The number before `label` in a summary like `ok. 3 passed; 0 failed; ...`.
fn count(summary: &str, label: &str) -> usize {
    summary
        .split(';')
        .find_map(|part| part.trim_end().strip_suffix(label))
        .and_then(|n| n.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
