//! The bench tables of `docs/performance.md`, from `bench.json`.

use raceproof_report::bench::{BenchReport, Instructions, Timing};
use std::fmt::Write as _;

/// `median (min–max)` in ns.
fn ns(m: Option<&Timing>) -> String {
    m.map_or_else(
        || "-".to_owned(),
        |m| format!("{:.0} ({:.0}–{:.0})", m.median_ns, m.min_ns, m.max_ns),
    )
}

/// The ratio of medians, with the min–max of the per-run ratios (runs that have both).
fn ratio(num: Option<&Timing>, den: Option<&Timing>) -> String {
    match num.zip(den).and_then(|(n, d)| n.ratio_to(d)) {
        Some(r) => format!("{:.2}x ({:.2}–{:.2})", r.median, r.min, r.max),
        None => "-".to_owned(),
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

/// The tables of `docs/performance.md`: every flow under every strategy against the seed,
/// operate against the HMAC floor, contention, the replay set's turnover, password hashing.
pub fn tables(r: &BenchReport) -> String {
    let default = r.default_strategy.as_str();
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
        let v = r.timing(flow, "seed_vulnerable", default);
        let vi = r.instructions(flow, &format!("seed_vulnerable_{default}"));
        for s in &r.strategies {
            let s = s.as_str();
            let p = r.timing(flow, "proven_fix", s);
            let pi = r.instructions(flow, &format!("proven_fix_{s}"));
            let is_default = s == default;
            let _ = writeln!(
                out,
                "| {s}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if is_default { " (default)" } else { "" },
                if is_default { ns(v) } else { "〃".to_owned() },
                ns(p),
                ratio(p, v),
                if is_default { ir(vi) } else { "〃".to_owned() },
                ir(pi),
                ir_ratio(pi, vi),
                if is_default {
                    ns(r.timing(flow, "seed_fix", s))
                } else {
                    "〃".to_owned()
                },
                if is_default {
                    ir(r.instructions(flow, &format!("seed_fix_{default}")))
                } else {
                    "〃".to_owned()
                },
            );
        }
        out.push('\n');
    }

    let floor = r.timing("floor", "hmac_verify", "prepared_key");
    let floor_ir = r.instructions("floor", "hmac_verify_prepared_key");
    let vulnerable = r.timing("operate", "seed_vulnerable", default);
    let vulnerable_ir = r.instructions("operate", &format!("seed_vulnerable_{default}"));
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
            r.timing("floor", "hmac_verify", "key_rebuilt_per_request"),
            None,
        ),
        ("seed_vulnerable", vulnerable, vulnerable_ir),
        (
            "seed_fix",
            r.timing("operate", "seed_fix", default),
            r.instructions("operate", &format!("seed_fix_{default}")),
        ),
        (
            "proven_fix, replay set behind one mutex (default)",
            r.timing("operate", "proven_fix", default),
            r.instructions("operate", &format!("proven_fix_{default}")),
        ),
        (
            "proven_fix, replay set already holding 200,000 entries",
            r.timing("operate", "proven_fix", &format!("{default}_held")),
            r.instructions("operate", &format!("proven_fix_{default}_held")),
        ),
        (
            "proven_fix, replay set in 16 shards",
            r.timing("operate", "proven_fix", "sharded"),
            r.instructions("operate", "proven_fix_sharded"),
        ),
        (
            "proven_fix, compare-and-swap flag per resource",
            r.timing("operate", "proven_fix", "cas"),
            r.instructions("operate", "proven_fix_cas"),
        ),
        (
            "replay set alone: one insert_if_absent",
            None,
            r.instructions("floor", "replay_set_insert"),
        ),
        (
            "replay set alone, holding 200,000 entries",
            None,
            r.instructions("floor", "replay_set_insert_held"),
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
    for s in &r.strategies {
        let s = s.as_str();
        let same = r.timing("contended_same_key", s, "");
        let distinct = r.timing("contended_distinct_keys", s, "");
        let _ = writeln!(
            out,
            "| {s} | {} | {} | {} | {} |",
            ns(same),
            ratio(r.timing("contended_same_key", default, ""), same),
            ns(distinct),
            ratio(r.timing("contended_distinct_keys", default, ""), distinct),
        );
    }

    if let Some(t) = &r.replay_turnover {
        let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
        let _ = writeln!(
            out,
            "\n**replay set turnover** (single admits of the default guard: signature, \
             freshness, insert; {} entries admitted at one second, then as many more while \
             those expire and the clock moves one second per 2,000 admits)\n\n\
             | phase | p50 µs | p99 µs | p99.9 µs | max µs | admits over 100 µs | over 1 ms |\n\
             |---|---:|---:|---:|---:|---:|---:|",
            t.entries
        );
        for (phase, p) in [("fill", &t.fill), ("turnover", &t.turnover)] {
            let _ = writeln!(
                out,
                "| {phase} | {} | {} | {} | {} | {} | {} |",
                us(p.p50_ns),
                us(p.p99_ns),
                us(p.p99_9_ns),
                us(p.max_ns),
                p.over_100us,
                p.over_1ms,
            );
        }
        let _ = writeln!(
            out,
            "\nFirst admit after every filled entry expired: {} µs; resident memory {:.0} MiB \
             filled, {:.0} MiB after the turnover.",
            us(t.first_after_expiry_ns),
            t.rss_mib_after_fill,
            t.rss_mib_after_turnover,
        );
    }

    let verify = |name| r.timing("password_verify", name, "");
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

/// The README's one table: what each proven fix costs against the seed code it replaces, per
/// request, under the default strategy; the detail is in `docs/performance.md`.
pub fn summary(r: &BenchReport) -> String {
    let default = r.default_strategy.as_str();
    let mut out = String::from(
        "| request | seed_vulnerable | seed_fix | proven_fix | proven_fix / seed_vulnerable: time | instructions |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for flow in ["update_email", "promote", "operate"] {
        let at = |variant: &str| {
            (
                r.timing(flow, variant, default),
                r.instructions(flow, &format!("{variant}_{default}")),
            )
        };
        let (vulnerable, vulnerable_ir) = at("seed_vulnerable");
        let (proven, proven_ir) = at("proven_fix");
        let _ = writeln!(
            out,
            "| {flow} | {} | {} | {} | {} | {} |",
            median(vulnerable),
            median(at("seed_fix").0),
            median(proven),
            ratio(proven, vulnerable),
            ir_ratio(proven_ir, vulnerable_ir),
        );
    }
    let _ = write!(
        out,
        "\nWhole requests, uncontended: update_email and promote with Basic authentication (the \
         benches' SHA-256 stand-in for Argon2id), operate with its HMAC check; {default} store; \
         medians of {} criterion runs (ratio: min–max run by run) and callgrind instruction \
         counts, on {}{} by `cargo xtask bench{}`.",
        r.runs,
        r.machine,
        if r.quick { " (quick mode: rough)" } else { "" },
        if r.quick { " --quick" } else { "" }
    );
    out
}

fn median(m: Option<&Timing>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| format!("{:.0} ns", m.median_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(group: &str, function: &str, parameter: &str, runs_ns: &[f64]) -> Timing {
        let mut sorted = runs_ns.to_vec();
        sorted.sort_by(f64::total_cmp);
        Timing {
            group: group.to_owned(),
            function: function.to_owned(),
            parameter: parameter.to_owned(),
            runs_ns: runs_ns.iter().copied().map(Some).collect(),
            median_ns: sorted[sorted.len() / 2],
            min_ns: sorted[0],
            max_ns: sorted[sorted.len() - 1],
        }
    }

    fn instructions(group: &str, id: &str, per_op: f64) -> Instructions {
        Instructions {
            group: group.to_owned(),
            id: id.to_owned(),
            per_op,
            d1_misses_per_op: None,
            estimated_cycles_per_op: None,
        }
    }

    #[test]
    fn each_strategy_of_the_report_gets_a_row_against_the_seed() {
        let report = BenchReport {
            machine: "AMD EPYC, 2 cores".to_owned(),
            quick: false,
            runs: 3,
            strategies: vec!["global_mutex".to_owned(), "sharded".to_owned()],
            default_strategy: "global_mutex".to_owned(),
            timings: vec![
                timing(
                    "update_email",
                    "seed_vulnerable",
                    "global_mutex",
                    &[600.0, 700.0, 650.0],
                ),
                timing(
                    "update_email",
                    "proven_fix",
                    "global_mutex",
                    &[480.0, 500.0, 490.0],
                ),
                timing(
                    "update_email",
                    "proven_fix",
                    "sharded",
                    &[510.0, 520.0, 530.0],
                ),
            ],
            instructions: vec![
                instructions("update_email", "seed_vulnerable_global_mutex", 6796.0),
                instructions("update_email", "proven_fix_global_mutex", 6031.0),
                instructions("update_email", "proven_fix_sharded", 6366.0),
            ],
            replay_turnover: None,
        };
        let tables = tables(&report);
        assert!(
            tables.contains(
                "| global_mutex (default) | 650 (600–700) | 490 (480–500) | 0.75x (0.71–0.80) \
                 | 6796 | 6031 | 0.89x | - | - |"
            ),
            "{tables}"
        );
        assert!(
            tables.contains(
                "| sharded | 〃 | 520 (510–530) | 0.80x (0.74–0.85) | 〃 | 6366 | 0.94x | 〃 | 〃 |"
            ),
            "{tables}"
        );
        assert!(tables.ends_with("Measured on AMD EPYC, 2 cores by `cargo xtask bench`."));
        let summary = summary(&report);
        assert!(
            summary.contains("| update_email | 650 ns | - | 490 ns | 0.75x (0.71–0.80) | 0.89x |"),
            "{summary}"
        );
        assert!(
            summary.contains("| operate | - | - | - | - | - |"),
            "{summary}"
        );
    }
}
