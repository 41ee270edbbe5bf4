//! What admission records: the bounded, sharded [`ReplaySet`] of message identities, and
//! [`ResourceFlags`], one compare-and-swap flag per registered resource.

use super::signing::{ReplayError, Tag};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::parking_lot::Mutex;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Default cap on the replay set's size: beyond it new requests are refused, not admitted.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Hashes a [`Key`] by its first eight bytes. Keys come from HMAC outputs, unpredictable
/// without the key, and only verified tags are inserted, so a keyed hash would buy nothing.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, word: u64) {
        self.0 ^= word;
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(word) => self.0 ^= u64::from_le_bytes(*word),
            None => {
                for &b in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(b);
                }
            }
        }
    }
}

/// Length of a tag's identity in the replay set, in bytes.
pub const KEY_LEN: usize = 16;

/// What the replay set stores of a tag: its two 16-byte halves XORed together.
///
/// Half the memory of the whole tag, and every bit of the tag still counts. Two distinct
/// tags with the same key collide: the second is refused as [`ReplayError::Replayed`],
/// never admitted twice, so a collision costs availability, not safety. Tags are HMAC
/// outputs that only the key holder can make, so colliding by chance among `n` held
/// entries has probability about `n² / 2¹²⁹` (2⁻⁸⁹ for a million), and aiming a new tag at
/// a given held one is a 128-bit second preimage on HMAC-SHA256.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u8; KEY_LEN]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}..)", hex::encode(&self.0[..4]))
    }
}

impl Key {
    fn of(tag: &Tag) -> Self {
        let (low, high) = tag.0.split_at(KEY_LEN);
        let mut key = [0u8; KEY_LEN];
        for ((k, a), b) in key.iter_mut().zip(low).zip(high) {
            *k = a ^ b;
        }
        Self(key)
    }

    /// Bytes 0..8: the hash within a table.
    fn hash_word(&self) -> u64 {
        u64::from_le_bytes(*self.0.first_chunk::<8>().unwrap_or(&[0; 8]))
    }

    /// Bytes 8..16: which table of a shard (independent of the hash within it).
    fn table_word(&self) -> u64 {
        u64::from_le_bytes(*self.0.last_chunk::<8>().unwrap_or(&[0; 8]))
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_word());
    }
}

/// At most this many expired entries are removed by one insert or lookup, so a request
/// never pays for a mass expiry (removing every expired entry at once held the lock for
/// half a second after a million expired). Removing more than one per insert lets removal
/// outpace insertion; a budget of 16 adds a few microseconds to the requests that sweep,
/// and a million expired entries are gone after 62,500 requests.
pub const EVICTION_BUDGET: usize = 16;

/// Entries per table a shard aims for at capacity: growing or shrinking one table rehashes
/// about this many entries (more only in shards of over `MAX_TABLES` times as many).
const TABLE_TARGET: usize = 8 * 1024;
/// The most tables one shard is split into (a power of two).
const MAX_TABLES: usize = 256;
/// A table is shrunk when it holds less than a quarter of its capacity (and has room for
/// more than this many entries), to twice what it holds.
const MIN_SHRINK_CAPACITY: usize = 64;
/// Keys per chunk of an expiry bucket (8 KiB): buckets grow and are freed chunk by chunk,
/// never by copying a whole second's keys.
const CHUNK: usize = 512;

type Table = HashMap<Key, i64, BuildHasherDefault<TagHasher>>;

/// The keys that expire at one second, in fixed-size chunks.
#[derive(Default)]
struct Bucket {
    chunks: Vec<Vec<Key>>,
    /// Keys pushed and not yet popped.
    len: usize,
}

impl Bucket {
    fn push(&mut self, key: Key) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(key),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(key);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Any one key (order within a second does not matter), freeing emptied chunks.
    fn pop(&mut self) -> Option<Key> {
        while let Some(chunk) = self.chunks.last_mut() {
            if let Some(key) = chunk.pop() {
                if chunk.is_empty() {
                    self.chunks.pop();
                }
                self.len -= 1;
                return Some(key);
            }
            self.chunks.pop();
        }
        None
    }
}

/// Message identities and when each may be forgotten, in one critical section.
///
/// An entry is *held* while its expiry is at or after the horizon; entries below it are
/// logically gone at once (lookups ignore them, [`ReplaySet::len`] does not count them) and
/// physically removed a few at a time, [`EVICTION_BUDGET`] per insert or lookup, oldest
/// second first. Keys live in several small tables chosen by key bits, so no single
/// resize or shrink moves more than about [`TABLE_TARGET`] entries, and tables give their
/// memory back as they empty.
struct Entries {
    tables: Box<[Table]>,
    /// Keys by expiry second, for removal in expiry order.
    buckets: BTreeMap<i64, Bucket>,
    /// The latest `now` evicted at. An entry expiring before it may have been held and
    /// forgotten already, so it is refused: a clock that steps back (the system clock can)
    /// must not make an evicted message admissible a second time.
    horizon: Option<i64>,
    /// Entries whose expiry is at or after the horizon.
    held: usize,
    /// Entries in the tables: held ones plus expired ones not yet removed.
    stored: usize,
    /// Entries removed since the set was made.
    evicted: u64,
}

impl Entries {
    fn new(capacity: usize) -> Self {
        let tables = (capacity / TABLE_TARGET)
            .clamp(1, MAX_TABLES)
            .next_power_of_two();
        Self {
            tables: (0..tables).map(|_| Table::default()).collect(),
            buckets: BTreeMap::new(),
            horizon: None,
            held: 0,
            stored: 0,
            evicted: 0,
        }
    }

    fn table(&mut self, key: &Key) -> &mut Table {
        // The table count is a power of two, so the mask keeps the index in range.
        let mask = self.tables.len() as u64 - 1;
        &mut self.tables[(key.table_word() & mask) as usize]
    }

    /// Moves the horizon to `now` if that is later, then removes up to [`EVICTION_BUDGET`]
    /// expired entries. Seconds that fall below the horizon stop counting as held at once:
    /// that costs one step per second crossed, not per entry.
    fn evict(&mut self, now: i64) {
        let old = self.horizon.unwrap_or(i64::MIN);
        if now > old {
            for bucket in self.buckets.range(old..now).map(|(_, b)| b) {
                // A second at or above the horizon holds only current entries: a key is
                // re-inserted only once its earlier entry is below the horizon.
                self.held -= bucket.len;
            }
        }
        self.horizon = Some(old.max(now));
        self.sweep(EVICTION_BUDGET);
    }

    /// Removes up to `budget` keys of seconds below the horizon, oldest first; returns how
    /// many it looked at (0: nothing expired is left).
    fn sweep(&mut self, budget: usize) -> usize {
        let horizon = self.horizon.unwrap_or(i64::MIN);
        let mut seen = 0;
        while seen < budget {
            let Some(mut first) = self.buckets.first_entry() else {
                break;
            };
            let at = *first.key();
            if at >= horizon {
                break;
            }
            let Some(key) = first.get_mut().pop() else {
                first.remove();
                continue;
            };
            if first.get().len == 0 {
                first.remove();
            }
            seen += 1;
            let table = self.table(&key);
            // A key re-inserted since has a later expiry in its entry: that one stays.
            let Entry::Occupied(entry) = table.entry(key) else {
                continue;
            };
            if *entry.get() != at {
                continue;
            }
            entry.remove();
            if table.capacity() > MIN_SHRINK_CAPACITY && table.len() * 4 < table.capacity() {
                table.shrink_to(table.len() * 2);
            }
            self.stored -= 1;
            self.evicted += 1;
        }
        seen
    }

    /// Seconds from `now` until the earliest held entry stops being held (at least 1): an
    /// entry expiring at `at` is held while the horizon is at or below `at`.
    fn frees_in(&self, now: i64) -> u64 {
        let horizon = self.horizon.unwrap_or(i64::MIN);
        self.buckets
            .range(horizon..)
            .find(|(_, bucket)| bucket.len > 0)
            .map_or(1, |(&at, _)| {
                u64::try_from(at.saturating_add(1).saturating_sub(now)).unwrap_or(1)
            })
            .max(1)
    }

    /// Whether `key` is held (its entry, if any, expires at or after the horizon).
    fn holds(&mut self, key: &Key) -> bool {
        let horizon = self.horizon.unwrap_or(i64::MIN);
        self.table(key).get(key).is_some_and(|&at| at >= horizon)
    }

    /// Stores `key` until `expires_at`; the caller has checked it is not held.
    fn insert(&mut self, key: Key, expires_at: i64) {
        if self.table(&key).insert(key, expires_at).is_none() {
            self.stored += 1;
        }
        self.held += 1;
        self.buckets.entry(expires_at).or_default().push(key);
    }

    fn stats(&self) -> ReplayStats {
        ReplayStats {
            held: self.held,
            stored: self.stored,
            slots: self.tables.iter().map(HashMap::capacity).sum(),
            evicted: self.evicted,
        }
    }
}

/// Sizes, not a million keys.
impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries")
            .field("horizon", &self.horizon)
            .field("stats", &self.stats())
            .field("seconds", &self.buckets.len())
            .finish()
    }
}

/// What a replay set holds and has done, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Entries still acceptable: what [`ReplaySet::len`] returns.
    pub held: usize,
    /// Entries in memory: held ones plus expired ones not yet removed. Never more than the
    /// capacity.
    pub stored: usize,
    /// Entries the tables have room for without growing (their allocated capacity).
    pub slots: usize,
    /// Entries removed since the set was made.
    pub evicted: u64,
}

impl std::ops::Add for ReplayStats {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            held: self.held + other.held,
            stored: self.stored + other.stored,
            slots: self.slots + other.slots,
            evicted: self.evicted + other.evicted,
        }
    }
}

/// The set of admitted message identities, bounded in time and in size, split into shards
/// (by tag) that lock independently. Shards use parking_lot's mutex: every request takes
/// one, and in the contention bench it doubled the throughput of std's on a hot key.
#[derive(Debug)]
pub struct ReplaySet {
    shards: Box<[Mutex<Entries>]>,
    capacity_per_shard: usize,
}

impl ReplaySet {
    /// One shard holding up to `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self::sharded(capacity, 1)
    }

    /// `shards` independently locked shards (at least one), each holding up to
    /// `capacity / shards` entries, rounded up.
    pub fn sharded(capacity: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let capacity_per_shard = capacity.div_ceil(shards);
        Self {
            shards: (0..shards)
                .map(|_| Mutex::new(Entries::new(capacity_per_shard)))
                .collect(),
            capacity_per_shard,
        }
    }

    fn shard(&self, tag: &Tag) -> &Mutex<Entries> {
        let word = u64::from_le_bytes(*tag.0.first_chunk::<8>().unwrap_or(&[0; 8]));
        // The remainder is below the shard count, so the cast cannot truncate.
        &self.shards[(word % self.shards.len() as u64) as usize]
    }

    /// Inserts `tag`, to be kept until `expires_at`, unless it is already present: the
    /// check and the insert are one critical section. Expired entries stop counting first
    /// (at most [`EVICTION_BUDGET`] of them are removed from memory per call). An entry
    /// that expires before the latest `now` seen is refused as stale.
    pub fn insert_if_absent(&self, tag: Tag, expires_at: i64, now: i64) -> Result<(), ReplayError> {
        let mut guard = self.shard(&tag).lock();
        let entries = &mut *guard;
        entries.evict(now);
        let key = Key::of(&tag);
        if entries.holds(&key) {
            return Err(ReplayError::Replayed);
        }
        if entries.horizon.is_some_and(|horizon| expires_at < horizon) {
            return Err(ReplayError::Stale);
        }
        if entries.held >= self.capacity_per_shard {
            return Err(ReplayError::Capacity {
                retry_after_secs: entries.frees_in(now),
            });
        }
        // Memory is capped too: expired entries not yet removed make room first. Fewer are
        // held than the cap, so some are expired, and each is removed once (this loop runs
        // only when a budget was spent on keys re-inserted since, which a guard never does).
        while entries.stored >= self.capacity_per_shard {
            if entries.sweep(EVICTION_BUDGET) == 0 {
                return Err(ReplayError::Capacity {
                    retry_after_secs: 1,
                });
            }
        }
        entries.insert(key, expires_at);
        Ok(())
    }

    /// Whether `tag` is held (after evicting what is expired at `now`).
    pub fn contains(&self, tag: &Tag, now: i64) -> bool {
        let mut entries = self.shard(tag).lock();
        entries.evict(now);
        entries.holds(&Key::of(tag))
    }

    /// Entries held: those not expired at their shard's latest eviction.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().held).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sizes and eviction count, summed over the shards.
    pub fn stats(&self) -> ReplayStats {
        self.shards
            .iter()
            .map(|s| s.lock().stats())
            .fold(ReplayStats::default(), std::ops::Add::add)
    }
}

/// One processed flag per pre-registered resource, claimed with a compare-and-swap: the
/// lock-free strategy, valid when the rule is "once per resource" (the seed's
/// `processed_set`) and resources are rows known in advance, so that no map is needed.
#[derive(Debug)]
pub struct ResourceFlags {
    index: HashMap<String, usize>,
    claimed: Box<[AtomicBool]>,
}

impl ResourceFlags {
    pub fn new<I: IntoIterator<Item = impl Into<String>>>(resources: I) -> Self {
        // One flag per distinct resource: a resource listed twice keeps its first index.
        let mut index: HashMap<String, usize> = HashMap::new();
        for resource in resources {
            let next = index.len();
            index.entry(resource.into()).or_insert(next);
        }
        let claimed = (0..index.len()).map(|_| AtomicBool::new(false)).collect();
        Self { index, claimed }
    }

    /// Claims `resource` once: `Ok` for the first caller, `Replayed` for every other,
    /// `UnknownResource` for a resource that was never registered.
    pub fn claim(&self, resource: &str) -> Result<(), ReplayError> {
        let &i = self
            .index
            .get(resource)
            .ok_or(ReplayError::UnknownResource)?;
        self.claimed[i]
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| ReplayError::Replayed)
    }
}
