#![cfg(not(loom))]
//! `ResourceFlags`, the lock-free "once per resource" strategy, against a reference model: a
//! set of registered resources and a set of claimed ones. Over any sequence of claims each
//! registered resource is claimed `Ok` exactly once (then `Replayed`), and a resource never
//! registered is `UnknownResource` every time. The loom model of two racing claims is in
//! `loom_core.rs`.

use proptest::prelude::*;
use raceproof_core::replay::{ReplayError, ResourceFlags};
use std::collections::{BTreeMap, BTreeSet};

/// Names over a tiny alphabet (the empty name included), so that registrations repeat and
/// claims hit registered and unregistered names alike.
fn name() -> impl Strategy<Value = String> {
    "[ab]{0,2}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn each_registered_resource_is_claimed_once(
        registered in prop::collection::vec(name(), 0..6),
        claims in prop::collection::vec(name(), 0..40),
    ) {
        let flags = ResourceFlags::new(registered.iter().cloned());
        let known: BTreeSet<&str> = registered.iter().map(String::as_str).collect();
        let mut claimed = BTreeSet::new();
        for resource in &claims {
            let want = if !known.contains(resource.as_str()) {
                Err(ReplayError::UnknownResource)
            } else if claimed.insert(resource.as_str()) {
                Ok(())
            } else {
                Err(ReplayError::Replayed)
            };
            prop_assert_eq!(flags.claim(resource), want, "claim of {:?}", resource);
        }
        // Claiming everything registered now: only the resources not yet claimed succeed,
        // after which every registered resource has had exactly one `Ok`.
        let mut oks: BTreeMap<&str, usize> = claimed.iter().map(|r| (*r, 1)).collect();
        for resource in &registered {
            let got = flags.claim(resource);
            if got.is_ok() {
                *oks.entry(resource.as_str()).or_default() += 1;
            } else {
                prop_assert_eq!(got, Err(ReplayError::Replayed), "claim of {:?}", resource);
            }
        }
        prop_assert!(oks.values().all(|&n| n == 1), "{:?}", oks);
        prop_assert_eq!(oks.keys().copied().collect::<BTreeSet<_>>(), known);
    }
}

#[test]
fn fixed_examples() {
    let flags = ResourceFlags::new(["r1", "r2"]);
    assert_eq!(flags.claim("r3"), Err(ReplayError::UnknownResource));
    assert_eq!(flags.claim("r1"), Ok(()));
    assert_eq!(flags.claim("r1"), Err(ReplayError::Replayed));
    assert_eq!(flags.claim("r2"), Ok(()));
    assert_eq!(flags.claim("R1"), Err(ReplayError::UnknownResource));
    assert_eq!(flags.claim("r3"), Err(ReplayError::UnknownResource));

    let none = ResourceFlags::new(Vec::<String>::new());
    assert_eq!(none.claim(""), Err(ReplayError::UnknownResource));
}

/// A resource registered twice is one resource: claimed once, without a panic (it used to
/// index past the flags).
#[test]
fn a_resource_registered_twice_is_one_resource() {
    let flags = ResourceFlags::new(["a", "b", "a"]);
    assert_eq!(flags.claim("a"), Ok(()));
    assert_eq!(flags.claim("a"), Err(ReplayError::Replayed));
    assert_eq!(flags.claim("b"), Ok(()));
    assert_eq!(flags.claim("b"), Err(ReplayError::Replayed));
}

/// Real threads racing for the same resources: each is won exactly once. (loom proves it
/// for every interleaving of two; this runs the real atomics with more contenders.)
#[test]
fn racing_threads_claim_each_resource_once() {
    const THREADS: usize = 4;
    let resources: Vec<String> = (0..64).map(|i| format!("r{i}")).collect();
    let flags = ResourceFlags::new(resources.iter().cloned());
    let barrier = std::sync::Barrier::new(THREADS);
    let wins: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (flags, resources, barrier) = (&flags, &resources, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    // Each thread walks the resources from a different start.
                    (0..resources.len())
                        .map(|k| (k + t * 16) % resources.len())
                        .filter(|&i| match flags.claim(&resources[i]) {
                            Ok(()) => true,
                            Err(e) => {
                                assert_eq!(e, ReplayError::Replayed);
                                false
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let mut won: Vec<usize> = wins.into_iter().flatten().collect();
    won.sort_unstable();
    assert_eq!(won, (0..resources.len()).collect::<Vec<_>>());
}
