//! The ghost recorder: the step-by-step history of one execution.
//!
//! It implements the core's [`Probe`], so the store, the replay set and the flows report to it
//! from inside their critical sections, in the order the effects happen. It is built on
//! [`ghost`] storage (plain `std`), which loom does not model: recording adds no branch point,
//! so the checker explores exactly the interleavings of the code under test.

use raceproof_core::observe::{Event, Fact, Probe};
use raceproof_core::sync::{ghost, thread};

/// The thread label given to steps recorded before any actor starts (the scenario's setup).
pub const SETUP: &str = "setup";

/// One recorded step: which actor did it, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub thread: String,
    pub event: Event,
}

impl Step {
    pub fn text(&self) -> &str {
        &self.event.text
    }

    pub fn fact(&self) -> &Fact {
        &self.event.fact
    }

    /// Whether the step belongs to setup rather than to an actor.
    pub fn is_setup(&self) -> bool {
        self.thread == SETUP
    }
}

/// An actor as the invariants see it: its label and the user it acts as, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInfo {
    pub label: String,
    pub acts_as: Option<String>,
}

/// Everything one execution recorded, in order.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub steps: Vec<Step>,
    pub actors: Vec<ActorInfo>,
}

impl History {
    /// The user a thread label acts as.
    pub fn acts_as(&self, label: &str) -> Option<&str> {
        self.actors
            .iter()
            .find(|a| a.label == label)
            .and_then(|a| a.acts_as.as_deref())
    }
}

#[derive(Debug, Default)]
struct Log {
    steps: Vec<Step>,
    labels: Vec<(thread::ThreadId, String)>,
}

/// Records the steps of one execution. Cheap to clone: clones share one log.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    log: ghost::Arc<ghost::Mutex<Log>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Labels the calling thread: every step it records from now on carries `label`.
    pub fn enter(&self, label: &str) {
        let id = thread::current().id();
        let mut log = ghost::lock(&self.log);
        log.labels.retain(|(tid, _)| *tid != id);
        log.labels.push((id, label.to_owned()));
    }

    /// Records a narration step (a read, a check, a decision).
    pub fn note(&self, text: impl Into<String>) {
        self.record(|| Event::note(text));
    }

    /// The steps recorded so far.
    pub fn steps(&self) -> Vec<Step> {
        ghost::lock(&self.log).steps.clone()
    }
}

impl Probe for Recorder {
    fn record(&self, event: impl FnOnce() -> Event) {
        let id = thread::current().id();
        let event = event();
        let mut log = ghost::lock(&self.log);
        let thread = log
            .labels
            .iter()
            .find(|(tid, _)| *tid == id)
            .map_or_else(|| SETUP.to_owned(), |(_, label)| label.clone());
        log.steps.push(Step { thread, event });
    }
}
