//! The store's sequential reference model: a plain map user -> (role, email, version,
//! credential epoch, password), updated by the rules the store documents, and the
//! transitions that drive both it and the store.

use super::PASSWORDS;
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;
use raceproof_core::store::{MAX_EMAIL_LEN, Principal, Role, StoreError};
use std::collections::BTreeMap;

/// Users that exist from the start, and one (mallory) that does not until inserted.
pub const USERS: [&str; 4] = ["alice", "bob", "carol", "mallory"];
pub const EMAILS: [&str; 5] = [
    "a@example.com",
    "b@example.org",
    "ünïcode@exämple.de",
    "",
    "bad\u{7}@example.com",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelUser {
    pub role: Role,
    pub email: String,
    pub version: u64,
    pub credential_epoch: u64,
    /// Index into `PASSWORDS`.
    pub password: usize,
}

/// A principal as the model sees it: who, with which role, as of which credential epoch.
/// (Only the store makes a real [`Principal`]; the test compares through its getters.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrincipal {
    pub user_id: String,
    pub role: Role,
    pub credential_epoch: u64,
}

impl From<&Principal> for ModelPrincipal {
    fn from(p: &Principal) -> Self {
        Self {
            user_id: p.user_id().to_owned(),
            role: p.role(),
            credential_epoch: p.credential_epoch(),
        }
    }
}

/// What an operation returned, comparable between model and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Authenticated(ModelPrincipal),
    Done,
    Version(u64),
    Refused(StoreError),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub require_precondition: bool,
    pub users: BTreeMap<String, ModelUser>,
    /// Principals handed out by successful authentications, in order.
    pub principals: Vec<ModelPrincipal>,
    /// What the last transition should have returned.
    pub last: Option<Outcome>,
}

#[derive(Debug, Clone)]
pub enum Expected {
    None,
    Some(u64),
}

#[derive(Debug, Clone)]
pub enum Transition {
    /// Add a user; refused for one that exists (never an overwrite).
    Insert {
        user: usize,
        password: usize,
        role: Role,
        email: usize,
    },
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

fn check_actor(model: &Model, actor: &ModelPrincipal, need: Role) -> Result<(), StoreError> {
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
            Transition::Insert {
                user,
                password,
                role,
                email,
            } => {
                let (name, email) = (USERS[*user], EMAILS[*email]);
                if !valid_email(email) {
                    Err(StoreError::InvalidInput { field: "email" })
                } else if self.users.contains_key(name) {
                    Err(StoreError::AlreadyExists)
                } else {
                    let user = ModelUser {
                        role: *role,
                        email: email.to_owned(),
                        version: 1,
                        credential_epoch: 0,
                        password: *password,
                    };
                    self.users.insert(name.to_owned(), user);
                    Ok(Outcome::Done)
                }
            }
            Transition::Authenticate { user, password } => {
                let name = USERS[*user];
                match self.users.get(name) {
                    Some(u) if u.password == *password => {
                        let principal = ModelPrincipal {
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

pub struct StoreMachine;

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
        // Mostly over an existing user (refused), sometimes the one that does not exist yet.
        let insert = (
            user(),
            0..PASSWORDS.len(),
            prop_oneof![Just(Role::User), Just(Role::Admin)],
            0..EMAILS.len(),
        )
            .prop_map(|(user, password, role, email)| Transition::Insert {
                user,
                password,
                role,
                email,
            });
        if state.principals.is_empty() {
            return prop_oneof![3 => authenticate, 1 => insert].boxed();
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
            1 => insert,
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
            Transition::Insert { .. } | Transition::Authenticate { .. } => true,
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
