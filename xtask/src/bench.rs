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
//! - with `--http`, the server's loopback HTTP bench (`target/raceproof/http.{json,md}`);
//! - with `--backends`, each shared-state operation in memory, in Redis and in PostgreSQL
//!   (`target/raceproof/backends.{json,md}`; both services must answer, see `.ci/run`).
//!
//! Everything goes to `target/raceproof/bench.json` and `bench.md`, which
//! `cargo xtask readme` puts in the README.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
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

#[derive(Debug, Clone, Serialize)]
struct Timing {
    group: String,
    function: String,
    parameter: String,
    /// criterion's point estimate of one iteration, in nanoseconds, per run (in run order;
    /// `null` where a run lacks it).
    runs_ns: Vec<Option<f64>>,
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Instructions {
    group: String,
    /// The bench id, `<variant>_<strategy>` for flows.
    id: String,
    /// Instructions (callgrind's Ir) per operation.
    per_op: f64,
    /// Level-1 data cache misses (reads and writes) per operation, in callgrind's cache
    /// simulation.
    d1_misses_per_op: Option<f64>,
    /// Callgrind's cycle estimate from instructions and simulated cache hits and misses.
    estimated_cycles_per_op: Option<f64>,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    machine: String,
    quick: bool,
    runs: usize,
    timings: Vec<Timing>,
    instructions: Vec<Instructions>,
    /// `target/raceproof/replay_turnover.json` of this run.
    replay_turnover: Option<Value>,
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
    let replay_turnover = read_json(&super::reports_dir(root).join("replay_turnover.json")).ok();

    let report = BenchReport {
        machine: super::machine(),
        quick,
        runs,
        timings,
        instructions,
        replay_turnover,
    };
    let dir = super::reports_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    write(&dir.join("bench.json"), &(json + "\n"))?;
    let table = markdown(&report);
    write(&dir.join("bench.md"), &table)?;
    println!("{table}");

    for (wanted, package, bench) in [
        (http, "raceproof-server", "http"),
        (backends, "raceproof-backends", "backends"),
    ] {
        if wanted {
            super::run(super::cargo(root).args(["bench", "-p", package, "--bench", bench]))?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
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

fn timing<'a>(
    r: &'a BenchReport,
    group: &str,
    function: &str,
    parameter: &str,
) -> Option<&'a Timing> {
    r.timings
        .iter()
        .find(|m| m.group == group && m.function == function && m.parameter == parameter)
}

fn instructions<'a>(r: &'a BenchReport, group: &str, id: &str) -> Option<&'a Instructions> {
    r.instructions
        .iter()
        .find(|m| m.group == group && m.id == id)
}

/// `median (min–max)` in ns.
fn ns(m: Option<&Timing>) -> String {
    m.map_or_else(
        || "-".to_owned(),
        |m| format!("{:.0} ({:.0}–{:.0})", m.median_ns, m.min_ns, m.max_ns),
    )
}

/// The ratio of medians, with the min–max of the per-run ratios (runs that have both).
fn ratio(num: Option<&Timing>, den: Option<&Timing>) -> String {
    let (Some(n), Some(d)) = (num, den) else {
        return "-".to_owned();
    };
    let mut per_run: Vec<f64> = n
        .runs_ns
        .iter()
        .zip(&d.runs_ns)
        .filter_map(|(a, b)| Some(a.as_ref()? / b.as_ref()?))
        .collect();
    per_run.sort_by(f64::total_cmp);
    match (per_run.first(), per_run.last()) {
        (Some(lo), Some(hi)) if d.median_ns > 0.0 => {
            format!("{:.2}x ({lo:.2}–{hi:.2})", n.median_ns / d.median_ns)
        }
        _ => "-".to_owned(),
    }
}

fn ir(m: Option<&Instructions>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| format!("{:.0}", m.per_op))
}

fn ir_ratio(num: Option<&Instructions>, den: Option<&Instructions>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d.per_op > 0.0 => format!("{:.2}x", n.per_op / d.per_op),
        _ => "-".to_owned(),
    }
}

/// The strategies of `raceproof_core::table::for_each_strategy`, the first the default.
const STRATEGIES: [&str; 5] = [
    "global_mutex",
    "parking_lot",
    "rwlock",
    "sharded",
    "key_locks",
];
const DEFAULT_STRATEGY: &str = STRATEGIES[0];

fn markdown(r: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Times are the median of {} runs of criterion, with the min–max over runs in \
         parentheses; a ratio is the ratio of the medians, with the min–max of the ratios \
         run by run. Instruction counts (callgrind `Ir` per operation) do not depend on what \
         else the machine runs.\n",
        r.runs
    );
    for flow in ["update_email", "promote"] {
        let _ = writeln!(
            out,
            "**{flow}** (whole request including authentication with the SHA-256 stand-in \
             hasher, uncontended; ratio = proven_fix / seed_vulnerable; the seed's variants \
             keep their own dict behind one mutex, measured once)\n\n\
             | strategy | seed_vulnerable ns | proven_fix ns | ratio (time) | seed_vulnerable Ir | proven_fix Ir | ratio (Ir) | seed_fix ns | seed_fix Ir |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let v = timing(r, flow, "seed_vulnerable", DEFAULT_STRATEGY);
        let vi = instructions(r, flow, "seed_vulnerable_global_mutex");
        for s in STRATEGIES {
            let p = timing(r, flow, "proven_fix", s);
            let pi = instructions(r, flow, &format!("proven_fix_{s}"));
            let default = s == DEFAULT_STRATEGY;
            let _ = writeln!(
                out,
                "| {s}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if default { " (default)" } else { "" },
                if default { ns(v) } else { "〃".to_owned() },
                ns(p),
                ratio(p, v),
                if default { ir(vi) } else { "〃".to_owned() },
                ir(pi),
                ir_ratio(pi, vi),
                if default {
                    ns(timing(r, flow, "seed_fix", s))
                } else {
                    "〃".to_owned()
                },
                if default {
                    ir(instructions(r, flow, "seed_fix_global_mutex"))
                } else {
                    "〃".to_owned()
                },
            );
        }
        out.push('\n');
    }

    let floor = timing(r, "floor", "hmac_verify", "prepared_key");
    let floor_ir = instructions(r, "floor", "hmac_verify_prepared_key");
    let vulnerable = timing(r, "operate", "seed_vulnerable", DEFAULT_STRATEGY);
    let vulnerable_ir = instructions(r, "operate", "seed_vulnerable_global_mutex");
    let _ = writeln!(
        out,
        "**operate** (signed request, uncontended; against the seed's vulnerable endpoint and \
         against the HMAC verification any correct endpoint must do)\n\n\
         | variant | ns | / seed_vulnerable | / HMAC floor | Ir | / seed_vulnerable (Ir) | / HMAC floor (Ir) |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    let rows = [
        (
            "HMAC verify, key state prepared once (floor)",
            floor,
            floor_ir,
        ),
        (
            "HMAC verify, key rebuilt per request",
            timing(r, "floor", "hmac_verify", "key_rebuilt_per_request"),
            None,
        ),
        ("seed_vulnerable", vulnerable, vulnerable_ir),
        (
            "seed_fix",
            timing(r, "operate", "seed_fix", DEFAULT_STRATEGY),
            instructions(r, "operate", "seed_fix_global_mutex"),
        ),
        (
            "proven_fix, replay set behind one mutex (default)",
            timing(r, "operate", "proven_fix", DEFAULT_STRATEGY),
            instructions(r, "operate", "proven_fix_global_mutex"),
        ),
        (
            "proven_fix, replay set already holding 200,000 entries",
            timing(r, "operate", "proven_fix", "global_mutex_held"),
            instructions(r, "operate", "proven_fix_global_mutex_held"),
        ),
        (
            "proven_fix, replay set in 16 shards",
            timing(r, "operate", "proven_fix", "sharded"),
            instructions(r, "operate", "proven_fix_sharded"),
        ),
        (
            "proven_fix, compare-and-swap flag per resource",
            timing(r, "operate", "proven_fix", "cas"),
            instructions(r, "operate", "proven_fix_cas"),
        ),
        (
            "replay set alone: one insert_if_absent",
            None,
            instructions(r, "floor", "replay_set_insert"),
        ),
        (
            "replay set alone, holding 200,000 entries",
            None,
            instructions(r, "floor", "replay_set_insert_held"),
        ),
    ];
    for (name, m, i) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            ns(m),
            ratio(m, vulnerable),
            ratio(m, floor),
            ir(i),
            ir_ratio(i, vulnerable_ir),
            ir_ratio(i, floor_ir),
        );
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "**contention** (2 threads, compare-and-set updates through the store; ns per pair of \
         updates; throughput = global mutex's time / this strategy's time)\n\n\
         | strategy | same key ns | throughput vs global_mutex | distinct keys ns | throughput vs global_mutex |\n\
         |---|---:|---:|---:|---:|"
    );
    for s in STRATEGIES {
        let same = timing(r, "contended_same_key", s, "");
        let distinct = timing(r, "contended_distinct_keys", s, "");
        let _ = writeln!(
            out,
            "| {s} | {} | {} | {} | {} |",
            ns(same),
            ratio(timing(r, "contended_same_key", DEFAULT_STRATEGY, ""), same),
            ns(distinct),
            ratio(
                timing(r, "contended_distinct_keys", DEFAULT_STRATEGY, ""),
                distinct
            ),
        );
    }

    if let Some(t) = &r.replay_turnover {
        let us = |v: &Value| {
            v.as_f64()
                .map_or_else(|| "-".to_owned(), |ns| format!("{:.1}", ns / 1000.0))
        };
        let _ = writeln!(
            out,
            "\n**replay set turnover** (single admits of the default guard: signature, \
             freshness, insert; {} entries admitted at one second, then as many more while \
             those expire and the clock moves one second per 2,000 admits)\n\n\
             | phase | p50 µs | p99 µs | p99.9 µs | max µs | admits over 100 µs | over 1 ms |\n\
             |---|---:|---:|---:|---:|---:|---:|",
            t["entries"]
        );
        for phase in ["fill", "turnover"] {
            let p = &t[phase];
            let _ = writeln!(
                out,
                "| {phase} | {} | {} | {} | {} | {} | {} |",
                us(&p["p50_ns"]),
                us(&p["p99_ns"]),
                us(&p["p99_9_ns"]),
                us(&p["max_ns"]),
                p["over_100us"],
                p["over_1ms"],
            );
        }
        let _ = writeln!(
            out,
            "\nFirst admit after every filled entry expired: {} µs; resident memory {:.0} MiB \
             filled, {:.0} MiB after the turnover.",
            us(&t["first_after_expiry_ns"]),
            t["rss_mib_after_fill"].as_f64().unwrap_or(0.0),
            t["rss_mib_after_turnover"].as_f64().unwrap_or(0.0),
        );
    }

    let verify = |name| timing(r, "password_verify", name, "");
    let _ = writeln!(
        out,
        "\n**password verification** per request: Argon2id with OWASP parameters {} ns, with \
         the cheapest legal parameters {} ns, the benches' SHA-256 stand-in {} ns.",
        ns(verify("argon2id_owasp")),
        ns(verify("argon2id_insecure_fast")),
        ns(verify("bench_sha256")),
    );
    let _ = write!(
        out,
        "\nMeasured on {}{} by `cargo xtask bench{}`.",
        r.machine,
        if r.quick { " (quick mode: rough)" } else { "" },
        if r.quick { " --quick" } else { "" }
    );
    out
}
