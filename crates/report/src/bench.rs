//! `bench.json` (`cargo xtask bench`: criterion timings over several runs, callgrind
//! instruction counts) and `replay_turnover.json` (the replay set's single-admit
//! percentiles while it turns over).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub machine: String,
    /// `--quick`: fewer, shorter runs; rough.
    pub quick: bool,
    /// Criterion runs the timings are the median of.
    pub runs: usize,
    /// The lock strategies measured, in `raceproof_core::table::for_each_strategy`'s order.
    pub strategies: Vec<String>,
    /// The strategy the store uses by default, where the seed's variants (one table of
    /// their own) are reported.
    pub default_strategy: String,
    pub timings: Vec<Timing>,
    pub instructions: Vec<Instructions>,
    /// `replay_turnover.json` of the same run.
    pub replay_turnover: Option<ReplayTurnover>,
}

impl BenchReport {
    /// The timing of criterion benchmark `group/function/parameter`.
    pub fn timing(&self, group: &str, function: &str, parameter: &str) -> Option<&Timing> {
        self.timings
            .iter()
            .find(|m| m.group == group && m.function == function && m.parameter == parameter)
    }

    /// The instruction count of gungraun benchmark `group` / `id`.
    pub fn instructions(&self, group: &str, id: &str) -> Option<&Instructions> {
        self.instructions
            .iter()
            .find(|m| m.group == group && m.id == id)
    }
}

/// One criterion benchmark over the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub group: String,
    pub function: String,
    pub parameter: String,
    /// criterion's point estimate of one iteration, in nanoseconds, per run (in run order;
    /// `null` where a run lacks it).
    pub runs_ns: Vec<Option<f64>>,
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
}

impl Timing {
    /// `self / den`: the ratio of the medians, with the min–max of the ratios run by run
    /// (runs that have both); `None` when no run has both or `den`'s median is 0. Every
    /// reader that sets two timings side by side (the docs' tables, the HTML report) uses
    /// this one computation.
    pub fn ratio_to(&self, den: &Timing) -> Option<Ratio> {
        let mut per_run: Vec<f64> = self
            .runs_ns
            .iter()
            .zip(&den.runs_ns)
            .filter_map(|(a, b)| Some(a.as_ref()? / b.as_ref()?))
            .collect();
        per_run.sort_by(f64::total_cmp);
        match (per_run.first(), per_run.last()) {
            (Some(&min), Some(&max)) if den.median_ns > 0.0 => Some(Ratio {
                median: self.median_ns / den.median_ns,
                min,
                max,
            }),
            _ => None,
        }
    }
}

/// A ratio of two timings over several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The ratio of the medians.
    pub median: f64,
    /// The smallest and largest of the run-by-run ratios.
    pub min: f64,
    pub max: f64,
}

/// One callgrind measurement (gungraun), per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instructions {
    pub group: String,
    /// The bench id, `<variant>_<strategy>` for flows.
    pub id: String,
    /// Instructions (callgrind's Ir) per operation.
    pub per_op: f64,
    /// Level-1 data cache misses (reads and writes) per operation, in callgrind's cache
    /// simulation.
    pub d1_misses_per_op: Option<f64>,
    /// Callgrind's cycle estimate from instructions and simulated cache hits and misses.
    pub estimated_cycles_per_op: Option<f64>,
}

/// The replay set's single admits while a full set expires and is replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayTurnover {
    pub machine: String,
    /// Entries admitted at one second, then as many more during the turnover.
    pub entries: u64,
    pub fill: Percentiles,
    /// The first admit after every filled entry expired.
    pub first_after_expiry_ns: u64,
    pub turnover: Percentiles,
    /// Resident set size, from `/proc/self/statm` (0 where unavailable).
    pub rss_mib_before_fill: f64,
    pub rss_mib_after_fill: f64,
    pub rss_mib_after_turnover: f64,
    pub held_after_turnover: usize,
}

/// Single-admit latencies of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub admits: usize,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p99_9_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
    /// Admits slower than 100 µs and than 1 ms: one stall or many.
    pub over_100us: usize,
    pub over_1ms: usize,
}
