//! What a scenario's setup builds one worker's state from: the worker's index, the
//! recorder, and the state every worker of the execution shares (see `deploy.rs`).

use crate::recorder::Recorder;
use raceproof_core::sync::Arc;
use std::any::Any;
use std::cell::RefCell;

/// What a scenario's setup builds one worker's state from.
pub struct Worker<'a> {
    index: usize,
    recorder: &'a Recorder,
    shared: &'a Shared,
}

impl<'a> Worker<'a> {
    pub(crate) fn new(index: usize, recorder: &'a Recorder, shared: &'a Shared) -> Self {
        Self {
            index,
            recorder,
            shared,
        }
    }

    /// This worker's index, from 0 (0 in a one-process deployment).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The execution's recorder, to hand to the probes of the state being built.
    pub fn recorder(&self) -> &Recorder {
        self.recorder
    }

    /// The one `T` named `name` in this execution, built by the first worker that asks:
    /// state every worker shares (a database). Everything else setup builds is the
    /// worker's own.
    ///
    /// # Panics
    /// When `name` was shared before as another type (a scenario bug).
    pub fn shared<T: Send + Sync + 'static>(
        &self,
        name: &str,
        build: impl FnOnce(&Recorder) -> T,
    ) -> Arc<T> {
        let found = self
            .shared
            .0
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, object)| object.downcast_ref::<Arc<T>>().cloned());
        match found {
            Some(Some(object)) => object,
            Some(None) => panic!("shared state `{name}` was built with another type"),
            None => {
                let object = Arc::new(build(self.recorder));
                self.shared
                    .0
                    .borrow_mut()
                    .push((name.to_owned(), Box::new(object.clone())));
                object
            }
        }
    }
}

/// The state every worker of one execution shares, by name.
#[derive(Default)]
pub(crate) struct Shared(RefCell<Vec<(String, Box<dyn Any>)>>);
