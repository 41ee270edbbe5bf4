//! HTTP throughput and latency of every endpoint on loopback, side by side with a bare axum
//! handler that does nothing (the HTTP floor), in one run; with `RACEPROOF_BENCH_SEED=1`
//! (`cargo xtask bench --http` sets it) also the seeds' FastAPI endpoints on uvicorn.
//!
//! `cargo bench -p raceproof-server --bench http` writes `target/raceproof/http.json`
//! (`raceproof_report::services::HttpReport`), from which `cargo xtask readme` writes the
//! table of `docs/performance.md`. `RACEPROOF_BENCH_SECS` (default 3) sets the seconds per
//! endpoint, `RACEPROOF_BENCH_CONNECTIONS` (default 16) the concurrent connections,
//! `RACEPROOF_BENCH_ONLY` a filter on the endpoint labels (the floors always run),
//! `RACEPROOF_BENCH_DEBUG` prints the first unexpected response of each connection.
//!
//! Each endpoint runs in 3 slices, each right after a slice of the GET floor, and its ratio
//! is to those floor slices: other work on the machine shifts throughput over a run. The
//! ratios between rows (`HttpReport::ratios`) divide those ratios, so both sides are
//! normalized by the floor measured beside them. The servers run on their own 2-worker
//! runtime; the load generator (hyper HTTP/1.1 clients, one request in flight per
//! connection) on another, on the same machine.
//!
//! Longer than ~500 lines: the plan of rows, the loads that make their requests and the
//! ratios read from them are one list each, kept side by side so that a row and the ratio
//! that names it cannot drift apart; starting the seed's service is in `http/seed.rs`.
#![allow(clippy::unwrap_used)]

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    bench::run();
}

#[cfg(not(loom))]
#[path = "http/seed.rs"]
mod seed;

#[cfg(not(loom))]
mod bench {
    use axum::Router;
    use axum::body::Bytes;
    use axum::routing::get;
    use http_body_util::{BodyExt as _, Full};
    use hyper::Request;
    use raceproof_core::auth::{Argon2Hasher, CacheConfig};
    use raceproof_core::replay::HmacKey;
    use raceproof_flows::{UserSpec, Variant};
    use raceproof_report::services::{HttpEndpoint, HttpRatio, HttpReport};
    use raceproof_server::webhook::WebhookKey;
    use raceproof_server::{AppState, HasherKind, Settings, UsersFile, WebhookSecret, router};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// The seed's `/operate` key (seed 002).
    const SEED_SECRET: &[u8] = b"super-secret-key";

    /// What a connection sends, request after request.
    #[derive(Clone)]
    enum Load {
        Get(&'static str),
        GetAs(&'static str, &'static str),
        /// Path, Authorization, body, extra headers.
        PostAs(
            &'static str,
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
        ),
        /// A fresh Standard Webhooks message per request.
        Operate(Arc<WebhookKey>, &'static str),
        /// The seed's `/update-email`, its parameters in the query, a version never current.
        SeedUpdateEmail,
        /// A fresh seed-format signed message per request.
        SeedOperate(Arc<HmacKey>),
    }

    const ADMIN: &str = "Basic YWRtaW46YWRtMW4="; // admin:adm1n
    const ALICE: &str = "Basic YWxpY2U6czNjcjN0"; // alice:s3cr3t

    fn unix_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// Numbers every signed message of the run, so that no two repeat (slices and
    /// endpoints restart their own counts).
    static MESSAGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    impl Load {
        fn request(&self) -> Request<Full<Bytes>> {
            // Origin-form targets (`/path`), as a browser or curl sends them: uvicorn routes
            // an absolute-form target by its whole text.
            let builder = |method: &str, path: &str| {
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", "bench")
            };
            match self {
                Load::Get(path) => builder("GET", path).body(Full::default()),
                Load::GetAs(path, auth) => builder("GET", path)
                    .header("authorization", *auth)
                    .body(Full::default()),
                Load::PostAs(path, auth, body, headers) => {
                    let mut request = builder("POST", path)
                        .header("authorization", *auth)
                        .header("content-type", "application/json");
                    for (name, value) in *headers {
                        request = request.header(*name, *value);
                    }
                    request.body(Full::new(Bytes::from_static(body.as_bytes())))
                }
                Load::Operate(key, path) => {
                    let n = MESSAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let id = format!("bench-{n}");
                    let body = format!(r#"{{"resource_id":"r{n}","action":"refund"}}"#);
                    let now = unix_now();
                    let signature = key.sign(&id, now, body.as_bytes());
                    builder("POST", path)
                        .header("content-type", "application/json")
                        .header("webhook-id", id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", signature)
                        .body(Full::new(Bytes::from(body)))
                }
                Load::SeedUpdateEmail => builder(
                    "POST",
                    "/update-email?new_email=a%40example.com&expected_version=999999",
                )
                .header("authorization", ALICE)
                .body(Full::default()),
                Load::SeedOperate(key) => {
                    let n = MESSAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (resource, action, timestamp) =
                        (format!("r{n}"), "refund", unix_now().to_string());
                    let message = format!("{resource}{action}{timestamp}");
                    let signature = key.tag(message.as_bytes()).to_hex();
                    let body = format!(
                        r#"{{"resource_id":"{resource}","action":"{action}","timestamp":"{timestamp}","signature":"{signature}"}}"#
                    );
                    builder("POST", "/operate")
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                }
            }
            .unwrap()
        }
    }

    #[derive(Default)]
    struct Measured {
        latencies_us: Vec<u64>,
        errors: u64,
        seconds: f64,
    }

    impl Measured {
        fn add(&mut self, other: Measured) {
            self.latencies_us.extend(other.latencies_us);
            self.errors += other.errors;
            self.seconds += other.seconds;
        }

        fn rps(&self) -> f64 {
            self.latencies_us.len() as f64 / self.seconds
        }

        fn row(mut self, plan: &Planned, connections: usize, ratio: f64) -> HttpEndpoint {
            self.latencies_us.sort_unstable();
            HttpEndpoint {
                endpoint: plan.label.clone(),
                hasher: plan.hasher.to_owned(),
                cache: plan.cache.to_owned(),
                expected_status: plan.expect,
                requests: self.latencies_us.len() as u64,
                seconds: self.seconds,
                rps: self.rps(),
                p50_us: percentile(&self.latencies_us, 0.50),
                p99_us: percentile(&self.latencies_us, 0.99),
                ratio_to_floor: ratio,
                errors: self.errors,
                connections,
            }
        }
    }

    /// `connections` clients, each sending `load` back to back for `secs`; a response
    /// other than `expect` (any 2xx when `None`) counts as an error.
    async fn measure(
        addr: SocketAddr,
        load: &Load,
        expect: Option<u16>,
        connections: usize,
        secs: f64,
    ) -> Measured {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let load = load.clone();
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let io = hyper_util::rt::TokioIo::new(stream);
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(connection);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let request = load.request();
                    let sent = Instant::now();
                    sender.ready().await.unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    let status = response.status();
                    let ok = match expect {
                        Some(code) => status.as_u16() == code,
                        None => status.is_success(),
                    };
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    if !ok && errors == 0 && std::env::var_os("RACEPROOF_BENCH_DEBUG").is_some() {
                        eprintln!("unexpected {status}: {}", String::from_utf8_lossy(&body));
                    }
                    latencies.push(sent.elapsed().as_micros() as u64);
                    errors += u64::from(!ok);
                }
                (latencies, errors)
            }));
        }
        let mut latencies_us = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (l, e) = task.await.unwrap();
            latencies_us.extend(l);
            errors += e;
        }
        Measured {
            latencies_us,
            errors,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    fn percentile(sorted: &[u64], p: f64) -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// The accounts of users.example.toml.
    fn users(hasher: &Argon2Hasher) -> Vec<UserSpec> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");
        UsersFile::load(std::path::Path::new(path))
            .unwrap()
            .specs(hasher)
            .unwrap()
    }

    /// Starts `app` on a loopback port of `runtime`.
    fn spawn_server(runtime: &tokio::runtime::Runtime, app: Router) -> SocketAddr {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(raceproof_server::serve::serve(
                listener,
                app,
                std::future::pending(),
            ));
            addr
        })
    }

    fn machine() -> String {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or("unknown CPU", str::trim)
            .to_owned();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        format!("{model}, {cores} cores, {}", std::env::consts::OS)
    }

    fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// One row to measure.
    struct Planned {
        label: String,
        hasher: &'static str,
        cache: &'static str,
        addr: SocketAddr,
        load: Load,
        expect: Option<u16>,
    }

    fn plan(label: &str, addr: SocketAddr, load: Load) -> Planned {
        Planned {
            label: label.to_owned(),
            hasher: "-",
            cache: "-",
            addr,
            load,
            expect: None,
        }
    }

    /// The bare POST floor inside each of the layers raceproof's middleware used to be made
    /// of (tower-http's and axum's), one at a time: what each costs alone.
    fn layer_floors(servers: &tokio::runtime::Runtime) -> Vec<(&'static str, SocketAddr)> {
        use axum::http::StatusCode;
        use tower_http::catch_panic::CatchPanicLayer;
        use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
        use tower_http::timeout::TimeoutLayer;
        use tower_http::trace::{DefaultOnResponse, TraceLayer};
        let bare = || Router::new().route("/floor", get(|| async {}).post(|| async {}));
        let deadline = raceproof_server::middleware::request_deadline(&Settings::default());
        vec![
            (
                "POST /floor + tower-http request ids (set, propagate)",
                spawn_server(
                    servers,
                    bare()
                        .layer(PropagateRequestIdLayer::x_request_id())
                        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
                ),
            ),
            (
                "POST /floor + tower-http TraceLayer (span, INFO response event)",
                spawn_server(
                    servers,
                    bare().layer(
                        TraceLayer::new_for_http()
                            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                    ),
                ),
            ),
            (
                "POST /floor + tower-http CatchPanicLayer",
                spawn_server(servers, bare().layer(CatchPanicLayer::new())),
            ),
            (
                "POST /floor + axum map_response (problem bodies)",
                spawn_server(
                    servers,
                    bare().layer(axum::middleware::map_response(
                        |r: axum::response::Response| async move {
                            raceproof_server::problem::normalize(r)
                        },
                    )),
                ),
            ),
            (
                "POST /floor + tower-http TimeoutLayer",
                spawn_server(
                    servers,
                    bare().layer(TimeoutLayer::with_status_code(
                        StatusCode::SERVICE_UNAVAILABLE,
                        deadline,
                    )),
                ),
            ),
            (
                "POST /floor + raceproof middleware (all of the above, one layer)",
                spawn_server(
                    servers,
                    raceproof_server::middleware::with_middleware(bare(), &Settings::default()),
                ),
            ),
        ]
    }

    /// The proven_fix server with `hasher` and the credential cache on or off.
    fn proven(
        servers: &tokio::runtime::Runtime,
        secret: &WebhookSecret,
        hasher: HasherKind,
        cache: bool,
    ) -> SocketAddr {
        let built = hasher.build().unwrap();
        let settings = Settings {
            variant: Variant::ProvenFix,
            credential_cache: if cache {
                CacheConfig::default()
            } else {
                CacheConfig::OFF
            },
            ..Settings::default()
        };
        let state = AppState::new(&users(&built), built, secret, settings).unwrap();
        spawn_server(servers, router(Arc::new(state)))
    }

    /// Row `what`'s ratio to the floor over row `base`'s: their throughputs' ratio, each
    /// normalized by the floor measured beside it.
    fn ratio(rows: &[HttpEndpoint], what: (&str, &str), base: (&str, &str)) -> Option<f64> {
        let find = |(label, config): (&str, &str)| {
            rows.iter().find(|r| {
                r.endpoint == label
                    && (config == "-" || format!("{}/{}", r.hasher, r.cache) == config)
            })
        };
        let (what, base) = (find(what)?, find(base)?);
        Some(what.ratio_to_floor / base.ratio_to_floor)
    }

    pub fn run() {
        let secs: f64 = env_or("RACEPROOF_BENCH_SECS", 3.0);
        let connections: usize = env_or("RACEPROOF_BENCH_CONNECTIONS", 16);
        let servers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .unwrap();
        let clients = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("client")
            .enable_all()
            .build()
            .unwrap();

        let floor = spawn_server(
            &servers,
            Router::new().route("/floor", get(|| async {}).post(|| async {})),
        );
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let key = Arc::new(WebhookKey::new(&secret).unwrap());
        let fast = proven(&servers, &secret, HasherKind::Fast, true);

        let mut plan_rows = vec![
            plan("GET /floor (bare axum)", floor, Load::Get("/floor")),
            // The floor again, sent /operate's signed request (it reads none of it): what
            // the bigger request costs HTTP alone.
            plan(
                "POST /floor (bare axum, /operate's request)",
                floor,
                Load::Operate(key.clone(), "/floor"),
            ),
        ];
        for (label, addr) in layer_floors(&servers) {
            plan_rows.push(plan(label, addr, Load::Operate(key.clone(), "/floor")));
        }
        plan_rows.extend([
            // Behind Basic auth since issue 21 (the user or an admin).
            plan("GET /users/{id}", fast, Load::GetAs("/users/alice", ADMIN)),
            plan(
                "POST /operate",
                fast,
                Load::Operate(key.clone(), "/operate"),
            ),
        ]);
        const STALE: &[(&str, &str)] = &[("if-match", "\"999999\"")];
        for (hasher, hasher_label) in [(HasherKind::Fast, "fast"), (HasherKind::Owasp, "owasp")] {
            for (cache, cache_label) in [(false, "off"), (true, "on")] {
                let addr = proven(&servers, &secret, hasher, cache);
                let rows = [
                    ("GET /audit", Load::GetAs("/audit", ADMIN), None),
                    (
                        "POST /promote",
                        Load::PostAs("/promote", ADMIN, r#"{"target":"alice"}"#, &[]),
                        None,
                    ),
                    (
                        "POST /update-email",
                        Load::PostAs("/update-email", ALICE, r#"{"email":"a@example.com"}"#, &[]),
                        None,
                    ),
                    (
                        "POST /update-email (stale If-Match: 412)",
                        Load::PostAs(
                            "/update-email",
                            ALICE,
                            r#"{"email":"a@example.com"}"#,
                            STALE,
                        ),
                        Some(412),
                    ),
                    (
                        "POST /update-email (wrong password: 401)",
                        Load::PostAs(
                            "/update-email",
                            "Basic YWxpY2U6bm9wZQ==",
                            r#"{"email":"a@example.com"}"#,
                            &[],
                        ),
                        Some(401),
                    ),
                ];
                for (label, load, expect) in rows {
                    plan_rows.push(Planned {
                        hasher: hasher_label,
                        cache: cache_label,
                        expect,
                        ..plan(label, addr, load)
                    });
                }
            }
        }
        let seed = if std::env::var_os("RACEPROOF_BENCH_SEED").is_some() {
            match crate::seed::Seed::start() {
                Ok(seed) => Some(seed),
                Err(why) => {
                    eprintln!("the seed's FastAPI service is not measured: {why}");
                    None
                }
            }
        } else {
            None
        };
        if let Some(seed) = &seed {
            let seed_key = Arc::new(HmacKey::new(SEED_SECRET).unwrap());
            plan_rows.push(Planned {
                expect: Some(409),
                ..plan(
                    "seed FastAPI (uvicorn, 1 worker): POST /update-email (stale version: 409)",
                    seed.addr,
                    Load::SeedUpdateEmail,
                )
            });
            plan_rows.push(plan(
                "seed FastAPI (uvicorn, 1 worker): POST /operate (hardened)",
                seed.addr,
                Load::SeedOperate(seed_key),
            ));
        }

        // RACEPROOF_BENCH_ONLY=operate: the floors and the endpoints whose label contains it.
        if let Ok(only) = std::env::var("RACEPROOF_BENCH_ONLY") {
            plan_rows.retain(|p| p.label.contains("floor") || p.label.contains(&*only));
        }
        // Other work on the machine shifts throughput over a run, so each endpoint is
        // measured in ROUNDS slices, each right after a slice of the floor, and its ratio is
        // to the floor measured beside it. The floor row is all of the floor's slices.
        const ROUNDS: usize = 3;
        let slice = secs / ROUNDS as f64;
        let mut rows: Vec<HttpEndpoint> = Vec::new();
        let mut floor_all = Measured::default();
        let floor_plan = plan_rows.remove(0);
        for planned in &plan_rows {
            let mut beside = Measured::default();
            let mut measured = Measured::default();
            for _ in 0..ROUNDS {
                let at_floor = measure(floor_plan.addr, &floor_plan.load, None, connections, slice);
                beside.add(clients.block_on(at_floor));
                let here = measure(
                    planned.addr,
                    &planned.load,
                    planned.expect,
                    connections,
                    slice,
                );
                measured.add(clients.block_on(here));
            }
            let ratio_to_floor = measured.rps() / beside.rps();
            rows.push(measured.row(planned, connections, ratio_to_floor));
            floor_all.add(beside);
        }
        drop(seed);
        rows.insert(0, floor_all.row(&floor_plan, connections, 1.0));
        for row in &rows {
            eprintln!(
                "{:<72} {:<5} {:<3} {:>9.0} req/s  p50 {:>7} us  p99 {:>7} us  {:.2}x floor  errors {}",
                row.endpoint,
                row.hasher,
                row.cache,
                row.rps,
                row.p50_us,
                row.p99_us,
                row.ratio_to_floor,
                row.errors
            );
        }

        let post_floor = ("POST /floor (bare axum, /operate's request)", "-");
        let seed_update =
            "seed FastAPI (uvicorn, 1 worker): POST /update-email (stale version: 409)";
        let seed_operate = "seed FastAPI (uvicorn, 1 worker): POST /operate (hardened)";
        // (what, row, base row, target); a row is (label, "hasher/cache" or "-").
        type Row<'a> = (&'a str, &'a str);
        let wanted: [(String, Row, Row, Option<f64>); 7] = [
            (
                "POST /operate / POST /floor (same request)".to_owned(),
                ("POST /operate", "-"),
                post_floor,
                Some(0.8),
            ),
            (
                "POST /floor + raceproof middleware / POST /floor".to_owned(),
                (
                    "POST /floor + raceproof middleware (all of the above, one layer)",
                    "-",
                ),
                post_floor,
                None,
            ),
            (
                "POST /update-email, owasp with the cache / fast without".to_owned(),
                ("POST /update-email", "owasp/on"),
                ("POST /update-email", "fast/off"),
                Some(0.5),
            ),
            (
                "GET /audit, owasp with the cache / fast without".to_owned(),
                ("GET /audit", "owasp/on"),
                ("GET /audit", "fast/off"),
                Some(0.5),
            ),
            (
                "POST /update-email (wrong password), owasp with the cache / without".to_owned(),
                ("POST /update-email (wrong password: 401)", "owasp/on"),
                ("POST /update-email (wrong password: 401)", "owasp/off"),
                None,
            ),
            (
                "raceproof POST /update-email (412, owasp, cache) / seed FastAPI (409)".to_owned(),
                ("POST /update-email (stale If-Match: 412)", "owasp/on"),
                (seed_update, "-"),
                None,
            ),
            (
                "raceproof POST /operate / seed FastAPI POST /operate".to_owned(),
                ("POST /operate", "-"),
                (seed_operate, "-"),
                None,
            ),
        ];
        let ratios: Vec<HttpRatio> = wanted
            .into_iter()
            .filter_map(|(what, a, b, target)| {
                ratio(&rows, a, b).map(|ratio| HttpRatio {
                    what,
                    ratio,
                    target,
                })
            })
            .collect();
        for r in &ratios {
            eprintln!("{:<80} {:.2}x", r.what, r.ratio);
        }

        let report = HttpReport {
            machine: machine(),
            connections,
            seconds_per_endpoint: secs,
            endpoints: rows,
            ratios,
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = raceproof_report::dir(&root).join(raceproof_report::file::HTTP);
        raceproof_report::write(&path, &report).unwrap();
        eprintln!("wrote {}", path.display());
    }
}
