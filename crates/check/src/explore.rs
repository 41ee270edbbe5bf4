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
use crate::scenario::{Body, Scenario};
use crate::verdict::{Coverage, Inconclusive, InvariantCoverage, Trace, Verdict};
use crate::worker::Shared;
use raceproof_core::sync::{Arc, thread};
use raceproof_report::deployment::Runtime;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;

/// loom's thread limit (`loom::MAX_THREADS`), the model's main thread included.
const LOOM_MAX_THREADS: usize = 5;

/// The first broken invariant, how, and the execution that broke it.
type Found = Option<(String, Breach, Recording)>;

impl<S: Send + Sync + 'static> Scenario<S> {
    /// Explores every interleaving (within the preemption bound) under loom, on each
    /// assignment of actors to workers that the deployment routes by.
    pub fn check(&self) -> Verdict {
        self.each_assignment(|one| explore(one, None))
    }

    /// Explores like [`Scenario::check`], saving each execution's schedule to `checkpoint`
    /// (loom's checkpoint file); when the file already holds a schedule, that schedule runs
    /// first. So a first call finds a violation and leaves its schedule in the file, and a
    /// second call re-runs exactly that schedule, with loom's own log when `log` is set.
    /// With several assignments, the first one that violates is the one replayed.
    pub fn replay(&self, checkpoint: &Path, log: bool) -> Verdict {
        let violating = match &self.assignment {
            Some(_) => None,
            None => self
                .deployment
                .assignments(self.actors.len())
                .into_iter()
                .find(|a| self.assigned(a.clone()).check().invariant().is_some()),
        };
        match violating {
            Some(assignment) => explore(&self.assigned(assignment), Some((checkpoint, log))),
            None => explore(self, Some((checkpoint, log))),
        }
    }

    /// One execution in the current thread of a loom model: each worker's state is built,
    /// and each actor runs on a thread of its own (the first on the model's main thread, one
    /// thread fewer to interleave), a task on its worker's event loop when it has one.
    /// Returns the recording, what each invariant observed, and the first broken invariant.
    fn run_in_model(
        &self,
        recorder: &Recorder,
        panicked: &ghost::Arc<ghost::Mutex<Option<Panicked>>>,
    ) -> (Recording, Vec<usize>, Option<(String, Breach)>) {
        use raceproof_core::sync::tokio::model as event_loop;
        use std::mem::ManuallyDrop;
        event_loop::reset();
        let narration = recorder.clone();
        event_loop::narrate_with(move |text| narration.note(text));
        // The state's references are dropped only when their thread completes. Dropping a
        // loom `Arc` while a panic unwinds (an actor's, or loom's deadlock report) re-enters
        // loom's scheduler, or runs outside it, and that second panic aborts the process:
        // on those paths the state is leaked instead, so the panic reaches `explore`.
        let shared = ManuallyDrop::new(Shared::default());
        let states = ManuallyDrop::new(Arc::new(self.worker_states(recorder, &shared)));
        if states.len() > 1 {
            recorder.order_facts();
        }
        let loops: Vec<Option<ghost::Arc<event_loop::EventLoop>>> = (0..states.len())
            .map(|w| {
                let worker = (states.len() > 1).then_some(w);
                (self.deployment.runtime() == Runtime::EventLoop)
                    .then(|| ghost::Arc::new(event_loop::EventLoop::new(worker)))
            })
            .collect();
        let handles: Vec<_> = (1..self.actors.len())
            .map(|i| {
                let states = ManuallyDrop::new(Arc::clone(&states));
                let worker = self.worker_of(i);
                let (recorder, body, panicked, label, event_loop) = (
                    recorder.clone(),
                    self.actors[i].body.clone(),
                    panicked.clone(),
                    self.label(i),
                    loops[worker].clone(),
                );
                thread::spawn(move || {
                    run_actor(&label, &recorder, &panicked, || {
                        run_body(&body, &states[worker], event_loop);
                    });
                    drop(ManuallyDrop::into_inner(states));
                })
            })
            .collect();
        if let Some(first) = self.actors.first() {
            let worker = self.worker_of(0);
            run_actor(&self.label(0), recorder, panicked, || {
                run_body(&first.body, &states[worker], loops[worker].clone());
            });
        }
        for handle in handles {
            if let Err(panic) = handle.join() {
                resume_unwind(panic);
            }
        }
        let recording = self.recording(recorder);
        let observed = self.observe(&states, &recording);
        let breach = self.judge(&states, &recording);
        drop(ManuallyDrop::into_inner(states));
        drop(ManuallyDrop::into_inner(shared));
        (recording, observed, breach)
    }
}

/// Runs an actor's body on the calling model thread: a blocking one as it is (no event loop
/// holds it back), a task to completion on its worker's event loop (or a thread pool,
/// `None`).
fn run_body<S>(
    body: &Body<S>,
    state: &S,
    event_loop: Option<ghost::Arc<raceproof_core::sync::tokio::model::EventLoop>>,
) {
    use raceproof_core::sync::tokio::model as event_loop_model;
    match body {
        Body::Blocking(f) => f(state),
        Body::Task(f) => event_loop_model::run_task(event_loop, f(state)),
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
    if payload.is::<raceproof_core::sync::tokio::model::InvisibleAwait>() {
        let actor = ghost::lock(&panicked)
            .take()
            .map_or_else(|| "a task".to_owned(), |p| p.label);
        return Verdict::Inconclusive {
            cause: Inconclusive::InvisibleAwait { actor },
            hint: "await only `raceproof_core::sync::tokio`'s primitives, and wrap each I/O \
                   call in `sync::tokio::io(\"what\", call)`: the model must see what a task \
                   waits for"
                .to_owned(),
            iterations: executions,
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
