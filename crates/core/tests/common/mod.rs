//! Shared by the store's tests: the hashed fixture passwords, the reference model, and the
//! walk over every lock strategy.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

pub mod outcomes;
pub mod store_model;

use raceproof_core::auth::{Argon2Hasher, PasswordHash, PasswordHasher};
use raceproof_core::store::User;
use raceproof_core::table::{Sharded, StrategyVisitor, Table, for_each_strategy};
use std::sync::LazyLock;

pub const PASSWORDS: [&str; 3] = ["correct horse", "hunter2", "p:ss wörd"];

/// Hashed once per test binary: hashing is the slow part.
pub struct Fixture {
    pub hasher: Argon2Hasher,
    pub hashes: Vec<PasswordHash>,
}

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
    let hashes = PASSWORDS
        .iter()
        .map(|p| hasher.hash(p).expect("hashable"))
        .collect();
    Fixture { hasher, hashes }
});

/// Runs `check::<T>(name)` for every lock strategy `for_each_strategy` lists, and for a
/// sharded table of 4 shards, where the four users share shards (both paths of a sharded
/// `write_pair`).
pub fn on_every_strategy(check: impl StrategyCheck) {
    struct Visit<C>(C);
    impl<C: StrategyCheck> StrategyVisitor<User> for Visit<C> {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            self.0.check::<T>(name);
        }
    }
    let mut visit = Visit(check);
    for_each_strategy(&mut visit);
    visit.visit::<Sharded<User, 4>>("sharded_4");
}

/// A check generic over the lock strategy.
pub trait StrategyCheck {
    fn check<T: Table<User> + Default + 'static>(&mut self, name: &'static str);
}
