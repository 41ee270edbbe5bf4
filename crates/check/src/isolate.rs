//! Models run each in a child process, so that one that aborts the process (a panic while
//! unwinding, `std::process::abort`, a stack overflow), or blocks or loops past every
//! deadline, ends *inconclusive* without taking the other models of the run with it.
//!
//! The child is the same binary, re-invoked for one model: a binary (or a test) calls
//! [`serve`] with its list of models before anything else; in a child started by
//! [`Isolated`], `serve` checks the one model it was started for, writes its verdict as one
//! JSON line on stdout, and exits; anywhere else it returns at once. While it explores, the
//! child reports progress (execution, running actor, last step) about once a second, which
//! is what a verdict on a crashed child names. `tests/checker_edges.rs` uses it so:
//!
//! ```ignore
//! # use raceproof_check::{AnyScenario, isolate::{self, Isolated}};
//! # fn models() -> Vec<Box<dyn AnyScenario>> { Vec::new() }
//! #[test]
//! fn every_model() {
//!     let models = models();
//!     isolate::serve(&models); // in the child: checks one model and exits
//!     for checked in Isolated::this_test("every_model").check(&models) {
//!         println!("{} ({:.1} s)", checked.verdict, checked.seconds);
//!     }
//! }
//! ```

use crate::ghost;
use crate::run::AnyScenario;
use crate::verdict::{Inconclusive, Verdict};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names the model a child process checks: `INDEX FLOW/VARIANT`.
pub const MODEL_ENV: &str = "RACEPROOF_ISOLATED_MODEL";
/// Starts each line the child sends its parent.
const PREFIX: &str = "raceproof-isolated: ";
/// How much longer than a model's own budget its child may run before it is killed.
const GRACE: Duration = Duration::from_secs(30);
/// Lines of the child's stderr kept for a crash report.
const STDERR_LINES: usize = 8;

/// What a child sends its parent.
#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Progress {
        execution: usize,
        actor: Option<String>,
        step: Option<String>,
    },
    Verdict(Checked),
}

/// A model's verdict from its child, and the seconds the check took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    pub verdict: Verdict,
    pub seconds: f64,
    /// In the randomized mode (`--cfg shuttle`): how the PCT run went.
    pub random: Option<RandomRun>,
}

/// A randomized (PCT) run: what it ran, and the failing schedule if it found one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomRun {
    pub schedules: usize,
    pub steps: usize,
    pub depth: usize,
    pub seed: u64,
    pub schedule: Option<String>,
}

fn send(message: &Message) {
    if let Ok(json) = serde_json::to_string(message) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\n{PREFIX}{json}");
        let _ = out.flush();
    }
}

fn key(index: usize, model: &dyn AnyScenario) -> String {
    format!("{index} {}/{}", model.flow(), model.variant())
}

/// In a child started by [`Isolated`]: checks the model it names in `models`, sends the
/// verdict and exits the process. Elsewhere: returns at once.
pub fn serve(models: &[Box<dyn AnyScenario>]) {
    let Ok(wanted) = std::env::var(MODEL_ENV) else {
        return;
    };
    let found = models
        .iter()
        .enumerate()
        .find(|(i, m)| key(*i, m.as_ref()) == wanted);
    let started = Instant::now();
    let (verdict, random) = match found {
        Some((_, model)) => {
            #[cfg(any(loom, shuttle))]
            crate::watch::set_heartbeat(Box::new(|progress| {
                let (actor, step) = progress.last_seen();
                send(&Message::Progress {
                    execution: progress.executions.load(ghost::Ordering::Relaxed),
                    actor,
                    step,
                });
            }));
            run(model.as_ref())
        }
        None => (
            Verdict::Inconclusive {
                cause: Inconclusive::Checker {
                    message: format!("the child found no model `{wanted}`"),
                },
                hint: "the parent and the child must list the same models".to_owned(),
                iterations: 0,
            },
            None,
        ),
    };
    send(&Message::Verdict(Checked {
        verdict,
        seconds: started.elapsed().as_secs_f64(),
        random,
    }));
    std::process::exit(0);
}

/// The model's verdict in this build; in the randomized mode, with its PCT run (the
/// configuration from [`crate::random::RandomConfig::from_env`]).
fn run(model: &dyn AnyScenario) -> (Verdict, Option<RandomRun>) {
    #[cfg(all(shuttle, not(loom)))]
    {
        let run = model.random(crate::random::RandomConfig::from_env());
        let random = RandomRun {
            schedules: run.schedules,
            steps: run.steps,
            depth: run.config.depth,
            seed: run.config.seed,
            schedule: run.schedule,
        };
        (run.verdict, Some(random))
    }
    #[cfg(not(all(shuttle, not(loom))))]
    {
        (model.run(), None)
    }
}

/// Checks models each in a child process of this binary, a few at a time.
pub struct Isolated {
    command: Box<dyn Fn() -> Command + Send + Sync>,
    workers: usize,
}

impl Isolated {
    /// Children made by `command` (the binary must call [`serve`] first thing).
    pub fn new(command: impl Fn() -> Command + Send + Sync + 'static) -> Self {
        Self {
            command: Box::new(command),
            workers: 1,
        }
    }

    /// This executable again, with `args` (a binary that calls [`serve`] in `main`).
    pub fn this_binary(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Self::new(move || {
            let mut command = Command::new(current_exe());
            command.args(&args);
            command
        })
    }

    /// This test binary again, running test `test` alone (the test calls [`serve`]).
    pub fn this_test(test: &str) -> Self {
        let test = test.to_owned();
        Self::new(move || {
            let mut command = Command::new(current_exe());
            command.args([
                test.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ]);
            command
        })
    }

    /// How many children run at once (default 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Each model's verdict, in the order of `models`.
    pub fn check(&self, models: &[Box<dyn AnyScenario>]) -> Vec<Checked> {
        let next = ghost::AtomicUsize::new(0);
        let results = ghost::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.workers.min(models.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, ghost::Ordering::Relaxed);
                        let Some(model) = models.get(i) else {
                            break;
                        };
                        let result = self.check_one(i, model.as_ref());
                        ghost::lock(&results).push((i, result));
                    }
                });
            }
        });
        let mut results = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// One model in one child, until its verdict, its end or its deadline.
    fn check_one(&self, index: usize, model: &dyn AnyScenario) -> Checked {
        let started = Instant::now();
        let deadline = model.deadline().saturating_add(GRACE);
        let mut command = (self.command)();
        command
            .env(MODEL_ENV, key(index, model))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Checked {
                    verdict: crashed(format!("cannot start {command:?}: {e}"), None, 0),
                    seconds: 0.0,
                    random: None,
                };
            }
        };
        let (tx, rx) = ghost::mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // A test harness may have started the line (`test name ... `).
                    if let Some((_, json)) = line.split_once(PREFIX)
                        && let Ok(message) = serde_json::from_str::<Message>(json)
                        && tx.send(message).is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let stderr = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut tail: std::collections::VecDeque<String> = Default::default();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tail.len() == STDERR_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                tail.into_iter().collect::<Vec<_>>()
            })
        });
        let (mut last_seen, mut executions) = (None, 0);
        let verdict = loop {
            let left = deadline.saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(Message::Verdict(checked)) => {
                    let _ = child.wait();
                    return checked;
                }
                Ok(Message::Progress {
                    execution,
                    actor,
                    step,
                }) => {
                    executions = execution;
                    last_seen = Some(format!(
                        "execution {execution}, {} running, last step: {}",
                        actor.as_deref().unwrap_or("an actor"),
                        step.as_deref().unwrap_or("none")
                    ));
                }
                Err(ghost::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break format!("killed after {} s without a verdict", deadline.as_secs());
                }
                Err(ghost::mpsc::RecvTimeoutError::Disconnected) => {
                    break match child.wait() {
                        Ok(status) => format!("it ended ({status}) without a verdict"),
                        Err(e) => format!("it ended without a verdict ({e})"),
                    };
                }
            }
        };
        let said = stderr
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>();
        let how = match said.last() {
            Some(line) => format!("{verdict}; it said last: {}", line.trim()),
            None => verdict,
        };
        Checked {
            verdict: crashed(how, last_seen, executions),
            seconds: started.elapsed().as_secs_f64(),
            random: None,
        }
    }
}

fn crashed(how: String, last_seen: Option<String>, executions: usize) -> Verdict {
    Verdict::Inconclusive {
        cause: Inconclusive::Crashed { how, last_seen },
        hint: "the model ended its process: a panic while unwinding (in a destructor), \
               `std::process::abort`, a stack overflow, or a loop that no deadline stopped; \
               run it alone with `Scenario::check` to see its own message"
            .to_owned(),
        iterations: executions,
    }
}

fn current_exe() -> std::path::PathBuf {
    std::env::current_exe()
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::args().next().unwrap_or_default()))
}
