//! What loom's and shuttle's models of the runtime share: `JoinError` (their blocking jobs
//! are the checker's) and how an event loop is called.

use std::fmt;

/// A blocking job's failure. Never produced in a model build: a panic in the job is the
/// execution's, and the checker reports it.
#[derive(Debug)]
pub struct JoinError(());

impl JoinError {
    pub fn is_panic(&self) -> bool {
        false
    }

    pub fn is_cancelled(&self) -> bool {
        false
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("blocking task failed")
    }
}

impl std::error::Error for JoinError {}

/// What traces call the event loop of worker `worker` (of a one-process deployment when
/// `None`).
pub(super) fn event_loop_name(worker: Option<usize>) -> String {
    match worker {
        Some(w) => format!("the event loop of worker {w}"),
        None => "the event loop".to_owned(),
    }
}
