//! `verify` built with `--cfg shuttle`: the catalogue under the randomized mode (PCT).
//!
//! Each model runs its PCT schedules in a child process (as under loom), from one fixed
//! seed; the table says, per model, how many schedules it took to find the violation or
//! that none showed (never proven), and `random.json` keeps each failing schedule, which
//! `verify --replay FLOW/VARIANT` finds again from the seed and re-runs alone.
//!
//! Exit codes as under loom: 0 when every verdict is the one the randomized mode should
//! give (loom's violation, or inconclusive where loom proves), 1 otherwise.

use raceproof::catalogue::{catalogue, randomized_expectation};
use raceproof::check::isolate::{self, Isolated};
use raceproof::check::random::RandomConfig;
use raceproof::check::{AnyScenario, Verdict};
use raceproof::report::random::{RandomReport, RandomVerdict};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    isolate::serve(&catalogue());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--replay") => match args.get(1) {
            Some(which) => replay(which),
            None => usage(),
        },
        Some(flag) if flag.starts_with("--") => usage(),
        out => verify(out.unwrap_or("target/raceproof/random.json")),
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: verify [OUT.json] | verify --replay FLOW/VARIANT   (built with --cfg shuttle)"
    );
    ExitCode::from(2)
}

fn verify(out: &str) -> ExitCode {
    let config = RandomConfig::from_env();
    let models = catalogue();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let started = std::time::Instant::now();
    let checked = Isolated::this_binary(&[]).workers(workers).check(&models);
    let mut report = RandomReport {
        machine: raceproof::report::machine(),
        schedules: config.schedules,
        depth: config.depth,
        seed: config.seed,
        models: Vec::new(),
    };
    println!(
        "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8}",
        "flow", "variant", "expected (random)", "verdict", "schedules", "seconds"
    );
    let mut details = String::new();
    for (model, checked) in models.iter().zip(checked) {
        let expected = randomized_expectation(model.as_ref());
        let verdict = &checked.verdict;
        let run = checked.random.clone();
        let entry = RandomVerdict {
            flow: model.flow().to_owned(),
            variant: model.variant().to_owned(),
            expected: expected.clone(),
            verdict: verdict.kind(),
            invariant: verdict.invariant().map(str::to_owned),
            schedules: run.as_ref().map_or(verdict.iterations(), |r| r.schedules),
            steps: run.as_ref().map_or(0, |r| r.steps),
            seconds: checked.seconds,
            reason: match verdict {
                Verdict::Inconclusive { cause, .. } => Some(cause.to_string()),
                _ => None,
            },
            schedule: run.and_then(|r| r.schedule),
            trace: match verdict {
                Verdict::Violated { trace, .. } => trace.lines.clone(),
                _ => Vec::new(),
            },
            as_expected: verdict.meets(&expected),
        };
        println!(
            "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8.3}{}",
            entry.flow,
            entry.variant,
            expected.to_string(),
            verdict.label(),
            entry.schedules,
            entry.seconds,
            if entry.as_expected {
                ""
            } else {
                "   <- UNEXPECTED"
            }
        );
        if !matches!(verdict, Verdict::Proven { .. }) {
            details.push_str(&format!(
                "\n{} / {}: {verdict}\n",
                entry.flow, entry.variant
            ));
        }
        report.models.push(entry);
    }
    println!("{details}");
    let unexpected = report.unexpected().count();
    println!(
        "{} models in {:.2} s under PCT ({} schedules of depth {}, seed {}); {} as expected, {} not",
        report.models.len(),
        started.elapsed().as_secs_f64(),
        config.schedules,
        config.depth,
        config.seed,
        report.models.len() - unexpected,
        unexpected
    );
    if let Err(e) = raceproof::report::write(std::path::Path::new(out), &report) {
        eprintln!("cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    println!("wrote {out}");
    if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Finds `FLOW/VARIANT`'s violation from the seed, then re-runs its schedule alone.
fn replay(which: &str) -> ExitCode {
    match super::find(which) {
        Some(model) => replay_model(model.as_ref(), which),
        None => ExitCode::from(2),
    }
}

fn replay_model(model: &dyn AnyScenario, which: &str) -> ExitCode {
    let config = RandomConfig::from_env();
    let found = model.random(config);
    let Some(schedule) = found.schedule.clone() else {
        println!(
            "{which}: {}\nnothing to replay: no violation",
            found.verdict
        );
        return ExitCode::SUCCESS;
    };
    println!(
        "{which}: found in schedule {} of seed {} (depth {}); its schedule:\n{schedule}",
        found.schedules, config.seed, config.depth
    );
    let again = model.replay_schedule(&schedule);
    println!("replayed from the schedule:\n{again}");
    if again.iterations() == 1 && again.invariant() == found.verdict.invariant() {
        println!("the schedule reproduces the violation in one execution");
        ExitCode::SUCCESS
    } else {
        eprintln!("the schedule did not reproduce the violation");
        ExitCode::FAILURE
    }
}
