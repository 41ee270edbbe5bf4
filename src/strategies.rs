//! The lock strategies by name, read from the one list,
//! [`raceproof_core::table::for_each_strategy`]: the catalogue, the benches and their
//! reports name strategies through here, never from a list of their own.

use raceproof_core::store::User;
use raceproof_core::table::{GlobalMutex, StrategyVisitor, Table, for_each_strategy};
use std::any::TypeId;

/// The strategy the store uses when none is chosen (`UserStore`'s default table): the
/// plain `proven_fix`, where the seed's variants (one table of their own) are reported.
pub type DefaultTable = GlobalMutex<User>;

/// Every strategy's name, in the list's order.
pub fn names() -> Vec<&'static str> {
    struct Names(Vec<&'static str>);
    impl StrategyVisitor<User> for Names {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            self.0.push(name);
        }
    }
    let mut names = Names(Vec::new());
    for_each_strategy(&mut names);
    names.0
}

/// The default strategy's name in the list.
pub fn default_name() -> &'static str {
    struct Find(Option<&'static str>);
    impl StrategyVisitor<User> for Find {
        fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
            if is_default::<T>() {
                self.0.get_or_insert(name);
            }
        }
    }
    let mut find = Find(None);
    for_each_strategy(&mut find);
    find.0
        .expect("for_each_strategy lists the store's default table")
}

/// Whether `T` is the default strategy.
pub fn is_default<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<DefaultTable>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raceproof_core::store::UserStore;

    #[test]
    fn the_default_is_the_stores_default_table() {
        // Fails to compile if `UserStore::new()` builds another table (not called: under
        // loom a store exists only inside a model).
        let _: fn() -> UserStore<DefaultTable> = UserStore::new;
        assert!(is_default::<DefaultTable>());
    }

    #[test]
    fn the_default_is_listed_once_among_distinct_names() {
        let names = names();
        let mut distinct = names.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert_eq!(
            names.iter().filter(|n| **n == default_name()).count(),
            1,
            "{names:?}"
        );
    }
}
