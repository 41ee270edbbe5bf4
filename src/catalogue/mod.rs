//! The model catalogue: every flow, in every variant, with the concurrent actors that
//! matter, its invariants, and the verdict each entry is expected to get, on each
//! deployment it is judged under ([`DEPLOYMENTS`]).
//!
//! One file per flow. The Basic-auth endpoints of every variant are the service,
//! [`Accounts`], over the variant's repository (the seed's dict ported, or the store under
//! a lock strategy), and `/operate`'s variants are one async handler
//! ([`operate::OperateModel`]: the seed's `async def` route, or the service's admission), so
//! a scenario is written once and run against `seed_vulnerable`, `seed_fix`, `proven_fix` and
//! each lock strategy. Every proven entry names the production function it checks
//! ([`raceproof_check::Scenario::covers`]), which `verdicts.json` carries.
//!
//! `tests/catalogue.rs` asserts those verdicts under loom, `cargo xtask verify` prints and
//! reports them, and `cargo xtask stress` runs them on real threads.

pub mod backends;
pub mod beyond;
pub mod credential_cache;
pub mod demote;
pub mod login_limit;
pub mod operate;
pub mod promote;
pub mod update_email;

use raceproof_check::{AnyScenario, Deployment, Expected, Recorder, Scenario};
use raceproof_core::audit::Commit;
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::backend::UserRepository;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, User};
use raceproof_core::table::{GlobalMutex, StrategyVisitor, Table, for_each_strategy};
use raceproof_flows::{Narrate, Narrator, SeedUsers, UserSpec, Variant, proven_store};

/// The deployments a flow is judged under, side by side in the tables: one event loop, a
/// thread pool, two event-loop workers with every assignment of requests to workers.
pub const DEPLOYMENTS: [Deployment; 3] = [
    Deployment::EventLoop,
    Deployment::ThreadPool,
    Deployment::workers(2),
];

/// `scenario` under each of [`DEPLOYMENTS`], expected to get `expected[i]` on the `i`-th:
/// one entry each. An entry not expected proven names no production function (`covers` is
/// what a proof is a proof of).
pub fn judged<S: Send + Sync + 'static>(
    scenario: Scenario<S>,
    expected: [Expected; 3],
) -> Vec<Box<dyn AnyScenario>> {
    DEPLOYMENTS
        .into_iter()
        .zip(expected)
        .map(|(deployment, expected)| {
            let mut entry = scenario.under(deployment, expected);
            if entry.expected != Expected::Proven {
                entry.covers = None;
            }
            Box::new(entry) as Box<dyn AnyScenario>
        })
        .collect()
}

/// The flows' narration, into a model's [`Recorder`]: how the seed ports' steps, their
/// effects and every audit commit reach the trace without the flows knowing the harness.
#[derive(Clone)]
pub struct Narration(pub Recorder);

impl Narrate for Narration {
    fn note(&self, text: String) {
        self.0.note(text);
    }

    fn effect(&self, kind: &str, subject: String) {
        self.0.effect(kind, subject);
    }

    fn commit(&self, commit: &Commit) {
        self.0.commit(commit);
    }

    fn share(&self) -> Box<dyn Narrate> {
        Box::new(self.clone())
    }
}

/// A narrator recording into `rec`.
pub fn narrator(rec: &Recorder) -> Narrator {
    Narrator::to(Narration(rec.clone()))
}

/// The Basic-auth endpoints' state in one execution: the service over a variant's
/// repository, and the recorder its actors report calls and returns to.
pub struct AccountsModel {
    pub accounts: Accounts<Box<dyn UserRepository>, Argon2Hasher>,
    pub rec: Recorder,
}

impl AccountsModel {
    /// A user's record as it stands (the in-memory repositories always answer).
    pub fn user(&self, user_id: &str) -> Option<User> {
        self.accounts.user(user_id).ok().flatten()
    }
}

/// Builds a variant's repository over the fixture's users, recording into a narrator.
type Build = fn(&Fixture, &Narrator) -> Box<dyn UserRepository>;

/// One implementation of the Basic-auth endpoints: a seed variant, or the proven fix under
/// a lock strategy.
#[derive(Clone)]
pub struct Implementation {
    pub name: String,
    /// Whether its clients send an expected version (the seed's vulnerable endpoint takes
    /// none, so its clients cannot state one).
    pub takes_version: bool,
    /// Whether this is the service over the store (whose scenarios name what they cover).
    pub proven: bool,
    build: Build,
}

impl Implementation {
    /// `seed_vulnerable`, `seed_fix`, or `proven_fix` with the default strategy.
    pub fn of(variant: Variant) -> Self {
        let build: Build = match variant {
            Variant::SeedVulnerable => {
                |fx, log| Box::new(SeedUsers::new(false, &fx.specs(), log.clone()))
            }
            Variant::SeedFix => |fx, log| Box::new(SeedUsers::new(true, &fx.specs(), log.clone())),
            Variant::ProvenFix => proven::<GlobalMutex<User>>,
        };
        Self {
            name: variant.name().to_owned(),
            takes_version: variant != Variant::SeedVulnerable,
            proven: !variant.is_seed(),
            build,
        }
    }

    /// `proven_fix/<strategy>`: the proven fix under lock strategy `T`.
    pub fn proven_with<T: Table<User> + Default + 'static>(strategy: &str) -> Self {
        Self {
            name: format!("proven_fix/{strategy}"),
            takes_version: true,
            proven: true,
            build: proven::<T>,
        }
    }

    /// Fresh state for one execution.
    pub fn accounts(&self, fx: &Fixture, rec: &Recorder) -> AccountsModel {
        AccountsModel {
            accounts: Accounts::new((self.build)(fx, &narrator(rec)), fx.hasher()),
            rec: rec.clone(),
        }
    }

    /// Names `function` as what `scenario` checks, for the proven fix.
    pub fn covering<S: Send + Sync + 'static>(
        &self,
        scenario: raceproof_check::Scenario<S>,
        function: &str,
    ) -> raceproof_check::Scenario<S> {
        if self.proven {
            scenario.covers(function)
        } else {
            scenario
        }
    }
}

fn proven<T: Table<User> + Default + 'static>(
    fx: &Fixture,
    log: &Narrator,
) -> Box<dyn UserRepository> {
    match proven_store::<T>(&fx.specs(), false, log) {
        Ok(store) => Box::new(store),
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
    models.extend(credential_cache::models());
    models.extend(strategy_models());
    models.extend(operate::strategy_models());
    models.extend(backends::models());
    models.extend(login_limit::models());
    models.extend(beyond::models());
    models
}

/// What the randomized mode (`verify` built with `--cfg shuttle`) should answer for
/// `model`: the violation loom finds, and *inconclusive* where loom proves (a random search
/// never proves); beyond loom's reach, the violation loom could not get to.
pub fn randomized_expectation(model: &dyn AnyScenario) -> raceproof_check::Expected {
    use raceproof_check::Expected;
    if let Some(found) = beyond::randomized_expectation(model) {
        return found;
    }
    match model.expected() {
        Expected::Violated(invariant) => Expected::Violated(invariant.clone()),
        Expected::Proven | Expected::Inconclusive => Expected::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::catalogue;
    use raceproof_check::{Deployment, Expected};

    /// A proven verdict says what it is a proof of: every entry of ours expected proven
    /// names the production function it checks, and a racy seed names none (a seed port
    /// is proven only where its deployment serialises it, never on a thread pool).
    #[test]
    fn every_proven_entry_names_the_function_it_covers() {
        for model in catalogue() {
            let entry = format!(
                "{} / {} on {}",
                model.flow(),
                model.variant(),
                model.deployment()
            );
            let seed = model.variant().starts_with("seed_");
            match (model.expected(), model.covers()) {
                (Expected::Proven, Some(function)) => assert!(
                    !seed
                        && ["raceproof_core::", "raceproof_backends::"]
                            .iter()
                            .any(|krate| function.starts_with(krate)),
                    "{entry} covers {function}, outside production"
                ),
                (Expected::Proven, None) => assert!(
                    seed && model.deployment() != Deployment::ThreadPool,
                    "{entry} is expected proven and covers nothing"
                ),
                (_, covers) => assert_eq!(covers, None, "{entry} is not proven"),
            }
        }
    }
}
