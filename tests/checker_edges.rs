//! Verdicts at the checker's edges (issue 17): one model per way loom alone misleads a
//! user (a spurious wakeup it never explores, SeqCst it approximates, an RwLock deadlock
//! that aborted the process, shared state it cannot see, an actor that blocks it), each
//! asserting the verdict a correct checker must give. The models are in `tests/edges/`.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p raceproof --test checker_edges`
//! (add `--target-dir target/loom` to keep the normal build), and without loom for the
//! parts that hold in every build.

mod edges;

#[cfg(not(loom))]
use raceproof::core::clock::{Clock, ManualClock};
#[cfg(not(loom))]
use raceproof::core::sync::Arc;
#[cfg(not(loom))]
use raceproof::core::sync::atomic::{AtomicU32, Ordering};

/// Naming an atomic needs no `cfg`: `named` exists in every build (loom's atomics live
/// only inside a model, where the models below name theirs).
#[cfg(not(loom))]
#[test]
fn atomics_can_be_named_in_every_build() {
    let hits = AtomicU32::named("hits", 1);
    hits.fetch_add(1, Ordering::Relaxed);
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    assert_eq!(hits.into_inner(), 2);
}

/// A clock shared through an `Arc` is a `Clock`: no newtype to hand one to an actor.
#[cfg(not(loom))]
#[test]
fn a_shared_manual_clock_is_a_clock() {
    fn read(clock: &impl Clock) -> i64 {
        clock.now()
    }
    let clock = Arc::new(ManualClock::new(10));
    let held = Arc::clone(&clock);
    clock.advance(5);
    assert_eq!(read(&held), 15);
}

#[cfg(loom)]
mod model_checked {
    use super::edges::{self, DekkerOrder};
    use raceproof::check::isolate::{self, Isolated};
    use raceproof::check::{AnyScenario, Inconclusive, Verdict};

    fn violated(verdict: &Verdict) -> (String, String) {
        match verdict {
            Verdict::Violated {
                invariant, trace, ..
            } => (invariant.clone(), trace.to_string()),
            other => panic!("expected violated, got {other}"),
        }
    }

    fn inconclusive(verdict: &Verdict) -> &Inconclusive {
        match verdict {
            Verdict::Inconclusive { cause, .. } => cause,
            other => panic!("expected inconclusive, got {other}"),
        }
    }

    /// Class 1: a consumer that waits under `if` is caught by a spurious wakeup (main
    /// proved it in 8 executions); under `while` it is proven.
    #[test]
    fn a_wait_under_if_is_caught_by_a_spurious_wakeup() {
        let (invariant, trace) = violated(&edges::consumer_waits(false).check());
        assert_eq!(invariant, "takes_the_job", "{trace}");
        assert!(trace.contains("took None"), "{trace}");
        assert!(
            trace.contains("T1   woke on `jobs.ready` without a notification (a spurious wakeup)"),
            "{trace}"
        );
        let verdict = edges::consumer_waits(true).check();
        assert!(verdict.is_proven(), "{verdict}");
    }

    /// Class 1 (and the friction): a lost wakeup names the condvar, the lock released to
    /// wait, and says that nobody is left to notify.
    #[test]
    fn a_lost_wakeup_says_nobody_will_notify() {
        let (invariant, trace) = violated(&edges::lost_wakeup().check());
        assert_eq!(invariant, "no_deadlock", "{trace}");
        assert!(
            trace.contains(
                "T1   blocked: waits on `jobs.ready` for a notification (released `jobs.queue` \
                 to wait); nobody is left to notify it"
            ),
            "{trace}"
        );
    }

    /// Class 2: Dekker under SeqCst is correct, and loom's AcqRel reading of SeqCst must
    /// not make it violated (main: violated after 1 execution, calling a SeqCst load
    /// stale); the same with SeqCst accesses against a SeqCst fence too.
    #[test]
    fn a_violation_that_seqcst_forbids_is_inconclusive() {
        for order in [DekkerOrder::SeqCst, DekkerOrder::Mixed] {
            let verdict = edges::dekker(order).check();
            let Inconclusive::SeqCst { invariant, load } = inconclusive(&verdict) else {
                panic!("{order:?}: expected the SeqCst reason, got {verdict}");
            };
            assert_eq!(invariant, "mutual_exclusion");
            assert!(load.contains("SeqCst"), "{load}");
        }
    }

    /// Class 2: with Release/Acquire the same model is broken, and the trace names the
    /// stale load and both orderings; fences on both sides (which loom models) prove it.
    #[test]
    fn store_buffering_without_seqcst_is_violated_with_the_stale_load() {
        let (invariant, trace) = violated(&edges::dekker(DekkerOrder::AcqRel).check());
        assert_eq!(invariant, "mutual_exclusion");
        assert!(
            trace.contains(": stale, the latest store is true")
                && trace.contains("(load Acquire, store Release)"),
            "{trace}"
        );
        let verdict = edges::dekker(DekkerOrder::Fences).check();
        assert!(verdict.is_proven(), "{verdict}");
    }

    /// Class 3: every RwLock deadlock is a verdict with who waits for what held by whom
    /// (main: the process aborted, naming no model).
    #[test]
    fn rwlock_deadlocks_are_violations_with_their_holders() {
        let cases = [
            (
                "upgrade",
                "blocked: waits for `a` (to write), held by T1 itself (reading): a read guard \
                 cannot be upgraded",
            ),
            (
                "opposite",
                "blocked: waits for `b` (to write), held by T2 (writing)",
            ),
            ("mixed", "waits for `m`, held by T1"),
            (
                "behind_join",
                "blocked: waits for `a` (to write), held by T2 (writing)",
            ),
        ];
        for (kind, line) in cases {
            let (invariant, trace) = violated(&edges::rwlock_deadlock(kind).check());
            assert_eq!(invariant, "no_deadlock", "{kind}: {trace}");
            assert!(trace.contains(line), "{kind}: {trace}");
        }
    }

    /// Class 4: actors whose shared state is a `std` atomic are not proven (main: proven
    /// after 1 execution), whether they touch the facade nowhere, on one side, only on
    /// objects of their own, or only by reading a shared flag (one execution).
    #[test]
    fn state_outside_the_facade_is_inconclusive() {
        for (kind, idle) in [
            ("none", vec!["T1", "T2"]),
            ("one", vec!["T2"]),
            ("private", vec![]),
            ("reads", vec![]),
        ] {
            let verdict = edges::std_atomic(kind).check();
            let Inconclusive::Unseen { idle: found, .. } = inconclusive(&verdict) else {
                panic!("{kind}: expected unseen state, got {verdict}");
            };
            assert_eq!(found, &idle, "{kind}");
            assert!(
                verdict
                    .to_string()
                    .contains("is the shared state built from the facade?"),
                "{verdict}"
            );
        }
    }

    /// Class 4's kin: a model that reads the system clock is not model-checked in time.
    #[test]
    fn reading_the_system_clock_is_inconclusive() {
        let verdict = edges::system_clock().check();
        let Inconclusive::Unmodelled { what } = inconclusive(&verdict) else {
            panic!("expected the unmodelled clock, got {verdict}");
        };
        assert!(what.contains("SystemClock"), "{what}");
        assert!(verdict.to_string().contains("ManualClock"), "{verdict}");
    }

    /// Class 5: a std lock that blocks loom's only OS thread ends inconclusive naming the
    /// actor (main: never returned), and so does a spin on a std flag.
    #[test]
    fn an_actor_blocked_outside_loom_is_inconclusive_and_named() {
        let verdict = edges::std_mutex().check();
        let Inconclusive::Stalled { actor, .. } = inconclusive(&verdict) else {
            panic!("expected a stall, got {verdict}");
        };
        assert_eq!(actor.as_deref(), Some("T2"), "{verdict}");
        assert!(verdict.to_string().contains("std::sync"), "{verdict}");
        let verdict = edges::std_spin().check();
        let Inconclusive::Stalled { actor, .. } = inconclusive(&verdict) else {
            panic!("expected a stall, got {verdict}");
        };
        assert_eq!(actor.as_deref(), Some("T1"), "{verdict}");
    }

    /// Class 5: run in child processes, a set of models survives one that aborts the
    /// process and one that blocks, and reports every verdict.
    #[test]
    fn the_isolated_runner_survives_an_abort_and_a_block() {
        let models: Vec<Box<dyn AnyScenario>> = vec![
            Box::new(edges::consumer_waits(false)),
            Box::new(edges::aborts()),
            Box::new(edges::std_mutex()),
            Box::new(edges::consumer_waits(true)),
        ];
        isolate::serve(&models);
        let verdicts =
            Isolated::this_test("model_checked::the_isolated_runner_survives_an_abort_and_a_block")
                .workers(2)
                .check(&models);
        let labels: Vec<String> = verdicts.iter().map(|c| c.verdict.label()).collect();
        assert_eq!(
            labels,
            [
                "violated: takes_the_job",
                "inconclusive",
                "inconclusive",
                "proven"
            ],
            "{verdicts:?}"
        );
        let Inconclusive::Crashed { how, .. } = inconclusive(&verdicts[1].verdict) else {
            panic!("expected a crash, got {}", verdicts[1].verdict);
        };
        assert!(how.contains("without a verdict"), "{how}");
        assert!(
            matches!(
                inconclusive(&verdicts[2].verdict),
                Inconclusive::Stalled { .. }
            ),
            "{}",
            verdicts[2].verdict
        );
    }

    /// Friction: unnamed locks made on one line, or in a loop, are told apart.
    #[test]
    fn unnamed_locks_are_told_apart() {
        let (_, trace) = violated(&edges::unnamed_pair().check());
        let line = |actor: &str| {
            trace
                .lines()
                .find(|l| l.contains(&format!("{actor}   blocked")))
                .unwrap_or_default()
                .to_owned()
        };
        let (t1, t2) = (line("T1"), line("T2"));
        assert!(
            t1.contains("lock created at tests/edges/mod.rs:"),
            "{trace}"
        );
        assert_ne!(
            t1.split("waits for").nth(1),
            t2.split("waits for").nth(1),
            "{trace}"
        );
        let (_, trace) = violated(&edges::looped_locks().check());
        assert!(trace.contains("lock #2 created at"), "{trace}");
    }

    /// Friction: deadlock freedom alone is asked with `NoDeadlock`; without any invariant
    /// the verdict says how.
    #[test]
    fn deadlock_freedom_alone_can_be_asked() {
        let verdict = edges::deadlock_free(true).check();
        assert!(verdict.is_proven(), "{verdict}");
        let verdict = edges::deadlock_free(false).check();
        assert!(verdict.to_string().contains("NoDeadlock"), "{verdict}");
    }
}
