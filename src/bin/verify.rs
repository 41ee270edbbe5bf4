//! Runs the model catalogue under loom: prints a verdict table and every counterexample,
//! writes `verdicts.json`, and exits non-zero when a verdict is not the expected one.
//! Run it through `cargo xtask verify`, which builds it with `--cfg loom`.

#[cfg(loom)]
fn main() -> std::process::ExitCode {
    use raceproof::catalogue::catalogue;
    use raceproof::check::{ModelReport, Report, Verdict};
    use std::time::Instant;

    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/raceproof/verdicts.json".to_owned());
    let mut report = Report {
        machine: raceproof::machine(),
        ..Report::default()
    };
    let started = Instant::now();
    println!(
        "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8} {:>6}",
        "flow", "variant", "expected", "verdict", "iterations", "seconds", "bound"
    );
    let mut counterexamples = String::new();
    for model in catalogue() {
        let start = Instant::now();
        let verdict = model.check();
        let seconds = start.elapsed().as_secs_f64();
        let entry = ModelReport::new(
            model.flow(),
            model.variant(),
            &model.describe(),
            model.expected(),
            model.preemption_bound(),
            &verdict,
            seconds,
        );
        println!(
            "{:<28} {:<24} {:<32} {:<32} {:>10} {:>8.3} {:>6}{}",
            entry.flow,
            entry.variant,
            entry.expected,
            verdict.label(),
            entry.iterations,
            seconds,
            entry
                .preemption_bound
                .map_or_else(|| "none".to_owned(), |b| b.to_string()),
            if entry.as_expected {
                ""
            } else {
                "   <- UNEXPECTED"
            }
        );
        if let Verdict::Violated { trace, .. } = &verdict {
            counterexamples.push_str(&format!(
                "\n{} / {} violates {} ({}):\n{trace}",
                entry.flow,
                entry.variant,
                verdict.invariant().unwrap_or_default(),
                entry.scenario
            ));
        }
        report.models.push(entry);
    }
    println!("{counterexamples}");
    let unexpected = report.models.iter().filter(|m| !m.as_expected).count();
    println!(
        "{} models in {:.2} s; {} as expected, {} not",
        report.models.len(),
        started.elapsed().as_secs_f64(),
        report.models.len() - unexpected,
        unexpected
    );
    if let Err(e) = raceproof::write_json(&out, &report) {
        eprintln!("cannot write {out}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("wrote {out}");
    if unexpected == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    eprintln!("verify explores interleavings with loom: run it with `cargo xtask verify`");
    std::process::ExitCode::from(2)
}
