#![cfg(loom)]
//! First loom models of the core's building blocks, through the sync facade: every
//! interleaving of two threads is explored, and each model asserts what the operations'
//! atomicity promises. The store's races run on every lock strategy that
//! `raceproof_core::table::for_each_strategy` lists (one `#[test]` per model, walking them
//! all; a failure prints the strategy it happened on).
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p raceproof-core --test loom_core` (add
//! `--target-dir target/loom` to keep the normal build). The replay set's, the resource
//! flags' and the facade's models are in `loom_primitives.rs`.

mod common;

use common::outcomes::Outcomes;
use raceproof_core::audit::{Action, Commit};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::service::Accounts;
use raceproof_core::store::{Principal, Role, StoreError, User, UserStore};
use raceproof_core::sync::{Arc, thread};
use raceproof_core::table::{StrategyVisitor, Table, for_each_strategy};

const PASSWORD: &str = "correct horse";

/// The cheapest Argon2id and one hash of [`PASSWORD`], made outside the models (hashing is
/// slow and allocates a lot); the models clone the hash into their stores and verify it
/// once per principal.
fn fixture() -> (Argon2Hasher, PasswordHash) {
    let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
    let hash = hasher.hash(PASSWORD).expect("hashable");
    (hasher, hash)
}

/// `user`'s principal, authenticated with [`PASSWORD`] (before any thread is spawned, so
/// it adds no interleaving).
fn login<T: Table<User>>(store: &UserStore<T>, hasher: &Argon2Hasher, user: &str) -> Principal {
    let credentials = Credentials::new(user, PASSWORD).expect("valid credentials");
    Accounts::new(store, hasher)
        .authenticate(&credentials)
        .expect("the fixture's password")
}

/// Every commit in `store`'s audit log was authorized when it landed.
fn all_authorized<T: Table<User>>(store: &UserStore<T>) -> Vec<Commit> {
    let audit = store.audit();
    for commit in &audit {
        assert_eq!(commit.authorized(), Ok(()), "{commit:?}");
    }
    audit
}

/// A store model, generic over the lock strategy.
trait StoreModel {
    fn run<T: Table<User> + Default + 'static>(&self);
}

/// Runs `model` on every strategy `for_each_strategy` lists.
fn on_every_strategy(model: impl StoreModel) {
    struct Visit<M>(M);
    impl<M: StoreModel> StrategyVisitor<User> for Visit<M> {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            println!("strategy {name}");
            self.0.run::<T>();
        }
    }
    for_each_strategy(&mut Visit(model));
}

/// `every_strategy!(test = model)`: a `#[test]` named `test` running `model::<T>()` on
/// every lock strategy.
macro_rules! every_strategy {
    ($test:ident = $model:ident) => {
        #[test]
        fn $test() {
            struct Model;
            impl StoreModel for Model {
                fn run<T: Table<User> + Default + 'static>(&self) {
                    $model::<T>();
                }
            }
            on_every_strategy(Model);
        }
    };
}

every_strategy!(concurrent_update_email_same_expected_version = update_email_race);

/// (a) Two compare-and-sets from the same version: exactly one applies, on strategy `T`.
fn update_email_race<T: Table<User> + Default + 'static>() {
    let (hasher, hash) = fixture();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with_table(T::default()));
        store
            .insert("alice", hash.clone(), Role::User, "old@example.com")
            .expect("valid");
        let alice = login(&store, &hasher, "alice");

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
        // One commit, the winner's, and nothing from the refused update.
        let actions: Vec<_> = all_authorized(&store)
            .into_iter()
            .map(|c| c.action)
            .collect();
        assert_eq!(
            actions,
            [Action::UpdateEmail {
                user: "alice".to_owned(),
                email: (*winner_email).to_owned(),
                version: 2,
            }]
        );
        seen.saw(*winner_email);
    });
    outcomes.assert_all_seen(&["one@example.com", "two@example.com"]);
}

every_strategy!(promote_races_demote_of_the_acting_admin = promote_races_demote);

/// (b) Alice promotes carol while bob demotes alice. Check and write are one critical
/// section, so the outcome is one of the two serial orders: either the promotion committed
/// first (both succeed), or the demotion did and the promotion is refused. A promotion that
/// succeeds and commits after alice lost her role would be a TOCTOU: the audit log, written
/// in each write's critical section, shows the commit order and the authority of each.
fn promote_races_demote<T: Table<User> + Default + 'static>() {
    let (hasher, hash) = fixture();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with_table(T::default()));
        for (user, role) in [
            ("alice", Role::Admin),
            ("bob", Role::Admin),
            ("carol", Role::User),
        ] {
            store
                .insert(user, hash.clone(), role, "x@example.com")
                .expect("valid");
        }
        let (alice, bob) = (
            login(&store, &hasher, "alice"),
            login(&store, &hasher, "bob"),
        );

        let promote = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.promote(&alice, "carol"))
        };
        let demote = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.demote(&bob, "alice"))
        };
        let promoted = promote.join().expect("no panic");
        let demoted = demote.join().expect("no panic");

        // Two admins, bob one of them: the demotion always goes through.
        assert_eq!(demoted, Ok(()));
        let writes: Vec<_> = all_authorized(&store)
            .into_iter()
            .map(|c| (c.actor, c.action))
            .collect();
        let promotion = (
            "alice".to_owned(),
            Action::Promote {
                target: "carol".to_owned(),
            },
        );
        let demotion = (
            "bob".to_owned(),
            Action::Demote {
                target: "alice".to_owned(),
            },
        );
        let carol = store.get("carol").expect("exists").role;
        assert_eq!(store.get("alice").expect("exists").role, Role::User);
        match promoted {
            Ok(()) => {
                // Serial order: promote, then demote.
                assert_eq!(
                    writes,
                    [promotion, demotion],
                    "a successful promotion committed after the actor was demoted"
                );
                assert_eq!(carol, Role::Admin);
                seen.saw("promote first");
            }
            Err(e) => {
                // Serial order: demote, then promote, refused for lack of the role.
                assert_eq!(e, StoreError::Forbidden);
                assert_eq!(writes, [demotion]);
                assert_eq!(carol, Role::User);
                seen.saw("demote first");
            }
        }
    });
    outcomes.assert_all_seen(&["demote first", "promote first"]);
}

every_strategy!(insert_never_revives_revoked_credentials = insert_races_password_change);

/// (b3) Bob changes his password while someone re-inserts bob with the old one. Were
/// insert an overwrite, the re-insert could land after the change and reset bob's epoch,
/// making the revoked principal valid again; an existing user is never replaced, so in
/// every order the insert is refused and bob's counters only go forward.
fn insert_races_password_change<T: Table<User> + Default + 'static>() {
    let (hasher, hash) = fixture();
    let new_hash = hasher.hash("battery staple").expect("hashable");
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with_table(T::default()));
        store
            .insert("bob", hash.clone(), Role::User, "bob@example.com")
            .expect("valid");
        let bob = login(&store, &hasher, "bob");

        let change = {
            let (store, bob, new_hash) = (Arc::clone(&store), bob.clone(), new_hash.clone());
            thread::spawn(move || store.change_password(&bob, "bob", new_hash))
        };
        let insert = {
            let (store, hash) = (Arc::clone(&store), hash.clone());
            thread::spawn(move || {
                let before = store.get("bob").map(|u| u.credential_epoch);
                let result = store.insert("bob", hash, Role::Admin, "evil@example.com");
                (before, result)
            })
        };
        assert_eq!(change.join().expect("no panic"), Ok(()));
        let (epoch_seen, inserted) = insert.join().expect("no panic");
        assert_eq!(inserted, Err(StoreError::AlreadyExists));

        let record = store.get("bob").expect("exists");
        assert_eq!(
            (
                record.role,
                record.email.as_str(),
                record.version,
                record.credential_epoch
            ),
            (Role::User, "bob@example.com", 2, 1)
        );
        assert_eq!(record.password, new_hash, "the new password is kept");
        assert_eq!(
            store.update_email(&bob, None, "b@example.com"),
            Err(StoreError::CredentialsRevoked)
        );
        seen.saw(match epoch_seen {
            Some(0) => "insert saw the old epoch",
            Some(_) => "insert saw the new epoch",
            None => "insert saw no bob",
        });
    });
    outcomes.assert_all_seen(&["insert saw the new epoch", "insert saw the old epoch"]);
}

type SharedStore<T> = Arc<UserStore<T>>;

/// Two admins, alice and bob, demote `targets[i]` as `[alice, bob][i]` at once; returns the
/// store and both results, in that order. One critical section each, so one must lose.
fn race_two_admins<T: Table<User> + Default + 'static>(
    (hasher, hash): &(Argon2Hasher, PasswordHash),
    targets: [&'static str; 2],
) -> (SharedStore<T>, Vec<Result<(), StoreError>>) {
    let store = Arc::new(UserStore::with_table(T::default()));
    for user in ["alice", "bob"] {
        store
            .insert(user, hash.clone(), Role::Admin, "x@example.com")
            .expect("valid");
    }
    let handles: Vec<_> = ["alice", "bob"]
        .into_iter()
        .zip(targets)
        .map(|(actor, target)| {
            let (store, actor) = (Arc::clone(&store), login(&store, hasher, actor));
            thread::spawn(move || store.demote(&actor, target))
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
    assert_eq!(all_authorized(&store).len(), 1, "one commit: the winner's");
    (store, results)
}

every_strategy!(mutual_demotion_leaves_an_admin = mutual_demotion);

/// (b') Two admins demote each other: the admin count is read with the write, so there is
/// no write skew; exactly one succeeds and an admin remains.
fn mutual_demotion<T: Table<User> + Default + 'static>() {
    let fixture = fixture();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let (store, results) = race_two_admins::<T>(&fixture, ["bob", "alice"]);
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

every_strategy!(concurrent_self_demotions_leave_an_admin = self_demotions);

/// (b'') Two admins step down at the same time: each alone would be allowed, both together
/// would leave no admin. Only a count read in the same critical section as the write
/// refuses the second one.
fn self_demotions<T: Table<User> + Default + 'static>() {
    let fixture = fixture();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let (store, results) = race_two_admins::<T>(&fixture, ["alice", "bob"]);
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

every_strategy!(concurrent_inserts_of_one_user_admit_one = concurrent_inserts);

/// (b4) Two threads insert the same new user: the check and the insert are one critical
/// section, so exactly one is kept, whole, at version 1 and epoch 0.
fn concurrent_inserts<T: Table<User> + Default + 'static>() {
    let (_, hash) = fixture();
    let outcomes = Outcomes::default();
    let seen = outcomes.clone();
    loom::model(move || {
        let store = Arc::new(UserStore::with_table(T::default()));
        let handles: Vec<_> = [
            (Role::User, "one@example.com"),
            (Role::Admin, "two@example.com"),
        ]
        .into_iter()
        .map(|(role, email)| {
            let (store, hash) = (Arc::clone(&store), hash.clone());
            thread::spawn(move || store.insert("dave", hash, role, email))
        })
        .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();
        assert!(
            results.contains(&Err(StoreError::AlreadyExists)),
            "{results:?}"
        );
        let winner = results
            .iter()
            .position(Result::is_ok)
            .expect("one insert wins");
        let record = store.get("dave").expect("inserted");
        let (role, email) = [
            (Role::User, "one@example.com"),
            (Role::Admin, "two@example.com"),
        ][winner];
        assert_eq!(
            (
                record.role,
                record.email.as_str(),
                record.version,
                record.credential_epoch
            ),
            (role, email, 1, 0),
            "the winner's record, whole"
        );
        seen.saw(email);
    });
    outcomes.assert_all_seen(&["one@example.com", "two@example.com"]);
}
