//! A model explored on a worker thread, watched: an execution that stops making progress
//! (an actor blocked on a `std` lock, in a blocking call, or looping over state loom cannot
//! see) comes back *inconclusive*, naming the actor that was running and the last step,
//! instead of hanging the caller. loom checks its own limits only between executions, and
//! it runs every actor on one OS thread, so one blocked actor stops them all.
//!
//! In-process, the stalled worker cannot be stopped: it is left behind, blocked (or
//! spinning) until the process ends. `isolate` runs a model in a child process instead,
//! which the deadline ends for good.

use crate::ghost;
use crate::recorder::Recorder;
use crate::scenario::Scenario;
use crate::verdict::{Inconclusive, Verdict};
use ghost::{AtomicUsize, Ordering, mpsc};
#[cfg(loom)]
use raceproof_core::sync::model::Activity;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the watcher looks.
const POLL: Duration = Duration::from_millis(200);

/// What the exploring thread shows its watcher.
#[derive(Default)]
pub(crate) struct Progress {
    /// Executions started so far.
    pub executions: AtomicUsize,
    /// The current execution's recorder.
    pub recorder: ghost::Mutex<Recorder>,
    /// The model thread that last touched a facade primitive.
    #[cfg(loom)]
    pub active: Activity,
}

impl Progress {
    /// The actor that was running last and the last step recorded, as far as they can be
    /// read without waiting on the (possibly stuck) exploring thread.
    pub(crate) fn last_seen(&self) -> (Option<String>, Option<String>) {
        let Ok(recorder) = self.recorder.try_lock() else {
            return (None, None);
        };
        #[cfg(loom)]
        let actor = self
            .active
            .try_lock()
            .ok()
            .and_then(|a| *a)
            .and_then(|id| recorder.try_label_of(id));
        #[cfg(not(loom))]
        let actor = None;
        let step = recorder
            .try_last_step()
            .map(|(thread, text)| format!("{thread} {text}"));
        let actor = actor.or_else(|| {
            step.as_ref()
                .and_then(|s| s.split(' ').next().map(str::to_owned))
        });
        (actor, step)
    }
}

/// A line a watcher sends while it waits (a child process's heartbeat, see `isolate`).
pub(crate) type Heartbeat = Box<dyn Fn(&Progress) + Send + Sync>;

static HEARTBEAT: OnceLock<Heartbeat> = OnceLock::new();

/// Every watcher of this process calls `beat` about once a second (set once).
pub(crate) fn set_heartbeat(beat: Heartbeat) {
    let _ = HEARTBEAT.set(beat);
}

/// Runs `explore` on a worker thread and waits for its verdict; if no execution starts for
/// the scenario's `run_timeout`, answers *inconclusive* (stalled) and leaves the worker.
pub(crate) fn watched<S: Send + Sync + 'static>(
    scenario: &Scenario<S>,
    explore: impl FnOnce(Scenario<S>, ghost::Arc<Progress>) -> Verdict + Send + 'static,
) -> Verdict {
    let progress = ghost::Arc::new(Progress::default());
    let (done, verdict) = mpsc::channel();
    let worker = {
        let (scenario, progress) = (scenario.clone(), progress.clone());
        std::thread::Builder::new()
            .name(format!("explore {}/{}", scenario.flow, scenario.variant))
            .stack_size(8 << 20)
            .spawn(move || {
                let _ = done.send(explore(scenario, progress));
            })
    };
    if let Err(e) = worker {
        return checker_failed(format!("cannot start the exploring thread: {e}"));
    }
    let stall = scenario.run_timeout;
    let (mut seen, mut since, mut beat) = (0, Instant::now(), Instant::now());
    loop {
        match verdict.recv_timeout(POLL) {
            Ok(verdict) => return verdict,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return checker_failed("the exploring thread panicked".to_owned());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = progress.executions.load(Ordering::Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= stall {
            let (actor, last_step) = progress.last_seen();
            return Verdict::Inconclusive {
                cause: Inconclusive::Stalled {
                    actor,
                    last_step,
                    execution: now.max(1),
                    seconds: stall.as_secs().max(1),
                },
                hint: "loom runs every actor on one OS thread and switches only at the \
                       facade's primitives: a `std::sync` lock, a blocking call, a sleep or a \
                       loop over state loom cannot see stops them all. Build the shared state \
                       from `raceproof::core::sync`; spin with `sync::hint::spin_loop()`"
                    .to_owned(),
                iterations: now,
            };
        }
        if beat.elapsed() >= Duration::from_secs(1) {
            beat = Instant::now();
            if let Some(beat) = HEARTBEAT.get() {
                beat(&progress);
            }
        }
    }
}

fn checker_failed(message: String) -> Verdict {
    Verdict::Inconclusive {
        cause: Inconclusive::Checker { message },
        hint: "a bug in raceproof's harness: please report it with the model".to_owned(),
        iterations: 0,
    }
}
