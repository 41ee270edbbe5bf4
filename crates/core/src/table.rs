//! Keyed tables: the lock strategies the store is generic over.
//!
//! Every method of [`Table`] is exactly one critical section. The store builds its atomic
//! operations on these, so swapping the strategy changes the cost, never the semantics,
//! and each strategy is model-checked with the same flows.

use crate::sync::Mutex;
use std::collections::HashMap;

/// A string-keyed table of `V`; each method runs its closure inside one critical section.
pub trait Table<V>: Send + Sync {
    /// Reads one entry.
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R;

    /// Reads or writes one entry.
    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R;

    /// Writes two entries in one critical section. When `a == b` the entry is passed once,
    /// as the first argument, and the second is `None`.
    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut V>, Option<&mut V>) -> R,
    ) -> R;

    /// Writes across all entries in one critical section (cross-key invariants).
    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<V>) -> R) -> R;

    /// Inserts or replaces an entry.
    fn upsert(&self, key: &str, value: V);
}

/// All entries of a table, locked, for [`Table::write_all`].
pub trait Entries<V> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V>;
    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V));
}

impl<V> Entries<V> for HashMap<String, V> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        HashMap::get_mut(self, key)
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V)) {
        for (key, value) in self.iter_mut() {
            f(key, value);
        }
    }
}

/// One `std::sync::Mutex` around the whole map: the simplest correct strategy, and the
/// default.
#[derive(Debug)]
pub struct GlobalMutex<V> {
    map: Mutex<HashMap<String, V>>,
}

impl<V> Default for GlobalMutex<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Send> Table<V> for GlobalMutex<V> {
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R {
        f(self.map.lock().get(key))
    }

    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R {
        f(self.map.lock().get_mut(key))
    }

    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut V>, Option<&mut V>) -> R,
    ) -> R {
        let mut map = self.map.lock();
        if a == b {
            return f(map.get_mut(a), None);
        }
        let [a, b] = map.get_disjoint_mut([a, b]);
        f(a, b)
    }

    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<V>) -> R) -> R {
        f(&mut *self.map.lock())
    }

    fn upsert(&self, key: &str, value: V) {
        self.map.lock().insert(key.to_owned(), value);
    }
}
