//! HTTP throughput and latency of every endpoint on loopback, side by side with a bare axum
//! handler that does nothing (the HTTP floor), in one run.
//!
//! `cargo bench -p raceproof-server --bench http` writes `target/raceproof/http.json`
//! (`raceproof_report::services::HttpReport`), from which `cargo xtask readme` writes the
//! table of `docs/performance.md`. `RACEPROOF_BENCH_SECS` (default 3) sets the seconds per
//! endpoint, `RACEPROOF_BENCH_CONNECTIONS` (default 16) the concurrent connections,
//! `RACEPROOF_BENCH_ONLY` a filter on the endpoint labels (the floor always runs).
//!
//! Each endpoint runs in 3 slices, each right after a slice of the floor, and its ratio is
//! to those floor slices: other work on the machine shifts throughput over a run.
//! The servers run on their own 2-worker runtime; the load generator (hyper HTTP/1.1
//! clients, one request in flight per connection) on another, on the same machine.
#![allow(clippy::unwrap_used)]

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    bench::run();
}

#[cfg(not(loom))]
mod bench {
    use axum::Router;
    use axum::body::Bytes;
    use axum::routing::get;
    use http_body_util::{BodyExt as _, Full};
    use hyper::Request;
    use raceproof_core::auth::Argon2Hasher;
    use raceproof_flows::{UserSpec, Variant};
    use raceproof_report::services::{HttpEndpoint, HttpReport};
    use raceproof_server::webhook::WebhookKey;
    use raceproof_server::{AppState, HasherKind, Settings, UsersFile, WebhookSecret, router};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// What a connection sends, request after request.
    #[derive(Clone)]
    enum Load {
        Get(&'static str),
        GetAs(&'static str, &'static str),
        PostAs(&'static str, &'static str, &'static str),
        Operate(Arc<WebhookKey>, &'static str),
    }

    const ADMIN: &str = "Basic YWRtaW46YWRtMW4="; // admin:adm1n
    const ALICE: &str = "Basic YWxpY2U6czNjcjN0"; // alice:s3cr3t

    impl Load {
        fn request(&self, addr: SocketAddr, conn: usize, n: u64) -> Request<Full<Bytes>> {
            let builder = |method: &str, path: &str| {
                Request::builder()
                    .method(method)
                    .uri(format!("http://{addr}{path}"))
                    .header("host", "bench")
            };
            match self {
                Load::Get(path) => builder("GET", path).body(Full::default()),
                Load::GetAs(path, auth) => builder("GET", path)
                    .header("authorization", *auth)
                    .body(Full::default()),
                Load::PostAs(path, auth, body) => builder("POST", path)
                    .header("authorization", *auth)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(body.as_bytes()))),
                Load::Operate(key, path) => {
                    let id = format!("bench-{conn}-{n}");
                    let body = format!(r#"{{"resource_id":"r{conn}-{n}","action":"refund"}}"#);
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64;
                    let signature = key.sign(&id, now, body.as_bytes());
                    builder("POST", path)
                        .header("content-type", "application/json")
                        .header("webhook-id", id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", signature)
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

        fn row(
            mut self,
            endpoint: &str,
            hasher: &str,
            connections: usize,
            ratio: f64,
        ) -> HttpEndpoint {
            self.latencies_us.sort_unstable();
            HttpEndpoint {
                endpoint: endpoint.to_owned(),
                hasher: hasher.to_owned(),
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

    /// `connections` clients, each sending `load` back to back for `secs`.
    async fn measure(addr: SocketAddr, load: &Load, connections: usize, secs: f64) -> Measured {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for conn in 0..connections {
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
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let request = load.request(addr, conn, n);
                    n += 1;
                    let sent = Instant::now();
                    sender.ready().await.unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    let ok = response.status().is_success();
                    response.into_body().collect().await.unwrap();
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

        let floor_with_middleware = spawn_server(
            &servers,
            raceproof_server::middleware::with_middleware(
                Router::new().route("/floor", get(|| async {})),
                &Settings::default(),
            ),
        );
        let floor = spawn_server(
            &servers,
            Router::new().route("/floor", get(|| async {}).post(|| async {})),
        );
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let mut proven = Vec::new();
        for kind in [HasherKind::Fast, HasherKind::Owasp] {
            let hasher = kind.build().unwrap();
            let settings = Settings {
                variant: Variant::ProvenFix,
                ..Settings::default()
            };
            let state = AppState::new(&users(&hasher), hasher, &secret, settings).unwrap();
            proven.push((kind, spawn_server(&servers, router(Arc::new(state)))));
        }
        let key = Arc::new(WebhookKey::new(&secret).unwrap());

        // (label, hasher label, server, load); /audit first, while the log is short.
        let (fast, owasp) = (proven[0].1, proven[1].1);
        let mut plan: Vec<(&str, &str, SocketAddr, Load)> = vec![
            ("GET /floor (bare axum)", "-", floor, Load::Get("/floor")),
            // The floor again, sent /operate's signed request (it reads none of it): what the
            // bigger request costs HTTP alone.
            (
                "POST /floor (bare axum, /operate's request)",
                "-",
                floor,
                Load::Operate(key.clone(), "/floor"),
            ),
            // The bare handler inside raceproof's middleware: what the middleware costs.
            (
                "GET /floor + raceproof middleware",
                "-",
                floor_with_middleware,
                Load::Get("/floor"),
            ),
            // Behind Basic auth since issue 21 (the user or an admin): it verifies a password.
            (
                "GET /users/{id}",
                "fast",
                fast,
                Load::GetAs("/users/alice", ADMIN),
            ),
            ("POST /operate", "-", fast, Load::Operate(key, "/operate")),
        ];
        for (label, addr) in [("fast", fast), ("owasp", owasp)] {
            plan.extend([
                ("GET /audit", label, addr, Load::GetAs("/audit", ADMIN)),
                (
                    "POST /promote",
                    label,
                    addr,
                    Load::PostAs("/promote", ADMIN, r#"{"target":"alice"}"#),
                ),
                (
                    "POST /demote",
                    label,
                    addr,
                    Load::PostAs("/demote", ADMIN, r#"{"target":"bob"}"#),
                ),
                (
                    "POST /update-email",
                    label,
                    addr,
                    Load::PostAs("/update-email", ALICE, r#"{"email":"a@example.com"}"#),
                ),
            ]);
        }

        // RACEPROOF_BENCH_ONLY=operate: the floor and the endpoints whose label contains it.
        if let Ok(only) = std::env::var("RACEPROOF_BENCH_ONLY") {
            plan.retain(|(endpoint, ..)| endpoint.contains("floor") || endpoint.contains(&*only));
        }
        // Other work on the machine shifts throughput over a run, so each endpoint is
        // measured in ROUNDS slices, each right after a slice of the floor, and its ratio is
        // to the floor measured beside it. The floor row is all of the floor's slices.
        const ROUNDS: usize = 3;
        let slice = secs / ROUNDS as f64;
        let mut rows: Vec<HttpEndpoint> = Vec::new();
        let mut floor_all = Measured::default();
        let (_, _, floor_addr, floor_load) = plan.remove(0);
        for (endpoint, hasher, addr, load) in plan {
            let mut beside = Measured::default();
            let mut measured = Measured::default();
            for _ in 0..ROUNDS {
                beside.add(clients.block_on(measure(floor_addr, &floor_load, connections, slice)));
                measured.add(clients.block_on(measure(addr, &load, connections, slice)));
            }
            let ratio_to_floor = measured.rps() / beside.rps();
            rows.push(measured.row(endpoint, hasher, connections, ratio_to_floor));
            floor_all.add(beside);
        }
        rows.insert(
            0,
            floor_all.row("GET /floor (bare axum)", "-", connections, 1.0),
        );
        for row in &rows {
            eprintln!(
                "{:<24} {:<6} {:>9.0} req/s  p50 {:>7} us  p99 {:>7} us  {:.2}x floor  errors {}",
                row.endpoint,
                row.hasher,
                row.rps,
                row.p50_us,
                row.p99_us,
                row.ratio_to_floor,
                row.errors
            );
        }

        let report = HttpReport {
            machine: machine(),
            connections,
            seconds_per_endpoint: secs,
            endpoints: rows,
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = raceproof_report::dir(&root).join(raceproof_report::file::HTTP);
        raceproof_report::write(&path, &report).unwrap();
        eprintln!("wrote {}", path.display());
    }
}
