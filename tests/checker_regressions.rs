//! Verdicts a user can trust on flows the catalogue never saw: one model for each way the
//! checker used to get a user's model wrong (a false proof, a false alarm, a hang, a trace
//! that misleads). Each asserts the verdict it must get.

use raceproof::check::{FinalState, Recorder, Scenario};
use raceproof::core::clock::{Clock, ManualClock};
use raceproof::core::sync::atomic::{AtomicBool, Ordering};
use raceproof::core::sync::{Mutex, hint};

/// A voucher valid until `EXPIRY`. `redeem` checks the clock, then stamps the redemption
/// with a second reading: check-then-act on time. Another actor moves the clock on.
const EXPIRY: i64 = 100;

pub struct Voucher {
    clock: ManualClock,
    redeemed_at: Mutex<Option<i64>>,
}

fn redeem(v: &Voucher) {
    if v.clock.now() <= EXPIRY {
        // RACE WINDOW: the clock can pass the expiry here.
        *v.redeemed_at.lock() = Some(v.clock.now());
    }
}

fn voucher(redeemer_first: bool) -> Scenario<Voucher> {
    let setup = |_: &Recorder| Voucher {
        clock: ManualClock::new(EXPIRY),
        redeemed_at: Mutex::new(None),
    };
    let variant = if redeemer_first {
        "redeemer_first"
    } else {
        "clock_first"
    };
    let scenario = Scenario::new("voucher_expiry", variant, setup);
    type Act = fn(&Voucher);
    let (redeemer, mover): (Act, Act) = (redeem, |v| v.clock.advance(1));
    let scenario = if redeemer_first {
        scenario
            .actor(None, "redeems", redeemer)
            .actor(None, "moves the clock past expiry", mover)
    } else {
        scenario
            .actor(None, "moves the clock past expiry", mover)
            .actor(None, "redeems", redeemer)
    };
    scenario.invariant(FinalState::new(
        "redeemed_before_expiry",
        |v: &Voucher| match *v.redeemed_at.lock() {
            Some(at) if at > EXPIRY => Err(format!("redeemed at {at}, after expiry {EXPIRY}")),
            _ => Ok(()),
        },
    ))
}

/// Lock-order inversion that deadlocks on real threads too: each actor takes its first
/// lock, waits until the other holds its own, then asks for the other's.
pub struct Inversion {
    a: Mutex<()>,
    b: Mutex<()>,
    a_held: AtomicBool,
    b_held: AtomicBool,
}

fn inversion() -> Scenario<Inversion> {
    fn wait_for(flag: &AtomicBool) {
        while !flag.load(Ordering::Acquire) {
            hint::spin_loop();
        }
    }
    Scenario::new("lock_order", "inverted", |_: &Recorder| Inversion {
        a: Mutex::named("a", ()),
        b: Mutex::named("b", ()),
        a_held: AtomicBool::new(false),
        b_held: AtomicBool::new(false),
    })
    .actor(None, "locks a, then b", |s: &Inversion| {
        let _a = s.a.lock();
        s.a_held.store(true, Ordering::Release);
        wait_for(&s.b_held);
        let _b = s.b.lock();
    })
    .actor(None, "locks b, then a", |s: &Inversion| {
        let _b = s.b.lock();
        s.b_held.store(true, Ordering::Release);
        wait_for(&s.a_held);
        let _a = s.a.lock();
    })
    .invariant(FinalState::new("finishes", |_: &Inversion| Ok(())))
    .run_timeout(std::time::Duration::from_millis(300))
}

#[cfg(loom)]
mod model_checked {
    use super::*;
    use raceproof::check::{ExactlyOnce, Inconclusive, Verdict};

    /// A refund processed twice: check "refunded?", then refund, in two critical sections.
    pub struct Refunds {
        refunded: Mutex<bool>,
        rec: Recorder,
        /// Whether the flow records the refund as an effect, or only narrates it.
        as_effect: bool,
    }

    fn refund(r: &Refunds) {
        let done = *r.refunded.lock();
        if !done {
            // RACE WINDOW
            *r.refunded.lock() = true;
            if r.as_effect {
                r.rec.effect("refunded", "order-7");
            } else {
                r.rec.note("refund order-7");
            }
        }
    }

    fn refund_twice(as_effect: bool) -> Scenario<Refunds> {
        Scenario::new(
            "refund",
            if as_effect { "effect" } else { "note" },
            move |rec| Refunds {
                refunded: Mutex::new(false),
                rec: rec.clone(),
                as_effect,
            },
        )
        .actor(None, "refunds order-7", refund)
        .actor(None, "refunds order-7 again", refund)
        .invariant(ExactlyOnce::new(["order-7"]))
    }

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

    /// Class 1: the clock is modelled, so both actor orders find the expired redemption
    /// (with the clock in plain storage, the order `redeemer_first` was proven).
    #[test]
    fn a_clock_moved_by_another_actor_is_seen_in_either_order() {
        for redeemer_first in [true, false] {
            let verdict = voucher(redeemer_first).check();
            let (invariant, trace) = violated(&verdict);
            assert_eq!(invariant, "redeemed_before_expiry", "{trace}");
        }
    }

    /// Class 2: an invariant that saw nothing makes the verdict inconclusive, never
    /// proven; the same flow recording its effect is caught.
    #[test]
    fn a_vacuous_invariant_is_inconclusive_and_an_effect_is_caught() {
        let narrated = refund_twice(false).check();
        assert_eq!(
            inconclusive(&narrated),
            &Inconclusive::Vacuous {
                invariant: "exactly_once".to_owned()
            }
        );
        let Verdict::Inconclusive { hint, .. } = &narrated else {
            unreachable!()
        };
        assert!(hint.contains("Recorder::effect"), "{hint}");
        let (invariant, trace) = violated(&refund_twice(true).check());
        assert_eq!(invariant, "exactly_once");
        assert!(trace.contains("refunded twice"), "{trace}");
    }

    /// Class 3: loom's thread limit is the checker's, not the flow's.
    #[test]
    fn six_actors_are_beyond_loom_and_say_so() {
        let mut scenario = refund_twice(true);
        for _ in 0..4 {
            scenario = scenario.actor(None, "refunds again", refund);
        }
        let verdict = scenario.check();
        assert_eq!(
            inconclusive(&verdict),
            &Inconclusive::ThreadLimit { threads: 6, max: 5 }
        );
    }

    /// Class 3: a correct spin-wait that loom cannot see make progress is inconclusive
    /// with a hint; with the facade's `hint::spin_loop` it is proven.
    #[test]
    fn a_spin_loop_without_a_yield_is_inconclusive_and_with_one_proven() {
        pub struct Flag {
            set: AtomicBool,
            seen: Mutex<bool>,
        }
        fn spin_wait(facade_hint: bool) -> Scenario<Flag> {
            Scenario::new("spin_wait", "", |_: &Recorder| Flag {
                set: AtomicBool::new(false),
                seen: Mutex::new(false),
            })
            .actor(None, "waits for the flag", move |f: &Flag| {
                while !f.set.load(Ordering::Acquire) {
                    if facade_hint {
                        hint::spin_loop();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                *f.seen.lock() = true;
            })
            .actor(None, "sets the flag", |f: &Flag| {
                f.set.store(true, Ordering::Release)
            })
            .invariant(FinalState::new("seen", |f: &Flag| {
                if *f.seen.lock() {
                    Ok(())
                } else {
                    Err("the waiter never saw the flag".to_owned())
                }
            }))
        }
        let verdict = spin_wait(false).check();
        assert_eq!(inconclusive(&verdict), &Inconclusive::BranchLimit);
        let Verdict::Inconclusive { hint, .. } = &verdict else {
            unreachable!()
        };
        assert!(hint.contains("sync::hint::spin_loop"), "{hint}");
        let verdict = spin_wait(true).check();
        assert!(verdict.is_proven(), "{verdict}");
    }

    /// Two increments under one lock: correct, and more than one execution to explore.
    fn counter() -> Scenario<Mutex<u32>> {
        let add = |c: &Mutex<u32>| *c.lock() += 1;
        Scenario::new("counter", "locked", |_: &Recorder| Mutex::new(0))
            .actor(None, "adds one", add)
            .actor(None, "adds one", add)
            .invariant(FinalState::new("two", |c: &Mutex<u32>| match *c.lock() {
                2 => Ok(()),
                n => Err(format!("{n}")),
            }))
    }

    /// Class 3: past its budget a model is inconclusive, never proven.
    #[test]
    fn a_model_beyond_its_budget_is_inconclusive() {
        assert!(counter().check().is_proven());
        let verdict = counter().budget(1, 60.0).check();
        assert!(
            matches!(
                inconclusive(&verdict),
                Inconclusive::Budget { executions: 1, .. }
            ),
            "{verdict}"
        );
    }

    /// Class 5: a deadlock names each blocked actor and the lock it waits for, and never
    /// claims that every thread finished.
    #[test]
    fn a_deadlock_names_actors_and_locks() {
        let (invariant, trace) = violated(&inversion().check());
        assert_eq!(invariant, "no_deadlock");
        assert!(
            trace.contains("T1   blocked: waits for `b`, held by T2"),
            "{trace}"
        );
        assert!(
            trace.contains("T2   blocked: waits for `a`, held by T1"),
            "{trace}"
        );
        assert!(!trace.contains("every thread finished"), "{trace}");
        assert!(!trace.contains("Id("), "{trace}");
    }

    /// Class 5: a weak-memory counterexample says which load read a stale value.
    #[test]
    fn a_stale_load_is_marked_stale() {
        use raceproof::core::sync::atomic::{AtomicBool, AtomicU64};
        pub struct Message {
            data: AtomicU64,
            ready: AtomicBool,
            seen: Mutex<Option<u64>>,
            rec: Recorder,
        }
        let verdict = Scenario::new("message_passing", "relaxed", |rec: &Recorder| Message {
            data: AtomicU64::named("data", 0),
            ready: AtomicBool::named("ready", false),
            seen: Mutex::new(None),
            rec: rec.clone(),
        })
        .actor(None, "publishes 42", |m: &Message| {
            m.data.store(42, Ordering::Relaxed);
            m.rec.note("store data = 42");
            // Relaxed: nothing orders the data before the flag (Release would).
            m.ready.store(true, Ordering::Relaxed);
            m.rec.note("store ready = true");
        })
        .actor(None, "reads it once ready", |m: &Message| {
            if m.ready.load(Ordering::Relaxed) {
                let data = m.data.load(Ordering::Relaxed);
                m.rec.note(format!("load data = {data}"));
                *m.seen.lock() = Some(data);
            }
        })
        .invariant(FinalState::new("reads_42", |m: &Message| {
            match *m.seen.lock() {
                Some(0) => Err("read the data before it was published".to_owned()),
                _ => Ok(()),
            }
        }))
        .check();
        let (invariant, trace) = violated(&verdict);
        assert_eq!(invariant, "reads_42");
        assert!(
            trace.contains("T2   load `data` = 0: stale, the latest store is 42 (T1's store)"),
            "{trace}"
        );
    }

    /// Class 5: a panic names the actor, the message and the source location.
    #[test]
    fn a_panic_names_actor_message_and_location() {
        let verdict = counter()
            .actor(None, "divides by the count", |c: &Mutex<u32>| {
                if *c.lock() == 0 {
                    panic!("nothing to divide by");
                }
            })
            .check();
        let (invariant, trace) = violated(&verdict).to_owned();
        assert_eq!(invariant, "no_panic");
        assert!(
            trace.contains("T3   panicked at tests/checker_regressions.rs:"),
            "{trace}"
        );
        assert!(trace.contains("nothing to divide by"), "{trace}");
    }
}

#[cfg(not(loom))]
mod real_threads {
    use super::*;

    /// Class 4: a run that deadlocks on real threads comes back, as a deadlock, with what
    /// each actor was doing.
    #[test]
    fn the_stress_runner_returns_from_a_deadlock() {
        let outcome = inversion().stress(5);
        assert!(outcome.hung, "{outcome:?}");
        assert_eq!(outcome.runs, 1, "stress stops at the first hung run");
        let (invariant, trace) = outcome.first.clone().expect("a violation");
        assert_eq!(invariant, "no_deadlock");
        let text = trace.to_string();
        assert!(
            text.contains("T1") && text.contains("still running"),
            "{text}"
        );
        assert!(text.contains("T2"), "{text}");
        assert_eq!(
            outcome.verdict().kind(),
            raceproof::check::VerdictKind::Violated
        );
    }

    /// Without loom, `run` never says proven.
    #[test]
    fn real_threads_never_prove() {
        let verdict = voucher(true).run();
        assert!(!verdict.is_proven(), "{verdict}");
    }
}
