//! The randomized mode (PCT schedules, `--cfg shuttle`) past loom's reach: it finds the
//! five-actor violation that loom's budget ends before, replays it from its schedule, and on
//! the correct five actors answers *inconclusive* with the number of schedules (never
//! proven); it runs async tasks on event loops and several workers as loom does, and finds
//! every violation of the catalogue.
//!
//! `RUSTFLAGS="--cfg shuttle" cargo test --release -p raceproof --test randomized
//! --target-dir target/shuttle` (`cargo xtask test` runs it).
#![cfg(all(shuttle, not(loom)))]

use raceproof::catalogue::{beyond, catalogue, randomized_expectation};
use raceproof::check::random::RandomConfig;
use raceproof::check::{Inconclusive, Verdict};

fn config(schedules: usize) -> RandomConfig {
    RandomConfig {
        schedules,
        ..RandomConfig::default()
    }
}

#[test]
fn pct_finds_the_five_actor_race_and_replays_it() {
    let racy = beyond::models()
        .into_iter()
        .find(|m| m.variant() == "check_then_publish")
        .expect("the racy variant is listed");
    let found = racy.random(config(2_000));
    let Verdict::Violated {
        invariant, trace, ..
    } = &found.verdict
    else {
        panic!("PCT missed the race: {}", found.verdict);
    };
    assert_eq!(invariant, "exactly_once", "{trace}");
    assert!(trace.to_string().contains("published twice"), "{trace}");
    // The same seed finds it at the same schedule, and the schedule alone replays it.
    let again = racy.random(config(2_000));
    assert_eq!(again.schedules, found.schedules);
    let schedule = found.schedule.as_deref().expect("a failing schedule");
    let replayed = racy.replay_schedule(schedule);
    assert_eq!(replayed.invariant(), Some("exactly_once"), "{replayed}");
    assert_eq!(replayed.iterations(), 1, "{replayed}");
}

#[test]
fn a_correct_five_actor_model_is_inconclusive_with_its_schedule_count() {
    let correct = beyond::models()
        .into_iter()
        .find(|m| m.variant() == "publish_once")
        .expect("the correct variant is listed");
    let run = correct.random(config(300));
    let Verdict::Inconclusive {
        cause: Inconclusive::Randomized {
            schedules, depth, ..
        },
        ..
    } = &run.verdict
    else {
        panic!(
            "expected inconclusive after every schedule, got {}",
            run.verdict
        );
    };
    assert_eq!((*schedules, *depth), (300, 3));
    assert!(
        run.verdict.to_string().contains("never proves"),
        "{}",
        run.verdict
    );
}

/// Every catalogue violation is found within a few hundred schedules, and no model is
/// ever proven.
#[test]
fn the_catalogue_gets_the_randomized_verdicts() {
    let mut wrong = Vec::new();
    for model in catalogue() {
        let expected = randomized_expectation(model.as_ref());
        let run = model.random(config(300));
        if !run.verdict.meets(&expected) || run.verdict.is_proven() {
            wrong.push(format!(
                "{}/{}: expected {expected}, got {}",
                model.flow(),
                model.variant(),
                run.verdict.label()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Async tasks and several workers run under PCT too: the seed's hardened `/operate` holds
/// on one event loop (its lock map and check are between awaits), and two workers break it;
/// the failing schedule names the assignment of requests to workers and replays alone.
#[test]
fn async_tasks_on_event_loops_and_workers_run_under_pct() {
    let seed_fix = |deployment: &str| {
        catalogue()
            .into_iter()
            .find(|m| {
                m.flow() == "operate"
                    && m.variant() == "seed_fix"
                    && m.deployment().to_string() == deployment
            })
            .unwrap_or_else(|| panic!("operate / seed_fix on {deployment} is listed"))
    };
    let one_loop = seed_fix("EventLoop").random(config(300));
    assert!(
        matches!(
            one_loop.verdict,
            Verdict::Inconclusive {
                cause: Inconclusive::Randomized { .. },
                ..
            }
        ),
        "one event loop: {}",
        one_loop.verdict
    );
    let workers = seed_fix("Workers(2)");
    let found = workers.random(config(300));
    assert_eq!(
        found.verdict.invariant(),
        Some("exactly_once"),
        "{}",
        found.verdict
    );
    let trace = found.verdict.to_string();
    assert!(
        trace.contains("(worker 0)") && trace.contains("(worker 1)"),
        "{trace}"
    );
    let schedule = found.schedule.as_deref().expect("a failing schedule");
    let (assignment, _) = schedule.split_once('|').expect("the workers come first");
    assert_eq!(assignment, "0,1", "{schedule}");
    let replayed = workers.replay_schedule(schedule);
    assert_eq!(replayed.invariant(), Some("exactly_once"), "{replayed}");
    assert_eq!(replayed.iterations(), 1, "{replayed}");
}
