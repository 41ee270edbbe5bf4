//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::RaceError;
use crate::mode::Mode;
use crate::report::{self, ScenarioReport};
use crate::runner;
use crate::scenario::{BUILTINS, RaceScenario};
use crate::wire::Targets;

/// Exit status when every invariant held.
pub const EXIT_HELD: u8 = 0;
/// Exit status when an invariant broke in at least one burst.
pub const EXIT_ANOMALY: u8 = 1;
/// Exit status when the run could not be carried out, or only in part.
pub const EXIT_ERROR: u8 = 2;

/// What a command found.
enum Verdict {
    Held,
    Broken,
    /// Nothing broke, but some bursts could not be fired: not a clean pass.
    Incomplete,
}

#[derive(Debug, Parser)]
#[command(
    name = "raceproof-race",
    about = "Black-box race tester: synchronized bursts at an HTTP endpoint, invariants on what comes back",
    after_help = "Exit status: 0 every invariant held in every burst, 1 an invariant broke, 2 error (or some bursts could not be fired)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// Origin of the service under test, e.g. http://127.0.0.1:8080. Give it more than once to
    /// split each burst round robin across several instances (the first is the primary: setup,
    /// audit and final-state requests go there); the same origin twice means two connections.
    #[arg(long = "target", value_name = "URL", required = true)]
    pub targets: Vec<String>,
    /// Bursts per scenario and mode.
    #[arg(long, default_value_t = 100)]
    pub bursts: usize,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/raceproof/race.json")]
    pub out: PathBuf,
    /// Also write the run as one self-contained HTML page (spreads, anomalous bursts).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Allow a target that resolves to a non-loopback address (only a service you may attack).
    #[arg(long)]
    pub allow_non_loopback: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (built-in names or TOML files) in one mode.
    Run {
        #[arg(required = true)]
        scenarios: Vec<String>,
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, value_enum, default_value_t = Mode::SinglePacket)]
        mode: Mode,
    },
    /// Run scenarios in all three modes against the same target(s), and write the comparison table.
    Compare {
        #[arg(required = true)]
        scenarios: Vec<String>,
        #[command(flatten)]
        target: TargetArgs,
        /// Where the markdown comparison goes.
        #[arg(long, default_value = "target/raceproof/compare.md")]
        markdown: PathBuf,
    },
    /// List the built-in scenarios.
    List,
    /// Parse and validate scenario files without sending anything.
    Check {
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
}

/// Runs the CLI; the exit status says whether an invariant broke.
pub fn main_with(cli: Cli) -> ExitCode {
    match execute(cli) {
        Ok(Verdict::Held) => ExitCode::from(EXIT_HELD),
        Ok(Verdict::Broken) => ExitCode::from(EXIT_ANOMALY),
        Ok(Verdict::Incomplete) => {
            eprintln!(
                "error: some bursts could not be fired (see the table); no invariant broke in the others"
            );
            ExitCode::from(EXIT_ERROR)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn execute(cli: Cli) -> Result<Verdict, RaceError> {
    match cli.command {
        Command::List => {
            for (name, source) in BUILTINS {
                let description = RaceScenario::parse(source, name)
                    .map(|scenario| scenario.description)
                    .unwrap_or_default();
                println!("{name:<28} {description}");
            }
            Ok(Verdict::Held)
        }
        Command::Check { scenarios } => {
            for name in scenarios {
                let scenario = RaceScenario::load(&name)?;
                println!(
                    "{name}: ok ({} actors, {} invariants)",
                    scenario.actors.len(),
                    scenario.invariants.len()
                );
            }
            Ok(Verdict::Held)
        }
        Command::Run {
            scenarios,
            target,
            mode,
        } => run_modes(&scenarios, &target, &[mode], None),
        Command::Compare {
            scenarios,
            target,
            markdown,
        } => run_modes(&scenarios, &target, &Mode::ALL, Some(&markdown)),
    }
}

fn run_modes(
    names: &[String],
    args: &TargetArgs,
    modes: &[Mode],
    markdown: Option<&PathBuf>,
) -> Result<Verdict, RaceError> {
    let scenarios = names
        .iter()
        .map(|name| RaceScenario::load(name))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RaceError::Runtime)?;
    let targets = resolver.block_on(Targets::resolve(&args.targets, args.allow_non_loopback))?;
    drop(resolver);
    for target in targets.as_slice().iter().filter(|target| !target.loopback) {
        eprintln!(
            "warning: {} is not loopback; firing anyway because --allow-non-loopback was given",
            target.url
        );
    }
    let against = targets.urls().join(", ");
    let mut reports: Vec<ScenarioReport> = Vec::new();
    for scenario in &scenarios {
        for mode in modes {
            eprintln!(
                "{} / {}: {} bursts against {}",
                scenario.name,
                mode.as_str(),
                args.bursts,
                against
            );
            reports.push(runner::run(scenario, &targets, *mode, args.bursts)?);
        }
    }
    let json = report::to_json(&targets, &reports);
    report::write(&args.out, &json)?;
    if let Some(path) = &args.html {
        // The page is drawn from race.json as written: the same source as every reader.
        let race = serde_json::from_str(&json).map_err(|e| RaceError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        report::write(path, &raceproof_report_html::race_page(&race))?;
        println!("html: {}", path.display());
    }
    print!("{}", report::table(&reports));
    println!("report: {}", args.out.display());
    if let Some(path) = markdown {
        report::write(path, &report::compare_markdown(&reports))?;
        println!("comparison: {}", path.display());
    }
    Ok(if reports.iter().any(|report| report.anomalies > 0) {
        Verdict::Broken
    } else if reports.iter().any(|report| report.errors > 0) {
        Verdict::Incomplete
    } else {
        Verdict::Held
    })
}
