//! Which outcomes a loom model's executions produced.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Which outcomes a model's executions produced, across all explored interleavings: a model
/// that only ever ran one schedule would not prove anything about the others.
#[derive(Clone, Default)]
pub struct Outcomes(Arc<Mutex<BTreeSet<String>>>);

impl Outcomes {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn saw(&self, outcome: impl Into<String>) {
        self.lock().insert(outcome.into());
    }

    pub fn assert_all_seen(&self, expected: &[&str]) {
        let seen = self.lock();
        let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
        assert_eq!(seen, expected, "outcomes explored");
    }
}
