//! Every catalogue entry gets the verdict it is expected to get: a fix that breaks fails
//! here, and so does a vulnerable variant that the checker stops catching.
#![cfg(loom)]

use raceproof::catalogue::catalogue;

#[test]
fn every_catalogue_entry_gets_its_expected_verdict() {
    let mut wrong = Vec::new();
    for model in catalogue() {
        let verdict = model.check();
        println!(
            "{} / {} on {}: {} after {} iterations",
            model.flow(),
            model.variant(),
            model.deployment(),
            verdict.label(),
            verdict.iterations()
        );
        if let raceproof::check::Verdict::Violated { trace, .. } = &verdict {
            println!("{trace}");
        }
        if !verdict.meets(model.expected()) {
            wrong.push(format!(
                "{} / {} on {}: expected {}, got {}",
                model.flow(),
                model.variant(),
                model.deployment(),
                model.expected(),
                verdict.label()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected verdicts:\n{}",
        wrong.join("\n")
    );
}
