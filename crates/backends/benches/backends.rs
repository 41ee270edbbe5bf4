//! What sharing state costs: each service operation over its backend in memory, in Redis
//! and in PostgreSQL, over loopback with pools, from several threads (password hashing
//! replaced by a no-op: it is not what is measured). Latency p50/p99 per operation and
//! throughput, into `target/raceproof/backends.json` (`raceproof_report::services::
//! BackendsReport`), from which `cargo xtask readme` writes the table of `docs/instances.md`.
//!
//! `cargo bench -p raceproof-backends --bench backends` (REDIS_URL / DATABASE_URL as the
//! tests; a backend that does not answer is reported as such). `BENCH_OPS` sets the
//! operations per thread (default 2000), `BENCH_THREADS` the threads (default 4).
#![allow(clippy::unwrap_used)]

/// Under `--cfg loom` the clients do not exist: nothing to measure.
fn main() {
    #[cfg(not(loom))]
    run::main();
}

#[cfg(not(loom))]
mod run {

    use raceproof_backends::postgres::PgUserRepository;
    use raceproof_backends::redis::RedisReplayStore;
    use raceproof_backends::{DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, PoolConfig};
    use raceproof_core::auth::Credentials;
    use raceproof_core::auth::{PasswordError, PasswordHash, PasswordHasher};
    use raceproof_core::backend::UserRepository;
    use raceproof_core::replay::{ManualClock, ReplaySet, Tag, Verified};
    use raceproof_core::service::{Accounts, Operations};
    use raceproof_core::store::{Role, UserStore};
    use raceproof_report::services::{BackendOp, BackendsReport};
    use std::path::PathBuf;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// Accepts one fixed password; costs nothing (hashing is not what is measured).
    #[derive(Clone)]
    struct NoHash(PasswordHash);

    impl PasswordHasher for NoHash {
        fn hash(&self, _: &str) -> Result<PasswordHash, PasswordError> {
            Ok(self.0.clone())
        }
        fn verify(&self, _: &str, stored: &PasswordHash) -> bool {
            *stored == self.0
        }
        fn dummy(&self) -> &PasswordHash {
            &self.0
        }
    }

    const SALT: [u8; 16] = [1; 16];
    const DIGEST: [u8; 32] = [2; 32];

    struct Row {
        backend: &'static str,
        op: &'static str,
        threads: usize,
        ops: usize,
        p50_us: f64,
        p99_us: f64,
        throughput: f64,
    }

    fn env_usize(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Runs `op(thread, i)` `per_thread` times on each of `threads` threads.
    fn measure(
        backend: &'static str,
        name: &'static str,
        threads: usize,
        per_thread: usize,
        op: impl Fn(usize, usize) + Sync,
    ) -> Row {
        let start = Instant::now();
        let mut latencies: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let op = &op;
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let t0 = Instant::now();
                                op(t, i);
                                t0.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let wall = start.elapsed();
        latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
            latencies[i].as_secs_f64() * 1e6
        };
        let row = Row {
            backend,
            op: name,
            threads,
            ops: latencies.len(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            throughput: latencies.len() as f64 / wall.as_secs_f64(),
        };
        println!(
            "{backend:>9} {name:<22} {threads} threads: p50 {:>9.1} us  p99 {:>9.1} us  {:>10.0} ops/s",
            row.p50_us, row.p99_us, row.throughput
        );
        row
    }

    fn tag(run: u64, t: usize, i: usize) -> Tag {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&run.to_le_bytes());
        bytes[8..16].copy_from_slice(&(t as u64).to_le_bytes());
        bytes[16..24].copy_from_slice(&(i as u64).to_le_bytes());
        Tag(bytes)
    }

    /// The account service over `repo`: each thread logs in, updates its own user's email
    /// (CAS at the version it holds), and promotes its own target, as the server calls them
    /// (each write authenticates first: one snapshot read, then the repository's write).
    fn accounts(
        backend: &'static str,
        repo: &dyn UserRepository,
        hasher: &NoHash,
        threads: usize,
        per_thread: usize,
        rows: &mut Vec<Row>,
    ) {
        let service = Accounts::new(repo, hasher.clone());
        let credentials: Vec<Credentials> = (0..threads)
            .map(|t| Credentials::new(&format!("bench{t}"), "pw").unwrap())
            .collect();
        rows.push(measure(
            backend,
            "authenticate (snapshot)",
            threads,
            per_thread,
            |t, _| {
                service.authenticate(&credentials[t]).unwrap();
            },
        ));
        rows.push(measure(
            backend,
            "update_email (login + CAS)",
            threads,
            per_thread,
            |t, i| {
                let expected = i as u64 + 1;
                service
                    .update_email(&credentials[t], Some(expected), "x@example.com")
                    .unwrap();
            },
        ));
        rows.push(measure(
            backend,
            "promote (login + authorize+act)",
            threads,
            per_thread,
            |t, _| {
                service
                    .promote(&credentials[t], &format!("target{t}"))
                    .unwrap();
            },
        ));
    }

    pub fn main() {
        let threads = env_usize("BENCH_THREADS", 4).max(1);
        let per_thread = env_usize("BENCH_OPS", 2000).max(1);
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let now = (run / 1_000_000_000) as i64;
        let mut rows = Vec::new();
        let mut notes = Vec::new();

        // Replay store: the service's admission of verified messages (signature checks
        // are the same whatever the store), at a fixed clock.
        let message = |t: usize, i: usize| Verified {
            tag: tag(run, t, i),
            timestamp: now,
        };
        let memory = Operations::with_clock(ReplaySet::sharded(1 << 22, 16), ManualClock::new(now));
        rows.push(measure(
            "memory",
            "admit (insert_if_absent)",
            threads,
            per_thread,
            |t, i| memory.admit(&message(t, i), || ()).unwrap(),
        ));
        let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.into());
        let redis =
            RedisReplayStore::with_prefix(&redis_url, "raceproof:bench:", PoolConfig::default())
                .unwrap();
        if redis.ping().is_ok() {
            let redis = Operations::with_clock(redis, ManualClock::new(now));
            rows.push(measure(
                "redis",
                "admit (insert_if_absent)",
                threads,
                per_thread,
                |t, i| redis.admit(&message(t, i), || ()).unwrap(),
            ));
        } else {
            notes.push("redis did not answer: not measured".to_owned());
        }

        // User repository.
        let hasher = NoHash(PasswordHash::from_parts(SALT, DIGEST));
        let store = UserStore::new();
        for t in 0..threads {
            let hash = hasher.0.clone();
            UserRepository::insert(
                &store,
                &format!("bench{t}"),
                hash.clone(),
                Role::Admin,
                "b@x",
            )
            .unwrap();
            UserRepository::insert(&store, &format!("target{t}"), hash, Role::User, "t@x").unwrap();
        }
        accounts("memory", &store, &hasher, threads, per_thread, &mut rows);

        let db_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let schema = format!("rp_bench_{}", std::process::id());
        let pg = PgUserRepository::with_schema(&db_url, &schema, PoolConfig::default()).unwrap();
        if pg.ping().is_ok() {
            pg.migrate().unwrap();
            for t in 0..threads {
                pg.insert_parts(&format!("bench{t}"), &SALT, &DIGEST, Role::Admin, "b@x")
                    .unwrap();
                pg.insert_parts(&format!("target{t}"), &SALT, &DIGEST, Role::User, "t@x")
                    .unwrap();
            }
            accounts("postgres", &pg, &hasher, threads, per_thread, &mut rows);
            if let Ok(mut client) = postgres::Client::connect(&db_url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        } else {
            notes.push("postgres did not answer: not measured".to_owned());
        }

        write_reports(&rows, &notes, threads, per_thread);
    }

    fn write_reports(rows: &[Row], notes: &[String], threads: usize, per_thread: usize) {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // crates/backends -> the workspace root.
        let root = manifest.ancestors().nth(2).unwrap_or(&manifest);
        let report = BackendsReport {
            machine: raceproof_report::machine(),
            threads,
            ops_per_thread: per_thread,
            pool_connections: PoolConfig::default().max_connections,
            notes: notes.to_vec(),
            results: rows
                .iter()
                .map(|r| BackendOp {
                    backend: r.backend.to_owned(),
                    op: r.op.to_owned(),
                    threads: r.threads,
                    ops: r.ops,
                    p50_us: r.p50_us,
                    p99_us: r.p99_us,
                    ops_per_sec: r.throughput,
                })
                .collect(),
        };
        let path = raceproof_report::dir(root).join(raceproof_report::file::BACKENDS);
        raceproof_report::write(&path, &report).unwrap();
        println!("wrote {}", path.display());
    }
}
