//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::RaceError;
use crate::mode::Mode;
use crate::report::{self, ScenarioReport};
use crate::runner::{self, Options, SuccessFloor};
use crate::scenario::{BUILTINS, RaceScenario};
use crate::wire::{Target, Targets};

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
    /// Nothing broke, but the run does not show the invariants hold: the reasons.
    Incomplete(Vec<String>),
}

#[derive(Debug, Parser)]
#[command(
    name = "raceproof-race",
    about = "Black-box race tester: synchronized bursts at an HTTP endpoint, invariants on what comes back",
    after_help = "Exit status: 0 every invariant held in every burst and the scenario ran as written, 1 an invariant broke, 2 error, or the run does not show the invariants hold (a mode could not run, bursts not fired or not synchronized, too few bursts with a 2xx, an invariant undecided)."
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
    /// Where setup, audit and final-state reads go (default: the first --target). They all use
    /// one connection kept open for the run, so behind one port they reach one worker.
    #[arg(long, value_name = "URL")]
    pub read_target: Option<String>,
    /// Bursts per scenario and mode.
    #[arg(long, default_value_t = 100)]
    pub bursts: usize,
    /// Single-packet: h2 connections per target, the burst dealt round robin over them and
    /// released together (one write per connection, back to back). Behind one port with several
    /// workers, one connection reaches one worker: give N >= the workers to reach several.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub connections: usize,
    /// How long one request may take before it counts as a timeout, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub timeout_ms: u64,
    /// Bursts that must get at least one 2xx, as N or P% of --bursts; fewer means the scenario
    /// did not run as written and the run fails (exit 2).
    #[arg(long, default_value = "100%", value_name = "N|P%")]
    pub min_success_bursts: SuccessFloor,
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
        Ok(Verdict::Incomplete(reasons)) => {
            eprintln!("error: no invariant broke, but the run does not show that they hold:");
            for reason in reasons {
                eprintln!("  - {reason}");
            }
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
    let read_target = args
        .read_target
        .as_deref()
        .map(|url| resolver.block_on(Target::resolve(url, args.allow_non_loopback)))
        .transpose()?;
    drop(resolver);
    let options = Options {
        connections: args.connections,
        timeout: std::time::Duration::from_millis(args.timeout_ms.max(1)),
        read_target,
        min_success: args.min_success_bursts,
        ..Options::new(args.bursts)
    };
    // What no run may ask for fails the command before anything is sent or written.
    options.check()?;
    for target in (targets.as_slice().iter())
        .chain(options.read_target.as_ref())
        .filter(|target| !target.loopback)
    {
        eprintln!(
            "warning: {} is not loopback; firing anyway because --allow-non-loopback was given",
            target.url
        );
    }
    if args.connections > 1 && !modes.contains(&Mode::SinglePacket) {
        eprintln!(
            "note: --connections only changes single-packet; last-byte and naive already use one connection per request"
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
            // One mode that cannot run (single-packet against HTTP/1.1) does not stop the
            // others: its report says why.
            let report =
                runner::run_with(scenario, &targets, *mode, &options).unwrap_or_else(|error| {
                    eprintln!("{} / {}: {error}", scenario.name, mode.as_str());
                    ScenarioReport::could_not_run(scenario, &targets, *mode, error.to_string())
                });
            reports.push(report);
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
    let mut reasons = Vec::new();
    let mut broken = false;
    for report in &reports {
        match report.verdict() {
            report::Verdict::Held => {}
            report::Verdict::Broken => broken = true,
            report::Verdict::Incomplete(why) => reasons.extend(
                why.into_iter()
                    .map(|why| format!("{} / {}: {why}", report.scenario, report.mode.as_str())),
            ),
        }
    }
    Ok(if broken {
        for reason in &reasons {
            eprintln!("note: {reason}");
        }
        Verdict::Broken
    } else if reasons.is_empty() {
        Verdict::Held
    } else {
        Verdict::Incomplete(reasons)
    })
}
