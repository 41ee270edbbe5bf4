//! Runs the model catalogue under loom: prints a verdict table (proven, violated,
//! inconclusive), each proven model's coverage and each counterexample, writes
//! `verdicts.json`, and exits with a code that says how it went (built with
//! `--cfg shuttle` instead, it runs the randomized mode: see `random.rs`):
//!
//! - 0: every verdict is the expected one;
//! - 1: some model is violated (or proven) against expectations;
//! - 3: the only surprises are inconclusive verdicts (a checker limit, a vacuous invariant).
//!
//! Each model runs in a child process (this binary again, see `raceproof_check::isolate`),
//! as many at once as there are cores: a model that aborts the process, or blocks past
//! its deadline, comes back *inconclusive* and the others are still reported.
//!
//! `verify --replay FLOW/VARIANT [--log]` re-runs one violated model on exactly its failing
//! schedule (through loom's checkpoint file), with loom's own log on `--log`.
//!
//! Run it through `cargo xtask verify` / `cargo xtask replay`, which build it with
//! `--cfg loom` (`--random`: `--cfg shuttle`).

#[cfg(all(shuttle, not(loom)))]
mod random;

#[cfg(loom)]
fn main() -> std::process::ExitCode {
    // In a child started by `verify` itself: check one model, report it, exit.
    raceproof::check::isolate::serve(&raceproof::catalogue::catalogue());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--replay") => match args.get(1) {
            Some(which) => replay(which, args.iter().any(|a| a == "--log")),
            None => usage(),
        },
        Some(flag) if flag.starts_with("--") => usage(),
        out => verify(out.unwrap_or("target/raceproof/verdicts.json")),
    }
}

#[cfg(loom)]
fn usage() -> std::process::ExitCode {
    eprintln!("usage: verify [OUT.json] | verify --replay FLOW/VARIANT [--log]");
    std::process::ExitCode::from(2)
}

#[cfg(loom)]
fn verify(out: &str) -> std::process::ExitCode {
    use raceproof::catalogue::catalogue;
    use raceproof::check::isolate::Isolated;
    use raceproof::check::{Verdict, VerdictKind, VerdictsReport, model_verdict};
    use std::fmt::Write as _;
    use std::time::Instant;

    let mut report = VerdictsReport {
        machine: raceproof::report::machine(),
        ..VerdictsReport::default()
    };
    let started = Instant::now();
    println!(
        "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8} {:>6}",
        "flow", "variant", "expected", "verdict", "iterations", "seconds", "bound"
    );
    let mut details = String::new();
    let models = catalogue();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let checked = Isolated::this_binary(&[]).workers(workers).check(&models);
    for (model, checked) in models.iter().zip(checked) {
        let verdict = checked.verdict;
        let entry = model_verdict(model.as_ref(), &verdict, checked.seconds);
        println!(
            "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8.3} {:>6}{}",
            entry.flow,
            entry.variant,
            entry.expected.to_string(),
            verdict.label(),
            entry.iterations,
            entry.seconds,
            entry
                .preemption_bound
                .map_or_else(|| "none".to_owned(), |b| b.to_string()),
            if entry.as_expected {
                ""
            } else {
                "   <- UNEXPECTED"
            }
        );
        let _ = match &verdict {
            Verdict::Violated {
                trace, invariant, ..
            } => write!(
                details,
                "\n{} / {} violates {invariant} ({}):\n{trace}",
                entry.flow, entry.variant, entry.scenario
            ),
            other => writeln!(details, "\n{} / {}: {other}", entry.flow, entry.variant),
        };
        report.models.push(entry);
    }
    println!("{details}");
    let unexpected: Vec<_> = report.unexpected().collect();
    println!(
        "{} models in {:.2} s: {} proven, {} violated, {} inconclusive; {} as expected, {} not",
        report.models.len(),
        started.elapsed().as_secs_f64(),
        report.count(VerdictKind::Proven),
        report.count(VerdictKind::Violated),
        report.count(VerdictKind::Inconclusive),
        report.models.len() - unexpected.len(),
        unexpected.len()
    );
    let only_inconclusive = unexpected
        .iter()
        .all(|m| m.verdict == VerdictKind::Inconclusive);
    let exit = match (unexpected.is_empty(), only_inconclusive) {
        (true, _) => std::process::ExitCode::SUCCESS,
        (false, true) => std::process::ExitCode::from(3),
        (false, false) => std::process::ExitCode::FAILURE,
    };
    if let Err(e) = raceproof::report::write(std::path::Path::new(out), &report) {
        eprintln!("cannot write {out}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("wrote {out}");
    exit
}

/// Finds `FLOW/VARIANT`'s first failing schedule (saving each schedule to a checkpoint
/// file), then runs that schedule again from the file.
#[cfg(loom)]
fn replay(which: &str, log: bool) -> std::process::ExitCode {
    let Some(model) = find(which) else {
        return std::process::ExitCode::from(2);
    };
    let dir = std::path::Path::new("target/raceproof/replay");
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let file = dir.join(format!("{}.json", which.replace('/', "__")));
    // A schedule left by an earlier run would be replayed instead of searched for.
    let _ = std::fs::remove_file(&file);
    let found = model.replay(&file, false);
    if found.invariant().is_none() {
        println!("{which}: {found}\nnothing to replay: the model is not violated");
        return std::process::ExitCode::SUCCESS;
    }
    println!(
        "{which}: found after {} executions; schedule saved to {}",
        found.iterations(),
        file.display()
    );
    let again = model.replay(&file, log);
    println!("replayed from the checkpoint:\n{again}");
    if again.iterations() == 1
        && again.kind() == found.kind()
        && again.invariant() == found.invariant()
    {
        println!("the saved schedule reproduces the violation in its first execution");
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("the saved schedule did not reproduce the violation first");
        std::process::ExitCode::FAILURE
    }
}

/// The catalogue model `FLOW/VARIANT`; if there is none, says so and lists them.
#[cfg(any(loom, shuttle))]
fn find(which: &str) -> Option<Box<dyn raceproof::check::AnyScenario>> {
    let models = raceproof::catalogue::catalogue();
    let names: Vec<String> = models
        .iter()
        .map(|m| format!("{}/{}", m.flow(), m.variant()))
        .collect();
    let found = names.iter().position(|name| name == which);
    if found.is_none() {
        eprintln!("no catalogue model {which}; models are:");
        for name in &names {
            eprintln!("  {name}");
        }
    }
    found.and_then(|i| models.into_iter().nth(i))
}

#[cfg(all(shuttle, not(loom)))]
fn main() -> std::process::ExitCode {
    random::main()
}

#[cfg(not(any(loom, shuttle)))]
fn main() -> std::process::ExitCode {
    eprintln!("verify explores interleavings with loom: run it with `cargo xtask verify`");
    std::process::ExitCode::from(2)
}
