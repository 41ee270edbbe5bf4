//! `cargo xtask bench [--quick] [--http] [--backends]`: figures that hold from run to run.
//!
//! - the criterion benches (`benches/strategies.rs`) run [`RUNS`] times ([`QUICK_RUNS`]
//!   with `--quick`); every timing is reported as the median of the runs with its min–max,
//!   and every ratio as the ratio of medians with the min–max of the per-run ratios;
//! - the uncontended per-operation costs are also counted in instructions under callgrind
//!   (`benches/instructions.rs`, gungraun; `gungraun-runner` is installed when missing),
//!   which other work on the machine does not move;
//! - the replay set's single-admit percentiles while a million entries turn over
//!   (`benches/replay_turnover.rs`);
//! - with `--http`, the server's loopback HTTP bench (`target/raceproof/http.json`), the
//!   seed's FastAPI endpoints on uvicorn included (`RACEPROOF_BENCH_SEED=1`);
//! - with `--backends`, each shared-state operation in memory, in Redis and in PostgreSQL
//!   (`target/raceproof/backends.json`; both services must answer, see `.ci/run`).
//!
//! Everything goes to `target/raceproof/bench.json` ([`BenchReport`]), from which
//! `cargo xtask readme` writes `docs/performance.md`'s tables.

use raceproof_core::store::User;
use raceproof_core::table::{GlobalMutex, StrategyVisitor, Table, for_each_strategy};
use raceproof_report::bench::{BenchReport, Instructions, ReplayTurnover, Timing};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Runs of the criterion benches in a full `cargo xtask bench`, and with `--quick`.
const RUNS: usize = 5;
const QUICK_RUNS: usize = 2;
/// Criterion's times per benchmark and run in a full bench: shorter than its defaults,
/// because the spread across runs says more than one long run.
const WARM_UP_SECS: &str = "0.3";
const MEASUREMENT_SECS: &str = "1";
/// The gungraun-runner that the `gungraun` dev-dependency needs (same version).
const GUNGRAUN_VERSION: &str = "0.20.0";
/// Operations per instruction-count benchmark (`OPS` in `benches/instructions.rs`).
const OPS_PER_BENCH: f64 = 1000.0;

/// The lock strategies the benches measure, by name in the one list's order, and the
/// store's default among them (`UserStore`'s default table).
fn strategies() -> (Vec<String>, String) {
    struct Names(Vec<String>, Option<String>);
    impl StrategyVisitor<User> for Names {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            self.0.push(name.to_owned());
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<GlobalMutex<User>>() {
                self.1 = Some(name.to_owned());
            }
        }
    }
    let mut names = Names(Vec::new(), None);
    for_each_strategy(&mut names);
    let default = names.1.unwrap_or_else(|| names.0[0].clone());
    (names.0, default)
}

pub fn run(root: &Path, quick: bool, http: bool, backends: bool) -> Result<(), String> {
    let runs = if quick { QUICK_RUNS } else { RUNS };
    let mut per_run = Vec::new();
    for n in 1..=runs {
        println!("xtask: criterion run {n} of {runs}");
        let started = SystemTime::now();
        let mut command = super::cargo(root);
        command.args(["bench", "-p", "raceproof", "--bench", "strategies", "--"]);
        if quick {
            command.arg("--quick");
        } else {
            command.args(["--warm-up-time", WARM_UP_SECS]);
            command.args(["--measurement-time", MEASUREMENT_SECS]);
        }
        super::run(&mut command)?;
        let mut measured = Vec::new();
        collect(
            &root.join("target").join("criterion"),
            started,
            &mut measured,
        )?;
        if measured.is_empty() {
            return Err("criterion wrote no estimates".to_owned());
        }
        per_run.push(measured);
    }
    let timings = summarize(&per_run);

    let instructions = count_instructions(root)?;

    let mut turnover = super::cargo(root);
    turnover.args(["bench", "-p", "raceproof", "--bench", "replay_turnover"]);
    if quick {
        turnover.args(["--", "--quick"]);
    }
    super::run(&mut turnover)?;
    let dir = raceproof_report::dir(root);
    let replay_turnover: Option<ReplayTurnover> =
        raceproof_report::read(&dir.join(raceproof_report::file::REPLAY_TURNOVER))
            .map_err(|e| e.to_string())?;

    let (strategies, default_strategy) = strategies();
    let report = BenchReport {
        machine: super::machine(),
        quick,
        runs,
        strategies,
        default_strategy,
        timings,
        instructions,
        replay_turnover,
    };
    let path = dir.join(raceproof_report::file::BENCH);
    raceproof_report::write(&path, &report).map_err(|e| e.to_string())?;
    println!(
        "{}\nwrote {}",
        crate::render::bench::tables(&report),
        path.display()
    );

    for (wanted, package, bench) in [
        (http, "raceproof-server", "http"),
        (backends, "raceproof-backends", "backends"),
    ] {
        if wanted {
            let mut command = super::cargo(root);
            command.args(["bench", "-p", package, "--bench", bench]);
            // The HTTP bench measures the seed's FastAPI service beside raceproof's
            // (uvicorn, 1 worker, from a virtualenv under target/), when python3 is there.
            command.env("RACEPROOF_BENCH_SEED", "1");
            super::run(&mut command)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One criterion estimate of one run.
struct Estimate {
    group: String,
    function: String,
    parameter: String,
    ns: f64,
}

/// Every `new/benchmark.json` under `dir` written since `since`, with its estimate.
fn collect(dir: &Path, since: SystemTime, out: &mut Vec<Estimate>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = estimate(&path, since)? {
                out.push(m);
            }
        } else {
            collect(&path, since, out)?;
        }
    }
    Ok(())
}

/// Whether `path` was modified at or after `since`.
fn fresh(path: &Path, since: SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since)
}

fn estimate(new: &Path, since: SystemTime) -> Result<Option<Estimate>, String> {
    let estimates = new.join("estimates.json");
    if !fresh(&estimates, since) {
        return Ok(None);
    }
    let id = read_json(&new.join("benchmark.json"))?;
    let est = read_json(&estimates)?;
    // The slope of time over iterations when criterion sampled linearly, else the mean.
    let ns = est["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| est["mean"]["point_estimate"].as_f64())
        .ok_or_else(|| format!("{}: no point estimate", new.display()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok(Some(Estimate {
        group: text(&id["group_id"]),
        function: text(&id["function_id"]),
        parameter: text(&id["value_str"]),
        ns,
    }))
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One [`Timing`] per benchmark seen in any run.
fn summarize(per_run: &[Vec<Estimate>]) -> Vec<Timing> {
    let mut ids: Vec<(String, String, String)> = per_run
        .iter()
        .flatten()
        .map(|e| (e.group.clone(), e.function.clone(), e.parameter.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|(group, function, parameter)| {
            let runs_ns: Vec<Option<f64>> = per_run
                .iter()
                .map(|run| {
                    run.iter()
                        .find(|e| {
                            e.group == group && e.function == function && e.parameter == parameter
                        })
                        .map(|e| e.ns)
                })
                .collect();
            let mut sorted: Vec<f64> = runs_ns.iter().flatten().copied().collect();
            sorted.sort_by(f64::total_cmp);
            Timing {
                median_ns: median(&sorted),
                min_ns: sorted.first().copied().unwrap_or(f64::NAN),
                max_ns: sorted.last().copied().unwrap_or(f64::NAN),
                group,
                function,
                parameter,
                runs_ns,
            }
        })
        .collect()
}

/// `gungraun-runner --version` names `version`.
fn runner_is(version: &str) -> bool {
    Command::new("gungraun-runner")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(version))
}

/// Runs `benches/instructions.rs` under callgrind and reads gungraun's summaries.
fn count_instructions(root: &Path) -> Result<Vec<Instructions>, String> {
    if !runner_is(GUNGRAUN_VERSION) {
        println!(
            "xtask: the instruction counts need gungraun-runner {GUNGRAUN_VERSION}, which is \
             not on PATH: running `cargo install gungraun-runner --version {GUNGRAUN_VERSION} \
             --locked`"
        );
        super::run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())).args([
                "install",
                "gungraun-runner",
                "--version",
                GUNGRAUN_VERSION,
                "--locked",
            ]),
        )?;
    }
    let started = SystemTime::now();
    let mut command = super::cargo(root);
    command
        .args(["bench", "-p", "raceproof", "--bench", "instructions"])
        .env("GUNGRAUN_SAVE_SUMMARY", "json");
    super::run(&mut command)?;
    let mut summaries = Vec::new();
    find_summaries(
        &root.join("target").join("gungraun"),
        started,
        &mut summaries,
    );
    let mut out = Vec::new();
    for path in summaries {
        let summary = read_json(&path)?;
        let group = summary["function_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = summary["id"].as_str().unwrap_or_default().to_owned();
        let ir = metric(&summary, "Ir")
            .ok_or_else(|| format!("{}: no instruction count", path.display()))?;
        let per_op = |name| metric(&summary, name).map(|v| v / OPS_PER_BENCH);
        out.push(Instructions {
            group,
            id,
            per_op: ir / OPS_PER_BENCH,
            d1_misses_per_op: per_op("D1mr").zip(per_op("D1mw")).map(|(r, w)| r + w),
            estimated_cycles_per_op: per_op("EstimatedCycles"),
        });
    }
    if out.is_empty() {
        return Err("gungraun wrote no summaries".to_owned());
    }
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(out)
}

fn find_summaries(dir: &Path, since: SystemTime, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_summaries(&path, since, out);
        } else if path.file_name().is_some_and(|n| n == "summary.json") && fresh(&path, since) {
            out.push(path);
        }
    }
}

/// The new value of callgrind metric `name` (`Ir`: instructions executed) in a gungraun
/// summary, totalled over the benchmark's processes.
fn metric(summary: &Value, name: &str) -> Option<f64> {
    let profiles = summary["profiles"].as_array()?;
    profiles
        .iter()
        .find_map(|p| p["data"]["total"]["metrics"][name]["values"]["new"].as_f64())
}
