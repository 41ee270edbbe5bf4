//! Running scenarios: exhaustively under loom (`Model::check`, `--cfg loom` builds), or
//! many times on real threads (`Model::stress`, normal builds), the test a user would
//! otherwise write by hand. `Model::run` picks the one the build supports, so a user's test
//! or `main` needs no `cfg` branch.

#[cfg(loom)]
use crate::invariant::Breach;
use crate::recorder::{History, Recorder};
use crate::scenario::{Actor, Expected, Scenario};
use crate::verdict::{Inconclusive, Trace, Verdict};
use crate::ghost;
use raceproof_core::sync::{Arc, thread};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Real-thread runs [`Model::run`] makes in a normal build.
pub const STRESS_RUNS: usize = 1_000;

/// How long one real-thread run may take, by default, before it is reported as a deadlock.
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A scenario with its state type erased, so catalogues can hold many flows.
pub trait Model: Send + Sync {
    fn flow(&self) -> &str;
    fn variant(&self) -> &str;
    fn expected(&self) -> &Expected;
    fn preemption_bound(&self) -> Option<usize>;
    /// The production function the model checks, if it names one.
    fn covers(&self) -> Option<&str>;
    /// `T1 admin promotes alice; T2 root demotes admin`.
    fn describe(&self) -> String;

    /// Explores every interleaving (within the preemption bound) under loom.
    #[cfg(loom)]
    fn check(&self) -> Verdict;

    /// Explores like [`Model::check`], saving each execution's schedule to `checkpoint`
    /// (loom's checkpoint file); when the file already holds a schedule, that schedule runs
    /// first. So a first call finds a violation and leaves its schedule in the file, and a
    /// second call re-runs exactly that schedule, with loom's own log when `log` is set.
    #[cfg(loom)]
    fn replay(&self, checkpoint: &std::path::Path, log: bool) -> Verdict;

    /// Runs the scenario `runs` times on real threads released together by a barrier;
    /// stops at the first run that hangs.
    #[cfg(not(loom))]
    fn stress(&self, runs: usize) -> StressOutcome;

    /// The verdict this build can give: model-checked under loom; in a normal build,
    /// [`STRESS_RUNS`] real-thread runs, which can show a violation but never prove.
    fn run(&self) -> Verdict {
        #[cfg(loom)]
        {
            self.check()
        }
        #[cfg(not(loom))]
        {
            self.stress(STRESS_RUNS).verdict()
        }
    }
}

/// How often a scenario broke an invariant on real threads.
#[derive(Debug, Clone, PartialEq)]
pub struct StressOutcome {
    pub runs: usize,
    pub violations: usize,
    /// 1-based run at which the first violation showed, if any did.
    pub first_violation: Option<usize>,
    /// The first violation: the invariant (or `no_deadlock`, `no_panic`) and its trace.
    pub first: Option<(String, Trace)>,
    /// Whether a run hung (and stress stopped there, leaving its threads blocked).
    pub hung: bool,
    pub seconds: f64,
}

impl StressOutcome {
    /// Violated with the first failing run's trace, or inconclusive: real threads cannot
    /// prove anything.
    pub fn verdict(&self) -> Verdict {
        match &self.first {
            Some((invariant, trace)) => Verdict::Violated {
                invariant: invariant.clone(),
                trace: trace.clone(),
                iterations_until_found: self.first_violation.unwrap_or(self.runs),
            },
            None => Verdict::Inconclusive {
                cause: Inconclusive::NotModelChecked { runs: self.runs },
                hint: "build with RUSTFLAGS=\"--cfg loom\" to explore every interleaving"
                    .to_owned(),
                iterations: self.runs,
            },
        }
    }
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

    fn covers(&self) -> Option<&str> {
        self.covers.as_deref()
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
        loom_check::check(self, None)
    }

    #[cfg(loom)]
    fn replay(&self, checkpoint: &std::path::Path, log: bool) -> Verdict {
        loom_check::check(self, Some((checkpoint, log)))
    }

    #[cfg(not(loom))]
    fn stress(&self, runs: usize) -> StressOutcome {
        let start = std::time::Instant::now();
        let mut outcome = StressOutcome {
            runs: 0,
            violations: 0,
            first_violation: None,
            first: None,
            hung: false,
            seconds: 0.0,
        };
        for run in 1..=runs {
            outcome.runs = run;
            let result = self.run_on_threads(self.run_timeout);
            if let Some((invariant, trace, hung)) = result {
                outcome.violations += 1;
                if outcome.first.is_none() {
                    outcome.first_violation = Some(run);
                    outcome.first = Some((invariant, trace));
                }
                if hung {
                    outcome.hung = true;
                    break;
                }
            }
        }
        outcome.seconds = start.elapsed().as_secs_f64();
        outcome
    }
}

/// What a panicking actor left behind: the panic hook's message and location.
#[derive(Debug, Clone)]
pub(crate) struct Panicked {
    pub label: String,
    pub message: String,
    pub location: String,
}

thread_local! {
    /// The last panic's message and location, as the panic hook saw it (this OS thread).
    static LAST_PANIC: std::cell::RefCell<Option<(String, String)>> =
        const { std::cell::RefCell::new(None) };
    /// Keeps the default hook quiet while this OS thread runs a model: violations are
    /// verdicts, and loom's own failures are reported as verdicts too.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marker payloads: a model stops exploring by panicking with one of these.
pub(crate) struct ViolationFound;
pub(crate) struct BudgetExhausted;

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// Records every panic's message and location for this OS thread, and silences the
/// default hook while a model runs.
fn install_panic_hook() {
    static HOOK: ghost::Once = ghost::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let marker = payload.is::<ViolationFound>() || payload.is::<BudgetExhausted>();
            if !marker {
                let location = info
                    .location()
                    .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
                let message = panic_message(payload);
                // try_with: a panic while the thread-local is torn down is not ours to record.
                let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some((message, location)));
            }
            let quiet = QUIET.try_with(std::cell::Cell::get).unwrap_or(false) || marker;
            if !quiet {
                default(info);
            }
        }));
    });
}

/// loom's own reasons to stop an execution (as opposed to a panic in the code under test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoomStop {
    Deadlock,
    BranchLimit,
    ThreadLimit,
    Leak,
}

pub(crate) fn loom_stop(message: &str) -> Option<LoomStop> {
    if message.starts_with("deadlock; threads") {
        Some(LoomStop::Deadlock)
    } else if message.contains("maximum number of branches") {
        Some(LoomStop::BranchLimit)
    } else if message.contains("threads.len() < self.max") {
        Some(LoomStop::ThreadLimit)
    } else if message.contains("leaked") {
        Some(LoomStop::Leak)
    } else {
        None
    }
}

impl<S: Send + Sync + 'static> Scenario<S> {
    /// Runs one actor's body on the calling thread; a panic of the code under test is
    /// recorded (actor, message, location) in `panicked` before it unwinds on.
    fn run_actor(
        actor: &Actor<S>,
        state: &S,
        recorder: &Recorder,
        panicked: &ghost::Mutex<Option<Panicked>>,
    ) {
        recorder.enter(&actor.label);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (actor.body)(state))) {
            let message = panic_message(payload.as_ref());
            if loom_stop(&message).is_none() {
                let location = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .map_or_else(String::new, |(_, location)| location);
                let mut slot = ghost::lock(panicked);
                slot.get_or_insert(Panicked {
                    label: actor.label.clone(),
                    message,
                    location,
                });
            }
            resume_unwind(payload);
        }
    }

    /// One execution on real OS threads, released together; `Some((invariant, trace,
    /// hung))` when an invariant broke, an actor panicked, or the run did not finish within
    /// `timeout` (then its threads are left blocked: a watchdog cannot free them).
    #[cfg(not(loom))]
    fn run_on_threads(&self, timeout: std::time::Duration) -> Option<(String, Trace, bool)> {
        use std::sync::mpsc;
        install_panic_hook();
        let recorder = Recorder::new();
        let state = Arc::new((self.setup)(&recorder));
        let start = Arc::new(ghost::Barrier::new(self.actors.len()));
        let panicked = ghost::Arc::new(ghost::Mutex::new(None));
        let (done, finished) = mpsc::channel();
        for (i, actor) in self.actors.iter().enumerate() {
            let (state, recorder, start, actor, panicked, done) = (
                state.clone(),
                recorder.clone(),
                start.clone(),
                actor.clone(),
                panicked.clone(),
                done.clone(),
            );
            thread::spawn(move || {
                start.wait();
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    Self::run_actor(&actor, &state, &recorder, &panicked);
                }));
                let _ = done.send(i);
            });
        }
        drop(done);
        let deadline = std::time::Instant::now() + timeout;
        let mut running: Vec<bool> = vec![true; self.actors.len()];
        while running.iter().any(|r| *r) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match finished.recv_timeout(left) {
                Ok(i) => running[i] = false,
                Err(_) => {
                    let history = self.history(&recorder);
                    let ending = self
                        .actors
                        .iter()
                        .zip(&running)
                        .filter(|(_, r)| **r)
                        .map(|(a, _)| {
                            let last = history
                                .steps
                                .iter()
                                .rev()
                                .find(|s| s.thread == a.label)
                                .map_or("none".to_owned(), |s| s.text().to_owned());
                            (
                                a.label.clone(),
                                format!(
                                    "still running after {} s (blocked?); its last step: {last}",
                                    timeout.as_secs()
                                ),
                            )
                        })
                        .collect();
                    return Some((
                        "no_deadlock".to_owned(),
                        Trace::ending(&history, ending),
                        true,
                    ));
                }
            }
        }
        let history = self.history(&recorder);
        if let Some(p) = ghost::lock(&panicked).take() {
            let ending = vec![(
                p.label,
                format!("panicked at {}: {}", p.location, p.message),
            )];
            return Some((
                "no_panic".to_owned(),
                Trace::ending(&history, ending),
                false,
            ));
        }
        self.judge(&state, &history)
            .map(|(invariant, breach)| (invariant, Trace::new(&history, &breach), false))
    }

    /// One execution in the current thread of a loom model: the first actor runs on the
    /// model's main thread (one thread fewer to interleave), the others are spawned.
    /// Returns the history, what each invariant observed, and the first broken invariant.
    #[cfg(loom)]
    fn run_in_model(
        &self,
        recorder: &Recorder,
        panicked: &ghost::Arc<ghost::Mutex<Option<Panicked>>>,
    ) -> (History, Vec<usize>, Option<(String, Breach)>) {
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
                let (recorder, actor, panicked) =
                    (recorder.clone(), actor.clone(), panicked.clone());
                thread::spawn(move || {
                    Self::run_actor(&actor, &state, &recorder, &panicked);
                    drop(ManuallyDrop::into_inner(state));
                })
            })
            .collect();
        if let Some(first) = self.actors.first() {
            Self::run_actor(first, &state, recorder, panicked);
        }
        for handle in handles {
            if let Err(panic) = handle.join() {
                resume_unwind(panic);
            }
        }
        let history = self.history(recorder);
        let observed = self.observe(&state, &history);
        let breach = self.judge(&state, &history);
        drop(ManuallyDrop::into_inner(state));
        (history, observed, breach)
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
    use crate::verdict::{Coverage, InvariantCoverage};
    use std::path::Path;

    /// loom's thread limit (`loom::MAX_THREADS`), the model's main thread included.
    const LOOM_MAX_THREADS: usize = 5;

    type Found = Option<(String, Breach, History)>;

    pub(super) fn check<S: Send + Sync + 'static>(
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
            let (scenario, iterations, current, found, panicked, observed) = (
                scenario.clone(),
                iterations.clone(),
                current.clone(),
                found.clone(),
                panicked.clone(),
                observed.clone(),
            );
            move || {
                let n = iterations.fetch_add(1, ghost::Ordering::Relaxed) + 1;
                if n > budget.executions || started.elapsed().as_secs_f64() > budget.seconds {
                    std::panic::panic_any(BudgetExhausted);
                }
                raceproof_core::sync::model::reset();
                let recorder = Recorder::new();
                *ghost::lock(&current) = recorder.clone();
                let (history, seen, breach) = scenario.run_in_model(&recorder, &panicked);
                for (total, n) in ghost::lock(&observed).iter_mut().zip(seen) {
                    *total += n;
                }
                if let Some((invariant, breach)) = breach {
                    *ghost::lock(&found) = Some((invariant, breach, history));
                    std::panic::panic_any(ViolationFound);
                }
            }
        };

        let log = replay.is_some_and(|(_, log)| log);
        QUIET.with(|q| q.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
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
        }));
        QUIET.with(|q| q.set(false));
        let executions = iterations.load(ghost::Ordering::Relaxed);

        let payload = match outcome {
            Ok(()) => return settle(scenario, executions, &ghost::lock(&observed)),
            Err(payload) => payload,
        };
        if let Some((invariant, breach, history)) = ghost::lock(&found).take() {
            return Verdict::Violated {
                trace: Trace::new(&history, &breach),
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
        let history = scenario.history(&recorder);
        let message = panic_message(payload.as_ref());
        match loom_stop(&message) {
            Some(LoomStop::Deadlock) => Verdict::Violated {
                trace: Trace::ending(&history, deadlock_lines(&recorder, &message)),
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
                hint:
                    "the flow spawns threads of its own: fewer actors, or fewer threads per actor"
                        .to_owned(),
                iterations: executions,
            },
            Some(LoomStop::Leak) => Verdict::Violated {
                trace: Trace::ending(
                    &history,
                    vec![("end".to_owned(), format!("loom: {}", first_line(&message)))],
                ),
                invariant: "no_leak".to_owned(),
                iterations_until_found: executions,
            },
            None => {
                let ending = match ghost::lock(&panicked).take() {
                    Some(p) => (
                        p.label,
                        format!("panicked at {}: {}", p.location, p.message),
                    ),
                    None => (
                        "end".to_owned(),
                        format!(
                            "panicked outside any actor (setup or an invariant): {}",
                            first_line(&message)
                        ),
                    ),
                };
                Verdict::Violated {
                    trace: Trace::ending(&history, vec![ending]),
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
}
