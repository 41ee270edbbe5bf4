//! One execution of a scenario inside a model checker's run (loom, or shuttle for the
//! randomized mode): fresh state, the actors on the checker's threads, the verdict of the
//! invariants on what they did.

use crate::ghost;
use crate::invariant::Breach;
use crate::panics::{Panicked, run_actor};
use crate::recorder::{Recorder, Recording};
use crate::scenario::Scenario;
use raceproof_core::sync::{Arc, thread};
use std::panic::resume_unwind;

impl<S: Send + Sync + 'static> Scenario<S> {
    /// One execution in the current thread of a loom model: the first actor runs on the
    /// model's main thread (one thread fewer to interleave), the others are spawned.
    /// Returns the recording, what each invariant observed, and the first broken invariant.
    pub(crate) fn run_in_model(
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
        #[cfg(loom)]
        raceproof_core::sync::model::setup_done();
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
