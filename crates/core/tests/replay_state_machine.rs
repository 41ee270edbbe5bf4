#![cfg(not(loom))]
//! `ReplaySet` against a reference model: a map tag -> expiry, from which every entry whose
//! expiry is before `now` is dropped at each insert or lookup, capped in size. The clock
//! mostly moves forward but may step back, as a wall clock can: an entry that expires
//! before the latest `now` seen is refused as stale, since it may have been evicted.
//!
//! The set runs with one shard and with three. A sharded set is modelled exactly, not
//! approximately: it is `shards` independent one-shard sets, a tag always going to shard
//! `u64::from_le_bytes(first 8 bytes) % shards`, each shard holding up to
//! `capacity.div_ceil(shards)` entries, evicting and keeping its stale horizon on its own
//! (a tag is only ever evicted from its own shard, so that shard's horizon is the one that
//! matters). The model is therefore one copy of the one-shard model per shard, and the
//! capacities generated do make `Capacity` trigger in the sharded instance.

use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use raceproof_core::replay::{ReplayError, ReplaySet, TAG_LEN, Tag};
use std::collections::BTreeMap;

const TAGS: usize = 6;

/// Distinct tags that share most bytes, and whose order differs from their index. Tags `i`
/// and `i + 3` share their first eight bytes (the word the set hashes and shards by), so
/// they collide in a map and share a shard; with three shards, tag `i` is in shard `i % 3`
/// (the word is `0xa5a5..a5` plus `i % 3`, and `0xa5a5..a5` is a multiple of 3).
fn tag(i: usize) -> Tag {
    let mut bytes = [0xa5u8; TAG_LEN];
    bytes[0] += u8::try_from(i % 3).expect("small");
    bytes[TAG_LEN - 1] = u8::try_from(TAGS - i).expect("small");
    Tag(bytes)
}

/// The shard a `shards`-way set puts `tag(i)` in, as `ReplaySet` documents it.
fn shard_of(i: usize, shards: usize) -> usize {
    let word = u64::from_le_bytes(*tag(i).0.first_chunk::<8>().expect("32 bytes"));
    usize::try_from(word % shards as u64).expect("below the shard count")
}

/// One shard: what the whole set was with a single shard.
#[derive(Debug, Clone)]
struct ShardModel {
    /// The latest `now` an insert or lookup in this shard ran at.
    horizon: i64,
    held: BTreeMap<usize, i64>,
}

impl ShardModel {
    fn evict(&mut self, now: i64) {
        self.horizon = self.horizon.max(now);
        self.held.retain(|_, expiry| *expiry >= now);
    }
}

#[derive(Debug, Clone)]
struct Model {
    /// The capacity the set was built with, for all its shards together.
    capacity: usize,
    /// `capacity.div_ceil(shards)`: what each shard holds at most.
    per_shard: usize,
    now: i64,
    shards: Vec<ShardModel>,
    last: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Inserted(Result<(), ReplayError>),
    Contains(bool),
    Len(usize),
    Advanced,
}

#[derive(Debug, Clone)]
enum Transition {
    /// Insert tag `tag`, to expire `ttl` seconds from now (negative: already expired).
    Insert {
        tag: usize,
        ttl: i64,
    },
    Contains {
        tag: usize,
    },
    Len,
    /// Move the clock (backwards when negative).
    Advance {
        secs: i64,
    },
}

impl Model {
    /// Tag `i`'s shard, evicted at the current time, as every insert and lookup does.
    fn evicted_shard(&mut self, i: usize) -> &mut ShardModel {
        let (now, index) = (self.now, shard_of(i, self.shards.len()));
        let shard = &mut self.shards[index];
        shard.evict(now);
        shard
    }

    fn held(&self) -> usize {
        self.shards.iter().map(|s| s.held.len()).sum()
    }
}

/// A `ReplaySet` with `SHARDS` shards against the model.
struct ReplaySetMachine<const SHARDS: usize>;

impl<const SHARDS: usize> ReferenceStateMachine for ReplaySetMachine<SHARDS> {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        (1usize..5, -1000i64..1000)
            .prop_map(|(capacity, now)| Model {
                capacity,
                per_shard: capacity.div_ceil(SHARDS),
                now,
                shards: vec![
                    ShardModel {
                        horizon: i64::MIN,
                        held: BTreeMap::new(),
                    };
                    SHARDS
                ],
                last: None,
            })
            .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Transition> {
        prop_oneof![
            4 => (0..TAGS, prop_oneof![Just(0i64), Just(-1), -3i64..12])
                .prop_map(|(tag, ttl)| Transition::Insert { tag, ttl }),
            2 => (0..TAGS).prop_map(|tag| Transition::Contains { tag }),
            1 => Just(Transition::Len),
            2 => prop_oneof![Just(0i64), Just(1), 0i64..6]
                .prop_map(|secs| Transition::Advance { secs }),
            1 => (-5i64..0).prop_map(|secs| Transition::Advance { secs }),
        ]
        .boxed()
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        let outcome = match *transition {
            Transition::Insert { tag, ttl } => {
                let (expires_at, per_shard) = (state.now + ttl, state.per_shard);
                let shard = state.evicted_shard(tag);
                let result = if shard.held.contains_key(&tag) {
                    Err(ReplayError::Replayed)
                } else if expires_at < shard.horizon {
                    Err(ReplayError::Stale)
                } else if shard.held.len() >= per_shard {
                    // Space frees when the earliest held entry stops being held.
                    let earliest = shard.held.values().min().copied().unwrap_or(state.now);
                    Err(ReplayError::Capacity {
                        retry_after_secs: u64::try_from(earliest + 1 - state.now)
                            .unwrap_or(1)
                            .max(1),
                    })
                } else {
                    shard.held.insert(tag, expires_at);
                    Ok(())
                };
                Outcome::Inserted(result)
            }
            Transition::Contains { tag } => {
                Outcome::Contains(state.evicted_shard(tag).held.contains_key(&tag))
            }
            // `len` does not evict: expired entries count until their shard's next insert
            // or lookup.
            Transition::Len => Outcome::Len(state.held()),
            Transition::Advance { secs } => {
                state.now += secs;
                Outcome::Advanced
            }
        };
        state.last = Some(outcome);
        state
    }
}

struct Sut {
    set: ReplaySet,
    now: i64,
}

impl<const SHARDS: usize> StateMachineTest for ReplaySetMachine<SHARDS> {
    type SystemUnderTest = Sut;
    type Reference = Self;

    fn init_test(model: &Model) -> Sut {
        Sut {
            set: ReplaySet::sharded(model.capacity, SHARDS),
            now: model.now,
        }
    }

    fn apply(mut sut: Sut, model: &Model, transition: Transition) -> Sut {
        let got = match transition {
            Transition::Insert { tag: t, ttl } => {
                Outcome::Inserted(sut.set.insert_if_absent(tag(t), sut.now + ttl, sut.now))
            }
            Transition::Contains { tag: t } => {
                Outcome::Contains(sut.set.contains(&tag(t), sut.now))
            }
            Transition::Len => Outcome::Len(sut.set.len()),
            Transition::Advance { secs } => {
                sut.now += secs;
                Outcome::Advanced
            }
        };
        assert_eq!(
            Some(&got),
            model.last.as_ref(),
            "{transition:?} at now = {}",
            sut.now
        );
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.now, model.now);
        for shard in &model.shards {
            // Nothing held has expired at the shard's latest reading: it could not be
            // refused as stale.
            assert!(shard.held.values().all(|&expiry| expiry >= shard.horizon));
            assert!(shard.held.len() <= model.per_shard);
        }
        assert_eq!(sut.set.len(), model.held());
        assert_eq!(sut.set.is_empty(), model.held() == 0);
        // Rounding each shard's share up lets a sharded set hold up to `shards - 1` more.
        assert!(sut.set.len() <= model.per_shard * SHARDS);
        if SHARDS == 1 {
            assert!(sut.set.len() <= model.capacity);
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replay_set_matches_reference_model(sequential 1..60 => ReplaySetMachine<1>);

    #[test]
    fn sharded_replay_set_matches_reference_model(sequential 1..60 => ReplaySetMachine<3>);
}

/// The tags do spread over the shards (else the three-shard model test would be the
/// one-shard one), and the set puts them where the model does: with one entry per shard,
/// each of tags 0, 1, 2 has room, and tag 3 finds tag 0's shard full.
#[test]
fn tags_spread_over_three_shards_as_modelled() {
    let shards: Vec<_> = (0..TAGS).map(|i| shard_of(i, 3)).collect();
    assert_eq!(shards, [0, 1, 2, 0, 1, 2]);
    let set = ReplaySet::sharded(3, 3);
    for i in 0..3 {
        set.insert_if_absent(tag(i), 100, 0)
            .expect("its own shard has room");
    }
    assert_eq!(
        set.insert_if_absent(tag(3), 100, 0),
        Err(ReplayError::Capacity {
            retry_after_secs: 101
        })
    );
    assert_eq!(set.len(), 3);
}

/// Each shard evicts, and keeps its stale horizon, on its own.
#[test]
fn shards_evict_and_keep_their_horizon_independently() {
    let set = ReplaySet::sharded(6, 3);
    set.insert_if_absent(tag(0), 10, 0).expect("room");
    set.insert_if_absent(tag(1), 10, 0).expect("room");
    // A lookup in shard 0 at 50 evicts tag 0; tag 1, expired too, waits for shard 1's turn.
    assert!(!set.contains(&tag(3), 50));
    assert_eq!(set.len(), 1);
    // Back at 5: shard 0 has seen 50, so tag 0 (which it may have evicted) is stale there;
    // shard 1 has seen only 0, so tag 4 is admitted, and tag 1 is still held.
    assert_eq!(set.insert_if_absent(tag(0), 20, 5), Err(ReplayError::Stale));
    set.insert_if_absent(tag(4), 20, 5)
        .expect("shard 1 has not seen 50");
    assert_eq!(
        set.insert_if_absent(tag(1), 20, 5),
        Err(ReplayError::Replayed)
    );
}

/// Eviction is by expiry, not by insertion order: a later insert that expires sooner goes
/// first.
#[test]
fn eviction_follows_expiry_not_insertion_order() {
    let set = ReplaySet::new(2);
    set.insert_if_absent(tag(0), 100, 0).expect("room");
    set.insert_if_absent(tag(1), 10, 0).expect("room");
    assert_eq!(
        set.insert_if_absent(tag(2), 50, 10),
        Err(ReplayError::Capacity {
            retry_after_secs: 1
        })
    );
    // At 11, tag 1 (expiry 10) is gone and tag 0 (expiry 100) is not.
    set.insert_if_absent(tag(2), 50, 11).expect("tag 1 evicted");
    assert!(set.contains(&tag(0), 11));
    assert!(!set.contains(&tag(1), 11));
    assert_eq!(
        set.insert_if_absent(tag(0), 200, 11),
        Err(ReplayError::Replayed)
    );
}

/// An entry evicted at a later clock reading cannot come back when the clock steps back.
#[test]
fn evicted_entry_is_not_readmitted_after_the_clock_steps_back() {
    let set = ReplaySet::new(4);
    set.insert_if_absent(tag(0), 10, 0).expect("room");
    assert!(!set.contains(&tag(0), 11), "evicted at 11");
    assert_eq!(set.insert_if_absent(tag(0), 10, 5), Err(ReplayError::Stale));
    // Entries that outlive the latest reading are still accepted.
    set.insert_if_absent(tag(1), 11, 5)
        .expect("expires at the horizon");
}
