//! What each fix costs, lock strategy by lock strategy.
//!
//! - `update_email`, `promote`: the proven fix ([`raceproof_core::service::Accounts`])
//!   under every table strategy that `for_each_strategy` lists, against the seed's
//!   variants (`raceproof_flows::SeedAccounts`, which keep the seed's own `USERS` dict behind
//!   one mutex whatever the strategy, so they are measured once, as `global_mutex`);
//!   uncontended, whole flow including authentication;
//! - `operate`: the seed's variants against the proven fix
//!   ([`raceproof_core::service::Operations`]) with a global and a sharded replay set, and
//!   the lock-free (compare-and-swap) variant;
//! - `floor`: the HMAC verification every signed request pays, with the key state prepared
//!   once and rebuilt per request;
//! - `contended_same_key`, `contended_distinct_keys`: two threads doing compare-and-set
//!   updates through the store, per strategy.
//!
//! The seed's accounts verify passwords with Argon2id (`SeedAccounts` takes an
//! `Argon2Hasher`), so `update_email` and `promote` authenticate with the cheapest legal
//! Argon2id on *both* sides: the ratios compare like with like, and the Argon2id time they
//! share is in `password_verify`. The contention benches authenticate once, up front, with
//! `BenchHasher` (one SHA-256), and time the store alone. `cargo xtask bench` runs this and
//! turns criterion's estimates into `target/raceproof/bench.{json,md}`.

// Benches measure real locks: under `--cfg loom` there is nothing to measure.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
criterion::criterion_main!(real::benches);

#[cfg(not(loom))]
mod real {
    use criterion::{BenchmarkId, Criterion, criterion_group};
    use raceproof_core::auth::{
        Argon2Hasher, Credentials, DIGEST_LEN, PasswordHash, PasswordHasher, SALT_LEN,
    };
    use raceproof_core::replay::{
        HmacKey, ManualClock, ReplayGuard, ReplaySet, ResourceFlags, SignedFields, Tag,
    };
    use raceproof_core::service::{Accounts, Operations};
    use raceproof_core::store::{Principal, Role, User, UserStore};

    use raceproof_core::table::{StrategyVisitor, Table, for_each_strategy};
    use raceproof_flows::{
        AccountFlows, Narrator, OperateFlow, OperateRequest, ProvenOperateCas, SeedAccounts,
        SeedOperate, SeedPayload, UserSpec,
    };
    use sha2::{Digest, Sha256};
    use std::hint::black_box;
    use std::sync::{Barrier, LazyLock};
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

    /// The default strategy's name in `for_each_strategy`: where the seed's variants, which
    /// have one table of their own, are reported.
    const DEFAULT_STRATEGY: &str = "global_mutex";

    /// The users of every accounts bench: alice (user), admin (admin), and `extra` more
    /// users `user-N`, each with password `<id>-pw`.
    fn users(extra: usize) -> Vec<(String, Role)> {
        [("alice", Role::User), ("admin", Role::Admin)]
            .into_iter()
            .map(|(u, r)| (u.to_owned(), r))
            .chain((0..extra).map(|i| (format!("user-{i}"), Role::User)))
            .collect()
    }

    /// The proven fix's accounts under strategy `T`, over `users(extra)`.
    fn accounts<T: Table<User> + Default, H: PasswordHasher>(
        hasher: H,
        extra: usize,
    ) -> Accounts<T, H> {
        let store = UserStore::with_table(T::default());
        for (user, role) in users(extra) {
            let hash = hasher.hash(&format!("{user}-pw")).expect("bench hash");
            store.insert(&user, hash, role, EMAIL).expect("valid user");
        }
        Accounts::new(store, hasher)
    }

    /// The cheapest legal Argon2id, and the fixture's hashes made with it once.
    static ARGON2: LazyLock<(Argon2Hasher, Vec<UserSpec>)> = LazyLock::new(|| {
        let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
        let specs = users(0)
            .into_iter()
            .map(|(id, role)| UserSpec {
                password: hasher.hash(&format!("{id}-pw")).expect("bench hash"),
                id,
                role,
                email: EMAIL.to_owned(),
            })
            .collect();
        (hasher, specs)
    });

    /// The seed's accounts (`fixed`: its fix), over `users(0)`.
    fn seed_accounts(fixed: bool) -> SeedAccounts {
        let (hasher, specs) = &*ARGON2;
        SeedAccounts::new(fixed, specs, hasher.clone(), Narrator::silent())
    }

    /// The proven fix's accounts under strategy `T`, with the seed's hasher.
    fn proven_accounts<T: Table<User> + Default>() -> Accounts<T, Argon2Hasher> {
        let (hasher, specs) = &*ARGON2;
        let store = UserStore::with_table(T::default());
        for u in specs {
            store
                .insert(&u.id, u.password.clone(), u.role, &u.email)
                .expect("valid user");
        }
        Accounts::new(store, hasher.clone())
    }

    fn credentials(user: &str) -> Credentials {
        Credentials::new(user, &format!("{user}-pw")).expect("valid credentials")
    }

    /// `update_email` and `promote`: the proven fix under strategy `T`.
    fn proven_flows<T: Table<User> + Default>(c: &mut Criterion, strategy: &str) {
        let (alice, admin) = (credentials("alice"), credentials("admin"));

        let mut group = c.benchmark_group("update_email");
        let app = proven_accounts::<T>();
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
        let app = proven_accounts::<T>();
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
        group.bench_function(BenchmarkId::new("seed_vulnerable", DEFAULT_STRATEGY), |b| {
            b.iter(|| black_box(app.update_email(&alice, None, EMAIL)))
        });
        let app = seed_accounts(true);
        let mut version = 1;
        group.bench_function(BenchmarkId::new("seed_fix", DEFAULT_STRATEGY), |b| {
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
            group.bench_function(BenchmarkId::new(variant, DEFAULT_STRATEGY), |b| {
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

    fn key() -> HmacKey {
        HmacKey::new(SECRET).expect("key")
    }

    /// A replay guard at the benches' time, its replay set in `shards` shards, unbounded.
    fn guard(shards: usize) -> ReplayGuard<ManualClock> {
        ReplayGuard::with(
            key(),
            ManualClock::new(NOW),
            ReplaySet::sharded(usize::MAX, shards),
        )
    }

    /// The seed's `/operate` (`fixed`: its hardened endpoint).
    fn seed_operate(fixed: bool) -> SeedOperate {
        SeedOperate::new(fixed, key(), Narrator::silent())
    }

    /// The lock-free variant, with `registered`'s resources registered.
    fn proven_operate_cas(registered: &[SignedFields]) -> ProvenOperateCas<ManualClock> {
        let flags = ResourceFlags::new(registered.iter().map(|r| r.resource_id.clone()));
        ProvenOperateCas::new(guard(1), flags, Narrator::silent())
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
        let signed = |fields: &[SignedFields]| -> Vec<(SignedFields, String)> {
            fields
                .iter()
                .map(|f| (f.clone(), key.sign(f).expect("valid").to_hex()))
                .collect()
        };
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
            group.bench_function(BenchmarkId::new(variant, "mutex"), |b| {
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
        for (strategy, shards) in [("mutex", 1), ("sharded", 16)] {
            group.bench_function(BenchmarkId::new("proven_fix", strategy), |b| {
                b.iter_custom(|iters| {
                    time_requests(
                        iters,
                        |f| (Operations::new(guard(shards)), signed(f)),
                        |ops, (f, sig)| {
                            black_box(ops.operate(f, sig, |f| black_box(f).timestamp))
                                .expect("fresh");
                        },
                    )
                })
            });
        }
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
        let app = accounts::<T, _>(BenchHasher::new(), 16);
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
                        let (store, start) = (app.store(), &start);
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
