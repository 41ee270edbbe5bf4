#![cfg(not(loom))]
//! The versioned user store against a sequential reference model.
//!
//! The model is a plain map user -> (role, email, version, credential epoch, password),
//! updated by the rules the store documents. Every transition runs on both; after each the
//! store's result (the exact `StoreError` variant) and every record must equal the model's.
//! Principals are tracked too: each one remembers the epoch it authenticated at, and once
//! that user's password changes it must be refused with `CredentialsRevoked`.
//!
//! Every lock strategy runs the same model test (one `#[test]` each, from
//! `per_strategy!`): a strategy changes the cost of an operation, never its result.

use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::observe::NoProbe;
use raceproof_core::store::{MAX_EMAIL_LEN, Principal, Role, StoreError, User, UserStore};
use raceproof_core::table::{
    GlobalMutex, GlobalParkingLot, GlobalRwLock, KeyLocks, Sharded, Table,
};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::LazyLock;

/// Sequences per strategy: six strategies share the file's time budget.
const CASES: u32 = 64;

/// Users that exist from the start, and one that never does.
const USERS: [&str; 4] = ["alice", "bob", "carol", "mallory"];
const UNKNOWN: usize = 3;
const PASSWORDS: [&str; 3] = ["correct horse", "hunter2", "p:ss wörd"];
const EMAILS: [&str; 5] = [
    "a@example.com",
    "b@example.org",
    "ünïcode@exämple.de",
    "",
    "bad\u{7}@example.com",
];

/// Hashed once for the whole file: hashing is the slow part.
struct Fixture {
    hasher: Argon2Hasher,
    hashes: Vec<PasswordHash>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let hasher = Argon2Hasher::insecure_fast().expect("random source");
    let hashes = PASSWORDS
        .iter()
        .map(|p| hasher.hash(p).expect("hashable"))
        .collect();
    Fixture { hasher, hashes }
});

#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelUser {
    role: Role,
    email: String,
    version: u64,
    credential_epoch: u64,
    /// Index into `PASSWORDS`.
    password: usize,
}

/// What an operation returned, comparable between model and store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Authenticated(Principal),
    Done,
    Version(u64),
    Refused(StoreError),
}

#[derive(Debug, Clone)]
struct Model {
    require_precondition: bool,
    users: BTreeMap<String, ModelUser>,
    /// Principals handed out by successful authentications, in order.
    principals: Vec<Principal>,
    /// What the last transition should have returned.
    last: Option<Outcome>,
}

#[derive(Debug, Clone)]
enum Expected {
    None,
    Some(u64),
}

#[derive(Debug, Clone)]
enum Transition {
    Authenticate {
        user: usize,
        password: usize,
    },
    Promote {
        actor: usize,
        target: usize,
    },
    Demote {
        actor: usize,
        target: usize,
    },
    ChangePassword {
        actor: usize,
        user: usize,
        password: usize,
    },
    UpdateEmail {
        actor: usize,
        expected: Expected,
        email: usize,
    },
}

fn check_actor(model: &Model, actor: &Principal, need: Role) -> Result<(), StoreError> {
    let record = model
        .users
        .get(&actor.user_id)
        .ok_or(StoreError::CredentialsRevoked)?;
    if record.credential_epoch != actor.credential_epoch {
        return Err(StoreError::CredentialsRevoked);
    }
    if need == Role::Admin && record.role != Role::Admin {
        return Err(StoreError::Forbidden);
    }
    Ok(())
}

fn valid_email(email: &str) -> bool {
    !email.is_empty() && email.len() <= MAX_EMAIL_LEN && !email.chars().any(char::is_control)
}

impl Model {
    fn step(&mut self, transition: &Transition) -> Outcome {
        let result = match transition {
            Transition::Authenticate { user, password } => {
                let name = USERS[*user];
                match self.users.get(name) {
                    Some(u) if u.password == *password => {
                        let principal = Principal {
                            user_id: name.to_owned(),
                            role: u.role,
                            credential_epoch: u.credential_epoch,
                        };
                        self.principals.push(principal.clone());
                        return Outcome::Authenticated(principal);
                    }
                    _ => Err(StoreError::InvalidCredentials),
                }
            }
            Transition::Promote { actor, target } => {
                let actor = self.principals[*actor].clone();
                check_actor(self, &actor, Role::Admin).and_then(|()| {
                    let record = self
                        .users
                        .get_mut(USERS[*target])
                        .ok_or(StoreError::NotFound)?;
                    record.role = Role::Admin;
                    record.version += 1;
                    Ok(Outcome::Done)
                })
            }
            Transition::Demote { actor, target } => {
                let actor = self.principals[*actor].clone();
                check_actor(self, &actor, Role::Admin).and_then(|()| {
                    let admins = self
                        .users
                        .values()
                        .filter(|u| u.role == Role::Admin)
                        .count();
                    let record = self
                        .users
                        .get_mut(USERS[*target])
                        .ok_or(StoreError::NotFound)?;
                    if record.role == Role::Admin && admins <= 1 {
                        return Err(StoreError::LastAdmin);
                    }
                    record.role = Role::User;
                    record.version += 1;
                    Ok(Outcome::Done)
                })
            }
            Transition::ChangePassword {
                actor,
                user,
                password,
            } => {
                let actor = self.principals[*actor].clone();
                let name = USERS[*user];
                let need = if actor.user_id == name {
                    Role::User
                } else {
                    Role::Admin
                };
                check_actor(self, &actor, need).and_then(|()| {
                    let record = self.users.get_mut(name).ok_or(StoreError::NotFound)?;
                    record.password = *password;
                    record.credential_epoch += 1;
                    record.version += 1;
                    Ok(Outcome::Done)
                })
            }
            Transition::UpdateEmail {
                actor,
                expected,
                email,
            } => {
                let actor = self.principals[*actor].clone();
                let email = EMAILS[*email];
                if !valid_email(email) {
                    Err(StoreError::InvalidInput { field: "email" })
                } else if matches!(expected, Expected::None) && self.require_precondition {
                    Err(StoreError::PreconditionRequired)
                } else {
                    check_actor(self, &actor, Role::User).and_then(|()| {
                        let record = self
                            .users
                            .get_mut(&actor.user_id)
                            .ok_or(StoreError::NotFound)?;
                        if let Expected::Some(v) = expected
                            && *v != record.version
                        {
                            return Err(StoreError::PreconditionFailed {
                                current: record.version,
                            });
                        }
                        record.email = email.to_owned();
                        record.version += 1;
                        Ok(Outcome::Version(record.version))
                    })
                }
            }
        };
        result.unwrap_or_else(Outcome::Refused)
    }
}

struct StoreMachine;

impl ReferenceStateMachine for StoreMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        // Roles of the three real users, their initial passwords, and the 428 switch.
        (
            prop::array::uniform3(prop_oneof![Just(Role::User), Just(Role::Admin)]),
            prop::array::uniform3(0..PASSWORDS.len()),
            any::<bool>(),
        )
            .prop_map(|(roles, passwords, require_precondition)| Model {
                require_precondition,
                users: (0..3)
                    .map(|i| {
                        let user = ModelUser {
                            role: roles[i],
                            email: format!("{}@example.com", USERS[i]),
                            version: 1,
                            credential_epoch: 0,
                            password: passwords[i],
                        };
                        (USERS[i].to_owned(), user)
                    })
                    .collect(),
                principals: Vec::new(),
                last: None,
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let user = || 0..USERS.len();
        // Mostly the right password for the user, sometimes another one.
        let users = state.users.clone();
        let authenticate =
            (user(), 0..PASSWORDS.len(), any::<bool>()).prop_map(move |(user, other, right)| {
                let password = match users.get(USERS[user]) {
                    Some(u) if right => u.password,
                    _ => other,
                };
                Transition::Authenticate { user, password }
            });
        if state.principals.is_empty() {
            return authenticate.boxed();
        }
        let principal = 0..state.principals.len();
        // The version the actor's record is at now, so that If-Match sometimes matches.
        let versions: Vec<u64> = state
            .principals
            .iter()
            .map(|p| state.users.get(&p.user_id).map_or(0, |u| u.version))
            .collect();
        let update_email = (
            principal.clone(),
            // No If-Match, the current version, or one near it.
            prop_oneof![
                1 => Just(None),
                3 => Just(Some(0i64)),
                2 => (-2i64..3).prop_map(Some),
            ],
            0..EMAILS.len(),
        )
            .prop_map(move |(actor, delta, email)| {
                let expected = match delta {
                    None => Expected::None,
                    Some(d) => Expected::Some(versions[actor].saturating_add_signed(d)),
                };
                Transition::UpdateEmail {
                    actor,
                    expected,
                    email,
                }
            });
        prop_oneof![
            3 => authenticate,
            2 => (principal.clone(), user())
                .prop_map(|(actor, target)| Transition::Promote { actor, target }),
            2 => (principal.clone(), user())
                .prop_map(|(actor, target)| Transition::Demote { actor, target }),
            2 => (principal.clone(), user(), 0..PASSWORDS.len()).prop_map(
                |(actor, user, password)| Transition::ChangePassword { actor, user, password }
            ),
            3 => update_email,
        ]
        .boxed()
    }

    fn preconditions(state: &Model, transition: &Transition) -> bool {
        // Shrinking may delete the authentication a principal came from.
        match transition {
            Transition::Authenticate { .. } => true,
            Transition::Promote { actor, .. }
            | Transition::Demote { actor, .. }
            | Transition::ChangePassword { actor, .. }
            | Transition::UpdateEmail { actor, .. } => *actor < state.principals.len(),
        }
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        state.last = Some(state.step(transition));
        state
    }
}

/// The store on lock strategy `T`, driven by [`StoreMachine`]'s transitions.
struct StoreTest<T>(PhantomData<T>);

struct Sut<T> {
    store: UserStore<T>,
    principals: Vec<Principal>,
}

impl<T: Table<User> + Default> StateMachineTest for StoreTest<T> {
    type SystemUnderTest = Sut<T>;
    type Reference = StoreMachine;

    fn init_test(model: &Model) -> Sut<T> {
        let store =
            UserStore::with(T::default(), NoProbe).require_precondition(model.require_precondition);
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
        Sut {
            store,
            principals: Vec::new(),
        }
    }

    fn apply(mut sut: Sut<T>, model: &Model, transition: Transition) -> Sut<T> {
        let store = &sut.store;
        let got = match &transition {
            Transition::Authenticate { user, password } => {
                let credentials =
                    Credentials::new(USERS[*user], PASSWORDS[*password]).expect("valid");
                match store.authenticate(&FIXTURE.hasher, &credentials) {
                    Ok(principal) => {
                        sut.principals.push(principal.clone());
                        Outcome::Authenticated(principal)
                    }
                    Err(e) => Outcome::Refused(e),
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
        sut
    }

    fn check_invariants(sut: &Sut<T>, model: &Model) {
        assert_eq!(sut.principals, model.principals);
        for (i, name) in USERS.iter().enumerate() {
            let got = sut.store.get(name);
            let want = model.users.get(*name).map(|u| User {
                password: FIXTURE.hashes[u.password].clone(),
                role: u.role,
                email: u.email.clone(),
                version: u.version,
                credential_epoch: u.credential_epoch,
            });
            assert_eq!(got, want, "record of {name}");
            if i == UNKNOWN {
                assert!(got.is_none());
            }
        }
    }
}

/// One module per strategy, each with the model test and the hand-written scenario:
/// `cargo test --test store_state_machine key_locks` runs one strategy's.
macro_rules! per_strategy {
    ($($name:ident: $table:ty,)*) => {$(
        mod $name {
            use super::*;

            type Machine = StoreTest<$table>;

            prop_state_machine! {
                #![proptest_config(ProptestConfig::with_cases(CASES))]

                #[test]
                fn store_matches_reference_model(sequential 1..40 => Machine);
            }

            #[test]
            fn hand_written_scenario() {
                super::hand_written_scenario::<$table>();
            }
        }
    )*};
}

per_strategy! {
    global_mutex: GlobalMutex<User>,
    global_parking_lot: GlobalParkingLot<User>,
    global_rwlock: GlobalRwLock<User>,
    sharded_4: Sharded<User, 4>,
    sharded_16: Sharded<User>,
    key_locks: KeyLocks<User>,
}

/// A few outcomes the model must be able to produce, pinned by hand so that a model that
/// drifted into agreeing with a broken store would be caught.
fn hand_written_scenario<T: Table<User> + Default>() {
    let f = &*FIXTURE;
    let store = UserStore::with(T::default(), NoProbe).require_precondition(true);
    store
        .insert("alice", f.hashes[0].clone(), Role::Admin, "a@x")
        .expect("valid");
    store
        .insert("bob", f.hashes[1].clone(), Role::User, "b@x")
        .expect("valid");
    let login =
        |u: &str, p: &str| store.authenticate(&f.hasher, &Credentials::new(u, p).expect("valid"));
    let alice = login("alice", PASSWORDS[0]).expect("right password");
    let bob = login("bob", PASSWORDS[1]).expect("right password");
    assert_eq!(
        login("bob", PASSWORDS[0]),
        Err(StoreError::InvalidCredentials)
    );
    assert_eq!(
        login("mallory", PASSWORDS[0]),
        Err(StoreError::InvalidCredentials)
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
    let bob2 = login("bob", PASSWORDS[2]).expect("new password");
    assert_eq!(bob2.credential_epoch, 1);
    assert_eq!(store.update_email(&bob2, Some(3), "m@x"), Ok(4));
    // Alice promotes bob; with two admins, one may demote the other, but not then the last.
    store.promote(&alice, "bob").expect("admin promotes");
    assert_eq!(
        bob2.role,
        Role::User,
        "a principal's role is as of authentication"
    );
    store.demote(&bob2, "alice").expect("bob is an admin now");
    assert_eq!(store.demote(&alice, "bob"), Err(StoreError::Forbidden));
    assert_eq!(store.demote(&bob2, "bob"), Err(StoreError::LastAdmin));
    let bob_record = store.get("bob").expect("exists");
    assert_eq!((bob_record.role, bob_record.version), (Role::Admin, 5));
}
