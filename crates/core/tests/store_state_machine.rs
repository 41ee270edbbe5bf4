#![cfg(not(loom))]
//! The versioned user store against a sequential reference model.
//!
//! The model is a plain map user -> (role, email, version, credential epoch, password),
//! updated by the rules the store documents. Every transition runs on both; after each the
//! store's result (the exact `StoreError` variant) and every record must equal the model's.
//! Principals are tracked too: each one remembers the epoch it authenticated at, and once
//! that user's password changes it must be refused with `CredentialsRevoked`. Inserts are
//! part of the model: an existing user is never replaced (`AlreadyExists`), so a user's
//! `version` and `credential_epoch` never go back, whatever the sequence.
//!
//! Every lock strategy of `raceproof_core::table::for_each_strategy` runs the same model
//! test: a strategy changes the cost of an operation, never its result.

mod common;

use common::store_model::{
    EMAILS, Expected, Model, ModelPrincipal, Outcome, StoreMachine, Transition, USERS,
};
use common::{FIXTURE, PASSWORDS, StrategyCheck, on_every_strategy};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use raceproof_core::auth::Credentials;
use raceproof_core::backend::BackendError;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Principal, User, UserStore};
use raceproof_core::table::Table;
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// Sequences per strategy: the strategies share the file's time budget.
const CASES: u32 = 64;

/// The store on lock strategy `T`, driven by [`StoreMachine`]'s transitions.
struct StoreTest<T>(PhantomData<T>);

struct Sut<T> {
    store: UserStore<T>,
    principals: Vec<Principal>,
    /// Each user's `(version, credential_epoch)` after the previous transition.
    counters: BTreeMap<&'static str, (u64, u64)>,
}

impl<T> Sut<T>
where
    T: Table<User>,
{
    /// Every user's counters, now.
    fn counters(&self) -> BTreeMap<&'static str, (u64, u64)> {
        USERS
            .iter()
            .filter_map(|name| {
                let user = self.store.get(name)?;
                Some((*name, (user.version, user.credential_epoch)))
            })
            .collect()
    }
}

impl<T: Table<User> + Default> StateMachineTest for StoreTest<T> {
    type SystemUnderTest = Sut<T>;
    type Reference = StoreMachine;

    fn init_test(model: &Model) -> Sut<T> {
        let store =
            UserStore::with_table(T::default()).require_precondition(model.require_precondition);
        for (name, user) in &model.users {
            store
                .insert(
                    name,
                    FIXTURE.hashes[user.password].clone(),
                    user.role,
                    &user.email,
                )
                .expect("valid user");
        }
        let mut sut = Sut {
            store,
            principals: Vec::new(),
            counters: BTreeMap::new(),
        };
        sut.counters = sut.counters();
        sut
    }

    fn apply(mut sut: Sut<T>, model: &Model, transition: Transition) -> Sut<T> {
        let store = &sut.store;
        let got = match &transition {
            Transition::Insert {
                user,
                password,
                role,
                email,
            } => store
                .insert(
                    USERS[*user],
                    FIXTURE.hashes[*password].clone(),
                    *role,
                    EMAILS[*email],
                )
                .map_or_else(Outcome::Refused, |()| Outcome::Done),
            Transition::Authenticate { user, password } => {
                let credentials =
                    Credentials::new(USERS[*user], PASSWORDS[*password]).expect("valid");
                match Accounts::new(store, &FIXTURE.hasher).authenticate(&credentials) {
                    Ok(principal) => {
                        let seen = ModelPrincipal::from(&principal);
                        sut.principals.push(principal);
                        Outcome::Authenticated(seen)
                    }
                    Err(BackendError::Store(e)) => Outcome::Refused(e),
                    Err(e) => panic!("the in-memory store is always available: {e}"),
                }
            }
            Transition::Promote { actor, target } => store
                .promote(&sut.principals[*actor], USERS[*target])
                .map_or_else(Outcome::Refused, |()| Outcome::Done),
            Transition::Demote { actor, target } => store
                .demote(&sut.principals[*actor], USERS[*target])
                .map_or_else(Outcome::Refused, |()| Outcome::Done),
            Transition::ChangePassword {
                actor,
                user,
                password,
            } => store
                .change_password(
                    &sut.principals[*actor],
                    USERS[*user],
                    FIXTURE.hashes[*password].clone(),
                )
                .map_or_else(Outcome::Refused, |()| Outcome::Done),
            Transition::UpdateEmail {
                actor,
                expected,
                email,
            } => {
                let expected = match expected {
                    Expected::None => None,
                    Expected::Some(v) => Some(*v),
                };
                store
                    .update_email(&sut.principals[*actor], expected, EMAILS[*email])
                    .map_or_else(Outcome::Refused, Outcome::Version)
            }
        };
        assert_eq!(Some(&got), model.last.as_ref(), "{transition:?}");
        // Independently of the model: no user disappears, and no counter goes back (an
        // overwriting insert would reset both to where revoked credentials and stale
        // versions are valid again).
        let now = sut.counters();
        for (name, (version, epoch)) in &sut.counters {
            let (v, e) = now.get(name).copied().unwrap_or_else(|| {
                panic!("{name} disappeared after {transition:?}");
            });
            assert!(
                v >= *version && e >= *epoch,
                "{name}'s counters went back from {:?} to {:?} after {transition:?}",
                (version, epoch),
                (v, e)
            );
        }
        sut.counters = now;
        sut
    }

    fn check_invariants(sut: &Sut<T>, model: &Model) {
        let principals: Vec<ModelPrincipal> =
            sut.principals.iter().map(ModelPrincipal::from).collect();
        assert_eq!(principals, model.principals);
        for name in USERS {
            let got = sut.store.get(name);
            let want = model.users.get(name).map(|u| User {
                password: FIXTURE.hashes[u.password].clone(),
                role: u.role,
                email: u.email.clone(),
                version: u.version,
                credential_epoch: u.credential_epoch,
            });
            assert_eq!(got, want, "record of {name}");
        }
    }
}

#[test]
fn store_matches_reference_model_on_every_strategy() {
    struct ModelTest;
    impl StrategyCheck for ModelTest {
        fn check<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            let config = ProptestConfig {
                source_file: Some(file!()),
                ..ProptestConfig::with_cases(CASES)
            };
            let mut runner = TestRunner::new(config.clone());
            let result = runner.run(
                &StoreMachine::sequential_strategy(1..40),
                |(initial, transitions, seen)| {
                    StoreTest::<T>::test_sequential(config.clone(), initial, transitions, seen);
                    Ok(())
                },
            );
            if let Err(failure) = result {
                panic!("strategy {name}: {failure}");
            }
        }
    }
    on_every_strategy(ModelTest);
}
