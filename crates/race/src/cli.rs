//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::RaceError;
use crate::mode::Mode;
use crate::report::{self, ScenarioReport};
use crate::runner;
use crate::scenario::{BUILTINS, Scenario};
use crate::wire::Target;

/// Exit status when every invariant held.
pub const EXIT_HELD: u8 = 0;
/// Exit status when an invariant broke in at least one burst.
pub const EXIT_ANOMALY: u8 = 1;
/// Exit status when the run could not be carried out.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "raceproof-race",
    about = "Black-box race tester: synchronized bursts at an HTTP endpoint, invariants on what comes back",
    after_help = "Exit status: 0 every invariant held, 1 an invariant broke, 2 error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// Origin of the service under test, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub target: String,
    /// Bursts per scenario and mode.
    #[arg(long, default_value_t = 100)]
    pub bursts: usize,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/raceproof/race.json")]
    pub out: PathBuf,
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
    /// Run scenarios in all three modes against one target, and write the comparison table.
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
        Ok(broken) => ExitCode::from(if broken { EXIT_ANOMALY } else { EXIT_HELD }),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn execute(cli: Cli) -> Result<bool, RaceError> {
    match cli.command {
        Command::List => {
            for (name, source) in BUILTINS {
                let description = Scenario::parse(source, name)
                    .map(|scenario| scenario.description)
                    .unwrap_or_default();
                println!("{name:<28} {description}");
            }
            Ok(false)
        }
        Command::Check { scenarios } => {
            for name in scenarios {
                let scenario = Scenario::load(&name)?;
                println!(
                    "{name}: ok ({} actors, {} invariants)",
                    scenario.actors.len(),
                    scenario.invariants.len()
                );
            }
            Ok(false)
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
) -> Result<bool, RaceError> {
    let scenarios = names
        .iter()
        .map(|name| Scenario::load(name))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RaceError::Runtime)?;
    let target = resolver.block_on(Target::resolve(&args.target, args.allow_non_loopback))?;
    drop(resolver);
    if !target.loopback {
        eprintln!(
            "warning: {} is not loopback; firing anyway because --allow-non-loopback was given",
            target.url
        );
    }
    let mut reports: Vec<ScenarioReport> = Vec::new();
    for scenario in &scenarios {
        for mode in modes {
            eprintln!(
                "{} / {}: {} bursts against {}",
                scenario.name,
                mode.as_str(),
                args.bursts,
                target.url
            );
            reports.push(runner::run(scenario, &target, *mode, args.bursts)?);
        }
    }
    report::write(&args.out, &report::to_json(&target.url, &reports))?;
    print!("{}", report::table(&reports));
    println!("report: {}", args.out.display());
    if let Some(path) = markdown {
        report::write(path, &report::compare_markdown(&reports))?;
        println!("comparison: {}", path.display());
    }
    Ok(reports.iter().any(|report| report.anomalies > 0))
}
