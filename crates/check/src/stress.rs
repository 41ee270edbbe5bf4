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
    use crate::panics::{install_panic_hook, run_actor};
    use crate::recorder::Recorder;
    use crate::scenario::Scenario;
    use crate::verdict::Trace;
    use raceproof_core::sync::{Arc, thread};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{Duration, Instant};

    impl<S: Send + Sync + 'static> Scenario<S> {
        /// Runs the scenario `runs` times on real threads released together by a barrier;
        /// stops at the first run that hangs.
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
            for run in 1..=runs {
                outcome.runs = run;
                if let Some((invariant, trace, hung)) = self.run_on_threads(self.run_timeout) {
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

        /// One execution on real OS threads, released together; `Some((invariant, trace,
        /// hung))` when an invariant broke, an actor panicked, or the run did not finish
        /// within `timeout` (then its threads are left blocked: a watchdog cannot free them).
        fn run_on_threads(&self, timeout: Duration) -> Option<(String, Trace, bool)> {
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
                        run_actor(&actor, &state, &recorder, &panicked);
                    }));
                    let _ = done.send(i);
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
            self.judge(&state, &recording)
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
}
