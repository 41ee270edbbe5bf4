#![cfg(loom)]
//! loom models of the core's primitives below the store, through the sync facade: the
//! replay set's insert-if-absent, the resource flags' compare-and-swap, and the facade's
//! locks. Every interleaving of two threads is explored.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p raceproof-core --test loom_primitives`
//! (add `--target-dir target/loom` to keep the normal build).

mod common;

use common::outcomes::Outcomes;
use raceproof_core::replay::{ReplayError, ReplaySet, ResourceFlags, TAG_LEN, Tag};
use raceproof_core::sync::{Arc, Mutex, RwLock, thread};

/// (c) Two threads insert the same tag: the check and the insert are one critical section.
#[test]
fn concurrent_insert_of_the_same_tag() {
    same_tag_inserted_twice(1);
}

/// (c') The same race in a set of two shards (the tag's word is odd: shard 1).
#[test]
fn concurrent_insert_of_the_same_tag_sharded() {
    same_tag_inserted_twice(2);
}

fn same_tag_inserted_twice(shards: usize) {
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let set = Arc::new(ReplaySet::sharded(16, shards));
        let tag = Tag([7; TAG_LEN]);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let set = Arc::clone(&set);
                thread::spawn(move || set.insert_if_absent(tag, 100, 0))
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results.contains(&Err(ReplayError::Replayed)), "{results:?}");
        assert_eq!(set.len(), 1);
        assert!(set.contains(&tag, 0));
        seen.saw(if results[0].is_ok() {
            "first won"
        } else {
            "second won"
        });
    });
    outcomes.assert_all_seen(&["first won", "second won"]);
}

/// (c'') Two threads claim the same resource flag: the compare-and-swap lets exactly one
/// through, and the other resource is untouched.
#[test]
fn concurrent_claims_of_the_same_resource() {
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let flags = Arc::new(ResourceFlags::new(["r1", "r2"]));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let flags = Arc::clone(&flags);
                thread::spawn(move || flags.claim("r1"))
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results.contains(&Err(ReplayError::Replayed)), "{results:?}");
        assert_eq!(flags.claim("r1"), Err(ReplayError::Replayed));
        assert_eq!(flags.claim("r2"), Ok(()));
        seen.saw(if results[0].is_ok() {
            "first won"
        } else {
            "second won"
        });
    });
    outcomes.assert_all_seen(&["first won", "second won"]);
}

/// (d) The facade's locks under loom: increments under the lock are never lost, and a
/// reader never sees a value the writers did not produce.
#[test]
fn facade_locks_serialize_increments() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0usize));
        let rwlock = Arc::new(RwLock::new(0usize));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (mutex, rwlock) = (Arc::clone(&mutex), Arc::clone(&rwlock));
                thread::spawn(move || {
                    *mutex.lock() += 1;
                    *rwlock.write() += 1;
                    let read = *rwlock.read();
                    assert!((1..=2).contains(&read), "read {read}");
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("no panic");
        }
        assert_eq!(*mutex.lock(), 2);
        assert_eq!(*rwlock.read(), 2);
        let mutex = Arc::try_unwrap(mutex)
            .map_err(|_| "still shared")
            .expect("sole owner");
        assert_eq!(mutex.into_inner(), 2);
    });
}
