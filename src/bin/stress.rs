//! Runs every catalogue scenario many times on real threads (a barrier releases the actors
//! together) and counts how often an invariant breaks: the stress test a user would write
//! by hand, to set beside loom's answer. Writes `stress.json`. Run it through
//! `cargo xtask stress`.

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    use raceproof::catalogue::catalogue;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Entry {
        flow: String,
        variant: String,
        expected: String,
        runs: usize,
        violations: usize,
        first_violation: Option<usize>,
        /// A run that never finished (deadlock): stress stopped there.
        hung: bool,
        seconds: f64,
    }
    #[derive(Serialize)]
    struct StressReport {
        machine: String,
        models: Vec<Entry>,
    }

    let mut args = std::env::args().skip(1);
    let runs: usize = match args.next().map(|r| r.parse()) {
        None => 10_000,
        Some(Ok(runs)) if runs > 0 => runs,
        Some(_) => {
            eprintln!("usage: stress [RUNS > 0] [OUT.json]");
            return std::process::ExitCode::from(2);
        }
    };
    let out = args
        .next()
        .unwrap_or_else(|| "target/raceproof/stress.json".to_owned());
    let mut models = Vec::new();
    println!(
        "{:<28} {:<24} {:>10} {:>10} {:>14} {:>8}",
        "flow", "variant", "runs", "violated", "first failing", "seconds"
    );
    for model in catalogue() {
        let outcome = model.stress(runs);
        println!(
            "{:<28} {:<24} {:>10} {:>10} {:>14} {:>8.2}",
            model.flow(),
            model.variant(),
            outcome.runs,
            outcome.violations,
            outcome
                .first_violation
                .map_or_else(|| "-".to_owned(), |r| r.to_string()),
            outcome.seconds
        );
        models.push(Entry {
            flow: model.flow().to_owned(),
            variant: model.variant().to_owned(),
            expected: model.expected().label(),
            runs: outcome.runs,
            violations: outcome.violations,
            first_violation: outcome.first_violation,
            hung: outcome.hung,
            seconds: outcome.seconds,
        });
    }
    // A proven fix that breaks on real threads would mean the model misses something.
    let broken_fixes: Vec<_> = models
        .iter()
        .filter(|m| m.expected == "proven" && m.violations > 0)
        .map(|m| format!("{} / {}", m.flow, m.variant))
        .collect();
    if let Err(e) = raceproof::write_json(
        &out,
        &StressReport {
            machine: raceproof::machine(),
            models,
        },
    ) {
        eprintln!("cannot write {out}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("wrote {out}");
    if broken_fixes.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!(
            "proven fixes broken on real threads: {}",
            broken_fixes.join(", ")
        );
        std::process::ExitCode::FAILURE
    }
}

#[cfg(loom)]
fn main() -> std::process::ExitCode {
    eprintln!("stress runs on real threads: build it without --cfg loom (cargo xtask stress)");
    std::process::ExitCode::from(2)
}
