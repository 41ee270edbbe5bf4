//! The randomized mode (`--cfg shuttle` builds): for models beyond exhaustive reach, PCT
//! (Burckhardt et al., "A Randomized Scheduler with Probabilistic Guarantees of Finding
//! Bugs", ASPLOS 2010) as the `shuttle` crate implements it.
//!
//! Each schedule gives the threads random priorities and lowers the running thread's
//! priority at `depth - 1` random steps; a bug that needs `d <= depth` ordering constraints
//! shows in one schedule with probability at least `1 / (n * k^(d-1))` (`n` threads, `k`
//! steps). So the verdict is *violated* (with a schedule that replays it) or *inconclusive:
//! no violation in N schedules of depth d*, with that bound; never *proven*.
//!
//! The seed is fixed ([`RandomConfig::default`]), so a run is repeatable: the same seed
//! finds the same violation at the same schedule, and [`Scenario::replay_schedule`] re-runs
//! exactly the failing schedule in one execution.

use crate::ghost;
use crate::invariant::Breach;
use crate::panics::{BudgetExhausted, ViolationFound, install_panic_hook, panic_message, quietly};
use crate::recorder::{Recorder, Recording};
use crate::scenario::Scenario;
use crate::verdict::{Inconclusive, Trace, Verdict};
use crate::watch::{Progress, watched};
use shuttle::scheduler::{PctScheduler, ReplayScheduler, Schedule, Scheduler, Task, TaskId};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// How many schedules, of which depth, from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomConfig {
    pub schedules: usize,
    /// PCT's bug depth `d`: it places `d - 1` priority change points per schedule.
    pub depth: usize,
    pub seed: u64,
}

impl Default for RandomConfig {
    /// 10,000 schedules of depth 3 (most races need two or three ordering constraints),
    /// from a fixed seed so that runs repeat.
    fn default() -> Self {
        Self {
            schedules: 10_000,
            depth: 3,
            seed: 25_481_509_319,
        }
    }
}

impl RandomConfig {
    /// The default, with `RACEPROOF_SCHEDULES`, `RACEPROOF_DEPTH` and `RACEPROOF_SEED` from
    /// the environment where they are set (how `cargo xtask verify --random` passes them).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let default = Self::default();
        Self {
            schedules: var("RACEPROOF_SCHEDULES")
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(default.schedules),
            depth: var("RACEPROOF_DEPTH")
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(default.depth),
            seed: var("RACEPROOF_SEED").unwrap_or(default.seed),
        }
    }
}

/// A randomized verdict and how to get it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Randomized {
    pub verdict: Verdict,
    pub config: RandomConfig,
    /// Schedules run (up to the failing one when violated).
    pub schedules: usize,
    /// The failing schedule, encoded for [`Scenario::replay_schedule`].
    pub schedule: Option<String>,
    /// The most scheduling steps one execution took (PCT's `k`).
    pub steps: usize,
}

/// What the recording scheduler saw.
#[derive(Debug, Default)]
struct Seen {
    /// The current execution's seed and choices (a task id, or `None` for a random draw).
    seed: u64,
    choices: Vec<Option<usize>>,
    executions: usize,
    steps: usize,
    max_steps: usize,
}

/// A scheduler that records the choices another makes, so a failing schedule can be
/// replayed.
struct Choices<S> {
    inner: S,
    seen: ghost::Arc<ghost::Mutex<Seen>>,
}

impl<S: Scheduler> Scheduler for Choices<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        let schedule = self.inner.new_execution()?;
        let mut seen = ghost::lock(&self.seen);
        seen.seed = schedule.seed;
        seen.choices.clear();
        seen.executions += 1;
        seen.steps = 0;
        Some(schedule)
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let next = self.inner.next_task(runnable, current, is_yielding);
        if let Some(task) = next {
            let mut seen = ghost::lock(&self.seen);
            seen.choices.push(Some(usize::from(task)));
            seen.steps += 1;
            seen.max_steps = seen.max_steps.max(seen.steps);
        }
        next
    }

    fn next_u64(&mut self) -> u64 {
        ghost::lock(&self.seen).choices.push(None);
        self.inner.next_u64()
    }
}

/// `seed:step,step,...` with `r` for a random draw and a task id otherwise (prefixed with
/// `workers|` on a deployment of several workers).
fn encode(seed: u64, choices: &[Option<usize>]) -> String {
    let steps: Vec<String> = choices
        .iter()
        .map(|t| t.map_or_else(|| "r".to_owned(), |t| t.to_string()))
        .collect();
    format!("{seed}:{}", steps.join(","))
}

/// The worker of each request, `0,1`: the prefix of a schedule found on several workers.
fn encode_workers(workers: &[usize]) -> String {
    let workers: Vec<String> = workers.iter().map(usize::to_string).collect();
    workers.join(",")
}

fn decode_workers(encoded: &str, requests: usize) -> Option<Vec<usize>> {
    let workers: Vec<usize> = encoded
        .split(',')
        .map(|w| w.trim().parse().ok())
        .collect::<Option<_>>()?;
    (workers.len() == requests).then_some(workers)
}

fn not_a_schedule(schedule: &str) -> Verdict {
    Verdict::Inconclusive {
        cause: Inconclusive::Checker {
            message: format!("`{schedule}` is not a schedule ([workers|]seed:step,step,...)"),
        },
        hint: "pass the schedule a randomized run printed".to_owned(),
        iterations: 0,
    }
}

fn decode(encoded: &str) -> Option<Schedule> {
    let (seed, steps) = encoded.trim().split_once(':')?;
    let mut schedule = Schedule::new(seed.parse().ok()?);
    for step in steps.split(',').filter(|s| !s.is_empty()) {
        match step {
            "r" => schedule.push_random(),
            task => schedule.push_task(TaskId::from(task.parse::<usize>().ok()?)),
        }
    }
    Some(schedule)
}

impl<S: Send + Sync + 'static> Scenario<S> {
    /// Runs up to `config.schedules` PCT schedules: *violated* with the first failing
    /// schedule, or *inconclusive* with the number of schedules and PCT's bound. A
    /// deployment of several workers runs them for each assignment of requests to workers.
    pub fn random(&self, config: RandomConfig) -> Randomized {
        if self.assignment.is_none() && self.deployment.processes() > 1 {
            return self.random_per_assignment(config);
        }
        let seen = ghost::Arc::new(ghost::Mutex::new(Seen::default()));
        let scheduler = Choices {
            inner: PctScheduler::new_from_seed(config.seed, config.depth.max(1), config.schedules),
            seen: seen.clone(),
        };
        let origin = format!(
            "found by PCT in schedule {{}} (seed {}, depth {}): `replay_schedule` re-runs it alone",
            config.seed, config.depth
        );
        let verdict = {
            let seen = seen.clone();
            watched(self, move |scenario, progress| {
                run(&scenario, scheduler, &seen, &progress, &origin)
            })
        };
        let seen = ghost::lock(&seen);
        let violated = verdict.invariant().is_some();
        let schedule = violated.then(|| {
            let schedule = encode(seen.seed, &seen.choices);
            match &self.assignment {
                Some(workers) => format!("{}|{schedule}", encode_workers(workers)),
                None => schedule,
            }
        });
        let verdict = match verdict {
            Verdict::Inconclusive {
                cause: Inconclusive::Checker { message },
                ..
            } if message == "completed" => {
                self.no_violation(config, seen.executions, seen.max_steps)
            }
            other => other,
        };
        Randomized {
            verdict,
            config,
            schedules: seen.executions,
            schedule,
            steps: seen.max_steps,
        }
    }

    /// [`Self::random`] on each of the deployment's assignments, most spread first: the first
    /// violation (its schedule names the assignment), else the first run that could not
    /// finish, else *inconclusive* over every schedule of every assignment.
    fn random_per_assignment(&self, config: RandomConfig) -> Randomized {
        let (mut schedules, mut steps) = (0, 0);
        let mut unfinished = None;
        for workers in self.deployment.assignments(self.actors.len()) {
            let one = self.assigned(workers).random(config);
            schedules += one.schedules;
            steps = steps.max(one.steps);
            match &one.verdict {
                Verdict::Violated { .. } => return Randomized { schedules, ..one },
                Verdict::Inconclusive {
                    cause: Inconclusive::Randomized { .. },
                    ..
                } => {}
                _ => {
                    unfinished.get_or_insert(one);
                }
            }
        }
        let verdict = match unfinished {
            Some(one) => one.verdict,
            None => self.no_violation(config, schedules, steps),
        };
        Randomized {
            verdict,
            config,
            schedules,
            schedule: None,
            steps,
        }
    }

    /// Re-runs exactly `schedule` (from [`Randomized::schedule`]) in one execution.
    pub fn replay_schedule(&self, schedule: &str) -> Verdict {
        if let Some((workers, rest)) = schedule.split_once('|') {
            return match decode_workers(workers, self.actors.len()) {
                Some(workers) => self.assigned(workers).replay_schedule(rest),
                None => not_a_schedule(schedule),
            };
        }
        let Some(decoded) = decode(schedule) else {
            return not_a_schedule(schedule);
        };
        let seen = ghost::Arc::new(ghost::Mutex::new(Seen::default()));
        let scheduler = Choices {
            inner: ReplayScheduler::new_from_schedule(decoded),
            seen: seen.clone(),
        };
        watched(self, move |scenario, progress| {
            run(
                &scenario,
                scheduler,
                &seen,
                &progress,
                "replayed from its schedule",
            )
        })
    }

    fn no_violation(&self, config: RandomConfig, schedules: usize, steps: usize) -> Verdict {
        Verdict::Inconclusive {
            cause: Inconclusive::Randomized {
                schedules,
                depth: config.depth,
                seed: config.seed,
                threads: self.actors.len().max(1),
                steps,
            },
            hint: "a randomized search finds bugs but never proves their absence: run the \
                   model under loom (fewer actors, or a preemption bound) to prove it"
                .to_owned(),
            iterations: schedules,
        }
    }
}

/// Runs `scenario` under `scheduler` until a violation, the schedules' end or the budget.
/// A run that ends without a violation comes back as the marker `Checker("completed")`.
fn run<S: Send + Sync + 'static, T: Scheduler + 'static>(
    scenario: &Scenario<S>,
    scheduler: T,
    seen: &ghost::Arc<ghost::Mutex<Seen>>,
    progress: &ghost::Arc<Progress>,
    origin: &str,
) -> Verdict {
    install_panic_hook();
    let found: ghost::Arc<ghost::Mutex<Option<(String, Breach, Recording)>>> =
        ghost::Arc::new(ghost::Mutex::new(None));
    let panicked = ghost::Arc::new(ghost::Mutex::new(None));
    let budget = scenario.budget;
    let started = std::time::Instant::now();
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.stack_size = 4 << 20;
    config.silence_warnings = true;
    let body = {
        let (scenario, found, progress, panicked, seen) = (
            scenario.clone(),
            found.clone(),
            progress.clone(),
            panicked.clone(),
            seen.clone(),
        );
        move || {
            // The schedules are this mode's cap on executions; the budget's time still holds.
            let n = ghost::lock(&seen).executions;
            progress.executions.store(n, ghost::Ordering::Relaxed);
            if started.elapsed().as_secs_f64() > budget.seconds {
                std::panic::panic_any(BudgetExhausted);
            }
            let recorder = Recorder::new();
            *ghost::lock(&progress.recorder) = recorder.clone();
            let (recording, _, breach) = scenario.run_in_model(&recorder, &panicked);
            if let Some((invariant, breach)) = breach
                && !breach.undecided
            {
                *ghost::lock(&found) = Some((invariant, breach, recording));
                std::panic::panic_any(ViolationFound);
            }
        }
    };
    let outcome = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            shuttle::Runner::new(scheduler, config).run(body);
        }))
    });
    let executions = ghost::lock(seen).executions;
    let payload = match outcome {
        Ok(()) => {
            return Verdict::Inconclusive {
                cause: Inconclusive::Checker {
                    message: "completed".to_owned(),
                },
                hint: String::new(),
                iterations: executions,
            };
        }
        Err(payload) => payload,
    };
    let found_by = |mut trace: Trace| {
        trace.push("end", origin.replace("{}", &executions.to_string()), None);
        trace
    };
    if let Some((invariant, breach, recording)) = ghost::lock(&found).take() {
        return Verdict::Violated {
            trace: found_by(Trace::new(&recording, &breach)),
            invariant,
            iterations_until_found: executions,
        };
    }
    if payload.is::<BudgetExhausted>() {
        return Verdict::Inconclusive {
            cause: Inconclusive::Budget {
                executions: executions.saturating_sub(1),
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            hint: "raise the budget's seconds (`.budget(..)`) or run fewer schedules".to_owned(),
            iterations: executions.saturating_sub(1),
        };
    }
    let recording = scenario.recording(&ghost::lock(&progress.recorder));
    let message = panic_message(payload.as_ref());
    let first = message.lines().next().unwrap_or(&message).to_owned();
    if message.contains("deadlock!") {
        return Verdict::Violated {
            trace: found_by(Trace::ending(
                &recording,
                vec![("end".to_owned(), format!("deadlock (shuttle: {first})"))],
            )),
            invariant: "no_deadlock".to_owned(),
            iterations_until_found: executions,
        };
    }
    if message.contains("exceeded max_steps") {
        return Verdict::Inconclusive {
            cause: Inconclusive::BranchLimit,
            hint: "a loop that never lets another actor run: spin with \
                   `raceproof::core::sync::hint::spin_loop()`"
                .to_owned(),
            iterations: executions,
        };
    }
    let ending = match ghost::lock(&panicked).take() {
        Some(p) => p.ending(),
        None => ("end".to_owned(), format!("panicked: {first}")),
    };
    Verdict::Violated {
        trace: found_by(Trace::ending(&recording, vec![ending])),
        invariant: "no_panic".to_owned(),
        iterations_until_found: executions,
    }
}
