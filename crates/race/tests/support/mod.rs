//! A tiny target for the tester's own tests and measurements: HTTP/1.1 and h2c (prior
//! knowledge) on one loopback port, with a deliberately racy endpoint and a correct one for
//! each of two shapes:
//!
//! - `POST /redeem/{racy,safe}` with `{"code": "..."}`: 200 the first time a code is redeemed,
//!   409 after. The racy one checks, waits `window_us` (query parameter, default from the
//!   config), then records; the safe one checks and records under one lock.
//! - `GET /item/{racy,safe}/{key}`: `{"version": n}` with `ETag: "n"` (a new key starts at 0);
//!   `POST` with `If-Match: "n"`: 412 when stale, else the version becomes n + 1 (200
//!   `{"version": n+1}` and the new ETag). The racy one compares, waits, then writes.
//!
//! - `GET|POST /early/{code}`: redeems `code` once (200 the first time, 409 after, atomically)
//!   without reading the body, as an ASGI route that takes no body does: it starts as soon as
//!   the request's head arrives. It counts the requests whose handler started before the whole
//!   request had arrived ([`ToyServer::started_incomplete`]).
//! - `GET|POST /sleep?ms=N`: answers 200 after N milliseconds.
//!
//! Each server keeps its own state, like one process of a service behind a load balancer, and
//! counts the requests it handled ([`ToyServer::requests`]). With `workers` > 1 it is several
//! such processes behind one port: each accepted connection is served by the next worker in
//! turn, each with its own state, as the workers of uvicorn or hypercorn share one socket.
//!
//! When `stamp` is set, every response carries `x-raceproof-handler-start-ns`: the instant the
//! handler started (after the whole request arrived), in nanoseconds since the Unix epoch, as
//! raceproof's server does with its timing flag.
#![allow(dead_code)]

mod contract;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// How the toy target behaves.
#[derive(Debug, Clone, Copy)]
pub struct ToyConfig {
    /// Send the handler-start header.
    pub stamp: bool,
    /// The racy endpoints' default window between check and write.
    pub window: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS for h2 connections.
    pub max_streams: u32,
    /// Whether the contract endpoints (see [`contract`]) check, wait, then write (like the seeds)
    /// or check and write under one lock (like the fixes).
    pub contract_racy: bool,
    /// Workers behind the one port, each with its own state (connection k goes to k mod n).
    pub workers: usize,
    /// Speak HTTP/1.1 only (refuse h2c), like uvicorn.
    pub http1_only: bool,
}

impl Default for ToyConfig {
    fn default() -> Self {
        ToyConfig {
            stamp: true,
            window: Duration::from_millis(50),
            max_streams: 100,
            contract_racy: true,
            workers: 1,
            http1_only: false,
        }
    }
}

#[derive(Default)]
struct State {
    redeemed: Mutex<HashSet<String>>,
    items: Mutex<HashMap<String, u64>>,
    contract: Mutex<contract::Users>,
    requests: AtomicUsize,
    started_incomplete: AtomicUsize,
}

/// A running toy target; it stops when dropped.
pub struct ToyServer {
    pub addr: SocketAddr,
    /// One per worker.
    states: Arc<Vec<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ToyServer {
    /// Starts the target on a free loopback port, on its own thread and runtime.
    pub fn start(config: ToyConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", config)
    }

    pub fn start_on(bind: &str, config: ToyConfig) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(bind))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let states: Arc<Vec<State>> = Arc::new(
            (0..config.workers.max(1))
                .map(|_| State::default())
                .collect(),
        );
        let served = Arc::clone(&states);
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = serve(listener, config, served) => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(ToyServer {
            addr,
            states,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// How many requests this server has handled (every path, every protocol).
    pub fn requests(&self) -> usize {
        self.states
            .iter()
            .map(|state| state.requests.load(Ordering::SeqCst))
            .sum()
    }

    /// How many requests each worker handled.
    pub fn requests_per_worker(&self) -> Vec<usize> {
        self.states
            .iter()
            .map(|state| state.requests.load(Ordering::SeqCst))
            .collect()
    }

    /// How many `/early` handlers started before their request had fully arrived (its body, or
    /// for HTTP/2 its END_STREAM): requests a single-packet release did not hold back.
    pub fn started_incomplete(&self) -> usize {
        self.states
            .iter()
            .map(|state| state.started_incomplete.load(Ordering::SeqCst))
            .sum()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tester's view of this server.
    pub fn target(&self) -> std::io::Result<raceproof_race::Target> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime
            .block_on(raceproof_race::Target::resolve(&self.url(), false))
            .map_err(std::io::Error::other)
    }

    /// Runs until the process ends (for the `toy_target` example).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ToyServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, config: ToyConfig, states: Arc<Vec<State>>) {
    for connection in 0usize.. {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let states = Arc::clone(&states);
        let worker = connection % states.len();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(Arc::clone(&states), worker, config, request)
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if config.http1_only {
                builder = builder.http1_only();
            }
            builder.http2().max_concurrent_streams(config.max_streams);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// Waits `window` the way a handler awaits I/O: on a blocking-pool thread (µs precision, where
/// tokio's timer has 1 ms granularity), leaving the workers free. A zero window is one yield.
pub(crate) async fn window(window: Duration) {
    if window.is_zero() {
        tokio::task::yield_now().await;
    } else {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(window)).await;
    }
}

async fn handle(
    states: Arc<Vec<State>>,
    worker: usize,
    config: ToyConfig,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let state = &states[worker];
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(early) = early(state, config, &request).await {
        return Ok(early);
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let started = now_ns();
    let wait = parts
        .uri
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("window_us="))
        })
        .and_then(|micros| micros.parse().ok())
        .map_or(config.window, Duration::from_micros);
    let segments: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let (status, json, etag) = match (parts.method.as_str(), segments.as_slice()) {
        ("POST", ["redeem", kind]) => redeem(state, kind == &"racy", wait, &body).await,
        ("GET", ["item", _, key]) => {
            let version = *state
                .items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(*key)
                .unwrap_or(&0);
            (
                StatusCode::OK,
                format!("{{\"version\":{version}}}"),
                Some(version),
            )
        }
        ("POST", ["item", kind, key]) => {
            let expected = parts
                .headers
                .get("if-match")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim_matches('"').parse::<u64>().ok());
            update(state, kind == &"racy", wait, key, expected).await
        }
        _ => {
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
            };
            let call = contract::Call {
                path: parts.uri.path(),
                method: parts.method.as_str(),
                authorization: header("authorization"),
                if_match: header("if-match"),
                body: &body,
            };
            contract::handle(&state.contract, config.contract_racy, wait, call).await
        }
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(version) = etag {
        response = response.header("etag", format!("\"{version}\""));
    }
    if config.stamp {
        response = response.header("x-raceproof-handler-start-ns", started.to_string());
    }
    Ok(response
        .body(Full::new(Bytes::from(json)))
        .unwrap_or_default())
}

/// `/early/...` and `/sleep`: answered without reading the body.
async fn early(
    state: &State,
    config: ToyConfig,
    request: &Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let path = request.uri().path();
    if let Some(code) = path.strip_prefix("/early/") {
        let started = now_ns();
        if !hyper::body::Body::is_end_stream(request.body()) {
            state.started_incomplete.fetch_add(1, Ordering::SeqCst);
        }
        let first = state
            .redeemed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format!("early/{code}"));
        let status = if first {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        let mut response = Response::builder().status(status);
        if config.stamp {
            response = response.header("x-raceproof-handler-start-ns", started.to_string());
        }
        return response.body(Full::new(Bytes::from_static(b"{}"))).ok();
    }
    if path == "/sleep" {
        let millis = request
            .uri()
            .query()
            .and_then(|query| query.strip_prefix("ms="))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        return Response::builder()
            .status(StatusCode::OK)
            .body(Full::new(Bytes::from_static(b"{}")))
            .ok();
    }
    None
}

async fn redeem(
    state: &State,
    racy: bool,
    wait: Duration,
    body: &[u8],
) -> (StatusCode, String, Option<u64>) {
    let Some(code) = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            json.get("code")
                .and_then(|code| code.as_str().map(str::to_owned))
        })
    else {
        return (
            StatusCode::BAD_REQUEST,
            "{\"error\":\"expected {\\\"code\\\":...}\"}".to_owned(),
            None,
        );
    };
    let first = if racy {
        let seen = state
            .redeemed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&code);
        window(wait).await;
        state
            .redeemed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code.clone());
        !seen
    } else {
        state
            .redeemed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code.clone())
    };
    if first {
        (StatusCode::OK, format!("{{\"redeemed\":\"{code}\"}}"), None)
    } else {
        (
            StatusCode::CONFLICT,
            "{\"error\":\"already redeemed\"}".to_owned(),
            None,
        )
    }
}

async fn update(
    state: &State,
    racy: bool,
    wait: Duration,
    key: &str,
    expected: Option<u64>,
) -> (StatusCode, String, Option<u64>) {
    let Some(expected) = expected else {
        return (
            StatusCode::PRECONDITION_REQUIRED,
            "{\"error\":\"If-Match required\"}".to_owned(),
            None,
        );
    };
    let stale = |current: u64| {
        (
            StatusCode::PRECONDITION_FAILED,
            format!("{{\"version\":{current}}}"),
            Some(current),
        )
    };
    let new = if racy {
        let current = *state
            .items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .unwrap_or(&0);
        if current != expected {
            return stale(current);
        }
        window(wait).await;
        state
            .items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), current + 1);
        current + 1
    } else {
        let mut items = state.items.lock().unwrap_or_else(PoisonError::into_inner);
        let current = *items.get(key).unwrap_or(&0);
        if current != expected {
            return stale(current);
        }
        items.insert(key.to_owned(), current + 1);
        current + 1
    };
    (StatusCode::OK, format!("{{\"version\":{new}}}"), Some(new))
}
