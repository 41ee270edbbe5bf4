//! The loom exploration (`--cfg loom` builds): every interleaving of a scenario's actors,
//! within its preemption bound and budget, judged after each execution; a verdict of
//! proven, violated (with the failing interleaving) or inconclusive (with what to change).
//!
//! A violation is reported only if loom's model of the execution is one the memory model
//! allows: loom treats `SeqCst` accesses as `AcqRel`, so an execution whose stale load
//! `SeqCst` forbids is set aside and the search goes on ([`Findings::seqcst`]). And a
//! model is proven only if loom could see it: its actors touched facade primitives, and
//! shared at least one ([`Reach`]).

use crate::deadlock::deadlock_lines;
use crate::ghost;
use crate::invariant::Breach;
use crate::panics::{
    BudgetExhausted, LoomStop, ViolationFound, install_panic_hook, loom_stop, panic_message,
    quietly,
};
use crate::recorder::{Recorder, Recording};
use crate::scenario::Scenario;
use crate::verdict::{Coverage, Inconclusive, InvariantCoverage, Trace, Verdict};
use crate::watch::{Progress, watched};
use raceproof_core::sync::model;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// loom's thread limit (`loom::MAX_THREADS`), the model's main thread included.
const LOOM_MAX_THREADS: usize = 5;

/// A broken invariant, how, and the execution that broke it.
type Found = (String, Breach, Recording);

impl<S: Send + Sync + 'static> Scenario<S> {
    /// Explores every interleaving (within the preemption bound) under loom, on a watched
    /// worker thread (an execution that blocks outside loom's sight comes back
    /// inconclusive, see `watch`).
    pub fn check(&self) -> Verdict {
        watched(self, |scenario, progress| {
            explore(&scenario, None, &progress)
        })
    }

    /// Explores like [`Scenario::check`], saving each execution's schedule to `checkpoint`
    /// (loom's checkpoint file); when the file already holds a schedule, that schedule runs
    /// first. So a first call finds a violation and leaves its schedule in the file, and a
    /// second call re-runs exactly that schedule, with loom's own log when `log` is set.
    pub fn replay(&self, checkpoint: &Path, log: bool) -> Verdict {
        let checkpoint = checkpoint.to_path_buf();
        watched(self, move |scenario, progress| {
            explore(&scenario, Some((&checkpoint, log)), &progress)
        })
    }
}

/// What loom could see of the actors, over every execution.
#[derive(Debug, Clone)]
struct Reach {
    /// Per actor: whether it touched a facade primitive in some execution.
    touched: Vec<bool>,
    /// Whether, in some execution, two actors touched the same facade object.
    shared: bool,
    /// What the model read that loom does not model.
    unmodelled: Vec<&'static str>,
}

impl Reach {
    fn new(actors: usize) -> Self {
        Self {
            touched: vec![false; actors],
            shared: false,
            unmodelled: Vec::new(),
        }
    }

    /// Adds what the facade recorded of the execution that just ran.
    fn add_execution<S>(&mut self, scenario: &Scenario<S>, recorder: &Recorder) {
        let threads = model::threads();
        let mut objects: Vec<(usize, &std::collections::HashSet<usize>)> = Vec::new();
        for (id, locks) in &threads {
            let Some(label) = recorder.label_of(*id) else {
                continue;
            };
            let Some(actor) = scenario.actors.iter().position(|a| a.label == label) else {
                continue;
            };
            if locks.ops > 0 {
                self.touched[actor] = true;
            }
            objects.push((actor, &locks.touched));
        }
        self.shared = self.shared
            || objects.iter().enumerate().any(|(i, (a, mine))| {
                objects[i + 1..]
                    .iter()
                    .any(|(b, theirs)| a != b && !mine.is_disjoint(theirs))
            });
        for what in model::unmodelled_reads() {
            if !self.unmodelled.contains(&what) {
                self.unmodelled.push(what);
            }
        }
    }
}

/// What the exploration learnt, across executions.
struct Findings {
    /// A violation of the code under test.
    found: Option<Found>,
    /// The first violation that rests on a stale load `SeqCst` forbids, and that load.
    seqcst: Option<(Found, String)>,
    /// An invariant that could not decide an execution, and why.
    undecided: Option<(String, String)>,
    /// Per invariant, the relevant events it saw.
    observed: Vec<usize>,
    reach: Reach,
}

/// The first stale load of the current execution that `SeqCst` forbids, described.
fn seqcst_forbidden_load(recorder: &Recorder) -> Option<String> {
    model::stale_reads().into_iter().find_map(|read| {
        let why = read.forbidden_by_seqcst?;
        let reader = recorder
            .label_of(read.reader)
            .unwrap_or_else(|| format!("{:?}", read.reader));
        Some(format!(
            "{reader} loads {} = {} while {} was stored: {why}",
            read.atomic, read.read, read.latest
        ))
    })
}

fn explore<S: Send + Sync + 'static>(
    scenario: &Scenario<S>,
    replay: Option<(&Path, bool)>,
    progress: &ghost::Arc<Progress>,
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
    model::observe(Some(progress.active.clone()));
    let findings = ghost::Arc::new(ghost::Mutex::new(Findings {
        found: None,
        seqcst: None,
        undecided: None,
        observed: vec![0; scenario.invariants.len()],
        reach: Reach::new(scenario.actors.len()),
    }));
    let panicked = ghost::Arc::new(ghost::Mutex::new(None));
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
        let (scenario, progress, findings, panicked) = (
            scenario.clone(),
            progress.clone(),
            findings.clone(),
            panicked.clone(),
        );
        move || {
            let n = progress.executions.fetch_add(1, ghost::Ordering::Relaxed) + 1;
            if n > budget.executions || started.elapsed().as_secs_f64() > budget.seconds {
                std::panic::panic_any(BudgetExhausted);
            }
            model::reset();
            let recorder = Recorder::new();
            *ghost::lock(&progress.recorder) = recorder.clone();
            let (recording, seen, breach) = scenario.run_in_model(&recorder, &panicked);
            let mut findings = ghost::lock(&findings);
            for (total, n) in findings.observed.iter_mut().zip(seen) {
                *total += n;
            }
            findings.reach.add_execution(&scenario, &recorder);
            let Some((invariant, breach)) = breach else {
                return;
            };
            if breach.undecided {
                findings.undecided.get_or_insert((invariant, breach.why));
            } else if let Some(load) = seqcst_forbidden_load(&recorder) {
                // Not an execution of the code: look on for one that is.
                findings
                    .seqcst
                    .get_or_insert(((invariant, breach, recording), load));
            } else {
                findings.found = Some((invariant, breach, recording));
                drop(findings);
                std::panic::panic_any(ViolationFound);
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
    model::observe(None);
    let executions = progress.executions.load(ghost::Ordering::Relaxed);
    let mut findings = ghost::lock(&findings);

    let payload = match outcome {
        Ok(()) => return settle(scenario, executions, &mut findings),
        Err(payload) => payload,
    };
    if let Some((invariant, breach, recording)) = findings.found.take() {
        return Verdict::Violated {
            trace: Trace::new(&recording, &breach),
            invariant,
            iterations_until_found: executions,
        };
    }
    if payload.is::<BudgetExhausted>() {
        let mut hint = "bound the preemptions (`.preemption_bound(2)` covers most races), use \
                        fewer actors, or raise the budget (`.budget(..)`)"
            .to_owned();
        if let Some(((invariant, ..), load)) = &findings.seqcst {
            hint.push_str(&format!(
                "; the violations of `{invariant}` found so far rest on a load SeqCst forbids \
                 ({load})"
            ));
        }
        return Verdict::Inconclusive {
            cause: Inconclusive::Budget {
                executions: executions.saturating_sub(1),
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            hint,
            iterations: executions.saturating_sub(1),
        };
    }
    let recorder = ghost::lock(&progress.recorder).clone();
    let recording = scenario.recording(&recorder);
    let message = panic_message(payload.as_ref());
    let stop = loom_stop(&message);
    // A deadlock or a panic in an execution that SeqCst rules out says nothing about the
    // code, and loom cannot search on past it.
    if matches!(stop, None | Some(LoomStop::Deadlock))
        && let Some(load) = seqcst_forbidden_load(&recorder)
    {
        let invariant = if stop.is_some() {
            "no_deadlock"
        } else {
            "no_panic"
        };
        return seqcst_inconclusive(invariant, load, executions, false);
    }
    match stop {
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

fn seqcst_inconclusive(
    invariant: &str,
    load: String,
    executions: usize,
    searched: bool,
) -> Verdict {
    let hint = if searched {
        "every interleaving was searched for a violation that does not rest on such a load, \
         and none broke the invariant; to decide, make the orderings explicit (Acquire / \
         Release with fence(SeqCst), which loom models) or restructure around a lock"
    } else {
        "loom stops at this outcome and cannot search past it; to decide, make the orderings \
         explicit (Acquire / Release with fence(SeqCst), which loom models) or restructure \
         around a lock"
    };
    Verdict::Inconclusive {
        cause: Inconclusive::SeqCst {
            invariant: invariant.to_owned(),
            load,
        },
        hint: hint.to_owned(),
        iterations: executions,
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

/// Every execution ran to its end: proven, unless a violation rests only on `SeqCst`
/// loads, loom could not see the actors interleave, or an invariant saw nothing or could
/// not decide.
fn settle<S>(scenario: &Scenario<S>, executions: usize, findings: &mut Findings) -> Verdict {
    if let Some(((invariant, ..), load)) = findings.seqcst.take() {
        return seqcst_inconclusive(&invariant, load, executions, true);
    }
    let reach = &findings.reach;
    let declared = |label: &String| scenario.idle_allowed.contains(label);
    let acting = scenario
        .actors
        .iter()
        .filter(|a| !declared(&a.label))
        .count();
    if acting >= 2 {
        let idle: Vec<String> = scenario
            .actors
            .iter()
            .zip(&reach.touched)
            .filter(|(a, touched)| !**touched && !declared(&a.label))
            .map(|(a, _)| a.label.clone())
            .collect();
        // One execution with two acting actors: loom saw nothing of theirs that conflicts
        // (reads of shared state at most), so whatever they race on is outside its sight.
        if !idle.is_empty() || !reach.shared || executions == 1 {
            return Verdict::Inconclusive {
                cause: Inconclusive::Unseen { idle, executions },
                hint: "keep the state the actors share in `raceproof::core::sync` primitives \
                       (Mutex, RwLock, atomics, ManualClock): loom interleaves only those, and \
                       reads a `std` atomic, a static or a thread-local as if no other actor \
                       existed"
                    .to_owned(),
                iterations: executions,
            };
        }
    }
    if let Some(what) = reach.unmodelled.first() {
        return Verdict::Inconclusive {
            cause: Inconclusive::Unmodelled {
                what: (*what).to_owned(),
            },
            hint: "give the model a `raceproof::core::clock::ManualClock` and move it from an \
                   actor"
                .to_owned(),
            iterations: executions,
        };
    }
    if let Some((invariant, why)) = findings.undecided.take() {
        return Verdict::Inconclusive {
            cause: Inconclusive::Undecided { invariant, why },
            hint: "record fewer operations per execution (fewer actors or calls)".to_owned(),
            iterations: executions,
        };
    }
    let observed = &findings.observed;
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
            hint: "state an invariant with `.invariant(..)`; to ask only for deadlock \
                   freedom (and no panic), `.invariant(NoDeadlock)`"
                .to_owned(),
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
