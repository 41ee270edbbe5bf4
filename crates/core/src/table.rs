//! Keyed tables: the lock strategies the store is generic over.
//!
//! Every method of [`Table`] is one critical section as far as any observer can tell. The
//! store builds its atomic operations on these, so swapping the strategy changes the cost,
//! never the semantics, and every strategy is model-checked with the same flows.
//!
//! | strategy | one operation locks | good at |
//! |---|---|---|
//! | [`GlobalMutex`] (default) | the whole map, `std::sync::Mutex` | simplicity |
//! | [`GlobalParkingLot`] | the whole map, `parking_lot::Mutex` | short uncontended sections |
//! | [`GlobalRwLock`] | a read lock first, the write lock only if the check passes | rejections |
//! | [`Sharded`] | one of `N` maps, chosen by key hash | distinct keys |
//! | [`KeyLocks`] | one lock per key (the seed's lock map, created atomically) | distinct keys |

use crate::sync::{Arc, Mutex, MutexGuard, RwLock, parking_lot};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A string-keyed table of `V`; each method runs its closure inside one critical section.
pub trait Table<V>: Send + Sync {
    /// Reads one entry.
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R;

    /// Reads or writes one entry.
    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R;

    /// Writes `key` if `check` accepts its current value. `check` may run twice (strategies
    /// with shared read locks reject under the read lock, and re-check under the write
    /// lock), so it must not have effects that matter.
    fn write_checked<R, E>(
        &self,
        key: &str,
        check: impl Fn(Option<&V>) -> Result<(), E>,
        apply: impl FnOnce(Option<&mut V>) -> Result<R, E>,
    ) -> Result<R, E> {
        self.write(key, |value| {
            check(value.as_deref())?;
            apply(value)
        })
    }

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

    /// Inserts `value` under `key` if the key is absent; false (and nothing written) if
    /// it is present.
    fn insert_new(&self, key: &str, value: V) -> bool;
}

/// All entries of a table, locked, for [`Table::write_all`].
pub trait Entries<V> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V>;
    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V));
}

type Map<V> = HashMap<String, V>;

impl<V> Entries<V> for Map<V> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        HashMap::get_mut(self, key)
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V)) {
        for (key, value) in self.iter_mut() {
            f(key, value);
        }
    }
}

/// Inserts `value` if `key` is absent; a present entry is left as it is.
fn insert_absent<V>(map: &mut Map<V>, key: &str, value: V) -> bool {
    match map.entry(key.to_owned()) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(value);
            true
        }
    }
}

/// Both entries of one map, `None` for the second when the keys are equal.
fn pair_of<'m, V>(map: &'m mut Map<V>, a: &str, b: &str) -> (Option<&'m mut V>, Option<&'m mut V>) {
    if a == b {
        return (map.get_mut(a), None);
    }
    let [a, b] = map.get_disjoint_mut([a, b]);
    (a, b)
}

/// A lock around a whole map: the part in which the global strategies differ.
pub trait MapLock: Send + Sync {
    type Value;
    fn new(map: Map<Self::Value>) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut Map<Self::Value>) -> R) -> R;
    /// Whether [`MapLock::with_read`] is a *shared* lock worth trying first.
    const SHARED_READS: bool = false;
    fn with_read<R>(&self, f: impl FnOnce(&Map<Self::Value>) -> R) -> R {
        self.with(|map| f(map))
    }
}

impl<V: Send> MapLock for Mutex<Map<V>> {
    type Value = V;
    fn new(map: Map<V>) -> Self {
        Mutex::new(map)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Map<V>) -> R) -> R {
        f(&mut self.lock())
    }
}

impl<V: Send> MapLock for parking_lot::Mutex<Map<V>> {
    type Value = V;
    fn new(map: Map<V>) -> Self {
        parking_lot::Mutex::new(map)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Map<V>) -> R) -> R {
        f(&mut self.lock())
    }
}

impl<V: Send + Sync> MapLock for RwLock<Map<V>> {
    type Value = V;
    fn new(map: Map<V>) -> Self {
        RwLock::new(map)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Map<V>) -> R) -> R {
        f(&mut self.write())
    }

    const SHARED_READS: bool = true;

    fn with_read<R>(&self, f: impl FnOnce(&Map<V>) -> R) -> R {
        f(&self.read())
    }
}

/// One lock around the whole map.
#[derive(Debug)]
pub struct Global<L>(L);

/// One `std::sync::Mutex` around the whole map: the default.
pub type GlobalMutex<V> = Global<Mutex<Map<V>>>;
/// One `parking_lot::Mutex` around the whole map.
pub type GlobalParkingLot<V> = Global<parking_lot::Mutex<Map<V>>>;
/// One `RwLock`: reads share it; checked writes reject under the read lock when they can.
pub type GlobalRwLock<V> = Global<RwLock<Map<V>>>;

impl<L: MapLock> Default for Global<L> {
    fn default() -> Self {
        Self(L::new(HashMap::new()))
    }
}

impl<V, L: MapLock<Value = V>> Table<V> for Global<L> {
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R {
        self.0.with_read(|map| f(map.get(key)))
    }

    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R {
        self.0.with(|map| f(map.get_mut(key)))
    }

    fn write_checked<R, E>(
        &self,
        key: &str,
        check: impl Fn(Option<&V>) -> Result<(), E>,
        apply: impl FnOnce(Option<&mut V>) -> Result<R, E>,
    ) -> Result<R, E> {
        if L::SHARED_READS {
            // Read path: most refusals need no exclusive lock.
            self.0.with_read(|map| check(map.get(key)))?;
        }
        // Write path: check again, since the value may have changed in between.
        self.0.with(|map| {
            let value = map.get_mut(key);
            check(value.as_deref())?;
            apply(value)
        })
    }

    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut V>, Option<&mut V>) -> R,
    ) -> R {
        self.0.with(|map| {
            let (a, b) = pair_of(map, a, b);
            f(a, b)
        })
    }

    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<V>) -> R) -> R {
        self.0.with(|map| f(map))
    }

    fn insert_new(&self, key: &str, value: V) -> bool {
        self.0.with(|map| insert_absent(map, key, value))
    }
}

/// Keeps each shard's lock on its own cache line, so shards do not contend by proximity.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// `N` maps, each behind its own `std::sync::Mutex`, chosen by a hash of the key.
/// Cross-key operations lock the shards they need in index order, so they cannot deadlock.
#[derive(Debug)]
pub struct Sharded<V, const N: usize = 16> {
    shards: Box<[Padded<Mutex<Map<V>>>]>,
}

impl<V, const N: usize> Default for Sharded<V, N> {
    fn default() -> Self {
        assert!(N > 0, "a sharded table needs at least one shard");
        Self {
            shards: (0..N).map(|_| Padded(Mutex::new(HashMap::new()))).collect(),
        }
    }
}

impl<V, const N: usize> Sharded<V, N> {
    fn shard_of(key: &str) -> usize {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        // The remainder is below N, so the cast back to usize cannot truncate.
        (hasher.finish() % N as u64) as usize
    }

    fn shard(&self, key: &str) -> &Mutex<Map<V>> {
        &self.shards[Self::shard_of(key)].0
    }
}

/// Every shard locked, in index order.
struct AllShards<'a, V, const N: usize>(Vec<MutexGuard<'a, Map<V>>>);

impl<V, const N: usize> Entries<V> for AllShards<'_, V, N> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0[Sharded::<V, N>::shard_of(key)].get_mut(key)
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V)) {
        for shard in &mut self.0 {
            Entries::for_each(&mut **shard, f);
        }
    }
}

impl<V: Send, const N: usize> Table<V> for Sharded<V, N> {
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R {
        f(self.shard(key).lock().get(key))
    }

    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R {
        f(self.shard(key).lock().get_mut(key))
    }

    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut V>, Option<&mut V>) -> R,
    ) -> R {
        let (sa, sb) = (Self::shard_of(a), Self::shard_of(b));
        if sa == sb {
            let mut shard = self.shards[sa].0.lock();
            let (a, b) = pair_of(&mut shard, a, b);
            return f(a, b);
        }
        // Lower index first: every cross-shard operation agrees on the order.
        let (first, second) = (sa.min(sb), sa.max(sb));
        let mut lower = self.shards[first].0.lock();
        let mut upper = self.shards[second].0.lock();
        let (map_a, map_b) = if sa < sb {
            (&mut *lower, &mut *upper)
        } else {
            (&mut *upper, &mut *lower)
        };
        f(map_a.get_mut(a), map_b.get_mut(b))
    }

    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<V>) -> R) -> R {
        let mut all = AllShards::<V, N>(self.shards.iter().map(|s| s.0.lock()).collect());
        f(&mut all)
    }

    fn insert_new(&self, key: &str, value: V) -> bool {
        insert_absent(&mut self.shard(key).lock(), key, value)
    }
}

/// The seed's per-resource lock map, done correctly: the map lock is held only to find or
/// create a key's lock (atomically, unlike the seed's `get_lock`), then only the key's own
/// lock is held. Keys are never removed and their locks never replaced, so a lock found
/// once stays the key's lock.
#[derive(Debug)]
pub struct KeyLocks<V> {
    map: Mutex<HashMap<String, Arc<Mutex<V>>>>,
}

impl<V> Default for KeyLocks<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> KeyLocks<V> {
    fn entry(&self, key: &str) -> Option<Arc<Mutex<V>>> {
        self.map.lock().get(key).cloned()
    }
}

/// Every key's lock held, taken in key order under the map lock.
struct AllKeys<'a, V>(Vec<(&'a str, MutexGuard<'a, V>)>);

impl<V> Entries<V> for AllKeys<'_, V> {
    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0
            .iter_mut()
            .find(|(k, _)| *k == key)
            .map(|(_, guard)| &mut **guard)
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&str, &mut V)) {
        for (key, guard) in &mut self.0 {
            f(key, guard);
        }
    }
}

impl<V: Send> Table<V> for KeyLocks<V> {
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&V>) -> R) -> R {
        match self.entry(key) {
            Some(entry) => f(Some(&entry.lock())),
            None => f(None),
        }
    }

    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut V>) -> R) -> R {
        match self.entry(key) {
            Some(entry) => f(Some(&mut entry.lock())),
            None => f(None),
        }
    }

    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut V>, Option<&mut V>) -> R,
    ) -> R {
        if a == b {
            return self.write(a, |value| f(value, None));
        }
        let (entry_a, entry_b) = {
            let map = self.map.lock();
            (map.get(a).cloned(), map.get(b).cloned())
        };
        // Key order: every multi-key operation agrees on it.
        let (mut guard_a, mut guard_b) = if a < b {
            let ga = entry_a.as_ref().map(|e| e.lock());
            (ga, entry_b.as_ref().map(|e| e.lock()))
        } else {
            let gb = entry_b.as_ref().map(|e| e.lock());
            (entry_a.as_ref().map(|e| e.lock()), gb)
        };
        f(guard_a.as_deref_mut(), guard_b.as_deref_mut())
    }

    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<V>) -> R) -> R {
        // The map lock keeps new keys out while every key's lock is taken, in key order.
        let map = self.map.lock();
        let mut keys: Vec<(&str, &Arc<Mutex<V>>)> =
            map.iter().map(|(k, e)| (k.as_str(), e)).collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        let mut all = AllKeys(keys.into_iter().map(|(k, e)| (k, e.lock())).collect());
        f(&mut all)
    }

    fn insert_new(&self, key: &str, value: V) -> bool {
        // Check and insert under the map lock: the atomic `get_lock` the seed lacks.
        insert_absent(&mut self.map.lock(), key, Arc::new(Mutex::new(value)))
    }
}

/// Receives each lock strategy as a type, with its name: see [`for_each_strategy`].
pub trait StrategyVisitor<V> {
    fn visit<T: Table<V> + Default + 'static>(&mut self, name: &'static str);
}

/// The one list of lock strategies: tests, benches and the model catalogue all walk it, so
/// a strategy added here is checked, measured and reported everywhere.
///
/// Under loom `Sharded` has 2 shards: its lock-ordering argument does not depend on the
/// shard count, and loom explores 2 shards quickly.
pub fn for_each_strategy<V: Send + Sync + 'static>(visitor: &mut impl StrategyVisitor<V>) {
    #[cfg(loom)]
    type ListedSharded<V> = Sharded<V, 2>;
    #[cfg(not(loom))]
    type ListedSharded<V> = Sharded<V, 16>;
    visitor.visit::<GlobalMutex<V>>("global_mutex");
    visitor.visit::<GlobalParkingLot<V>>("parking_lot");
    visitor.visit::<GlobalRwLock<V>>("rwlock");
    visitor.visit::<ListedSharded<V>>("sharded");
    visitor.visit::<KeyLocks<V>>("key_locks");
}
