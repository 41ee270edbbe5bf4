//! What each fix costs, lock strategy by lock strategy.
//!
//! - `update_email`, `promote`: the proven fix ([`raceproof_core::service::Accounts`])
//!   under every table strategy that `for_each_strategy` lists, against the seed's
//!   variants (the same service over `raceproof_flows::SeedUsers`, the seed's own `USERS`
//!   dict behind one mutex whatever the strategy, so they are measured once, as
//!   `global_mutex`);
//!   uncontended, whole flow including authentication;
//! - `operate`: the seed's variants against the proven fix
//!   ([`raceproof_core::service::Operations`]) with a global and a sharded replay set, and
//!   the lock-free (compare-and-swap) variant;
//! - `floor`: the HMAC verification every signed request pays, with the key state prepared
//!   once and rebuilt per request;
//! - `contended_same_key`, `contended_distinct_keys`: two threads doing compare-and-set
//!   updates through the store, per strategy.
//!
//! `update_email` and `promote` authenticate with `BenchHasher` (one SHA-256) on *both*
//! sides, seed and proven (both are generic over the hasher), so the ratios show the
//! store's cost rather than Argon2id's, which is in `password_verify`. The contention
//! benches authenticate once, up front, and time the store alone. `cargo xtask bench` runs
//! this several times and turns criterion's estimates into medians and spreads in
//! `target/raceproof/bench.{json,md}`; `benches/instructions.rs` counts the same
//! uncontended operations in instructions.

// Benches measure real locks: under `--cfg loom` there is nothing to measure.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
criterion::criterion_main!(real::benches);

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
mod real {
    use crate::common::{
        BenchHasher, EMAIL, NOW, SECRET, accounts, credentials, default_strategy, held_set, key,
        operations, operations_over, requests, seed_accounts, seed_operate, signed,
    };
    use criterion::{BenchmarkId, Criterion, criterion_group};
    use raceproof_core::auth::{Argon2Hasher, PasswordHasher};
    use raceproof_core::replay::{HmacKey, ManualClock, ResourceFlags, SignedFields, Tag};
    use raceproof_core::store::{Principal, User};
    use raceproof_core::table::{StrategyVisitor, Table, for_each_strategy};
    use raceproof_flows::{Narrator, OperateFlow, OperateRequest, ProvenOperateCas, SeedPayload};
    use std::hint::black_box;
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    /// `update_email` and `promote`: the proven fix under strategy `T`.
    fn proven_flows<T: Table<User> + Default>(c: &mut Criterion, strategy: &str) {
        let (alice, admin) = (credentials("alice"), credentials("admin"));

        let mut group = c.benchmark_group("update_email");
        let app = accounts::<T>(0);
        let mut version = 1;
        group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
            b.iter(|| {
                let result = app.update_email(&alice, Some(version), EMAIL);
                version += 1;
                black_box(result)
            })
        });
        group.finish();

        let mut group = c.benchmark_group("promote");
        let app = accounts::<T>(0);
        group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
            b.iter(|| black_box(app.promote(&admin, "alice")))
        });
        group.finish();
    }

    /// `update_email` and `promote`: the seed's variants, over the seed's own dict.
    fn seed_flows(c: &mut Criterion) {
        let (alice, admin) = (credentials("alice"), credentials("admin"));

        let mut group = c.benchmark_group("update_email");
        let app = seed_accounts(false);
        group.bench_function(
            BenchmarkId::new("seed_vulnerable", default_strategy()),
            |b| b.iter(|| black_box(app.update_email(&alice, None, EMAIL))),
        );
        let app = seed_accounts(true);
        let mut version = 1;
        group.bench_function(BenchmarkId::new("seed_fix", default_strategy()), |b| {
            b.iter(|| {
                let result = app.update_email(&alice, Some(version), EMAIL);
                version += 1;
                black_box(result)
            })
        });
        group.finish();

        let mut group = c.benchmark_group("promote");
        for (variant, fixed) in [("seed_vulnerable", false), ("seed_fix", true)] {
            let app = seed_accounts(fixed);
            group.bench_function(BenchmarkId::new(variant, default_strategy()), |b| {
                b.iter(|| black_box(app.promote(&admin, "alice")))
            });
        }
        group.finish();
    }

    /// What a password verification costs: why the flows benches use a stand-in.
    fn password_floor(c: &mut Criterion) {
        let mut group = c.benchmark_group("password_verify");
        group.sample_size(10);
        let hashers: [(&str, Box<dyn PasswordHasher>); 3] = [
            (
                "argon2id_owasp",
                Box::new(Argon2Hasher::owasp().expect("random source")),
            ),
            (
                "argon2id_insecure_fast",
                Box::new(Argon2Hasher::insecure_fast().expect("random source")),
            ),
            ("bench_sha256", Box::new(BenchHasher::new())),
        ];
        for (name, hasher) in hashers {
            let stored = hasher.hash("s3cr3t").expect("hash");
            group.bench_function(name, |b| {
                b.iter(|| black_box(hasher.verify("s3cr3t", &stored)))
            });
        }
        group.finish();
    }

    fn flows(c: &mut Criterion) {
        struct Flows<'c>(&'c mut Criterion);
        impl StrategyVisitor<User> for Flows<'_> {
            fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
                proven_flows::<T>(self.0, name);
            }
        }
        seed_flows(c);
        for_each_strategy(&mut Flows(c));
    }

    /// The lock-free variant, with `registered`'s resources registered.
    fn proven_operate_cas(registered: &[SignedFields]) -> ProvenOperateCas<ManualClock> {
        let flags = ResourceFlags::new(registered.iter().map(|r| r.resource_id.clone()));
        ProvenOperateCas::new(key(), flags, ManualClock::new(NOW), Narrator::silent())
    }

    /// Times `each` over `iters` fresh requests, with fresh state built outside the timing.
    fn time_requests<S, I>(
        iters: u64,
        prepare: impl FnOnce(&[SignedFields]) -> (S, Vec<I>),
        mut each: impl FnMut(&S, &I),
    ) -> Duration {
        let fields = requests(iters);
        let (state, inputs) = prepare(&fields);
        let start = Instant::now();
        for input in &inputs {
            each(&state, input);
        }
        start.elapsed()
    }

    fn operate(c: &mut Criterion) {
        let key = key();
        let seed_requests = |fields: &[SignedFields]| -> Vec<OperateRequest> {
            fields
                .iter()
                .map(|f| {
                    OperateRequest::Seed(SeedPayload::sign(
                        &key,
                        &f.resource_id,
                        &f.action,
                        &f.timestamp.to_string(),
                    ))
                })
                .collect()
        };
        let signed = |fields: &[SignedFields]| signed(&key, fields);
        let signed_requests = |fields: &[SignedFields]| -> Vec<OperateRequest> {
            signed(fields)
                .into_iter()
                .map(|(fields, signature)| OperateRequest::Signed { fields, signature })
                .collect()
        };

        let mut group = c.benchmark_group("floor");
        group.bench_function(BenchmarkId::new("hmac_verify", "prepared_key"), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (key.clone(), signed(f)),
                    |key, (f, sig)| {
                        let tag = Tag::from_hex(sig).and_then(|tag| key.verify_fields(f, &tag));
                        black_box(tag).expect("genuine");
                    },
                )
            })
        });
        group.bench_function(
            BenchmarkId::new("hmac_verify", "key_rebuilt_per_request"),
            |b| {
                b.iter_custom(|iters| {
                    time_requests(
                        iters,
                        |f| ((), signed(f)),
                        |(), (f, sig)| {
                            let key = HmacKey::new(black_box(SECRET)).expect("key");
                            let tag = Tag::from_hex(sig).and_then(|tag| key.verify_fields(f, &tag));
                            black_box(tag).expect("genuine");
                        },
                    )
                })
            },
        );
        group.finish();

        let mut group = c.benchmark_group("operate");
        for (variant, fixed) in [("seed_vulnerable", false), ("seed_fix", true)] {
            group.bench_function(BenchmarkId::new(variant, default_strategy()), |b| {
                b.iter_custom(|iters| {
                    time_requests(
                        iters,
                        |f| (seed_operate(fixed), seed_requests(f)),
                        |ops, request| {
                            black_box(ops.operate(request)).expect("fresh");
                        },
                    )
                })
            });
        }
        for (strategy, shards) in [(default_strategy(), 1), ("sharded", 16)] {
            group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
                b.iter_custom(|iters| {
                    time_requests(
                        iters,
                        |f| (operations(shards), signed(f)),
                        |ops, (f, sig)| {
                            black_box(ops.admit_request(&key, f, sig, || black_box(f).timestamp))
                                .expect("fresh");
                        },
                    )
                })
            });
        }
        // Into a set already at a production-like size, built outside the timing.
        let held = format!("{}_held", default_strategy());
        group.bench_function(BenchmarkId::new("proven_fix", held), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (operations_over(held_set()), signed(f)),
                    |ops, (f, sig)| {
                        black_box(ops.admit_request(&key, f, sig, || black_box(f).timestamp))
                            .expect("fresh");
                    },
                )
            })
        });
        group.bench_function(BenchmarkId::new("proven_fix", "cas"), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (proven_operate_cas(f), signed_requests(f)),
                    |ops, request| {
                        black_box(ops.operate(request)).expect("fresh");
                    },
                )
            })
        });
        group.finish();
    }

    /// Two threads, `iters` compare-and-set updates each; `keys_of(t)` are thread `t`'s users.
    fn contended<T: Table<User> + Default>(
        c: &mut Criterion,
        group: &str,
        strategy: &str,
        keys_of: fn(usize) -> Vec<String>,
    ) {
        let app = accounts::<T>(16);
        let principals: Vec<Vec<Principal>> = (0..2)
            .map(|t| {
                keys_of(t)
                    .iter()
                    .map(|u| app.authenticate(&credentials(u)).expect("auth"))
                    .collect()
            })
            .collect();
        let mut group = c.benchmark_group(group);
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| {
                let start = Barrier::new(3);
                std::thread::scope(|s| {
                    for mine in &principals {
                        let (store, start) = (app.repository(), &start);
                        s.spawn(move || {
                            start.wait();
                            for i in 0..iters {
                                let actor = &mine[i as usize % mine.len()];
                                black_box(store.update_email(actor, None, EMAIL)).expect("update");
                            }
                        });
                    }
                    start.wait();
                    let began = Instant::now();
                    // The scope joins both threads before it returns.
                    began
                })
                .elapsed()
            })
        });
        group.finish();
    }

    fn same_key(_: usize) -> Vec<String> {
        vec!["user-0".to_owned()]
    }

    fn distinct_keys(thread: usize) -> Vec<String> {
        (0..8).map(|i| format!("user-{}", thread * 8 + i)).collect()
    }

    fn contention(c: &mut Criterion) {
        struct Contention<'c> {
            c: &'c mut Criterion,
            group: &'static str,
            keys: fn(usize) -> Vec<String>,
        }
        impl StrategyVisitor<User> for Contention<'_> {
            fn visit<T: Table<User> + Default + 'static>(&mut self, name: &'static str) {
                contended::<T>(self.c, self.group, name, self.keys);
            }
        }
        for (group, keys) in [
            ("contended_same_key", same_key as fn(usize) -> Vec<String>),
            ("contended_distinct_keys", distinct_keys),
        ] {
            for_each_strategy(&mut Contention { c, group, keys });
        }
    }

    fn config() -> Criterion {
        Criterion::default()
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(40)
    }

    criterion_group! {
        name = benches;
        config = config();
        targets = password_floor, flows, operate, contention
    }
}
