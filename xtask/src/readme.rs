//! Regenerates the README's tables from the reports the tools wrote, so that no figure in
//! the README is typed by hand. Each table sits between `<!-- name -->` and `<!-- /name -->`.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

pub fn regenerate(root: &Path) -> Result<(), String> {
    let reports = super::reports_dir(root);
    let path = root.join("README.md");
    let mut readme =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read README.md: {e}"))?;
    let verdicts = load(&reports.join("verdicts.json"))?;
    readme = replace_section(&readme, "scenarios", &scenarios(&verdicts))?;
    readme = replace_section(&readme, "verdicts", &verdict_table(&verdicts))?;
    readme = replace_section(&readme, "counterexamples", &counterexamples(&verdicts))?;
    if let Some(stress) = load_optional(&reports.join("stress.json"))? {
        readme = replace_section(&readme, "side-by-side", &side_by_side(&verdicts, &stress))?;
    }
    if let Ok(bench) = std::fs::read_to_string(reports.join("bench.md")) {
        readme = replace_section(&readme, "bench", bench.trim_end())?;
    }
    // Written by `cargo xtask bench --http` (the server's loopback bench) and
    // `--backends` (in memory, Redis, PostgreSQL).
    for name in ["http", "backends"] {
        if let Ok(table) = std::fs::read_to_string(reports.join(format!("{name}.md"))) {
            if readme.contains(&format!("<!-- {name} -->")) {
                readme = replace_section(&readme, name, table.trim_end())?;
            } else {
                eprintln!("README.md has no <!-- {name} --> marker: {name}.md left out");
            }
        }
    }
    // Written by the server's two-instance test (`crates/server/tests/instances.rs`), one
    // file per configuration; the shared-backend rows need Redis and PostgreSQL.
    let instance_rows: String = ["shared", "memory", "alone"]
        .iter()
        .filter_map(|file| {
            std::fs::read_to_string(reports.join(format!("instances-{file}.md"))).ok()
        })
        .collect();
    if !instance_rows.is_empty() {
        let table = format!(
            "| state | scenario | mode | anomalous bursts |\n|---|---|---|---:|\n{instance_rows}"
        );
        readme = replace_section(&readme, "instances", table.trim_end())?;
    }
    std::fs::write(&path, readme).map_err(|e| format!("cannot write README.md: {e}"))?;
    println!("README.md tables regenerated from {}", reports.display());
    Ok(())
}

fn load(path: &Path) -> Result<Value, String> {
    load_optional(path)?.ok_or_else(|| {
        format!(
            "{} is missing: run `cargo xtask verify` first",
            path.display()
        )
    })
}

fn load_optional(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display())),
        Err(_) => Ok(None),
    }
}

fn models(report: &Value) -> &[Value] {
    report["models"].as_array().map_or(&[], Vec::as_slice)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// One line per flow: the concurrent actors of its scenario.
fn scenarios(report: &Value) -> String {
    let mut seen = Vec::new();
    let mut out = String::new();
    for m in models(report) {
        let flow = text(&m["flow"]);
        if !seen.contains(&flow) {
            let _ = writeln!(out, "- `{flow}`: {}", text(&m["scenario"]));
            seen.push(flow);
        }
    }
    out.trim_end().to_owned()
}

fn verdict_table(report: &Value) -> String {
    let mut out = String::from(
        "| flow | variant | expected | verdict | iterations (until found) | preemption bound | events checked | seconds |\n\
         |---|---|---|---|---:|---|---|---:|\n",
    );
    for m in models(report) {
        let verdict = match (m["verdict"].as_str(), m["invariant"].as_str()) {
            (Some("violated"), Some(invariant)) => format!("**violated**: `{invariant}`"),
            (Some("inconclusive"), _) => format!("*inconclusive*: {}", text(&m["reason"])),
            _ => "proven".to_owned(),
        };
        // Per invariant, the relevant events a proven verdict rests on.
        let coverage = m["coverage"]["invariants"]
            .as_array()
            .map(|invs| {
                invs.iter()
                    .map(|c| format!("{} {}", text(&c["invariant"]), text(&c["events"])))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "-".to_owned());
        let bound = m["preemption_bound"]
            .as_u64()
            .map_or_else(|| "none (exhaustive)".to_owned(), |b| b.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{} | {} | {} | {} | {:.3} |",
            text(&m["flow"]),
            text(&m["variant"]),
            text(&m["expected"]),
            verdict,
            if m["as_expected"].as_bool() == Some(true) {
                ""
            } else {
                " (UNEXPECTED)"
            },
            text(&m["iterations"]),
            bound,
            coverage,
            m["seconds"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(machine) = report["machine"].as_str() {
        let _ = write!(out, "\nMeasured on {machine}.");
    }
    out.trim_end().to_owned()
}

fn counterexamples(report: &Value) -> String {
    let mut out = String::new();
    for m in models(report) {
        let Some(trace) = m["trace"].as_array().filter(|t| !t.is_empty()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "**{} / {}** breaks `{}` ({}):\n\n```text",
            text(&m["flow"]),
            text(&m["variant"]),
            text(&m["invariant"]),
            text(&m["scenario"])
        );
        for line in trace {
            let _ = writeln!(
                out,
                "{:>3}  {:<4} {}",
                text(&line["step"]),
                text(&line["thread"]),
                text(&line["event"])
            );
        }
        out.push_str("```\n\n");
    }
    out.trim_end().to_owned()
}

fn side_by_side(verdicts: &Value, stress: &Value) -> String {
    let mut out = String::from(
        "| flow | variant | loom: iterations until found | real threads: runs violated | real threads: first failing run |\n\
         |---|---|---:|---:|---:|\n",
    );
    for m in models(verdicts)
        .iter()
        .filter(|m| m["verdict"] == "violated")
    {
        let Some(s) = models(stress)
            .iter()
            .find(|s| s["flow"] == m["flow"] && s["variant"] == m["variant"])
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} of {} | {} |",
            text(&m["flow"]),
            text(&m["variant"]),
            text(&m["iterations"]),
            text(&s["violations"]),
            text(&s["runs"]),
            match s["first_violation"].as_u64() {
                Some(run) => run.to_string(),
                None => "never".to_owned(),
            }
        );
    }
    if let Some(machine) = stress["machine"].as_str() {
        let _ = write!(out, "\nReal-thread runs measured on {machine}.");
    }
    out.trim_end().to_owned()
}

fn replace_section(readme: &str, name: &str, body: &str) -> Result<String, String> {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let start = readme
        .find(&open)
        .ok_or_else(|| format!("README.md has no {open} marker"))?;
    let end = readme[start..]
        .find(&close)
        .map(|i| start + i)
        .ok_or_else(|| format!("README.md has no {close} marker"))?;
    Ok(format!(
        "{}{open}\n{body}\n{}",
        &readme[..start],
        &readme[end..]
    ))
}
