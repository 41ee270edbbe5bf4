//! Running scenarios: exhaustively under loom (`Model::check`, `--cfg loom` builds), or
//! many times on real threads (`Model::stress`, normal builds), the test a user would
//! otherwise write by hand.

use crate::recorder::{History, Recorder};
use crate::scenario::{Expected, Scenario};
#[cfg(loom)]
use crate::verdict::Verdict;
use raceproof_core::sync::ghost;
use raceproof_core::sync::{Arc, thread};

/// A scenario with its state type erased, so catalogues can hold many flows.
pub trait Model: Send + Sync {
    fn flow(&self) -> &str;
    fn variant(&self) -> &str;
    fn expected(&self) -> &Expected;
    fn preemption_bound(&self) -> Option<usize>;
    /// `T1 admin promotes mallory; T2 root demotes admin`.
    fn describe(&self) -> String;

    /// Explores every interleaving (within the preemption bound) under loom.
    #[cfg(loom)]
    fn check(&self) -> Verdict;

    /// Runs the scenario `runs` times on real threads released together by a barrier.
    #[cfg(not(loom))]
    fn stress(&self, runs: usize) -> StressOutcome;
}

/// How often a scenario broke an invariant on real threads.
#[derive(Debug, Clone, PartialEq)]
pub struct StressOutcome {
    pub runs: usize,
    pub violations: usize,
    /// 1-based run at which the first violation showed, if any did.
    pub first_violation: Option<usize>,
    pub seconds: f64,
}

impl<S: Send + Sync + 'static> Model for Scenario<S> {
    fn flow(&self) -> &str {
        &self.flow
    }

    fn variant(&self) -> &str {
        &self.variant
    }

    fn expected(&self) -> &Expected {
        &self.expected
    }

    fn preemption_bound(&self) -> Option<usize> {
        self.preemption_bound
    }

    fn describe(&self) -> String {
        self.actors
            .iter()
            .map(|a| format!("{} {}", a.label, a.description))
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[cfg(loom)]
    fn check(&self) -> Verdict {
        loom_check::check(self)
    }

    #[cfg(not(loom))]
    fn stress(&self, runs: usize) -> StressOutcome {
        let start = std::time::Instant::now();
        let mut violations = 0;
        let mut first_violation = None;
        for run in 1..=runs {
            if self.run_on_threads() {
                violations += 1;
                first_violation.get_or_insert(run);
            }
        }
        StressOutcome {
            runs,
            violations,
            first_violation,
            seconds: start.elapsed().as_secs_f64(),
        }
    }
}

impl<S: Send + Sync + 'static> Scenario<S> {
    /// One execution on real OS threads; true when an invariant broke.
    #[cfg(not(loom))]
    fn run_on_threads(&self) -> bool {
        let recorder = Recorder::new();
        let state = Arc::new((self.setup)(&recorder));
        let start = Arc::new(ghost::Barrier::new(self.actors.len()));
        let handles: Vec<_> = self
            .actors
            .iter()
            .map(|actor| {
                let (state, recorder, start, actor) = (
                    state.clone(),
                    recorder.clone(),
                    start.clone(),
                    actor.clone(),
                );
                thread::spawn(move || {
                    recorder.enter(&actor.label);
                    start.wait();
                    (actor.body)(&state);
                })
            })
            .collect();
        let crashed = handles.into_iter().any(|h| h.join().is_err());
        crashed || self.judge(&state, &self.history(&recorder)).is_some()
    }

    /// One execution in the current thread of a loom model: the first actor runs on the
    /// model's main thread (one thread fewer to interleave), the others are spawned.
    /// Returns the history, and the first broken invariant if any.
    #[cfg(loom)]
    fn run_in_model(
        &self,
        recorder: &Recorder,
    ) -> (History, Option<(String, crate::invariant::Breach)>) {
        use std::mem::ManuallyDrop;
        // The state's references are dropped only when their thread completes. Dropping a
        // loom `Arc` while a panic unwinds (an actor's, or loom's deadlock report) re-enters
        // loom's scheduler, or runs outside it, and that second panic aborts the process:
        // on those paths the state is leaked instead, so the panic reaches `check`.
        let state = ManuallyDrop::new(Arc::new((self.setup)(recorder)));
        let handles: Vec<_> = self
            .actors
            .iter()
            .skip(1)
            .map(|actor| {
                let state = ManuallyDrop::new(Arc::clone(&state));
                let (recorder, actor) = (recorder.clone(), actor.clone());
                thread::spawn(move || {
                    recorder.enter(&actor.label);
                    (actor.body)(&state);
                    drop(ManuallyDrop::into_inner(state));
                })
            })
            .collect();
        if let Some(first) = self.actors.first() {
            recorder.enter(&first.label);
            (first.body)(&state);
        }
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let history = self.history(recorder);
        let breach = self.judge(&state, &history);
        drop(ManuallyDrop::into_inner(state));
        (history, breach)
    }

    fn history(&self, recorder: &Recorder) -> History {
        History {
            steps: recorder.steps(),
            actors: self.actor_infos(),
        }
    }
}

#[cfg(loom)]
mod loom_check {
    use super::*;
    use crate::invariant::Breach;
    use crate::verdict::Trace;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    type Found = Option<(String, Breach, History)>;

    /// Marker payload: a model stops exploring by panicking with it once an invariant breaks.
    struct ViolationFound;

    // Keeps the panic hook quiet while this OS thread runs a model: violations are verdicts,
    // and loom's own failures are reported as verdicts too.
    thread_local! {
        static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn install_quiet_hook() {
        static HOOK: ghost::Once = ghost::Once::new();
        HOOK.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let quiet = QUIET.with(std::cell::Cell::get)
                    || info.payload().downcast_ref::<ViolationFound>().is_some();
                if !quiet {
                    default(info);
                }
            }));
        });
    }

    pub(super) fn check<S: Send + Sync + 'static>(scenario: &Scenario<S>) -> Verdict {
        install_quiet_hook();
        let iterations = ghost::Arc::new(ghost::AtomicUsize::new(0));
        let current = ghost::Arc::new(ghost::Mutex::new(Recorder::new()));
        let found: ghost::Arc<ghost::Mutex<Found>> = ghost::Arc::new(ghost::Mutex::new(None));

        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = scenario.preemption_bound;
        builder.max_permutations = None;
        builder.max_duration = None;
        builder.checkpoint_file = None;
        builder.log = false;
        builder.location = false;

        let body = {
            let (scenario, iterations, current, found) = (
                scenario.clone(),
                iterations.clone(),
                current.clone(),
                found.clone(),
            );
            move || {
                iterations.fetch_add(1, ghost::Ordering::Relaxed);
                let recorder = Recorder::new();
                *ghost::lock(&current) = recorder.clone();
                let (history, breach) = scenario.run_in_model(&recorder);
                if let Some((invariant, breach)) = breach {
                    *ghost::lock(&found) = Some((invariant, breach, history));
                    std::panic::panic_any(ViolationFound);
                }
            }
        };

        QUIET.with(|q| q.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| builder.check(body)));
        QUIET.with(|q| q.set(false));
        let iterations = iterations.load(ghost::Ordering::Relaxed);

        let panic = match outcome {
            Ok(()) => {
                return Verdict::Proven {
                    iterations,
                    bound: scenario.preemption_bound,
                };
            }
            Err(panic) => panic,
        };
        if let Some((invariant, breach, history)) = ghost::lock(&found).take() {
            return Verdict::Violated {
                trace: Trace::new(&history, &breach),
                invariant,
                iterations_until_found: iterations,
            };
        }
        // loom's own verdicts: deadlock, leak, a panic in the flow, a model too large.
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        let invariant = if message.contains("deadlock") {
            "no_deadlock"
        } else if message.contains("leaked") {
            "no_leak"
        } else if message.contains("maximum number of branches") {
            "model_within_branch_limit"
        } else {
            "no_panic"
        };
        let history = History {
            steps: ghost::lock(&current).steps(),
            actors: scenario.actor_infos(),
        };
        let first_line = message.lines().next().unwrap_or(message);
        Verdict::Violated {
            trace: Trace::new(&history, &Breach::at_end(format!("loom: {first_line}"))),
            invariant: invariant.to_owned(),
            iterations_until_found: iterations,
        }
    }
}
