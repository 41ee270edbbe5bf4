#![cfg(not(loom))]
//! The replay set removes expired entries a bounded number at a time: no request pays for a
//! mass expiry, memory is given back as entries go, and the capacity caps memory as well as
//! the entries held. Work is counted through [`ReplaySet::stats`], never timed.

use proptest::prelude::*;
use raceproof_core::replay::{EVICTION_BUDGET, ReplayError, ReplaySet, TAG_LEN, Tag};
use sha2::{Digest, Sha256};

const T: i64 = 1_700_000_000;
/// The per-call bound, as the counter's type.
const BUDGET: u64 = EVICTION_BUDGET as u64;

/// Distinct, HMAC-like (uniform) tags.
fn tag(i: u64) -> Tag {
    Tag(Sha256::digest(i.to_le_bytes()).into())
}

/// `n` entries expiring at `T`, inserted at `T - 100`.
fn filled(n: u64) -> ReplaySet {
    let set = ReplaySet::new(1 << 20);
    for i in 0..n {
        set.insert_if_absent(tag(i), T, T - 100).expect("fresh");
    }
    let stats = set.stats();
    assert_eq!((stats.held, stats.stored), (n as usize, n as usize));
    set
}

/// After 50,000 entries expire, each insert removes at most `EVICTION_BUDGET` of them (and
/// at least one while any is left); the expired ones stop counting at once.
#[test]
fn one_insert_after_mass_expiry_removes_a_bounded_number() {
    let n = 50_000;
    let set = filled(n);
    let now = T + 1;
    let mut evicted = set.stats().evicted;
    let mut calls = 0u64;
    loop {
        set.insert_if_absent(tag(n + calls), now + 300, now)
            .expect("fresh");
        calls += 1;
        let stats = set.stats();
        let removed = stats.evicted - evicted;
        evicted = stats.evicted;
        assert!(
            removed <= BUDGET,
            "insert {calls} removed {removed} entries, more than {BUDGET}"
        );
        assert_eq!(stats.held as u64, calls, "expired entries are not held");
        if stats.stored == stats.held {
            break;
        }
        assert!(removed > 0, "insert {calls} left expired entries untouched");
    }
    assert_eq!(evicted, n);
    assert_eq!(calls, n.div_ceil(BUDGET));
}

/// Lookups remove expired entries too, and the tables shrink as they empty.
#[test]
fn memory_is_given_back_after_mass_expiry() {
    let n = 50_000;
    let set = filled(n);
    let full = set.stats().slots;
    assert!(full >= n as usize);
    let now = T + 1;
    let mut lookups = 0;
    while set.stats().stored > 0 {
        assert!(!set.contains(&tag(0), now));
        lookups += 1;
        assert!(lookups <= n.div_ceil(BUDGET), "lookups stopped removing");
    }
    let empty = set.stats().slots;
    assert!(
        empty < n as usize / 4,
        "{empty} slots still allocated for 0 entries (were {full})"
    );
    assert!(set.is_empty());
}

/// Turnover at the cap: every round's entries expire before the next round fills the set
/// again; no insert is refused for capacity while fewer than `cap` are held, and memory
/// never holds more than `cap` entries.
#[test]
fn capacity_caps_memory_through_turnover() {
    let cap = 1_000;
    let set = ReplaySet::new(cap);
    for round in 0..5u64 {
        let now = T + 10 * i64::try_from(round).expect("small");
        for i in 0..cap as u64 {
            set.insert_if_absent(tag(round * 10_000 + i), now + 5, now)
                .expect("room: the last round's entries have expired");
            let stats = set.stats();
            assert!(stats.stored <= cap, "{} stored, cap {cap}", stats.stored);
        }
        assert_eq!(
            set.insert_if_absent(tag(round * 10_000 + 9_999), now + 5, now),
            // The oldest entry stops being held one second after it expires.
            Err(ReplayError::Capacity {
                retry_after_secs: 6
            })
        );
    }
}

/// The set keys a tag by its two halves XORed: two tags that agree there are one entry.
/// The second is refused as a replay, never admitted twice.
#[test]
fn tags_with_the_same_key_are_one_entry() {
    let a = tag(1);
    let mut b = a;
    b.0[3] ^= 0x5a;
    b.0[3 + TAG_LEN / 2] ^= 0x5a;
    assert_ne!(a, b);
    let set = ReplaySet::new(16);
    assert_eq!(set.insert_if_absent(a, T, T), Ok(()));
    assert_eq!(set.insert_if_absent(b, T, T), Err(ReplayError::Replayed));
    assert!(set.contains(&b, T));
    // A tag differing in one half only is another entry.
    let mut c = a;
    c.0[3] ^= 0x5a;
    assert_eq!(set.insert_if_absent(c, T, T), Ok(()));
}

#[derive(Debug, Clone)]
enum Op {
    Insert { tag: u64, ttl: i64 },
    Contains { tag: u64 },
    Advance { secs: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..400, -5i64..40).prop_map(|(tag, ttl)| Op::Insert { tag, ttl }),
        2 => (0u64..400).prop_map(|tag| Op::Contains { tag }),
        2 => (-10i64..60).prop_map(|secs| Op::Advance { secs }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the clock and the inserts do: no call removes more than the budget, memory
    /// never exceeds the cap, held entries are in memory, and once the clock stops moving
    /// the expired ones are all removed within `stored / budget` calls.
    #[test]
    fn eviction_is_bounded_and_catches_up(
        cap in prop_oneof![Just(8usize), Just(100), Just(10_000)],
        shards in 1usize..4,
        bulk in 0u64..3_000,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let set = ReplaySet::sharded(cap, shards);
        let per_shard_cap = cap.div_ceil(shards);
        let mut now = T;
        // A burst that expires together, so that later calls have a backlog.
        for i in 0..bulk {
            let _ = set.insert_if_absent(tag(1_000_000 + i), now + 3, now);
        }
        let mut evicted = set.stats().evicted;
        for op in ops {
            match op {
                Op::Insert { tag: t, ttl } => {
                    let _ = set.insert_if_absent(tag(t), now + ttl, now);
                }
                Op::Contains { tag: t } => {
                    let _ = set.contains(&tag(t), now);
                }
                Op::Advance { secs } => {
                    now += secs;
                    continue;
                }
            }
            let stats = set.stats();
            prop_assert!(stats.evicted - evicted <= BUDGET);
            evicted = stats.evicted;
            prop_assert!(stats.held <= stats.stored);
            prop_assert!(stats.stored <= per_shard_cap * shards);
            prop_assert_eq!(stats.held, set.len());
        }
        // Lookups at a fixed time, one per shard each round, drain every expired entry.
        let rounds = set.stats().stored.div_ceil(EVICTION_BUDGET) + 1;
        for _ in 0..rounds {
            for t in 0..64 {
                let _ = set.contains(&tag(t), now);
            }
        }
        let stats = set.stats();
        prop_assert_eq!(stats.stored, stats.held);
    }
}

/// A set's Debug form shows its sizes, not its keys (a million of them, or any one).
#[test]
fn debug_shows_sizes_not_keys() {
    let set = filled(1_000);
    let text = format!("{set:?}");
    assert!(text.contains("held: 1000"), "{text}");
    assert!(text.len() < 1_000, "{} bytes", text.len());
    let full = tag(7).to_hex();
    assert!(!text.contains(&full[..16]));
}
