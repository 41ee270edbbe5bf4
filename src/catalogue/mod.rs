//! The model catalogue: every flow, in every variant, with the concurrent actors that
//! matter, its invariants, and the verdict each entry is expected to get.
//!
//! One file per flow; every variant of a flow is built through the same trait
//! ([`AccountFlows`], [`raceproof_flows::OperateFlow`]), so a scenario is written once and
//! run against `seed_vulnerable`, `seed_fix`, `proven_fix` and each lock strategy.
//!
//! `tests/catalogue.rs` asserts those verdicts under loom, `cargo xtask verify` prints and
//! reports them, and `cargo xtask stress` runs them on real threads.

pub mod backends;
pub mod demote;
pub mod operate;
pub mod promote;
pub mod update_email;

use raceproof_check::{AnyScenario, Recorder};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::store::{Role, User};
use raceproof_core::table::{GlobalMutex, StrategyVisitor, Table, for_each_strategy};
use raceproof_flows::{AccountFlows, Narrator, ProvenAccounts, SeedAccounts, UserSpec, Variant};

/// The Basic-auth endpoints' state in one execution: a variant, and the recorder its
/// actors report calls and returns to.
pub struct AccountsModel {
    pub flows: Box<dyn AccountFlows>,
    pub rec: Recorder,
}

/// Builds a variant's accounts over the fixture's users, recording into a narrator.
type Build = fn(&Fixture, &Narrator) -> Box<dyn AccountFlows>;

/// One implementation of the Basic-auth endpoints: a seed variant, or the proven fix under
/// a lock strategy.
#[derive(Clone)]
pub struct Implementation {
    pub name: String,
    /// Whether its clients send an expected version (the seed's vulnerable endpoint takes
    /// none, so its clients cannot state one).
    pub takes_version: bool,
    build: Build,
}

impl Implementation {
    /// `seed_vulnerable`, `seed_fix`, or `proven_fix` with the default strategy.
    pub fn of(variant: Variant) -> Self {
        let build: Build = match variant {
            Variant::SeedVulnerable => |fx, log| {
                Box::new(SeedAccounts::new(
                    false,
                    &fx.specs(),
                    fx.hasher(),
                    log.clone(),
                ))
            },
            Variant::SeedFix => |fx, log| {
                Box::new(SeedAccounts::new(
                    true,
                    &fx.specs(),
                    fx.hasher(),
                    log.clone(),
                ))
            },
            Variant::ProvenFix => proven::<GlobalMutex<User>>,
        };
        Self {
            name: variant.name().to_owned(),
            takes_version: variant != Variant::SeedVulnerable,
            build,
        }
    }

    /// `proven_fix/<strategy>`: the proven fix under lock strategy `T`.
    pub fn proven_with<T: Table<User> + Default + 'static>(strategy: &str) -> Self {
        Self {
            name: format!("proven_fix/{strategy}"),
            takes_version: true,
            build: proven::<T>,
        }
    }

    /// Fresh state for one execution.
    pub fn accounts(&self, fx: &Fixture, rec: &Recorder) -> AccountsModel {
        AccountsModel {
            flows: (self.build)(fx, &Narrator::to(rec)),
            rec: rec.clone(),
        }
    }
}

fn proven<T: Table<User> + Default + 'static>(
    fx: &Fixture,
    log: &Narrator,
) -> Box<dyn AccountFlows> {
    match ProvenAccounts::<T>::new(&fx.specs(), fx.hasher(), false, log) {
        Ok(accounts) => Box::new(accounts),
        Err(e) => panic!("fixture users are valid: {e}"),
    }
}

/// Users and their passwords, hashed once, up front, with the cheapest Argon2id (hashing is
/// not what is being checked).
#[derive(Clone)]
pub struct Fixture {
    hasher: Argon2Hasher,
    users: Vec<(&'static str, &'static str, Role, PasswordHash)>,
}

impl Fixture {
    pub fn new(users: &[(&'static str, &'static str, Role)]) -> Self {
        let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
        let hash = |pw: &str| hasher.hash(pw).expect("fixture passwords are valid");
        Self {
            users: users
                .iter()
                .map(|&(user, pw, role)| (user, pw, role, hash(pw)))
                .collect(),
            hasher,
        }
    }

    pub fn hasher(&self) -> Argon2Hasher {
        self.hasher.clone()
    }

    /// The users, `<id>@example.com` each.
    pub fn specs(&self) -> Vec<UserSpec> {
        self.users
            .iter()
            .map(|(id, _, role, hash)| UserSpec {
                id: (*id).to_owned(),
                password: hash.clone(),
                role: *role,
                email: format!("{id}@example.com"),
            })
            .collect()
    }

    /// The Basic credentials a user sends.
    pub fn credentials(&self, user: &str) -> Credentials {
        let (_, pw, _, _) = self
            .users
            .iter()
            .find(|(u, ..)| *u == user)
            .expect("fixture user exists");
        Credentials::new(user, pw).expect("fixture credentials are valid")
    }
}

/// The proven fixes of the Basic-auth flows under every lock strategy but the default
/// (which is plain `proven_fix`): fast and wrong is not a strategy.
fn strategy_models() -> Vec<Box<dyn AnyScenario>> {
    struct Collect(Vec<Box<dyn AnyScenario>>);
    impl StrategyVisitor<User> for Collect {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            if crate::strategies::is_default::<T>() {
                return;
            }
            let imp = || Implementation::proven_with::<T>(name);
            self.0
                .push(Box::new(promote::promote(imp()).expect_proven()));
            self.0.push(Box::new(
                update_email::update_email(imp(), 2).expect_proven(),
            ));
            self.0
                .push(Box::new(demote::demote_each_other(imp()).expect_proven()));
        }
    }
    let mut collect = Collect(Vec::new());
    for_each_strategy(&mut collect);
    collect.0
}

/// Every catalogue entry, in the order the report lists them.
pub fn catalogue() -> Vec<Box<dyn AnyScenario>> {
    let mut models = Vec::new();
    models.extend(promote::models());
    models.extend(update_email::models());
    models.extend(operate::models());
    models.extend(demote::models());
    models.extend(strategy_models());
    models.extend(operate::strategy_models());
    models.extend(backends::models());
    models
}
