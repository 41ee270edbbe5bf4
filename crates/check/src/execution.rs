//! One execution of a scenario inside a model checker's run (loom, or shuttle for the
//! randomized mode): fresh state for each worker of the deployment, the actors on the
//! checker's threads (an async task on its worker's event loop), the verdict of
//! the invariants on what they did.

use crate::ghost;
use crate::invariant::Breach;
use crate::panics::{Panicked, run_actor};
use crate::recorder::{Recorder, Recording};
use crate::scenario::{Body, Scenario};
use crate::worker::Shared;
#[cfg(loom)]
use raceproof_core::sync::tokio::model as event_loop;
#[cfg(all(shuttle, not(loom)))]
use raceproof_core::sync::tokio::on_shuttle as event_loop;
use raceproof_core::sync::{Arc, thread};
use std::panic::resume_unwind;

/// A worker's event loop, loom's or shuttle's (`None`: a thread pool).
type EventLoop = Option<ghost::Arc<event_loop::EventLoop>>;

impl<S: Send + Sync + 'static> Scenario<S> {
    /// One execution in the current thread of a model: each worker's state is built, and
    /// each actor runs on a thread of its own (the first on the model's main thread, one
    /// thread fewer to interleave), a task on its worker's event loop when it has one.
    /// Returns the recording, what each invariant observed, and the first broken invariant.
    pub(crate) fn run_in_model(
        &self,
        recorder: &Recorder,
        panicked: &ghost::Arc<ghost::Mutex<Option<Panicked>>>,
    ) -> (Recording, Vec<usize>, Option<(String, Breach)>) {
        use std::mem::ManuallyDrop;
        #[cfg(loom)]
        {
            event_loop::reset();
            let narration = recorder.clone();
            event_loop::narrate_with(move |text| narration.note(text));
        }
        // The state's references are dropped only when their thread completes. Dropping a
        // loom `Arc` while a panic unwinds (an actor's, or loom's deadlock report) re-enters
        // loom's scheduler, or runs outside it, and that second panic aborts the process:
        // on those paths the state is leaked instead, so the panic reaches `explore`.
        let shared = ManuallyDrop::new(Shared::default());
        let states = ManuallyDrop::new(Arc::new(self.worker_states(recorder, &shared)));
        #[cfg(loom)]
        {
            if states.len() > 1 {
                recorder.order_facts();
            }
            raceproof_core::sync::model::setup_done();
        }
        let loops: Vec<EventLoop> = (0..states.len()).map(|w| self.event_loop(w)).collect();
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

    /// Worker `worker`'s event loop, when the deployment runs one per worker.
    fn event_loop(&self, worker: usize) -> EventLoop {
        use raceproof_report::deployment::Runtime;
        let name = (self.deployment.processes() > 1).then_some(worker);
        (self.deployment.runtime() == Runtime::EventLoop)
            .then(|| ghost::Arc::new(event_loop::EventLoop::new(name)))
    }
}

/// Runs an actor's body on the calling model thread: a blocking one as it is (no event loop
/// holds it back), a task to completion on its worker's event loop (or a thread pool,
/// `None`).
fn run_body<S>(body: &Body<S>, state: &S, event_loop: EventLoop) {
    match body {
        Body::Blocking(f) => f(state),
        Body::Task(f) => event_loop::run_task(event_loop, f(state)),
    }
}
