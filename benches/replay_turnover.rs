//! Worst-case admit latency of the replay guard while its set turns over.
//!
//! Criterion reports means, which hide the one request that pays for evicting a million
//! entries, so this bench has its own harness and reports percentiles of single admits:
//!
//! 1. *fill*: 1,000,000 genuine requests admitted at one second, into the default guard's
//!    set (one shard, [`DEFAULT_CAPACITY`] entries);
//! 2. *turnover*: the clock moves past their expiry, then 1,000,000 more requests are
//!    admitted while the clock advances one second every 2,000 requests, so the old
//!    entries must go and, from 301 s on, the new ones expire in turn.
//!
//! Each admit (signature check, freshness, insert-if-absent) is timed on its own; signing
//! is done outside the timing. Figures go to stdout and to
//! `target/raceproof/replay_turnover.json`. Run with
//! `cargo bench -p raceproof --bench replay_turnover`; `-- --quick` uses 100,000 entries.

// Benches measure real locks: under `--cfg loom` there is nothing to measure.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    real::main();
}

#[cfg(not(loom))]
mod real {
    use raceproof_core::replay::{
        Clock, DEFAULT_CAPACITY, DEFAULT_TOLERANCE_SECS, HmacKey, ManualClock, ReplaySet,
        SignedFields,
    };
    use raceproof_core::service::Operations;
    use raceproof_core::sync::Arc;
    use raceproof_report::bench::{Percentiles, ReplayTurnover};
    use std::hint::black_box;
    use std::time::Instant;

    const SECRET: &[u8] = b"super-secret-key";
    const NOW: i64 = 1_700_000_000;
    /// Requests per clock second during turnover.
    const RATE: u64 = 2_000;

    #[derive(Clone)]
    struct SharedClock(Arc<ManualClock>);

    impl Clock for SharedClock {
        fn now(&self) -> i64 {
            self.0.now()
        }
    }

    /// The percentiles of single-admit times `ns`.
    fn percentiles(mut ns: Vec<u64>) -> Percentiles {
        ns.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of them at or below it.
            let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
            ns[rank - 1]
        };
        Percentiles {
            admits: ns.len(),
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            p99_9_ns: at(0.999),
            max_ns: ns.last().copied().unwrap_or(0),
            mean_ns: ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64,
            over_100us: ns.iter().filter(|&&n| n > 100_000).count(),
            over_1ms: ns.iter().filter(|&&n| n > 1_000_000).count(),
        }
    }

    fn request(i: u64, timestamp: i64) -> SignedFields {
        SignedFields {
            request_id: format!("{i:0>22}"),
            resource_id: format!("order-{:0>6}", i % 1_000_000),
            action: "refund".to_owned(),
            timestamp,
        }
    }

    fn rss_mib() -> f64 {
        let pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        (pages * 4096) as f64 / (1024.0 * 1024.0)
    }

    /// Admits request `i` at the clock's current second and returns the admit's duration.
    fn timed_admit(
        ops: &Operations<ReplaySet, SharedClock>,
        key: &HmacKey,
        i: u64,
        now: i64,
    ) -> u64 {
        let fields = request(i, now);
        let signature = key.sign(&fields).expect("valid fields").to_hex();
        let start = Instant::now();
        let admitted = black_box(ops.admit_request(key, &fields, &signature, || ()));
        let ns = start.elapsed().as_nanos();
        admitted.expect("a fresh, genuine, distinct request is admitted");
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    pub fn main() {
        let quick = std::env::args().any(|a| a == "--quick");
        let entries: u64 = if quick { 100_000 } else { 1_000_000 };
        let key = HmacKey::new(SECRET).expect("key");
        let clock = SharedClock(Arc::new(ManualClock::new(NOW)));
        let guard = Operations::with_clock(ReplaySet::new(DEFAULT_CAPACITY), clock.clone());

        let rss_before = rss_mib();
        let fill: Vec<u64> = (0..entries)
            .map(|i| timed_admit(&guard, &key, i, NOW))
            .collect();
        let rss_filled = rss_mib();

        // Every filled entry expires at NOW + tolerance: one second later all are stale.
        let mut now = NOW + DEFAULT_TOLERANCE_SECS + 1;
        clock.0.set(now);
        let mut turnover = Vec::with_capacity(usize::try_from(entries).unwrap_or(0));
        for n in 0..entries {
            if n > 0 && n % RATE == 0 {
                now += 1;
                clock.0.set(now);
            }
            turnover.push(timed_admit(&guard, &key, entries + n, now));
        }
        let first_after_expiry_ns = turnover[0];
        let report = ReplayTurnover {
            machine: raceproof_report::machine(),
            entries,
            fill: percentiles(fill),
            first_after_expiry_ns,
            turnover: percentiles(turnover),
            rss_mib_before_fill: rss_before,
            rss_mib_after_fill: rss_filled,
            rss_mib_after_turnover: rss_mib(),
            held_after_turnover: guard.store().len(),
        };
        println!("{report:#?}");
        let path = raceproof_report::dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .join(raceproof_report::file::REPLAY_TURNOVER);
        match raceproof_report::write(&path, &report) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write the report: {e}"),
        }
    }
}
