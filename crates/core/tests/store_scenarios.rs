#![cfg(not(loom))]
//! The versioned user store, by hand, on every lock strategy: outcomes the reference model
//! (`store_state_machine`) must be able to produce, pinned so that a model that drifted
//! into agreeing with a broken store would be caught; and inserts, which never replace an
//! existing user.

mod common;

use common::{FIXTURE, PASSWORDS, StrategyCheck, on_every_strategy};
use raceproof_core::auth::Credentials;
use raceproof_core::backend::BackendError;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, StoreError, User, UserStore};
use raceproof_core::table::Table;

#[test]
fn hand_written_scenario_on_every_strategy() {
    struct HandWritten;
    impl StrategyCheck for HandWritten {
        fn check<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            println!("strategy {name}");
            hand_written_scenario::<T>();
        }
    }
    on_every_strategy(HandWritten);
}

/// A few outcomes the model must be able to produce, pinned by hand so that a model that
/// drifted into agreeing with a broken store would be caught.
fn hand_written_scenario<T: Table<User> + Default>() {
    let f = &*FIXTURE;
    let store = UserStore::with_table(T::default()).require_precondition(true);
    store
        .insert("alice", f.hashes[0].clone(), Role::Admin, "a@x")
        .expect("valid");
    store
        .insert("bob", f.hashes[1].clone(), Role::User, "b@x")
        .expect("valid");
    let accounts = Accounts::new(&store, &f.hasher);
    let login = |u: &str, p: &str| accounts.authenticate(&Credentials::new(u, p).expect("valid"));
    let alice = login("alice", PASSWORDS[0]).expect("right password");
    let bob = login("bob", PASSWORDS[1]).expect("right password");
    assert_eq!(
        login("bob", PASSWORDS[0]),
        Err(BackendError::Store(StoreError::InvalidCredentials))
    );
    assert_eq!(
        login("mallory", PASSWORDS[0]),
        Err(BackendError::Store(StoreError::InvalidCredentials))
    );

    assert_eq!(store.promote(&bob, "bob"), Err(StoreError::Forbidden));
    assert_eq!(store.demote(&alice, "alice"), Err(StoreError::LastAdmin));
    assert_eq!(store.promote(&alice, "mallory"), Err(StoreError::NotFound));
    assert_eq!(
        store.update_email(&bob, None, "n@x"),
        Err(StoreError::PreconditionRequired)
    );
    assert_eq!(
        store.update_email(&bob, Some(7), "n@x"),
        Err(StoreError::PreconditionFailed { current: 1 })
    );
    assert_eq!(store.update_email(&bob, Some(1), "n@x"), Ok(2));
    // Bob changes his own password: his earlier principal is revoked.
    store
        .change_password(&bob, "bob", f.hashes[2].clone())
        .expect("own password");
    assert_eq!(
        store.update_email(&bob, Some(3), "m@x"),
        Err(StoreError::CredentialsRevoked)
    );
    // Re-inserting bob with his old password is refused, and changes nothing: an
    // overwrite would reset his epoch and make the revoked principal valid again.
    let before = store.get("bob").expect("exists");
    assert_eq!(
        store.insert("bob", f.hashes[1].clone(), Role::Admin, "b@x"),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.get("bob"), Some(before));
    assert_eq!(
        login("bob", PASSWORDS[1]),
        Err(BackendError::Store(StoreError::InvalidCredentials))
    );
    assert_eq!(
        store.update_email(&bob, Some(3), "m@x"),
        Err(StoreError::CredentialsRevoked)
    );
    let bob2 = login("bob", PASSWORDS[2]).expect("new password");
    assert_eq!(bob2.credential_epoch(), 1);
    assert_eq!(store.update_email(&bob2, Some(3), "m@x"), Ok(4));
    // Alice promotes bob; with two admins, one may demote the other, but not then the last.
    store.promote(&alice, "bob").expect("admin promotes");
    assert_eq!(
        bob2.role(),
        Role::User,
        "a principal's role is as of authentication"
    );
    store.demote(&bob2, "alice").expect("bob is an admin now");
    assert_eq!(store.demote(&alice, "bob"), Err(StoreError::Forbidden));
    assert_eq!(store.demote(&bob2, "bob"), Err(StoreError::LastAdmin));
    let bob_record = store.get("bob").expect("exists");
    assert_eq!((bob_record.role, bob_record.version), (Role::Admin, 5));
    // A new user is inserted at version 1, epoch 0; invalid input is refused first.
    assert_eq!(
        store.insert("carol", f.hashes[0].clone(), Role::User, ""),
        Err(StoreError::InvalidInput { field: "email" })
    );
    assert_eq!(store.get("carol"), None);
    store
        .insert("carol", f.hashes[0].clone(), Role::User, "c@x")
        .expect("new user");
    let carol = store.get("carol").expect("inserted");
    assert_eq!((carol.version, carol.credential_epoch), (1, 0));
}
