//! The loom exploration (`--cfg loom` builds): every interleaving of a scenario's actors,
//! within its preemption bound and budget, judged after each execution; a verdict of
//! proven, violated (with the failing interleaving) or inconclusive (with what to change).

use crate::ghost;
use crate::invariant::Breach;
use crate::panics::{
    BudgetExhausted, LoomStop, Panicked, ViolationFound, install_panic_hook, loom_stop,
    panic_message, quietly, run_actor,
};
use crate::recorder::{Recorder, Recording};
use crate::scenario::Scenario;
use crate::verdict::{Coverage, Inconclusive, InvariantCoverage, Trace, Verdict};
use raceproof_core::sync::{Arc, thread};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;

/// loom's thread limit (`loom::MAX_THREADS`), the model's main thread included.
const LOOM_MAX_THREADS: usize = 5;

/// The first broken invariant, how, and the execution that broke it.
type Found = Option<(String, Breach, Recording)>;

impl<S: Send + Sync + 'static> Scenario<S> {
    /// Explores every interleaving (within the preemption bound) under loom.
    pub fn check(&self) -> Verdict {
        explore(self, None)
    }

    /// Explores like [`Scenario::check`], saving each execution's schedule to `checkpoint`
    /// (loom's checkpoint file); when the file already holds a schedule, that schedule runs
    /// first. So a first call finds a violation and leaves its schedule in the file, and a
    /// second call re-runs exactly that schedule, with loom's own log when `log` is set.
    pub fn replay(&self, checkpoint: &Path, log: bool) -> Verdict {
        explore(self, Some((checkpoint, log)))
    }

    /// One execution in the current thread of a loom model: the first actor runs on the
    /// model's main thread (one thread fewer to interleave), the others are spawned.
    /// Returns the recording, what each invariant observed, and the first broken invariant.
    fn run_in_model(
        &self,
        recorder: &Recorder,
        panicked: &ghost::Arc<ghost::Mutex<Option<Panicked>>>,
    ) -> (Recording, Vec<usize>, Option<(String, Breach)>) {
        use std::mem::ManuallyDrop;
        // The state's references are dropped only when their thread completes. Dropping a
        // loom `Arc` while a panic unwinds (an actor's, or loom's deadlock report) re-enters
        // loom's scheduler, or runs outside it, and that second panic aborts the process:
        // on those paths the state is leaked instead, so the panic reaches `explore`.
        let state = ManuallyDrop::new(Arc::new((self.setup)(recorder)));
        let handles: Vec<_> = self
            .actors
            .iter()
            .skip(1)
            .map(|actor| {
                let state = ManuallyDrop::new(Arc::clone(&state));
                let (recorder, actor, panicked) =
                    (recorder.clone(), actor.clone(), panicked.clone());
                thread::spawn(move || {
                    run_actor(&actor, &state, &recorder, &panicked);
                    drop(ManuallyDrop::into_inner(state));
                })
            })
            .collect();
        if let Some(first) = self.actors.first() {
            run_actor(first, &state, recorder, panicked);
        }
        for handle in handles {
            if let Err(panic) = handle.join() {
                resume_unwind(panic);
            }
        }
        let recording = self.recording(recorder);
        let observed = self.observe(&state, &recording);
        let breach = self.judge(&state, &recording);
        drop(ManuallyDrop::into_inner(state));
        (recording, observed, breach)
    }
}

fn explore<S: Send + Sync + 'static>(
    scenario: &Scenario<S>,
    replay: Option<(&Path, bool)>,
) -> Verdict {
    // The first actor runs on the model's main thread, the others on one thread each.
    let threads = scenario.actors.len().max(1);
    if threads > LOOM_MAX_THREADS {
        return Verdict::Inconclusive {
            cause: Inconclusive::ThreadLimit {
                threads,
                max: LOOM_MAX_THREADS,
            },
            hint: format!(
                "model at most {LOOM_MAX_THREADS} concurrent actors: races need two or three, \
                 and more actors of the same kind add interleavings, not new behaviour"
            ),
            iterations: 0,
        };
    }
    install_panic_hook();
    let iterations = ghost::Arc::new(ghost::AtomicUsize::new(0));
    let current = ghost::Arc::new(ghost::Mutex::new(Recorder::new()));
    let found: ghost::Arc<ghost::Mutex<Found>> = ghost::Arc::new(ghost::Mutex::new(None));
    let panicked = ghost::Arc::new(ghost::Mutex::new(None));
    let observed = ghost::Arc::new(ghost::Mutex::new(vec![0usize; scenario.invariants.len()]));
    // An invariant that could not decide an execution makes the verdict inconclusive,
    // unless another execution shows a violation: exploration goes on.
    let undecided: ghost::Arc<ghost::Mutex<Option<(String, String)>>> =
        ghost::Arc::new(ghost::Mutex::new(None));
    let budget = scenario.budget;
    let started = std::time::Instant::now();

    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = scenario.preemption_bound;
    // The budget below, not loom's caps: loom returns normally when its caps are hit,
    // which would read as proven.
    builder.max_permutations = None;
    builder.max_duration = None;
    builder.checkpoint_file = None;
    builder.log = false;
    builder.location = false;
    if let Some((path, log)) = replay {
        builder.checkpoint_file = Some(path.to_path_buf());
        builder.checkpoint_interval = 1;
        builder.log = log;
        builder.location = log;
    }

    let body = {
        let (scenario, iterations, current, found, panicked, observed, undecided) = (
            scenario.clone(),
            iterations.clone(),
            current.clone(),
            found.clone(),
            panicked.clone(),
            observed.clone(),
            undecided.clone(),
        );
        move || {
            let n = iterations.fetch_add(1, ghost::Ordering::Relaxed) + 1;
            if n > budget.executions || started.elapsed().as_secs_f64() > budget.seconds {
                std::panic::panic_any(BudgetExhausted);
            }
            raceproof_core::sync::model::reset();
            let recorder = Recorder::new();
            *ghost::lock(&current) = recorder.clone();
            let (recording, seen, breach) = scenario.run_in_model(&recorder, &panicked);
            for (total, n) in ghost::lock(&observed).iter_mut().zip(seen) {
                *total += n;
            }
            if let Some((invariant, breach)) = breach {
                if breach.undecided {
                    ghost::lock(&undecided).get_or_insert((invariant, breach.why));
                } else {
                    *ghost::lock(&found) = Some((invariant, breach, recording));
                    std::panic::panic_any(ViolationFound);
                }
            }
        }
    };

    let log = replay.is_some_and(|(_, log)| log);
    let outcome = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            if log {
                // loom's own log of each step, as `loom::model` prints it under LOOM_LOG.
                let subscriber = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
                    .with_ansi(false)
                    .without_time()
                    .finish();
                tracing::subscriber::with_default(subscriber, || builder.check(body));
            } else {
                builder.check(body);
            }
        }))
    });
    let executions = iterations.load(ghost::Ordering::Relaxed);

    let payload = match outcome {
        Ok(()) => {
            if let Some((invariant, why)) = ghost::lock(&undecided).take() {
                return Verdict::Inconclusive {
                    cause: Inconclusive::Undecided { invariant, why },
                    hint: "record fewer operations per execution (fewer actors or calls)"
                        .to_owned(),
                    iterations: executions,
                };
            }
            return settle(scenario, executions, &ghost::lock(&observed));
        }
        Err(payload) => payload,
    };
    if let Some((invariant, breach, recording)) = ghost::lock(&found).take() {
        return Verdict::Violated {
            trace: Trace::new(&recording, &breach),
            invariant,
            iterations_until_found: executions,
        };
    }
    if payload.is::<BudgetExhausted>() {
        return Verdict::Inconclusive {
            cause: Inconclusive::Budget {
                executions: executions.saturating_sub(1),
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            hint: "bound the preemptions (`.preemption_bound(2)` covers most races), use \
                   fewer actors, or raise the budget (`.budget(..)`)"
                .to_owned(),
            iterations: executions.saturating_sub(1),
        };
    }
    let recorder = ghost::lock(&current).clone();
    let recording = scenario.recording(&recorder);
    let message = panic_message(payload.as_ref());
    match loom_stop(&message) {
        Some(LoomStop::Deadlock) => Verdict::Violated {
            trace: Trace::ending(&recording, deadlock_lines(&recorder, &message)),
            invariant: "no_deadlock".to_owned(),
            iterations_until_found: executions,
        },
        Some(LoomStop::BranchLimit) => Verdict::Inconclusive {
            cause: Inconclusive::BranchLimit,
            hint: "a spin-wait must tell loom it waits: call \
                   `raceproof::core::sync::hint::spin_loop()` or `sync::thread::yield_now()` \
                   (not `std::hint::spin_loop()`) in the loop, or bound the preemptions"
                .to_owned(),
            iterations: executions,
        },
        Some(LoomStop::ThreadLimit) => Verdict::Inconclusive {
            cause: Inconclusive::ThreadLimit {
                threads: LOOM_MAX_THREADS + 1,
                max: LOOM_MAX_THREADS,
            },
            hint: "the flow spawns threads of its own: fewer actors, or fewer threads per actor"
                .to_owned(),
            iterations: executions,
        },
        Some(LoomStop::Leak) => Verdict::Violated {
            trace: Trace::ending(
                &recording,
                vec![("end".to_owned(), format!("loom: {}", first_line(&message)))],
            ),
            invariant: "no_leak".to_owned(),
            iterations_until_found: executions,
        },
        None => {
            let ending = match ghost::lock(&panicked).take() {
                Some(p) => p.ending(),
                None => (
                    "end".to_owned(),
                    format!(
                        "panicked outside any actor (setup or an invariant): {}",
                        first_line(&message)
                    ),
                ),
            };
            Verdict::Violated {
                trace: Trace::ending(&recording, vec![ending]),
                invariant: "no_panic".to_owned(),
                iterations_until_found: executions,
            }
        }
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

/// Every execution kept every invariant: proven, unless an invariant never saw anything.
fn settle<S>(scenario: &Scenario<S>, executions: usize, observed: &[usize]) -> Verdict {
    let invariants: Vec<InvariantCoverage> = scenario
        .invariants
        .iter()
        .zip(observed)
        .map(|(inv, &events)| InvariantCoverage {
            invariant: inv.name().to_owned(),
            events,
        })
        .collect();
    if let Some((inv, _)) = scenario
        .invariants
        .iter()
        .zip(observed)
        .find(|(_, n)| **n == 0)
    {
        return Verdict::Inconclusive {
            cause: Inconclusive::Vacuous {
                invariant: inv.name().to_owned(),
            },
            hint: format!("record what it checks: {}", inv.needs()),
            iterations: executions,
        };
    }
    if scenario.invariants.is_empty() {
        return Verdict::Inconclusive {
            cause: Inconclusive::Vacuous {
                invariant: "(none)".to_owned(),
            },
            hint: "state an invariant with `.invariant(..)`".to_owned(),
            iterations: executions,
        };
    }
    Verdict::Proven {
        iterations: executions,
        bound: scenario.preemption_bound,
        coverage: Coverage {
            executions,
            invariants,
        },
    }
}

/// Who is blocked on which lock, held by whom, in the actors' names.
fn deadlock_lines(recorder: &Recorder, message: &str) -> Vec<(String, String)> {
    let threads = raceproof_core::sync::model::threads();
    let name = |id| recorder.label_of(id).unwrap_or_else(|| format!("{id:?}"));
    let mut lines = Vec::new();
    for (id, locks) in &threads {
        let Some(lock) = &locks.waiting_for else {
            continue;
        };
        let holders: Vec<String> = threads
            .iter()
            .filter(|(other, l)| other != id && l.holding.contains(lock))
            .map(|(other, _)| name(*other))
            .collect();
        let held = if holders.is_empty() {
            String::new()
        } else {
            format!(", held by {}", holders.join(", "))
        };
        lines.push((name(*id), format!("blocked: waits for {lock}{held}")));
    }
    if lines.is_empty() {
        lines.push((
            "end".to_owned(),
            format!(
                "deadlock: no thread can run (loom: {})",
                first_line(message)
            ),
        ));
    } else {
        lines.push((
            "end".to_owned(),
            "deadlock: every actor that has not finished is blocked".to_owned(),
        ));
    }
    lines
}
