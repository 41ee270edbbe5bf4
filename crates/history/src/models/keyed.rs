use std::collections::BTreeMap;
use std::hash::Hash;

use crate::spec::SequentialSpec;

/// Independent objects of one model, one per key (e.g. each user's email register). A call
/// names its key; a key that does not exist returns `None` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyed<K: Ord, S>(pub BTreeMap<K, S>);

impl<K: Ord + Clone + Hash, S: SequentialSpec> SequentialSpec for Keyed<K, S> {
    type Call = (K, S::Call);
    type Ret = Option<S::Ret>;

    fn step(&self, (key, call): &Self::Call) -> (Self, Self::Ret) {
        let Some(object) = self.0.get(key) else {
            return (self.clone(), None);
        };
        let (after, ret) = object.step(call);
        let mut next = self.clone();
        next.0.insert(key.clone(), after);
        (next, Some(ret))
    }
}
