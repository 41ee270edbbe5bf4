//! One self-contained HTML page from the JSON reports under `target/raceproof/`, the same
//! reports the README's and `docs/`'s tables are generated from:
//!
//! 1. the verdicts as a grid (`verdicts.json`);
//! 2. every counterexample as a swimlane, every proof with what it covered;
//! 3. loom against real threads (`verdicts.json` and `stress.json`);
//! 4. the race tester's runs: spreads, anomalous bursts, one burst as a timeline
//!    (`race.json`);
//! 5. what the fixes cost (`bench.json`, `http.json`).
//!
//! Charts are SVG written here; the page fetches nothing (no script, style, font or image
//! from the network) and opens from disk. A section whose report is missing says which
//! command writes it. `cargo xtask report` writes the whole page; `raceproof-race run
//! --html FILE` writes the race part alone ([`race_page`]).

mod costs;
mod grid;
mod markup;
mod race;
mod shell;
mod svg;
mod swimlane;
mod threads;

pub mod browser;

use raceproof_report::bench::BenchReport;
use raceproof_report::file;
use raceproof_report::services::HttpReport;
use raceproof_report::stress::StressReport;
use raceproof_report::verdicts::VerdictsReport;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

pub use grid::DIMENSIONS;
pub use swimlane::figure_id as swimlane_id;

/// The file name of the page under the reports directory.
pub const PAGE: &str = "report.html";
/// `race.json`, the race tester's report (its schema is the tester's own).
pub const RACE: &str = "race.json";

/// The verdicts, typed, with each model's row as written (for the fields a newer writer
/// adds, such as a deployment: see [`DIMENSIONS`]).
#[derive(Debug, Clone)]
pub struct Verdicts {
    pub report: VerdictsReport,
    pub rows: Vec<Value>,
}

impl Verdicts {
    /// From `verdicts.json`'s JSON.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        let rows = value
            .get("models")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(Verdicts {
            report: serde_json::from_value(value)?,
            rows,
        })
    }
}

impl From<VerdictsReport> for Verdicts {
    fn from(report: VerdictsReport) -> Self {
        let rows = report
            .models
            .iter()
            .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
            .collect();
        Verdicts { report, rows }
    }
}

/// Everything the page is drawn from; any of it may be missing.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    pub verdicts: Option<Verdicts>,
    pub stress: Option<StressReport>,
    pub bench: Option<BenchReport>,
    pub http: Option<HttpReport>,
    /// `race.json` as written.
    pub race: Option<Value>,
    /// Reports that are there but could not be read: the file and why.
    pub unreadable: Vec<String>,
}

impl Reports {
    /// The reports in `dir` (`target/raceproof/`): a missing file leaves its part empty,
    /// an unreadable one too, and is named in [`Reports::unreadable`].
    pub fn load(dir: &Path) -> Self {
        let mut unreadable = Vec::new();
        let mut read = |name: &str| -> Option<Value> {
            match raceproof_report::read::<Value>(&dir.join(name)) {
                Ok(value) => value,
                Err(e) => {
                    unreadable.push(e.to_string());
                    None
                }
            }
        };
        let (verdicts, stress, bench, http, race) = (
            read(file::VERDICTS),
            read(file::STRESS),
            read(file::BENCH),
            read(file::HTTP),
            read(RACE),
        );
        let verdicts = verdicts.and_then(|v| {
            Verdicts::from_value(v)
                .map_err(|e| unreadable.push(schema_error(file::VERDICTS, &e)))
                .ok()
        });
        Reports {
            verdicts,
            stress: typed(file::STRESS, stress, &mut unreadable),
            bench: typed(file::BENCH, bench, &mut unreadable),
            http: typed(file::HTTP, http, &mut unreadable),
            race: race.filter(|r| {
                r.is_object() || {
                    unreadable.push(format!("{RACE} is not a JSON object"));
                    false
                }
            }),
            unreadable,
        }
    }

    /// How many of the five sources are there.
    pub fn present(&self) -> usize {
        [
            self.verdicts.is_some(),
            self.stress.is_some(),
            self.bench.is_some(),
            self.http.is_some(),
            self.race.is_some(),
        ]
        .iter()
        .filter(|p| **p)
        .count()
    }
}

fn schema_error(name: &str, error: &serde_json::Error) -> String {
    format!("{name} does not match its schema: {error} (the tool that writes it writes it anew)")
}

/// `value` as a `T`, or `None` with why in `unreadable`.
fn typed<T: DeserializeOwned>(
    name: &str,
    value: Option<Value>,
    unreadable: &mut Vec<String>,
) -> Option<T> {
    serde_json::from_value(value?)
        .map_err(|e| unreadable.push(schema_error(name, &e)))
        .ok()
}

const TOC: [(&str, &str); 5] = [
    ("verdicts", "Verdicts"),
    ("counterexamples", "Counterexamples"),
    ("loom-vs-threads", "loom vs real threads"),
    ("race", "Race tester"),
    ("costs", "Costs"),
];

/// The whole report.
pub fn page(reports: &Reports) -> String {
    let verdicts = reports.verdicts.as_ref();
    let body = [
        grid::section(verdicts),
        swimlane::section(verdicts),
        threads::section(verdicts, reports.stress.as_ref()),
        race::section(reports.race.as_ref()),
        costs::section(reports.bench.as_ref(), reports.http.as_ref()),
    ]
    .concat();
    let mut lead = String::from(
        "<p class=\"lead\">What raceproof found, from the JSON reports under \
         <code>target/raceproof/</code> (the same ones the README's tables come from): \
         model-checked verdicts, the counterexamples step by step, what real threads and a \
         live race tester saw, and what the fixes cost.</p>",
    );
    for problem in &reports.unreadable {
        lead.push_str(&shell::missing(problem));
    }
    shell::document(
        "raceproof report",
        &lead,
        &TOC,
        &body,
        "Generated by <code>cargo xtask report</code> from <code>target/raceproof/*.json</code>.",
    )
}

/// The race tester's part alone, from a `race.json` as written (`raceproof-race run
/// --html FILE`).
pub fn race_page(race: &Value) -> String {
    shell::document(
        "raceproof race tester",
        "<p class=\"lead\">One run of the black-box race tester, from its <code>race.json</code>.</p>",
        &[("race", "Race tester runs")],
        &race::section(Some(race)),
        "Generated by <code>raceproof-race run --html</code>.",
    )
}

/// Writes `html` to `path`, creating its directory.
pub fn write(path: &Path, html: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, html)
}

/// The figures the README shows, each cut out of the page by its element id: the swimlane
/// of `promote / seed_fix` (else the first counterexample), the first server-measured
/// spread plot (else the first), and the first anomalous burst's timeline. Only those the
/// reports hold.
pub fn readme_figures(reports: &Reports) -> Vec<(&'static str, String)> {
    let mut figures = Vec::new();
    if let Some(verdicts) = &reports.verdicts {
        let violated: Vec<usize> = (0..verdicts.report.models.len())
            .filter(|i| !verdicts.report.models[*i].trace.is_empty())
            .collect();
        let pick = violated
            .iter()
            .find(|i| {
                let m = &verdicts.report.models[**i];
                m.flow == "promote" && m.variant == "seed_fix"
            })
            .or(violated.first());
        if let Some(&i) = pick {
            let m = &verdicts.report.models[i];
            figures.push((
                "swimlane.png",
                grid::detail_id(m, &grid::dimensions(verdicts.rows.get(i))),
            ));
        }
    }
    if let Some(race) = &reports.race {
        let runs = race
            .get("scenarios")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let id = |run: &Value| race::run_id(run);
        let measured = |run: &&Value| {
            run.get("spread_us")
                .and_then(|s| s.get("per_burst"))
                .and_then(Value::as_array)
                .is_some_and(|all| !all.is_empty())
        };
        let server = |run: &&Value| {
            run.get("spread_us").and_then(|s| s.get("source")) == Some(&Value::from("server"))
        };
        let spread = runs
            .iter()
            .filter(measured)
            .find(server)
            .or_else(|| runs.iter().find(measured));
        if let Some(run) = spread {
            figures.push(("spread.png", format!("spread-{}", id(run))));
        }
        if let Some(run) = runs
            .iter()
            .find(|run| run.get("example").is_some_and(|e| !e.is_null()))
        {
            figures.push(("burst.png", format!("burst-{}", id(run))));
        }
    }
    figures
}
