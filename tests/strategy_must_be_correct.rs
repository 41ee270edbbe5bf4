//! A lock strategy that is fast and wrong must be caught: an RwLock table that checks the
//! version under the read lock but forgets to check again under the write lock lets two
//! compare-and-set updates with the same expected version both succeed.
#![cfg(loom)]

use raceproof::catalogue::{Implementation, update_email};
use raceproof::check::Verdict;
use raceproof::core::store::User;
use raceproof::core::table::{Entries, GlobalRwLock, Table};

/// `GlobalRwLock` with the re-check under the write lock left out.
#[derive(Default)]
struct CheckOnceRwLock(GlobalRwLock<User>);

impl Table<User> for CheckOnceRwLock {
    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&User>) -> R) -> R {
        self.0.read(key, f)
    }

    fn write<R>(&self, key: &str, f: impl FnOnce(Option<&mut User>) -> R) -> R {
        self.0.write(key, f)
    }

    fn write_checked<R, E>(
        &self,
        key: &str,
        check: impl Fn(Option<&User>) -> Result<(), E>,
        apply: impl FnOnce(Option<&mut User>) -> Result<R, E>,
    ) -> Result<R, E> {
        self.0.read(key, &check)?;
        // BUG: the value may have changed since the read lock was released.
        self.0.write(key, apply)
    }

    fn write_pair<R>(
        &self,
        a: &str,
        b: &str,
        f: impl FnOnce(Option<&mut User>, Option<&mut User>) -> R,
    ) -> R {
        self.0.write_pair(a, b, f)
    }

    fn write_all<R>(&self, f: impl FnOnce(&mut dyn Entries<User>) -> R) -> R {
        self.0.write_all(f)
    }

    fn insert_new(&self, key: &str, value: User) -> bool {
        self.0.insert_new(key, value)
    }
}

#[test]
fn a_read_then_write_strategy_without_recheck_loses_updates() {
    let model = update_email::update_email(
        Implementation::proven_with::<CheckOnceRwLock>("rwlock_no_recheck"),
        2,
    );
    let verdict = model.check();
    let Verdict::Violated {
        invariant, trace, ..
    } = &verdict
    else {
        panic!("the broken strategy escaped the checker: {verdict:?}");
    };
    assert_eq!(invariant, "no_lost_update", "{trace}");
}

#[test]
fn the_real_rwlock_strategy_is_proven_by_the_same_model() {
    let model = update_email::update_email(
        Implementation::proven_with::<GlobalRwLock<User>>("rwlock"),
        2,
    );
    assert_eq!(model.variant, "proven_fix/rwlock");
    let verdict = model.check();
    assert!(verdict.is_proven(), "{verdict:?}");
}
