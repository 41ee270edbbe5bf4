//! What each fix costs, lock strategy by lock strategy.
//!
//! - `update_email`, `promote`: `seed_vulnerable` against `proven_fix` under every table
//!   strategy (and `seed_fix` under the default), uncontended, whole flow including
//!   authentication;
//! - `operate`: the seed's variants against the proven fix with a global, a sharded and a
//!   lock-free (compare-and-swap) replay strategy;
//! - `floor`: the HMAC verification every signed request pays, with the key state prepared
//!   once and rebuilt per request;
//! - `contended_same_key`, `contended_distinct_keys`: two threads doing compare-and-set
//!   updates through the store, per strategy.
//!
//! Authentication uses `BenchHasher`, one SHA-256: Argon2id would add the same microseconds
//! to both sides of every ratio and hide the store's cost. `cargo xtask bench` runs this and
//! turns criterion's estimates into `target/raceproof/bench.{json,md}`.

// Benches measure real locks: under `--cfg loom` there is nothing to measure.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
criterion::criterion_main!(real::benches);

#[cfg(not(loom))]
mod real {
    use criterion::{BenchmarkId, Criterion, criterion_group};
    use raceproof_core::auth::{Credentials, DIGEST_LEN, PasswordHash, PasswordHasher, SALT_LEN};
    use raceproof_core::flows::Accounts;
    use raceproof_core::flows::operate::{Operations, SeedPayload};
    use raceproof_core::observe::NoProbe;
    use raceproof_core::replay::{
        HmacKey, ManualClock, ReplayGuard, ReplaySet, ResourceFlags, SignedFields, Tag,
    };
    use raceproof_core::store::{Principal, Role, User, UserStore};
    use raceproof_core::sync::Barrier;
    use raceproof_core::table::{
        GlobalMutex, GlobalParkingLot, GlobalRwLock, KeyLocks, Sharded, Table,
    };
    use sha2::{Digest, Sha256};
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    const SECRET: &[u8] = b"super-secret-key";
    const NOW: i64 = 1_700_000_000;
    const EMAIL: &str = "alice@example.com";

    /// Bench-only stand-in for a password hash: SHA-256(salt || password), compared in
    /// constant time. Not for storing passwords: it is fast on purpose.
    struct BenchHasher {
        dummy: PasswordHash,
    }

    impl BenchHasher {
        fn new() -> Self {
            Self {
                dummy: Self::digest_of("dummy", [7; SALT_LEN]),
            }
        }

        fn raw(password: &str, salt: &[u8; SALT_LEN]) -> [u8; DIGEST_LEN] {
            Sha256::new()
                .chain_update(salt)
                .chain_update(password.as_bytes())
                .finalize()
                .into()
        }

        fn digest_of(password: &str, salt: [u8; SALT_LEN]) -> PasswordHash {
            PasswordHash::from_parts(salt, Self::raw(password, &salt))
        }
    }

    impl PasswordHasher for BenchHasher {
        fn hash(
            &self,
            password: &str,
        ) -> Result<PasswordHash, raceproof_core::auth::PasswordError> {
            Ok(Self::digest_of(password, [1; SALT_LEN]))
        }

        fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
            stored.digest_matches(&Self::raw(password, stored.salt()))
        }

        fn dummy(&self) -> &PasswordHash {
            &self.dummy
        }
    }

    type BenchAccounts<T> = Accounts<T, NoProbe, BenchHasher>;

    /// alice (user), admin (admin), and `extra` more users `user-N`.
    fn accounts<T: Table<User> + Default>(extra: usize) -> BenchAccounts<T> {
        let hasher = BenchHasher::new();
        let store = UserStore::with(T::default(), NoProbe);
        let users = [("alice", Role::User), ("admin", Role::Admin)]
            .into_iter()
            .map(|(u, r)| (u.to_owned(), r))
            .chain((0..extra).map(|i| (format!("user-{i}"), Role::User)));
        for (user, role) in users {
            let hash = hasher.hash(&format!("{user}-pw")).expect("bench hash");
            store.insert(&user, hash, role, EMAIL).expect("valid user");
        }
        Accounts::new(store, hasher)
    }

    fn credentials(user: &str) -> Credentials {
        Credentials::new(user, &format!("{user}-pw")).expect("valid credentials")
    }

    /// `update_email` and `promote`, vulnerable against proven, under strategy `T`.
    fn flows_under<T: Table<User> + Default>(c: &mut Criterion, strategy: &str) {
        let alice = credentials("alice");
        let admin = credentials("admin");

        let mut group = c.benchmark_group("update_email");
        let app = accounts::<T>(0);
        group.bench_function(BenchmarkId::new("seed_vulnerable", strategy), |b| {
            b.iter(|| black_box(app.update_email_seed_vulnerable(0, &alice, EMAIL)))
        });
        let app = accounts::<T>(0);
        let mut version = 1;
        group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
            b.iter(|| {
                let result = app.update_email_proven_fix(0, &alice, Some(version), EMAIL);
                version += 1;
                black_box(result)
            })
        });
        if strategy == "mutex" {
            let app = accounts::<T>(0);
            let mut version = 1;
            group.bench_function(BenchmarkId::new("seed_fix", strategy), |b| {
                b.iter(|| {
                    let result = app.update_email_seed_fix(0, &alice, version, EMAIL);
                    version += 1;
                    black_box(result)
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group("promote");
        let app = accounts::<T>(0);
        group.bench_function(BenchmarkId::new("seed_vulnerable", strategy), |b| {
            b.iter(|| black_box(app.promote_seed_vulnerable(&admin, "alice")))
        });
        group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
            b.iter(|| black_box(app.promote_proven_fix(&admin, "alice")))
        });
        if strategy == "mutex" {
            group.bench_function(BenchmarkId::new("seed_fix", strategy), |b| {
                b.iter(|| black_box(app.promote_seed_fix(&admin, "alice")))
            });
        }
        group.finish();
    }

    /// What a password verification costs: why the flows benches use a stand-in.
    fn password_floor(c: &mut Criterion) {
        use raceproof_core::auth::Argon2Hasher;
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
        flows_under::<GlobalMutex<User>>(c, "mutex");
        flows_under::<GlobalParkingLot<User>>(c, "parking_lot");
        flows_under::<GlobalRwLock<User>>(c, "rwlock");
        flows_under::<Sharded<User>>(c, "sharded");
        flows_under::<KeyLocks<User>>(c, "key_locks");
    }

    /// `n` distinct, realistic signed requests: a 22-character request id (16 random bytes in
    /// base64url), an order number, an action.
    fn requests(n: u64) -> Vec<SignedFields> {
        (0..n)
            .map(|i| SignedFields {
                request_id: format!("{i:0>22}"),
                resource_id: format!("order-{i:0>6}"),
                action: "refund".to_owned(),
                timestamp: NOW,
            })
            .collect()
    }

    type BenchOperations = Operations<ManualClock, NoProbe>;

    fn operations(shards: usize, registered: &[SignedFields]) -> BenchOperations {
        let key = HmacKey::new(SECRET).expect("key");
        let guard = ReplayGuard::with(
            key.clone(),
            ManualClock::new(NOW),
            ReplaySet::sharded(usize::MAX, shards, NoProbe),
        );
        let flags = ResourceFlags::new(registered.iter().map(|r| r.resource_id.clone()));
        Operations::new(key, guard, flags)
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
        let key = HmacKey::new(SECRET).expect("key");
        let seed_payloads = |fields: &[SignedFields]| -> Vec<SeedPayload> {
            fields
                .iter()
                .map(|f| {
                    SeedPayload::sign(&key, &f.resource_id, &f.action, &f.timestamp.to_string())
                })
                .collect()
        };
        let signed = |fields: &[SignedFields]| -> Vec<(SignedFields, String)> {
            fields
                .iter()
                .map(|f| (f.clone(), key.sign(f).expect("valid").to_hex()))
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
        group.bench_function(BenchmarkId::new("seed_vulnerable", "mutex"), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (operations(1, &[]), seed_payloads(f)),
                    |ops, p| {
                        black_box(ops.operate_seed_vulnerable(p)).expect("fresh");
                    },
                )
            })
        });
        group.bench_function(BenchmarkId::new("seed_fix", "mutex"), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (operations(1, &[]), seed_payloads(f)),
                    |ops, p| {
                        black_box(ops.operate_seed_fix(p)).expect("fresh");
                    },
                )
            })
        });
        for (strategy, shards) in [("mutex", 1), ("sharded", 16)] {
            group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
                b.iter_custom(|iters| {
                    time_requests(
                        iters,
                        |f| (operations(shards, &[]), signed(f)),
                        |ops, (f, sig)| {
                            black_box(ops.operate_proven_fix(f, sig)).expect("fresh");
                        },
                    )
                })
            });
        }
        group.bench_function(BenchmarkId::new("proven_fix", "cas"), |b| {
            b.iter_custom(|iters| {
                time_requests(
                    iters,
                    |f| (operations(1, f), signed(f)),
                    |ops, (f, sig)| {
                        black_box(ops.operate_proven_fix_cas(f, sig)).expect("fresh");
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
                    .map(|u| {
                        app.store
                            .authenticate(&app.hasher, &credentials(u))
                            .expect("auth")
                    })
                    .collect()
            })
            .collect();
        let mut group = c.benchmark_group(group);
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| {
                let start = Barrier::new(3);
                std::thread::scope(|s| {
                    for mine in &principals {
                        let (store, start) = (&app.store, &start);
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
        for (group, keys) in [
            ("contended_same_key", same_key as fn(usize) -> Vec<String>),
            ("contended_distinct_keys", distinct_keys),
        ] {
            contended::<GlobalMutex<User>>(c, group, "mutex", keys);
            contended::<GlobalParkingLot<User>>(c, group, "parking_lot", keys);
            contended::<GlobalRwLock<User>>(c, group, "rwlock", keys);
            contended::<Sharded<User>>(c, group, "sharded", keys);
            contended::<KeyLocks<User>>(c, group, "key_locks", keys);
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
