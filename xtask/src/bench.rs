//! `cargo xtask bench`: runs the criterion benches, then turns the estimates of *this* run
//! into `target/raceproof/bench.json` and `bench.md` (ns per operation, ratios against
//! each baseline), which `cargo xtask readme` puts in the README.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Serialize)]
struct Measurement {
    group: String,
    function: String,
    parameter: String,
    /// criterion's point estimate of one iteration, in nanoseconds.
    ns: f64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    machine: String,
    quick: bool,
    measurements: Vec<Measurement>,
}

pub fn run(root: &Path, quick: bool) -> Result<(), String> {
    let started = SystemTime::now();
    let mut command = super::cargo(root);
    command.args(["bench", "-p", "raceproof", "--bench", "strategies", "--"]);
    if quick {
        command.arg("--quick");
    }
    super::run(&mut command)?;

    let mut measurements = Vec::new();
    collect(
        &root.join("target").join("criterion"),
        started,
        &mut measurements,
    )?;
    if measurements.is_empty() {
        return Err("criterion wrote no estimates".to_owned());
    }
    measurements.sort_by(|a, b| {
        (&a.group, &a.function, &a.parameter).cmp(&(&b.group, &b.function, &b.parameter))
    });
    let report = BenchReport {
        machine: super::machine(),
        quick,
        measurements,
    };
    let dir = super::reports_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    write(&dir.join("bench.json"), &(json + "\n"))?;
    let table = markdown(&report);
    write(&dir.join("bench.md"), &table)?;
    println!("{table}");
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every `new/benchmark.json` under `dir` written since `since`, with its estimate.
fn collect(dir: &Path, since: SystemTime, out: &mut Vec<Measurement>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = measurement(&path, since)? {
                out.push(m);
            }
        } else {
            collect(&path, since, out)?;
        }
    }
    Ok(())
}

fn measurement(new: &Path, since: SystemTime) -> Result<Option<Measurement>, String> {
    let estimates = new.join("estimates.json");
    let fresh = std::fs::metadata(&estimates)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return Ok(None);
    }
    let read = |p: PathBuf| -> Result<Value, String> {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let id = read(new.join("benchmark.json"))?;
    let est = read(estimates)?;
    // The slope of time over iterations when criterion sampled linearly, else the mean.
    let ns = est["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| est["mean"]["point_estimate"].as_f64())
        .ok_or_else(|| format!("{}: no point estimate", new.display()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok(Some(Measurement {
        group: text(&id["group_id"]),
        function: text(&id["function_id"]),
        parameter: text(&id["value_str"]),
        ns,
    }))
}

fn find<'a>(
    r: &'a BenchReport,
    group: &str,
    function: &str,
    parameter: &str,
) -> Option<&'a Measurement> {
    r.measurements
        .iter()
        .find(|m| m.group == group && m.function == function && m.parameter == parameter)
}

fn ns(m: Option<&Measurement>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| format!("{:.0}", m.ns))
}

fn ratio(num: Option<&Measurement>, den: Option<&Measurement>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if d.ns > 0.0 => format!("{:.2}x", n.ns / d.ns),
        _ => "-".to_owned(),
    }
}

const STRATEGIES: [&str; 5] = ["mutex", "parking_lot", "rwlock", "sharded", "key_locks"];

fn markdown(r: &BenchReport) -> String {
    let mut out = String::new();
    for flow in ["update_email", "promote"] {
        let _ = writeln!(
            out,
            "**{flow}** (whole request, uncontended; ratio = proven_fix / seed_vulnerable)\n\n\
             | strategy | seed_vulnerable ns | proven_fix ns | ratio | seed_fix ns |\n\
             |---|---:|---:|---:|---:|"
        );
        for s in STRATEGIES {
            let (v, p) = (
                find(r, flow, "seed_vulnerable", s),
                find(r, flow, "proven_fix", s),
            );
            let _ = writeln!(
                out,
                "| {s}{} | {} | {} | {} | {} |",
                if s == "mutex" { " (default)" } else { "" },
                ns(v),
                ns(p),
                ratio(p, v),
                ns(find(r, flow, "seed_fix", s)),
            );
        }
        out.push('\n');
    }

    let floor = find(r, "floor", "hmac_verify", "prepared_key");
    let vulnerable = find(r, "operate", "seed_vulnerable", "mutex");
    let _ = writeln!(
        out,
        "**operate** (signed request, uncontended; against the seed's vulnerable endpoint and \
         against the HMAC verification any correct endpoint must do)\n\n\
         | variant | ns | / seed_vulnerable | / HMAC floor |\n|---|---:|---:|---:|"
    );
    let rows = [
        ("HMAC verify, key state prepared once (floor)", floor),
        (
            "HMAC verify, key rebuilt per request",
            find(r, "floor", "hmac_verify", "key_rebuilt_per_request"),
        ),
        ("seed_vulnerable", vulnerable),
        ("seed_fix", find(r, "operate", "seed_fix", "mutex")),
        (
            "proven_fix, replay set behind one mutex (default)",
            find(r, "operate", "proven_fix", "mutex"),
        ),
        (
            "proven_fix, replay set in 16 shards",
            find(r, "operate", "proven_fix", "sharded"),
        ),
        (
            "proven_fix, compare-and-swap flag per resource",
            find(r, "operate", "proven_fix", "cas"),
        ),
    ];
    for (name, m) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            ns(m),
            ratio(m, vulnerable),
            ratio(m, floor)
        );
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "**contention** (2 threads, compare-and-set updates through the store; ns per pair of \
         updates; throughput = global mutex's time / this strategy's time)\n\n\
         | strategy | same key ns | throughput vs mutex | distinct keys ns | throughput vs mutex |\n\
         |---|---:|---:|---:|---:|"
    );
    for s in STRATEGIES {
        let same = find(r, "contended_same_key", s, "");
        let distinct = find(r, "contended_distinct_keys", s, "");
        let _ = writeln!(
            out,
            "| {s} | {} | {} | {} | {} |",
            ns(same),
            ratio(find(r, "contended_same_key", "mutex", ""), same),
            ns(distinct),
            ratio(find(r, "contended_distinct_keys", "mutex", ""), distinct),
        );
    }
    let verify = |name| find(r, "password_verify", name, "");
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
        "\nMeasured on {}{} in one run of `cargo xtask bench{}`.",
        r.machine,
        if r.quick { " (quick mode: rough)" } else { "" },
        if r.quick { " --quick" } else { "" }
    );
    out
}
