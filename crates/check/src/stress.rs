//! The real-thread runner (normal builds): the stress test a user would otherwise write by
//! hand. Each run releases the actors together through a barrier on real OS threads; it can
//! show a violation, but it never proves anything.

use crate::verdict::{Inconclusive, Trace, Verdict};

/// Real-thread runs [`crate::Scenario::run`] makes in a normal build.
pub const STRESS_RUNS: usize = 1_000;

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

#[cfg(not(any(loom, shuttle)))]
mod threads {
    use super::StressOutcome;
    use crate::ghost;
    use crate::panics::{Panicked, install_panic_hook, record_panic, run_actor};
    use crate::recorder::{Recorder, labelled};
    use crate::scenario::{Body, Scenario};
    use crate::verdict::Trace;
    use crate::worker::Shared;
    use raceproof_core::sync::{Arc, thread};
    use raceproof_report::deployment::Runtime;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{Duration, Instant};

    type Slot = ghost::Arc<ghost::Mutex<Option<Panicked>>>;

    impl<S: Send + Sync + 'static> Scenario<S> {
        /// Runs the scenario `runs` times on real threads released together by a barrier
        /// (async tasks on real tokio runtimes: one per event loop, one per task on a thread
        /// pool), cycling through the deployment's assignments; stops at the first run that
        /// hangs.
        pub fn stress(&self, runs: usize) -> StressOutcome {
            let start = Instant::now();
            let mut outcome = StressOutcome {
                runs: 0,
                violations: 0,
                first_violation: None,
                first: None,
                hung: false,
                seconds: 0.0,
            };
            let assignments = self.deployment.assignments(self.actors.len());
            for run in 1..=runs {
                outcome.runs = run;
                let one = self.assigned(assignments[(run - 1) % assignments.len()].clone());
                if let Some((invariant, trace, hung)) = one.run_on_threads(self.run_timeout) {
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

        /// The actors each OS thread runs: a blocking actor alone, a task alone on a thread
        /// pool, every task of an event-loop worker together on that worker's loop.
        fn thread_groups(&self) -> Vec<Vec<usize>> {
            let on_loop = self.deployment.runtime() == Runtime::EventLoop;
            let mut groups: Vec<Vec<usize>> = Vec::new();
            let mut loop_of_worker: Vec<(usize, usize)> = Vec::new();
            for (i, actor) in self.actors.iter().enumerate() {
                if !(on_loop && actor.is_task()) {
                    groups.push(vec![i]);
                    continue;
                }
                let worker = self.worker_of(i);
                match loop_of_worker.iter().find(|(w, _)| *w == worker) {
                    Some((_, g)) => groups[*g].push(i),
                    None => {
                        loop_of_worker.push((worker, groups.len()));
                        groups.push(vec![i]);
                    }
                }
            }
            groups
        }

        /// One execution on real OS threads, released together; `Some((invariant, trace,
        /// hung))` when an invariant broke, an actor panicked, or the run did not finish
        /// within `timeout` (then its threads are left blocked: a watchdog cannot free them).
        fn run_on_threads(&self, timeout: Duration) -> Option<(String, Trace, bool)> {
            use std::sync::mpsc;
            install_panic_hook();
            let recorder = Recorder::new();
            let states = Arc::new(self.worker_states(&recorder, &Shared::default()));
            let groups = self.thread_groups();
            let start = Arc::new(ghost::Barrier::new(groups.len()));
            let panicked: Slot = ghost::Arc::new(ghost::Mutex::new(None));
            let (done, finished) = mpsc::channel();
            for group in groups {
                let actors: Vec<(usize, String, usize, Body<S>)> = group
                    .iter()
                    .map(|&i| {
                        (
                            i,
                            self.label(i),
                            self.worker_of(i),
                            self.actors[i].body.clone(),
                        )
                    })
                    .collect();
                let (states, recorder, start, panicked, done) = (
                    states.clone(),
                    recorder.clone(),
                    start.clone(),
                    panicked.clone(),
                    done.clone(),
                );
                thread::spawn(move || {
                    start.wait();
                    match actors.as_slice() {
                        [(i, label, worker, body)] => {
                            let _ = catch_unwind(AssertUnwindSafe(|| {
                                run_actor(label, &recorder, &panicked, || {
                                    run_alone(body, &states[*worker]);
                                });
                            }));
                            let _ = done.send(*i);
                        }
                        tasks => run_event_loop(tasks, &states, &panicked, &done),
                    }
                });
            }
            drop(done);
            let deadline = Instant::now() + timeout;
            let mut running: Vec<bool> = vec![true; self.actors.len()];
            while running.iter().any(|r| *r) {
                let left = deadline.saturating_duration_since(Instant::now());
                match finished.recv_timeout(left) {
                    Ok(i) => running[i] = false,
                    Err(_) => return Some(self.hung(&recorder, &running, timeout)),
                }
            }
            let recording = self.recording(&recorder);
            if let Some(p) = ghost::lock(&panicked).take() {
                let trace = Trace::ending(&recording, vec![p.ending()]);
                return Some(("no_panic".to_owned(), trace, false));
            }
            // An undecided invariant is no violation; real threads prove nothing anyway.
            self.judge(&states, &recording)
                .filter(|(_, breach)| !breach.undecided)
                .map(|(invariant, breach)| (invariant, Trace::new(&recording, &breach), false))
        }

        /// A run whose `running` actors did not finish in time: each one's last step.
        fn hung(
            &self,
            recorder: &Recorder,
            running: &[bool],
            timeout: Duration,
        ) -> (String, Trace, bool) {
            let recording = self.recording(recorder);
            let ending = self
                .actors
                .iter()
                .zip(running)
                .filter(|(_, r)| **r)
                .map(|(a, _)| {
                    let last = recording
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
            (
                "no_deadlock".to_owned(),
                Trace::ending(&recording, ending),
                true,
            )
        }
    }

    /// A blocking actor, or a task alone on a thread pool thread (its own runtime).
    fn run_alone<S>(body: &Body<S>, state: &S) {
        match body {
            Body::Blocking(f) => f(state),
            Body::Task(f) => runtime().block_on(f(state)),
        }
    }

    /// Every task of one event-loop worker, concurrently on this thread's one runtime; each
    /// task's steps carry its label, and a panic is recorded as the task's.
    fn run_event_loop<S: Send + Sync + 'static>(
        tasks: &[(usize, String, usize, Body<S>)],
        states: &Arc<Vec<S>>,
        panicked: &Slot,
        done: &std::sync::mpsc::Sender<usize>,
    ) {
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime(), async {
            let handles: Vec<_> = tasks
                .iter()
                .map(|(i, label, worker, body)| {
                    let (states, body, worker) = (states.clone(), body.clone(), *worker);
                    let task = labelled(label.clone(), async move {
                        if let Body::Task(f) = &body {
                            f(&states[worker]).await;
                        }
                    });
                    (*i, label, tokio::task::spawn_local(task))
                })
                .collect();
            for (i, label, handle) in handles {
                if let Err(error) = handle.await
                    && error.is_panic()
                {
                    record_panic(label, panicked, error.into_panic().as_ref());
                }
                let _ = done.send(i);
            }
        });
    }

    /// A single-threaded tokio runtime, timers on (a flow may sleep).
    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => panic!("cannot start a tokio runtime for the stress runner: {e}"),
        }
    }
}
