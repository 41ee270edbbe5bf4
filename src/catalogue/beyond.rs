//! Models beyond exhaustive reach: five actors, where loom's search cannot finish within a
//! budget, and the randomized mode (PCT) is what can still find a bug (it never proves).
//!
//! A service publishes its configuration once, on first use, while other requests count
//! hits under a lock. `check_then_publish` checks "published?" and publishes in two critical
//! sections; `publish_once` does both in one. The bug needs the last actor's check to run
//! before the first actor publishes: an ordering near the root of loom's depth-first
//! search, behind every interleaving of the counting actors (millions), but two ordering
//! constraints for PCT (depth 2).

use raceproof_check::{AnyScenario, ExactlyOnce, Expected, FinalState, Recorder, Scenario};
use raceproof_core::sync::Mutex;

/// The flow's name.
pub const FLOW: &str = "publish_config_5_actors";
/// Hits each counting actor records.
const HITS: u32 = 3;
/// What loom may spend on these before it says *inconclusive*: enough to show that it
/// cannot finish, little enough for `cargo xtask verify`.
const LOOM_EXECUTIONS: usize = 5_000;

pub struct Service {
    config: Mutex<Option<u32>>,
    hits: Mutex<u32>,
    rec: Recorder,
}

fn service(rec: &Recorder) -> Service {
    Service {
        config: Mutex::named("config", None),
        hits: Mutex::named("hits", 0),
        rec: rec.clone(),
    }
}

/// Check, then publish: two critical sections.
fn check_then_publish(s: &Service, version: u32) {
    let published = s.config.lock().is_some();
    s.rec.note(format!("read config published = {published}"));
    if !published {
        // RACE WINDOW: another request publishes here too.
        *s.config.lock() = Some(version);
        s.rec.effect("published", "config");
    }
}

/// Check and publish in one critical section.
fn publish_once(s: &Service, version: u32) {
    let mut config = s.config.lock();
    if config.is_none() {
        *config = Some(version);
        s.rec.effect("published", "config");
    }
}

fn count(s: &Service) {
    for _ in 0..HITS {
        *s.hits.lock() += 1;
    }
}

/// Five actors: the first publishes and counts, three count, the last publishes.
pub fn publish_config(variant: &str, publish: fn(&Service, u32)) -> Scenario<Service> {
    Scenario::new(FLOW, variant, service)
        .actor(None, "publishes config 1, counts hits", move |s| {
            publish(s, 1);
            count(s);
        })
        .actor(None, "counts hits", count)
        .actor(None, "counts hits", count)
        .actor(None, "counts hits", count)
        .actor(None, "publishes config 2", move |s| publish(s, 2))
        .invariant(ExactlyOnce::new(["config"]))
        .invariant(FinalState::new(
            "every_hit_counted",
            |s: &Service| match *s.hits.lock() {
                n if n == 4 * HITS => Ok(()),
                n => Err(format!("{n} hits counted, not {}", 4 * HITS)),
            },
        ))
        .budget(LOOM_EXECUTIONS, 120.0)
}

/// Both variants; loom answers *inconclusive* (its budget) on each.
pub fn models() -> Vec<Box<dyn AnyScenario>> {
    vec![
        Box::new(publish_config("check_then_publish", check_then_publish).expect_inconclusive()),
        Box::new(publish_config("publish_once", publish_once).expect_inconclusive()),
    ]
}

/// What the randomized mode should find here: the racy variant's double publication.
pub fn randomized_expectation(model: &dyn AnyScenario) -> Option<Expected> {
    (model.flow() == FLOW && model.variant() == "check_then_publish")
        .then(|| Expected::Violated("exactly_once".to_owned()))
}
