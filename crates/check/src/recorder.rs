//! The ghost recorder: the step-by-step [`Recording`] of one execution.
//!
//! Actors record calls and returns around the operations they make, flows record their
//! effects and narrate, and a store's audit log reports each commit from inside its critical
//! section ([`Recorder::commit_listener`]). The recorder is built on `ghost` storage (plain
//! `std`), which loom does not model: recording adds no branch point, so the checker
//! explores exactly the interleavings of the code under test.

use crate::event::{Call, Event, Fact, Ret, commit_text};
use crate::ghost;
use raceproof_core::audit::{Commit, CommitListener};
use raceproof_core::sync::thread;

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
pub struct Recording {
    pub steps: Vec<Step>,
    pub actors: Vec<ActorInfo>,
}

impl Recording {
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
    /// Under loom, each step's position among the execution's ticks (see
    /// `raceproof_core::sync::model::tick`), to place stale reads among the steps.
    #[cfg(loom)]
    ticks: Vec<u64>,
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
        self.record(Event::note(text));
    }

    /// Records an effect the flow performed: `kind` (e.g. `processed`, `paid`) on
    /// `subject` (the message, the order). This is the call the built-in effect invariants
    /// ([`crate::ExactlyOnce`]) read: an effect that is only narrated with [`Self::note`]
    /// is invisible to them.
    pub fn effect(&self, kind: &str, subject: impl Into<String>) {
        let subject = subject.into();
        self.record(Event::new(
            format!("{kind} {subject}"),
            Fact::Effect {
                kind: kind.to_owned(),
                subject,
            },
        ));
    }

    /// Records that a write committed (an audit log's entry).
    pub fn commit(&self, commit: &Commit) {
        self.record(Event::new(
            commit_text(commit),
            Fact::Commit(commit.clone()),
        ));
    }

    /// A listener for [`raceproof_core::audit::AuditLog::with_listener`]: each commit lands
    /// in this recorder, in commit order.
    pub fn commit_listener(&self) -> CommitListener {
        let recorder = self.clone();
        Box::new(move |commit: &Commit| recorder.commit(commit))
    }

    /// Records that operation `op` was called (client side).
    pub fn call(&self, op: u64, call: Call) {
        self.record(Event::new(
            format!("request {call}"),
            Fact::Call { op, call },
        ));
    }

    /// Records what operation `op` returned (client side).
    pub fn ret(&self, op: u64, ret: Ret) {
        self.record(Event::new(
            format!("respond {ret}"),
            Fact::Return { op, ret },
        ));
    }

    /// The steps recorded so far. Under loom, what the facade saw happen is among them,
    /// each where it happened: loads that read an older value than their atomic's latest
    /// store, and waits that returned without a notification (spurious wakeups).
    pub fn steps(&self) -> Vec<Step> {
        let log = ghost::lock(&self.log);
        #[cfg(loom)]
        {
            let seen = facade_steps(&log);
            if !seen.is_empty() {
                return merge(&log, seen);
            }
        }
        log.steps.clone()
    }

    /// The label of a thread that entered, if any.
    pub fn label_of(&self, id: thread::ThreadId) -> Option<String> {
        ghost::lock(&self.log)
            .labels
            .iter()
            .find(|(tid, _)| *tid == id)
            .map(|(_, label)| label.clone())
    }

    /// [`Self::label_of`] without waiting: `None` if the log is busy (another OS thread,
    /// possibly stuck, holds it).
    pub fn try_label_of(&self, id: thread::ThreadId) -> Option<String> {
        let log = self.log.try_lock().ok()?;
        log.labels
            .iter()
            .find(|(tid, _)| *tid == id)
            .map(|(_, label)| label.clone())
    }

    /// The last step recorded, as `(thread, text)`, without waiting for the log.
    pub fn try_last_step(&self) -> Option<(String, String)> {
        let log = self.log.try_lock().ok()?;
        log.steps
            .last()
            .map(|s| (s.thread.clone(), s.text().to_owned()))
    }

    /// The label of the calling thread, if it entered.
    pub fn current_label(&self) -> Option<String> {
        self.label_of(thread::current().id())
    }
}

impl Recorder {
    /// Records `event` as a step of the calling actor.
    pub fn record(&self, event: Event) {
        let id = thread::current().id();
        let mut log = ghost::lock(&self.log);
        let thread = log
            .labels
            .iter()
            .find(|(tid, _)| *tid == id)
            .map_or_else(|| SETUP.to_owned(), |(_, label)| label.clone());
        log.steps.push(Step { thread, event });
        #[cfg(loom)]
        log.ticks.push(raceproof_core::sync::model::tick());
    }
}

/// What the facade saw in this execution, as steps with their ticks, in order.
#[cfg(loom)]
fn facade_steps(log: &Log) -> Vec<(u64, Step)> {
    use raceproof_core::sync::model;
    let label = |id: &thread::ThreadId| {
        log.labels
            .iter()
            .find(|(tid, _)| tid == id)
            .map_or_else(|| SETUP.to_owned(), |(_, label)| label.clone())
    };
    let mut seen: Vec<(u64, Step)> = model::stale_reads()
        .iter()
        .map(|read| (read.tick, stale_step(read, &label)))
        .collect();
    seen.extend(model::spurious_wakeups().into_iter().map(|w| {
        let step = Step {
            thread: label(&w.thread),
            event: Event::note(format!(
                "woke on {} without a notification (a spurious wakeup)",
                w.condvar
            )),
        };
        (w.tick, step)
    }));
    seen.sort_by_key(|(tick, _)| *tick);
    seen
}

/// The log's steps with each of `seen` inserted at its tick.
#[cfg(loom)]
fn merge(log: &Log, seen: Vec<(u64, Step)>) -> Vec<Step> {
    let mut seen = seen.into_iter().peekable();
    let mut steps = Vec::with_capacity(log.steps.len() + seen.len());
    for (step, tick) in log.steps.iter().zip(&log.ticks) {
        while let Some((_, early)) = seen.next_if(|(t, _)| t < tick) {
            steps.push(early);
        }
        steps.push(step.clone());
    }
    steps.extend(seen.map(|(_, step)| step));
    steps
}

#[cfg(loom)]
fn stale_step(
    read: &raceproof_core::sync::model::StaleRead,
    label: &impl Fn(&thread::ThreadId) -> String,
) -> Step {
    let by = read.latest_by.as_ref().map_or_else(
        || "its initial value".to_owned(),
        |id| format!("{}'s store", label(id)),
    );
    let store_order = read
        .latest_order
        .map_or_else(|| "initial".to_owned(), |o| format!("{o:?}"));
    let why = match &read.forbidden_by_seqcst {
        // loom allowed it (SeqCst as AcqRel); the memory model does not.
        Some(why) => format!("SeqCst forbids this ({why}); loom allows it"),
        None => "nothing orders this load after it".to_owned(),
    };
    Step {
        thread: label(&read.reader),
        event: Event::note(format!(
            "load {} = {}: stale, the latest store is {} ({}); {why} (load {:?}, store {store_order})",
            read.atomic, read.read, read.latest, by, read.load_order
        )),
    }
}
