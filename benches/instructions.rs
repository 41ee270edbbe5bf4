//! Instruction counts of the uncontended per-operation costs, under valgrind's callgrind
//! (driven by gungraun): unlike wall-clock times, they do not move with what else the
//! machine runs, so the ratios built from them hold from run to run.
//!
//! - `update_email`, `promote`: the seed's variants (measured once, as `global_mutex`) and
//!   the proven fix under every strategy of `for_each_strategy`, whole flow including
//!   authentication with the benches' SHA-256 stand-in hasher;
//! - `operate`: the seed's variants and the proven fix (replay set behind one mutex, in 16
//!   shards, compare-and-swap flags);
//! - `floor`: the HMAC verification every signed request pays (the key state prepared once);
//! - `replay_set`: one `ReplaySet::insert_if_absent` (the admission minus the HMAC);
//! - `_held`: the same into a default set already holding 200,000 entries, larger than the
//!   caches (see the D1 misses and estimated cycles in `bench.json`).
//!
//! Every benchmark runs [`OPS`] operations on state built (and warmed with a few
//! operations) outside the measurement; `cargo xtask bench` divides by `OPS`. Needs
//! `gungraun-runner` 0.20.0 (`cargo xtask bench` installs it when missing); run alone with
//! `cargo bench -p raceproof --bench instructions`.

// Benches measure real code: under `--cfg loom` there is nothing to measure.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
use real::{accounts_group, floor_group, operate_group};

#[cfg(not(loom))]
gungraun::main!(
    library_benchmark_groups = accounts_group,
    operate_group,
    floor_group
);

#[cfg(not(loom))]
mod real {
    use crate::common::{
        EMAIL, NOW, accounts as proven_accounts, credentials, held_set, key, operations,
        operations_over, requests, seed_accounts, seed_operate, signed,
    };
    use gungraun::{library_benchmark, library_benchmark_group};
    use raceproof_core::replay::{ManualClock, ReplaySet, ResourceFlags, Tag};
    use raceproof_core::store::User;
    use raceproof_core::table::{StrategyVisitor, Table, for_each_strategy};
    use raceproof_flows::{Narrator, OperateFlow, OperateRequest, ProvenOperateCas, SeedPayload};
    use std::hint::black_box;

    /// Operations per benchmark: the counts `cargo xtask bench` reports are per operation.
    pub const OPS: usize = 1000;
    /// Operations run in setup, outside the count, so that one-time work is not counted.
    const WARM: usize = 16;

    /// One operation, `OPS` times over: each call does the next one.
    pub struct Fixture(Box<dyn FnMut()>);

    impl Fixture {
        fn warmed(mut op: Box<dyn FnMut()>) -> Self {
            for _ in 0..WARM {
                op();
            }
            Self(op)
        }
    }

    fn run(mut fixture: Fixture) -> Fixture {
        for _ in 0..OPS {
            (fixture.0)();
        }
        // Returned, so that dropping the state is not counted.
        fixture
    }

    /// `update_email` (`promote`: `promote`) on accounts `app`: the service, over the seed's
    /// dict or the store alike.
    fn flow_op(
        promote: bool,
        update: impl Fn(u64) + 'static,
        elevate: impl Fn() + 'static,
    ) -> Fixture {
        if promote {
            Fixture::warmed(Box::new(elevate))
        } else {
            let mut version = 0;
            Fixture::warmed(Box::new(move || {
                version += 1;
                update(version);
            }))
        }
    }

    fn seed(fixed: bool, promote: bool) -> Fixture {
        let app = std::rc::Rc::new(seed_accounts(fixed));
        let (alice, admin) = (credentials("alice"), credentials("admin"));
        let other = app.clone();
        flow_op(
            promote,
            move |version| {
                // The vulnerable endpoint's clients state no version.
                let expected = fixed.then_some(version);
                black_box(app.update_email(&alice, expected, EMAIL)).expect("update");
            },
            move || black_box(other.promote(&admin, "alice")).expect("promote"),
        )
    }

    fn proven(strategy: &str, promote: bool) -> Fixture {
        struct Pick<'a> {
            name: &'a str,
            promote: bool,
            out: Option<Fixture>,
        }
        impl StrategyVisitor<User> for Pick<'_> {
            fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
                if name != self.name {
                    return;
                }
                let app = std::rc::Rc::new(proven_accounts::<T>(0));
                let (alice, admin) = (credentials("alice"), credentials("admin"));
                let other = app.clone();
                self.out = Some(flow_op(
                    self.promote,
                    move |version| {
                        black_box(app.update_email(&alice, Some(version), EMAIL)).expect("update");
                    },
                    move || black_box(other.promote(&admin, "alice")).expect("promote"),
                ));
            }
        }
        let mut pick = Pick {
            name: strategy,
            promote,
            out: None,
        };
        for_each_strategy(&mut pick);
        pick.out.expect("a strategy that for_each_strategy lists")
    }

    #[library_benchmark]
    #[bench::seed_vulnerable_global_mutex(seed(false, false))]
    #[bench::seed_fix_global_mutex(seed(true, false))]
    #[bench::proven_fix_global_mutex(proven("global_mutex", false))]
    #[bench::proven_fix_parking_lot(proven("parking_lot", false))]
    #[bench::proven_fix_rwlock(proven("rwlock", false))]
    #[bench::proven_fix_sharded(proven("sharded", false))]
    #[bench::proven_fix_key_locks(proven("key_locks", false))]
    fn update_email(fixture: Fixture) -> Fixture {
        run(fixture)
    }

    #[library_benchmark]
    #[bench::seed_vulnerable_global_mutex(seed(false, true))]
    #[bench::seed_fix_global_mutex(seed(true, true))]
    #[bench::proven_fix_global_mutex(proven("global_mutex", true))]
    #[bench::proven_fix_parking_lot(proven("parking_lot", true))]
    #[bench::proven_fix_rwlock(proven("rwlock", true))]
    #[bench::proven_fix_sharded(proven("sharded", true))]
    #[bench::proven_fix_key_locks(proven("key_locks", true))]
    fn promote(fixture: Fixture) -> Fixture {
        run(fixture)
    }

    library_benchmark_group!(name = accounts_group, benchmarks = [update_email, promote]);

    /// Fresh distinct signed requests, one per operation (warm-up included).
    fn fresh() -> Vec<(raceproof_core::replay::SignedFields, String)> {
        signed(&key(), &requests((OPS + WARM) as u64))
    }

    /// Runs `each` on the next of `inputs` per operation.
    fn over<I: 'static>(inputs: Vec<I>, mut each: impl FnMut(&I) + 'static) -> Fixture {
        let mut next = 0;
        Fixture::warmed(Box::new(move || {
            each(&inputs[next]);
            next += 1;
        }))
    }

    fn seed_op(fixed: bool) -> Fixture {
        let key = key();
        let ops = seed_operate(fixed);
        let inputs: Vec<OperateRequest> = requests((OPS + WARM) as u64)
            .iter()
            .map(|f| {
                let ts = f.timestamp.to_string();
                OperateRequest::Seed(SeedPayload::sign(&key, &f.resource_id, &f.action, &ts))
            })
            .collect();
        over(inputs, move |r| black_box(ops.operate(r)).expect("fresh"))
    }

    /// The proven fix over the default set holding `HELD` (`common`) entries: the admission's cost
    /// when its set is larger than the caches, as in production.
    fn proven_op_held() -> Fixture {
        let (key, ops) = (key(), operations_over(held_set()));
        over(fresh(), move |(f, sig)| {
            black_box(ops.admit_request(&key, f, sig, || black_box(f).timestamp)).expect("fresh");
        })
    }

    fn proven_op(shards: usize) -> Fixture {
        let (key, ops) = (key(), operations(shards));
        over(fresh(), move |(f, sig)| {
            black_box(ops.admit_request(&key, f, sig, || black_box(f).timestamp)).expect("fresh");
        })
    }

    fn cas_op() -> Fixture {
        let inputs = fresh();
        let flags = ResourceFlags::new(inputs.iter().map(|(f, _)| f.resource_id.clone()));
        let ops = ProvenOperateCas::new(key(), flags, ManualClock::new(NOW), Narrator::silent());
        let inputs: Vec<OperateRequest> = inputs
            .into_iter()
            .map(|(fields, signature)| OperateRequest::Signed { fields, signature })
            .collect();
        over(inputs, move |r| black_box(ops.operate(r)).expect("fresh"))
    }

    #[library_benchmark]
    #[bench::seed_vulnerable_global_mutex(seed_op(false))]
    #[bench::seed_fix_global_mutex(seed_op(true))]
    #[bench::proven_fix_global_mutex(proven_op(1))]
    #[bench::proven_fix_sharded(proven_op(16))]
    #[bench::proven_fix_cas(cas_op())]
    #[bench::proven_fix_global_mutex_held(proven_op_held())]
    fn operate(fixture: Fixture) -> Fixture {
        run(fixture)
    }

    library_benchmark_group!(name = operate_group, benchmarks = operate);

    fn hmac_verify() -> Fixture {
        let key = key();
        over(fresh(), move |(f, sig)| {
            let tag = Tag::from_hex(sig).and_then(|tag| key.verify_fields(f, &tag));
            black_box(tag).expect("genuine");
        })
    }

    /// The replay set alone: `insert_if_absent` of distinct tags into the default set,
    /// empty or (`held`) holding `HELD` (`common`) entries.
    fn replay_insert(held: bool) -> Fixture {
        let set = if held {
            held_set()
        } else {
            ReplaySet::new(raceproof_core::replay::DEFAULT_CAPACITY)
        };
        let key = key();
        let tags: Vec<Tag> = requests((OPS + WARM) as u64)
            .iter()
            .map(|f| key.sign(f).expect("valid"))
            .collect();
        over(tags, move |tag| {
            black_box(set.insert_if_absent(*tag, NOW + 300, NOW)).expect("fresh");
        })
    }

    #[library_benchmark]
    #[bench::hmac_verify_prepared_key(hmac_verify())]
    #[bench::replay_set_insert(replay_insert(false))]
    #[bench::replay_set_insert_held(replay_insert(true))]
    fn floor(fixture: Fixture) -> Fixture {
        run(fixture)
    }

    library_benchmark_group!(name = floor_group, benchmarks = floor);
}
