#![cfg(not(loom))]
//! `ReplaySet` against a reference model: a map tag -> expiry, from which every entry whose
//! expiry is before `now` is dropped at each insert or lookup, capped in size. The clock
//! mostly moves forward but may step back, as a wall clock can: an entry that expires
//! before the latest `now` seen is refused as stale, since it may have been evicted.

use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use raceproof_core::replay::{ReplayError, ReplaySet, TAG_LEN, Tag};
use std::collections::BTreeMap;

const TAGS: usize = 6;

fn tag(i: usize) -> Tag {
    // Distinct tags that share most bytes, and whose order differs from their index.
    let mut bytes = [0xa5u8; TAG_LEN];
    bytes[TAG_LEN - 1] = u8::try_from((i * 7) % TAGS).expect("small");
    Tag(bytes)
}

#[derive(Debug, Clone)]
struct Model {
    capacity: usize,
    now: i64,
    /// The latest `now` an insert or lookup ran at.
    horizon: i64,
    held: BTreeMap<usize, i64>,
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
    fn evict(&mut self) {
        let now = self.now;
        self.horizon = self.horizon.max(now);
        self.held.retain(|_, expiry| *expiry >= now);
    }
}

struct ReplaySetMachine;

impl ReferenceStateMachine for ReplaySetMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        (1usize..5, -1000i64..1000)
            .prop_map(|(capacity, now)| Model {
                capacity,
                now,
                horizon: i64::MIN,
                held: BTreeMap::new(),
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
                state.evict();
                let result = if state.held.contains_key(&tag) {
                    Err(ReplayError::Replayed)
                } else if state.now + ttl < state.horizon {
                    Err(ReplayError::Stale)
                } else if state.held.len() >= state.capacity {
                    Err(ReplayError::Capacity)
                } else {
                    state.held.insert(tag, state.now + ttl);
                    Ok(())
                };
                Outcome::Inserted(result)
            }
            Transition::Contains { tag } => {
                state.evict();
                Outcome::Contains(state.held.contains_key(&tag))
            }
            // `len` does not evict: expired entries count until the next insert or lookup.
            Transition::Len => Outcome::Len(state.held.len()),
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

impl StateMachineTest for ReplaySetMachine {
    type SystemUnderTest = Sut;
    type Reference = ReplaySetMachine;

    fn init_test(model: &Model) -> Sut {
        Sut {
            set: ReplaySet::new(model.capacity),
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
        // Nothing held has expired at the latest reading: it could not be refused as stale.
        assert!(model.held.values().all(|&expiry| expiry >= model.horizon));
        assert_eq!(sut.set.len(), model.held.len());
        assert_eq!(sut.set.is_empty(), model.held.is_empty());
        assert!(sut.set.len() <= model.capacity);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replay_set_matches_reference_model(sequential 1..60 => ReplaySetMachine);
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
        Err(ReplayError::Capacity)
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
