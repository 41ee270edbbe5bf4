//! The measured table of `crates/race/README.md`: detection per mode, server and workers, with
//! the server-measured spread. It serves the FastAPI ports of the seeds (tests/fastapi) with
//! uvicorn and hypercorn on 1 and 4 workers, and raceproof's own server in-process, runs each
//! scenario in every mode, writes what the runs found to `target/raceproof/race-table.json`,
//! then renders the table from that file into the README between its markers. Nothing in the
//! table is typed by hand.
//!
//! ```text
//! bash crates/race/tests/fastapi/setup.sh                     # the virtualenv, once
//! cargo run --release -p raceproof-race --example race_table  # measure, then render
//! cargo run --release -p raceproof-race --example race_table -- --render-only
//! ```
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
#[path = "../tests/fastapi/served.rs"]
mod served;

#[cfg(not(loom))]
#[path = "../tests/raceproof_server/mod.rs"]
mod raceproof_server;

#[cfg(not(loom))]
mod table {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    use raceproof_flows::Variant;
    use raceproof_race::report::{RaceJson, ScenarioReport, SpreadSource};
    use raceproof_race::runner::{self, Options};
    use raceproof_race::{Mode, RaceScenario, Targets};
    use serde::{Deserialize, Serialize};

    use super::raceproof_server::{Server as Raceproof, builtin};
    use super::served::{Served, Server};

    const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    const BEGIN: &str =
        "<!-- race-table:begin (cargo run --release -p raceproof-race --example race_table) -->";
    const END: &str = "<!-- race-table:end -->";

    /// One served configuration and what its runs found.
    #[derive(Serialize, Deserialize)]
    pub struct Measured {
        pub server: String,
        pub workers: usize,
        /// The app and its variant, as served.
        pub app: String,
        pub runs: RaceJson,
    }

    /// `target/raceproof/race-table.json`.
    #[derive(Serialize, Deserialize)]
    pub struct TableJson {
        pub bursts: usize,
        pub measured: Vec<Measured>,
    }

    fn json_path() -> PathBuf {
        Path::new(ROOT).join("target/raceproof/race-table.json")
    }

    fn fastapi(file: &str) -> RaceScenario {
        let path = format!(
            "{}/tests/fastapi/scenarios/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        RaceScenario::load(&path).expect("a fixture scenario")
    }

    /// Every mode, and single-packet over 8 connections where there are several workers.
    fn runs(
        targets: &Targets,
        scenario: &RaceScenario,
        workers: usize,
        bursts: usize,
    ) -> Vec<ScenarioReport> {
        let mut plans: Vec<(Mode, usize)> = Mode::ALL.iter().map(|mode| (*mode, 1)).collect();
        if workers > 1 {
            plans.insert(1, (Mode::SinglePacket, 8));
        }
        plans
            .into_iter()
            .map(|(mode, connections)| {
                let options = Options {
                    connections,
                    // Some bursts of a vulnerable app have no 2xx by design: not a failure.
                    min_success: runner::SuccessFloor::Bursts(0),
                    ..Options::new(bursts)
                };
                eprintln!(
                    "{} / {} x{connections}: {bursts} bursts",
                    scenario.name,
                    mode.as_str()
                );
                runner::run_with(scenario, targets, mode, &options).unwrap_or_else(|error| {
                    let mut failed =
                        ScenarioReport::could_not_run(scenario, targets, mode, error.to_string());
                    failed.connections = connections;
                    failed
                })
            })
            .collect()
    }

    pub fn measure(bursts: usize) -> TableJson {
        let python = super::served::python().expect("python3, to serve the FastAPI fixtures");
        let mut measured = Vec::new();
        let operate = fastapi("operate-replay.toml");
        let email = fastapi("update-email.toml");
        for server in [Server::Uvicorn, Server::Hypercorn] {
            let name = format!("{server:?}").to_lowercase();
            for (workers, app, variant, scenario) in [
                (1, "seed_hmac", "vulnerable", &operate),
                (1, "seed_hmac", "hardened", &operate),
                (1, "seed_basic", "", &email),
                (4, "seed_hmac", "hardened", &operate),
            ] {
                let served =
                    Served::start(&python, server, app, workers, &[("SEED_VARIANT", variant)]);
                let targets = Targets::one(served.target());
                let reports = runs(&targets, scenario, workers, bursts);
                let app = match variant {
                    "" => app.to_owned(),
                    variant => format!("{app} {variant}"),
                };
                measured.push(Measured {
                    server: name.clone(),
                    workers,
                    app,
                    runs: RaceJson::new(&targets, &reports),
                });
            }
        }
        for (variant, scenario) in [
            (Variant::SeedVulnerable, "operate-replay"),
            (Variant::SeedFix, "operate-replay"),
            (Variant::ProvenFix, "operate-replay-webhooks"),
        ] {
            let server = Raceproof::start(variant);
            let targets = Targets::one(server.target());
            let reports = runs(&targets, &builtin(scenario), 1, bursts);
            measured.push(Measured {
                server: "raceproof-server".to_owned(),
                workers: 1,
                app: variant.name().to_owned(),
                runs: RaceJson::new(&targets, &reports),
            });
        }
        TableJson { bursts, measured }
    }

    pub fn write(table: &TableJson) {
        let text = serde_json::to_string_pretty(table).expect("the table serializes");
        raceproof_race::report::write(&json_path(), &text).expect("race-table.json is written");
    }

    pub fn read() -> TableJson {
        let text = std::fs::read_to_string(json_path())
            .expect("target/raceproof/race-table.json: measure first");
        serde_json::from_str(&text).expect("race-table.json parses")
    }

    fn spread(report: &ScenarioReport) -> (String, String, &'static str) {
        match &report.spread_us {
            Some(spread) => (
                format!("{:.0}", spread.median),
                format!("{:.0}", spread.p90),
                match spread.source {
                    SpreadSource::Server => "server",
                    SpreadSource::Client => "client",
                },
            ),
            None => ("-".into(), "-".into(), "-"),
        }
    }

    pub fn markdown(table: &TableJson) -> String {
        let mut out = String::from(
            "| server | workers | app | scenario | mode | conns | anomalous bursts | unsync | no 2xx | failed req | spread p50 (µs) | p90 (µs) | measured by |\n|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        let mut machine = String::new();
        for measured in &table.measured {
            machine.clone_from(&measured.runs.machine);
            for report in &measured.runs.scenarios {
                let cells = if let Some(failed) = &report.failed {
                    let why = if failed.contains("answers HTTP/1.1") {
                        "HTTP/1.1 only: refused up front"
                    } else {
                        "could not run"
                    };
                    format!("{why} | - | - | - | - | - | -")
                } else {
                    let failed: usize = report.outcomes.values().map(|o| o.failed()).sum();
                    let (p50, p90, source) = spread(report);
                    format!(
                        "{}/{} | {} | {} | {failed} | {p50} | {p90} | {source}",
                        report.anomalies,
                        report.bursts,
                        report.unsynchronized_bursts,
                        report.bursts_without_success
                    )
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {cells} |",
                    measured.server,
                    measured.workers,
                    measured.app,
                    report.scenario,
                    report.mode.as_str(),
                    report.connections
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{} bursts per row, measured on {machine}, servers and tester on the same cores, loopback.",
            table.bursts
        );
        out
    }

    /// Puts `table` between the README's markers.
    pub fn render(table: &TableJson) {
        let readme = std::fs::read_to_string(README).expect("crates/race/README.md");
        let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
            panic!("crates/race/README.md has no race-table markers");
        };
        let rendered = format!(
            "{}{BEGIN}\n\n{}\n{}",
            &readme[..begin],
            markdown(table),
            &readme[end..]
        );
        std::fs::write(README, rendered).expect("crates/race/README.md is written");
    }
}

#[cfg(not(loom))]
fn main() {
    use clap::Parser as _;

    /// Measures the README's table of modes x servers x workers, then renders it.
    #[derive(clap::Parser)]
    struct Args {
        /// Bursts per scenario, mode and server.
        #[arg(long, default_value_t = 200)]
        bursts: usize,
        /// Render the README table from target/raceproof/race-table.json without measuring.
        #[arg(long)]
        render_only: bool,
    }

    let args = Args::parse();
    let measured = if args.render_only {
        table::read()
    } else {
        let measured = table::measure(args.bursts);
        table::write(&measured);
        measured
    };
    table::render(&measured);
    print!("{}", table::markdown(&measured));
}

#[cfg(loom)]
fn main() {}
