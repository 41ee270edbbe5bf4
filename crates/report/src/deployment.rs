//! How the service under test is deployed: the dimension a verdict is judged under.
//!
//! The same code can be right on one deployment and broken on another (issue 16): plain code
//! between two awaits is atomic on one event loop and not on a thread pool, and state kept in
//! a process's memory is not shared by a second process. In `verdicts.json` a deployment is
//! its label: `EventLoop`, `ThreadPool`, `Workers(2)`, `Workers(3, ThreadPool, round robin)`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a scenario's requests run, and which state they share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Deployment {
    /// One process, one event loop (asyncio, tokio `current_thread`, Node): async tasks
    /// switch only at an await that is not ready, so plain code between two awaits is
    /// atomic. Blocking actors (FastAPI `def` routes, `spawn_blocking`) still run on the
    /// process's thread pool.
    EventLoop,
    /// One process, every request on a thread of its own (FastAPI `def` routes, tokio's
    /// `multi_thread` runtime): every operation on shared state is a switch point. The
    /// semantics of every model before deployments existed, hence the default.
    #[default]
    ThreadPool,
    /// `n` processes, each with its own copy of the in-process state; only what the scenario
    /// declares shared (a Redis or PostgreSQL model) is shared.
    Workers {
        n: usize,
        per_worker: Runtime,
        routing: Routing,
    },
}

/// How one worker process runs its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    EventLoop,
    ThreadPool,
}

/// Which worker serves which request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Routing {
    /// Request `i` goes to worker `i % n`.
    RoundRobin,
    /// Every assignment of requests to workers is explored, one model run each (a load
    /// balancer may send any request anywhere).
    EveryAssignment,
}

impl Deployment {
    /// `n` event-loop processes (uvicorn `--workers n`), every assignment explored.
    pub const fn workers(n: usize) -> Self {
        Deployment::Workers {
            n,
            per_worker: Runtime::EventLoop,
            routing: Routing::EveryAssignment,
        }
    }

    /// How many processes serve the requests.
    pub fn processes(&self) -> usize {
        match self {
            Deployment::EventLoop | Deployment::ThreadPool => 1,
            Deployment::Workers { n, .. } => *n,
        }
    }

    /// How each process runs its requests.
    pub fn runtime(&self) -> Runtime {
        match self {
            Deployment::EventLoop => Runtime::EventLoop,
            Deployment::ThreadPool => Runtime::ThreadPool,
            Deployment::Workers { per_worker, .. } => *per_worker,
        }
    }

    /// The worker of each of `requests` requests, one list per assignment to explore.
    pub fn assignments(&self, requests: usize) -> Vec<Vec<usize>> {
        match *self {
            Deployment::EventLoop | Deployment::ThreadPool => vec![vec![0; requests]],
            Deployment::Workers {
                n,
                routing: Routing::RoundRobin,
                ..
            } => vec![(0..requests).map(|i| i % n.max(1)).collect()],
            Deployment::Workers {
                n,
                routing: Routing::EveryAssignment,
                ..
            } => {
                // Counting in base n: n^requests assignments.
                let n = n.max(1);
                let mut all = vec![vec![0; requests]];
                let mut next = vec![0; requests];
                while let Some(i) = (0..requests).rev().find(|&i| next[i] + 1 < n) {
                    next[i] += 1;
                    next[i + 1..].iter_mut().for_each(|w| *w = 0);
                    all.push(next.clone());
                }
                // Those that spread the requests over most workers first: the first
                // counterexample found is then the one a second process makes possible.
                all.sort_by_key(|a| {
                    let mut used = a.clone();
                    used.sort_unstable();
                    used.dedup();
                    std::cmp::Reverse(used.len())
                });
                all
            }
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::EventLoop => "EventLoop",
            Runtime::ThreadPool => "ThreadPool",
        })
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deployment::EventLoop => f.write_str("EventLoop"),
            Deployment::ThreadPool => f.write_str("ThreadPool"),
            Deployment::Workers {
                n,
                per_worker,
                routing,
            } => {
                write!(f, "Workers({n}")?;
                if *per_worker != Runtime::EventLoop {
                    write!(f, ", {per_worker}")?;
                }
                if *routing == Routing::RoundRobin {
                    f.write_str(", round robin")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl From<Deployment> for String {
    fn from(deployment: Deployment) -> Self {
        deployment.to_string()
    }
}

impl TryFrom<String> for Deployment {
    type Error = String;

    fn try_from(label: String) -> Result<Self, String> {
        label.parse()
    }
}

impl std::str::FromStr for Deployment {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{label}` is not a deployment (`EventLoop`, `ThreadPool`, `Workers(n)`, \
                 `Workers(n, ThreadPool)`, `Workers(n, round robin)`)"
            )
        };
        match label {
            "EventLoop" => return Ok(Deployment::EventLoop),
            "ThreadPool" => return Ok(Deployment::ThreadPool),
            _ => {}
        }
        let inner = label
            .strip_prefix("Workers(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(bad)?;
        let mut parts = inner.split(", ");
        let n = parts
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        let (mut per_worker, mut routing) = (Runtime::EventLoop, Routing::EveryAssignment);
        for part in parts {
            match part {
                "ThreadPool" if per_worker == Runtime::EventLoop => {
                    per_worker = Runtime::ThreadPool
                }
                "round robin" if routing == Routing::EveryAssignment => {
                    routing = Routing::RoundRobin;
                }
                _ => return Err(bad()),
            }
        }
        Ok(Deployment::Workers {
            n,
            per_worker,
            routing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for deployment in [
            Deployment::EventLoop,
            Deployment::ThreadPool,
            Deployment::workers(2),
            Deployment::Workers {
                n: 3,
                per_worker: Runtime::ThreadPool,
                routing: Routing::RoundRobin,
            },
            Deployment::Workers {
                n: 2,
                per_worker: Runtime::EventLoop,
                routing: Routing::RoundRobin,
            },
        ] {
            let label = deployment.to_string();
            assert_eq!(label.parse::<Deployment>(), Ok(deployment), "{label}");
            let json = serde_json::to_string(&deployment).expect("serializes");
            assert_eq!(json, format!("\"{label}\""));
        }
        assert_eq!(Deployment::workers(2).to_string(), "Workers(2)");
        for bad in [
            "Workers(0)",
            "Workers(2, ThreadPool, ThreadPool)",
            "workers",
            "",
        ] {
            assert!(bad.parse::<Deployment>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_assignment_is_listed_once_and_round_robin_alternates() {
        let all = Deployment::workers(2).assignments(3);
        assert_eq!(all.len(), 8);
        assert_eq!(all[0], vec![0, 0, 1]);
        assert_eq!(all[6..], [vec![0, 0, 0], vec![1, 1, 1]]);
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        let rr = Deployment::Workers {
            n: 2,
            per_worker: Runtime::EventLoop,
            routing: Routing::RoundRobin,
        };
        assert_eq!(rr.assignments(3), vec![vec![0, 1, 0]]);
        assert_eq!(Deployment::EventLoop.assignments(2), vec![vec![0, 0]]);
    }
}
