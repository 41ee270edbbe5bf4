//! Runs every catalogue scenario many times on real threads (a barrier releases the actors
//! together) and counts how often an invariant breaks: the stress test a user would write
//! by hand, to set beside loom's answer. Writes `stress.json`. Run it through
//! `cargo xtask stress`.

#[cfg(not(any(loom, shuttle)))]
fn main() -> std::process::ExitCode {
    use raceproof::catalogue::catalogue;
    use raceproof::report::Expected;
    use raceproof::report::stress::{ModelStress, StressReport};

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
    let mut report = StressReport {
        machine: raceproof::report::machine(),
        models: Vec::new(),
    };
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
        report.models.push(ModelStress {
            flow: model.flow().to_owned(),
            variant: model.variant().to_owned(),
            expected: model.expected().clone(),
            runs: outcome.runs,
            violations: outcome.violations,
            first_violation: outcome.first_violation,
            invariant: outcome.first.map(|(invariant, _)| invariant),
            hung: outcome.hung,
            seconds: outcome.seconds,
        });
    }
    // A proven fix that breaks on real threads would mean the model misses something.
    let broken_fixes: Vec<_> = report
        .models
        .iter()
        .filter(|m| m.expected == Expected::Proven && m.violations > 0)
        .map(|m| format!("{} / {}", m.flow, m.variant))
        .collect();
    if let Err(e) = raceproof::report::write(std::path::Path::new(&out), &report) {
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

#[cfg(any(loom, shuttle))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "stress runs on real threads: build it without --cfg loom or shuttle (cargo xtask stress)"
    );
    std::process::ExitCode::from(2)
}
