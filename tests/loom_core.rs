#![cfg(loom)]
//! First loom models of the core's building blocks, through the sync facade: every
//! interleaving of two threads is explored, and each model asserts what the operations'
//! atomicity promises. The store's races run on every lock strategy (one `#[test]` each,
//! named `<model>::<strategy>`, e.g. `concurrent_update_email_same_expected_version::key_locks`).
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release --target-dir target/loom --test loom_core`

use raceproof_core::auth::{Argon2Hasher, PasswordHash, PasswordHasher};
use raceproof_core::observe::{Event, Fact, NoProbe, Probe};
use raceproof_core::replay::{ReplayError, ReplaySet, ResourceFlags, TAG_LEN, Tag};
use raceproof_core::store::{Principal, Role, StoreError, User, UserStore};
use raceproof_core::sync::{Arc, Mutex, RwLock, ghost, thread};
use raceproof_core::table::{
    GlobalMutex, GlobalParkingLot, GlobalRwLock, KeyLocks, Sharded, Table,
};

/// One Argon2id hash, made outside the models (hashing is slow and allocates a lot); the
/// models only clone it into their stores.
fn password_hash() -> PasswordHash {
    Argon2Hasher::insecure_fast()
        .expect("random source")
        .hash("correct horse")
        .expect("hashable")
}

fn principal(user: &str, role: Role) -> Principal {
    Principal {
        user_id: user.to_owned(),
        role,
        credential_epoch: 0,
    }
}

/// Which outcomes a model's executions produced, across all explored interleavings: a model
/// that only ever ran one schedule would not prove anything about the others.
#[derive(Clone, Default)]
struct Outcomes(ghost::Arc<ghost::Mutex<std::collections::BTreeSet<String>>>);

impl Outcomes {
    fn saw(&self, outcome: impl Into<String>) {
        ghost::lock(&self.0).insert(outcome.into());
    }

    fn assert_all_seen(&self, expected: &[&str]) {
        let seen = ghost::lock(&self.0);
        let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
        assert_eq!(seen, expected, "outcomes explored");
    }
}

/// Records the facts the store reports, in commit order. Ghost storage: it adds no loom
/// branch point.
#[derive(Clone, Default)]
struct Recorder(ghost::Arc<ghost::Mutex<Vec<Fact>>>);

impl Probe for Recorder {
    fn record(&self, event: impl FnOnce() -> Event) {
        ghost::lock(&self.0).push(event().fact);
    }
}

impl Recorder {
    fn roles_set(&self) -> Vec<(String, Role)> {
        ghost::lock(&self.0)
            .iter()
            .filter_map(|fact| match fact {
                Fact::RoleSet { user, role } => Some((user.clone(), *role)),
                _ => None,
            })
            .collect()
    }
}

/// One `#[test]` per lock strategy, in a module named after the model:
/// `per_strategy!(module = model)` runs `model::<T>()` as `module::global_mutex` and so on.
macro_rules! per_strategy {
    ($module:ident = $model:ident) => {
        mod $module {
            use super::*;

            #[test]
            fn global_mutex() {
                $model::<GlobalMutex<User>>();
            }

            #[test]
            fn global_parking_lot() {
                $model::<GlobalParkingLot<User>>();
            }

            #[test]
            fn global_rwlock() {
                $model::<GlobalRwLock<User>>();
            }

            #[test]
            fn sharded_2() {
                $model::<Sharded<User, 2>>();
            }

            #[test]
            fn key_locks() {
                $model::<KeyLocks<User>>();
            }
        }
    };
}

per_strategy!(concurrent_update_email_same_expected_version = update_email_race);

/// (a) Two compare-and-sets from the same version: exactly one applies, on strategy `T`.
fn update_email_race<T: Table<User> + Default + 'static>() {
    let hash = password_hash();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with(T::default(), NoProbe));
        store
            .insert("alice", hash.clone(), Role::User, "old@example.com")
            .expect("valid");
        let alice = principal("alice", Role::User);

        let handles: Vec<_> = ["one@example.com", "two@example.com"]
            .into_iter()
            .map(|email| {
                let (store, alice) = (Arc::clone(&store), alice.clone());
                thread::spawn(move || (email, store.update_email(&alice, Some(1), email)))
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();

        let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one update applies: {results:?}");
        let (winner_email, winner) = winners[0];
        assert_eq!(*winner, Ok(2));
        for (_, result) in &results {
            if result.is_err() {
                assert_eq!(*result, Err(StoreError::PreconditionFailed { current: 2 }));
            }
        }
        let record = store.get("alice").expect("exists");
        assert_eq!(record.version, 2);
        assert_eq!(
            record.email, *winner_email,
            "the winner's write is the one kept"
        );
        seen.saw(*winner_email);
    });
    outcomes.assert_all_seen(&["one@example.com", "two@example.com"]);
}

per_strategy!(promote_races_demote_of_the_acting_admin = promote_races_demote);

/// (b) Alice promotes carol while bob demotes alice. Check and write are one critical
/// section, so the outcome is one of the two serial orders: either the promotion committed
/// first (both succeed), or the demotion did and the promotion is refused. A promotion that
/// succeeds and commits after alice lost her role would be a TOCTOU.
fn promote_races_demote<T: Table<User> + Default + 'static>() {
    let hash = password_hash();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with(T::default(), Recorder::default()));
        for (user, role) in [
            ("alice", Role::Admin),
            ("bob", Role::Admin),
            ("carol", Role::User),
        ] {
            store
                .insert(user, hash.clone(), role, "x@example.com")
                .expect("valid");
        }
        let inserts = store.probe().roles_set().len();

        let promote = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.promote(&principal("alice", Role::Admin), "carol"))
        };
        let demote = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.demote(&principal("bob", Role::Admin), "alice"))
        };
        let promoted = promote.join().expect("no panic");
        let demoted = demote.join().expect("no panic");

        // Two admins, bob one of them: the demotion always goes through.
        assert_eq!(demoted, Ok(()));
        let writes = store.probe().roles_set().split_off(inserts);
        let carol = store.get("carol").expect("exists").role;
        assert_eq!(store.get("alice").expect("exists").role, Role::User);
        match promoted {
            Ok(()) => {
                // Serial order: promote, then demote.
                assert_eq!(
                    writes,
                    [
                        ("carol".to_owned(), Role::Admin),
                        ("alice".to_owned(), Role::User)
                    ],
                    "a successful promotion committed after the actor was demoted"
                );
                assert_eq!(carol, Role::Admin);
                seen.saw("promote first");
            }
            Err(e) => {
                // Serial order: demote, then promote, refused for lack of the role.
                assert_eq!(e, StoreError::Forbidden);
                assert_eq!(writes, [("alice".to_owned(), Role::User)]);
                assert_eq!(carol, Role::User);
                seen.saw("demote first");
            }
        }
    });
    outcomes.assert_all_seen(&["demote first", "promote first"]);
}

type SharedStore<T> = Arc<UserStore<T, NoProbe>>;

/// Two admins, alice and bob, demote `targets[i]` as `[alice, bob][i]` at once; returns the
/// store and both results, in that order. One critical section each, so one must lose.
fn race_two_admins<T: Table<User> + Default + 'static>(
    hash: &PasswordHash,
    targets: [&'static str; 2],
) -> (SharedStore<T>, Vec<Result<(), StoreError>>) {
    let store = Arc::new(UserStore::with(T::default(), NoProbe));
    for user in ["alice", "bob"] {
        store
            .insert(user, hash.clone(), Role::Admin, "x@example.com")
            .expect("valid");
    }
    let handles: Vec<_> = ["alice", "bob"]
        .into_iter()
        .zip(targets)
        .map(|(actor, target)| {
            let store = Arc::clone(&store);
            thread::spawn(move || store.demote(&principal(actor, Role::Admin), target))
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
    (store, results)
}

per_strategy!(mutual_demotion_leaves_an_admin = mutual_demotion);

/// (b') Two admins demote each other: the admin count is read with the write, so there is
/// no write skew; exactly one succeeds and an admin remains.
fn mutual_demotion<T: Table<User> + Default + 'static>() {
    let hash = password_hash();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let (store, results) = race_two_admins::<T>(&hash, ["bob", "alice"]);
        // The loser was demoted before it could act.
        assert!(results.contains(&Err(StoreError::Forbidden)), "{results:?}");
        let admins = ["alice", "bob"]
            .iter()
            .filter(|u| store.get(u).expect("exists").role == Role::Admin)
            .count();
        assert_eq!(admins, 1);
        let survivor = if results[0].is_ok() {
            "alice won"
        } else {
            "bob won"
        };
        seen.saw(survivor);
    });
    outcomes.assert_all_seen(&["alice won", "bob won"]);
}

per_strategy!(concurrent_self_demotions_leave_an_admin = self_demotions);

/// (b'') Two admins step down at the same time: each alone would be allowed, both together
/// would leave no admin. Only a count read in the same critical section as the write
/// refuses the second one.
fn self_demotions<T: Table<User> + Default + 'static>() {
    let hash = password_hash();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let (store, results) = race_two_admins::<T>(&hash, ["alice", "bob"]);
        assert!(results.contains(&Err(StoreError::LastAdmin)), "{results:?}");
        let admins: Vec<_> = ["alice", "bob"]
            .into_iter()
            .filter(|u| store.get(u).expect("exists").role == Role::Admin)
            .collect();
        assert_eq!(admins.len(), 1, "exactly one admin remains");
        // The one who stepped down first is the one who is no longer an admin.
        let stepped_down = if results[0].is_ok() { "alice" } else { "bob" };
        assert!(!admins.contains(&stepped_down));
        seen.saw(stepped_down);
    });
    outcomes.assert_all_seen(&["alice", "bob"]);
}

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
        let set = Arc::new(ReplaySet::sharded(16, shards, NoProbe));
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
