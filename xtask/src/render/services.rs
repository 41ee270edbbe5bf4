//! The running service's tables: `http.json` and `backends.json` for
//! `docs/performance.md` and `docs/instances.md`, and the two-instance test's bursts.

use raceproof_report::services::{BackendsReport, HttpReport, InstanceRuns};
use std::fmt::Write as _;

/// Throughput and latency per endpoint beside the bare axum floor, then the ratios the
/// run was held to.
pub fn http(r: &HttpReport) -> String {
    let mut out = format!(
        "HTTP on loopback: {} connections, {} s per endpoint in 3 slices, each after a slice of \
         the GET floor (x floor is to those), HTTP/1.1 keep-alive, {}.\n\n\
         | endpoint | hasher | cache | requests | req/s | p50 (us) | p99 (us) | x floor | unexpected status |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|\n",
        r.connections, r.seconds_per_endpoint, r.machine
    );
    for e in &r.endpoints {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {} | {} | {:.2} | {} |",
            e.endpoint,
            e.hasher,
            e.cache,
            e.requests,
            e.rps,
            e.p50_us,
            e.p99_us,
            e.ratio_to_floor,
            e.errors
        );
    }
    if !r.ratios.is_empty() {
        out.push_str(
            "\nRatios of this run (each side normalized by the floor slices beside it):\n\n\
             | ratio | measured | target |\n|---|---:|---:|\n",
        );
        for ratio in &r.ratios {
            let target = ratio
                .target
                .map_or_else(|| "-".to_owned(), |t| format!("at least {t:.2}x"));
            let _ = writeln!(out, "| {} | {:.2}x | {target} |", ratio.what, ratio.ratio);
        }
    }
    out.trim_end().to_owned()
}

/// Each shared-state operation in memory, Redis and PostgreSQL.
pub fn backends(r: &BackendsReport) -> String {
    let mut out = String::from(
        "| operation | backend | p50 (µs) | p99 (µs) | throughput (ops/s) |\n\
         |---|---|---:|---:|---:|\n",
    );
    for op in &r.results {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.0} |",
            op.op, op.backend, op.p50_us, op.p99_us, op.ops_per_sec
        );
    }
    let _ = write!(
        out,
        "\n{} threads x {} operations each, loopback, pools of {} connections; measured on {} \
         by `cargo xtask bench --backends`.",
        r.threads, r.ops_per_thread, r.pool_connections, r.machine
    );
    for note in &r.notes {
        let _ = write!(out, "\n\n{note}");
    }
    out
}

/// The bursts of every setup that ran, in the order given.
pub fn instances(setups: &[InstanceRuns]) -> String {
    let mut out =
        String::from("| state | scenario | mode | anomalous bursts |\n|---|---|---|---:|");
    for run in setups.iter().flat_map(|s| &s.rows) {
        let _ = write!(
            out,
            "\n| {} | {} | {} | {} / {} |",
            run.state, run.scenario, run.mode, run.anomalies, run.bursts
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use raceproof_report::services::{BackendOp, HttpEndpoint, HttpRatio, InstanceRun};

    #[test]
    fn backends_rows_and_the_notes_on_what_was_not_measured() {
        let report = BackendsReport {
            machine: "AMD EPYC, 2 cores".to_owned(),
            threads: 4,
            ops_per_thread: 2000,
            pool_connections: 16,
            notes: vec!["postgres did not answer: not measured".to_owned()],
            results: vec![BackendOp {
                backend: "redis".to_owned(),
                op: "replay insert_if_absent".to_owned(),
                threads: 4,
                ops: 8000,
                p50_us: 63.14,
                p99_us: 186.0,
                ops_per_sec: 51777.4,
            }],
        };
        let table = backends(&report);
        assert!(
            table.contains("| replay insert_if_absent | redis | 63.1 | 186.0 | 51777 |"),
            "{table}"
        );
        assert!(table.contains("4 threads x 2000 operations each, loopback, pools of 16"));
        assert!(
            table.ends_with("\n\npostgres did not answer: not measured"),
            "{table}"
        );
    }

    #[test]
    fn http_rows_name_the_run() {
        let report = HttpReport {
            machine: "AMD EPYC, 2 cores, linux".to_owned(),
            connections: 16,
            seconds_per_endpoint: 3.0,
            endpoints: vec![HttpEndpoint {
                endpoint: "POST /operate".to_owned(),
                hasher: "-".to_owned(),
                cache: "-".to_owned(),
                expected_status: None,
                requests: 35943,
                seconds: 3.0,
                rps: 11967.2,
                p50_us: 724,
                p99_us: 8615,
                ratio_to_floor: 0.504,
                errors: 0,
                connections: 16,
            }],
            ratios: vec![HttpRatio {
                what: "POST /operate / POST /floor (same request)".to_owned(),
                ratio: 0.834,
                target: Some(0.8),
            }],
        };
        let table = http(&report);
        assert!(table.starts_with("HTTP on loopback: 16 connections, 3 s per endpoint"));
        assert!(
            table.contains("| POST /operate | - | - | 35943 | 11967 | 724 | 8615 | 0.50 | 0 |\n"),
            "{table}"
        );
        assert!(
            table.ends_with(
                "| POST /operate / POST /floor (same request) | 0.83x | at least 0.80x |"
            ),
            "{table}"
        );
    }

    #[test]
    fn instance_rows_follow_the_setups_in_order() {
        let run = |state: &str, anomalies| InstanceRun {
            state: state.to_owned(),
            scenario: "operate-replay-webhooks".to_owned(),
            mode: "naive".to_owned(),
            anomalies,
            bursts: 10,
        };
        let table = instances(&[
            InstanceRuns {
                rows: vec![run("shared", 0)],
            },
            InstanceRuns {
                rows: vec![run("memory", 10)],
            },
        ]);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| shared | operate-replay-webhooks | naive | 0 / 10 |",
                "| memory | operate-replay-webhooks | naive | 10 / 10 |"
            ]
        );
    }
}
