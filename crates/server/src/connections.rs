//! Every open connection, so that none outlives its welcome (issue 21):
//!
//! - a cap on open connections: at the cap, a new connection closes the one that has had no
//!   request in flight for longest (never one mid-request); with none idle, accepting
//!   pauses (the kernel's backlog holds newcomers) and a warning is logged once per
//!   [`LOG_EVERY`];
//! - an idle timeout: a connection with no request in flight for `idle_timeout` is shut
//!   down gracefully (HTTP/2 gets a GOAWAY);
//! - load shedding: at most `max_in_flight` requests are handled at once over all
//!   connections; past it, a request on a connection that already has one in flight gets
//!   503 + `Retry-After` at once, before any handler runs, and one on an idle connection
//!   still gets in (up to twice the cap): a flood of streams is shed before the clients
//!   that ask one thing at a time;
//! - HTTP/1.1 requests without exactly one valid `Host` get 400 (RFC 9112, section 3.2);
//! - each request carries its peer's address ([`ClientAddr`]) for login throttling.

use crate::limits::Limits;
use crate::problem::Problem;
use axum::Router;
use axum::body::Body;
use axum::http::header::HOST;
use axum::http::{Request, Response, Version};
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a repeated warning (accept paused, accept failing) is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The TCP peer of a request, as the connection saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// One open connection.
#[derive(Debug)]
pub struct Conn {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened), in ms since the registry's
    /// epoch.
    idle_since_ms: AtomicU64,
    closing: AtomicBool,
    close: Notify,
}

impl Conn {
    /// Completes once the server asks this connection to close (eviction).
    pub async fn closed(&self) {
        let notified = self.close.notified();
        if self.closing.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Asks the connection to close; `true` if it was not asked before.
    fn ask_to_close(&self) -> bool {
        let first = !self.closing.swap(true, Ordering::AcqRel);
        self.close.notify_waiters();
        first
    }
}

/// The open connections, and the requests in flight over all of them.
#[derive(Debug)]
pub struct Connections {
    limits: Limits,
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// Open connections already asked to close (they no longer count against the cap).
    closing: AtomicUsize,
    in_flight: AtomicUsize,
    /// Signalled whenever a connection closes.
    freed: Notify,
    last_pause_log: Mutex<Option<Instant>>,
    /// Requests refused by load shedding, and connections closed by each rule.
    pub shed: AtomicU64,
    pub evicted: AtomicU64,
    pub idled_out: AtomicU64,
}

/// A connection's place in the registry; leaving it unregisters the connection.
pub struct Registration {
    pub id: u64,
    pub conn: Arc<Conn>,
    registry: Arc<Connections>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.registry.lock_open();
        open.remove(&self.id);
        if self.conn.closing.load(Ordering::Acquire) {
            self.registry.closing.fetch_sub(1, Ordering::AcqRel);
        }
        drop(open);
        self.registry.freed.notify_waiters();
    }
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            epoch: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            closing: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            freed: Notify::new(),
            last_pause_log: Mutex::new(None),
            shed: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            idled_out: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn lock_open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic cannot leave the map half-updated: take it over.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.lock_open().len()
    }

    /// Waits until another connection may be accepted: below the cap, or at it with an
    /// idle connection to close. With every connection busy it waits for one to close,
    /// logging that it pauses at most once per [`LOG_EVERY`].
    pub async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            if self.make_room() {
                return;
            }
            self.log_pause();
            // Re-checked at least once a second: a busy connection turning idle frees no slot.
            let _ = tokio::time::timeout(Duration::from_secs(1), freed).await;
        }
    }

    /// Whether a connection may be accepted now, asking the idlest to close if at the cap.
    /// At the cap, the idlest 1/64 of the cap are asked to close at once, so that an
    /// attacker opening connections as fast as they are accepted costs one scan of the
    /// table per batch, not per connection.
    fn make_room(&self) -> bool {
        let max = self.limits.max_connections;
        let open = self.lock_open();
        let live = open
            .len()
            .saturating_sub(self.closing.load(Ordering::Acquire));
        if live < max {
            // Evicted connections close within moments; bound how many may linger.
            return open.len() < max + max / 8 + 16;
        }
        let mut idle: Vec<(u64, &Arc<Conn>)> = open
            .values()
            .filter(|c| {
                !c.closing.load(Ordering::Acquire) && c.in_flight.load(Ordering::Acquire) == 0
            })
            .map(|c| (c.idle_since_ms.load(Ordering::Acquire), c))
            .collect();
        if idle.is_empty() {
            return false;
        }
        let batch = (max / 64).clamp(1, idle.len());
        if batch < idle.len() {
            idle.select_nth_unstable_by_key(batch - 1, |(since, _)| *since);
        }
        for (_, conn) in &idle[..batch] {
            if conn.ask_to_close() {
                self.closing.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.evicted.fetch_add(batch as u64, Ordering::Relaxed);
        true
    }

    fn log_pause(&self) {
        let mut last = self
            .last_pause_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "connection cap reached and every connection is busy: accepting paused"
            );
        }
    }

    /// Registers a new connection.
    pub fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        });
        self.lock_open().insert(id, Arc::clone(&conn));
        Registration {
            id,
            conn,
            registry: Arc::clone(self),
        }
    }

    /// Completes when `conn` has had no request in flight for the idle timeout.
    pub async fn idle(&self, conn: &Conn) {
        let timeout = self.limits.idle_timeout;
        loop {
            let since = Duration::from_millis(conn.idle_since_ms.load(Ordering::Acquire));
            let deadline = self.epoch + since + timeout;
            if conn.in_flight.load(Ordering::Acquire) == 0 && Instant::now() >= deadline {
                self.idled_out.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let wake = if conn.in_flight.load(Ordering::Acquire) > 0 {
                Instant::now() + timeout
            } else {
                deadline
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Waits until every connection has closed.
    pub async fn drained(&self) {
        loop {
            let freed = self.freed.notified();
            if self.open() == 0 {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), freed).await;
        }
    }
}

/// A request being handled: counted globally and on its connection.
struct InFlight {
    registry: Arc<Connections>,
    conn: Arc<Conn>,
}

impl InFlight {
    /// Counts a request in, unless the server is at `max_in_flight`: then only a
    /// connection with nothing in flight gets in (up to twice the cap), so a flood of
    /// streams on a few connections is shed before a client asking one thing at a time.
    fn enter(registry: &Arc<Connections>, conn: &Arc<Conn>) -> Option<Self> {
        let max = registry.limits.max_in_flight;
        let before = registry.in_flight.fetch_add(1, Ordering::AcqRel);
        let light = conn.in_flight.load(Ordering::Acquire) == 0;
        if before >= max && !(light && before < 2 * max) {
            registry.in_flight.fetch_sub(1, Ordering::AcqRel);
            registry.shed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(Self {
            registry: Arc::clone(registry),
            conn: Arc::clone(conn),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .idle_since_ms
            .store(self.registry.now_ms(), Ordering::Release);
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.registry.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The service hyper calls for each request of one connection: the checks above, then
/// the router.
#[derive(Clone)]
pub struct ConnService {
    app: TowerToHyperService<Router>,
    registry: Arc<Connections>,
    conn: Arc<Conn>,
    peer: SocketAddr,
}

impl ConnService {
    pub fn new(app: Router, registry: Arc<Connections>, conn: Arc<Conn>, peer: SocketAddr) -> Self {
        Self {
            app: TowerToHyperService::new(app),
            registry,
            conn,
            peer,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut request: Request<Incoming>) -> Answer {
        if let Some(problem) = host_problem(&request) {
            return Box::pin(std::future::ready(Ok(problem.into_response())));
        }
        let Some(guard) = InFlight::enter(&self.registry, &self.conn) else {
            let busy = Problem::unavailable("the server is at capacity; retry shortly");
            return Box::pin(std::future::ready(Ok(busy.into_response())));
        };
        request.extensions_mut().insert(ClientAddr(self.peer));
        let answer = self.app.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(guard);
            response
        })
    }
}

/// HTTP/1.1 needs exactly one `Host`, with a valid value (RFC 9112, section 3.2); HTTP/1.0
/// may omit it, and HTTP/2 carries `:authority` instead.
fn host_problem<B>(request: &Request<B>) -> Option<Problem> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    let mut hosts = request.headers().get_all(HOST).iter();
    let problem = match (hosts.next(), hosts.next()) {
        (None, _) => "an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)",
        (Some(_), Some(_)) => "send one Host header",
        (Some(host), None) => {
            let valid = host.is_empty()
                || host
                    .to_str()
                    .ok()
                    .and_then(|text| text.parse::<axum::http::uri::Authority>().ok())
                    .is_some_and(|authority| !authority.as_str().contains('@'));
            if valid {
                return None;
            }
            "the Host header is not a valid host[:port]"
        }
    };
    Some(Problem::bad_request(problem))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_hosts(version: Version, hosts: &[&str]) -> Request<()> {
        let mut request = Request::get("/").version(version);
        for host in hosts {
            request = request.header(HOST, *host);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn http11_needs_one_valid_host() {
        use Version as V;
        assert!(host_problem(&with_hosts(V::HTTP_11, &[])).is_some());
        assert!(host_problem(&with_hosts(V::HTTP_11, &["a", "b"])).is_some());
        assert!(host_problem(&with_hosts(V::HTTP_11, &["user@host"])).is_some());
        assert!(host_problem(&with_hosts(V::HTTP_11, &["bad host"])).is_some());
        assert!(host_problem(&with_hosts(V::HTTP_11, &["127.0.0.1:8080"])).is_none());
        assert!(host_problem(&with_hosts(V::HTTP_11, &[""])).is_none());
        assert!(host_problem(&with_hosts(V::HTTP_10, &[])).is_none());
        assert!(host_problem(&with_hosts(V::HTTP_2, &[])).is_none());
    }

    #[tokio::test]
    async fn at_the_cap_the_idlest_connection_is_asked_to_close() {
        let registry = Connections::new(Limits {
            max_connections: 2,
            ..Limits::default()
        });
        let a = registry.register();
        let b = registry.register();
        // b is mid-request: only a may be closed.
        let busy = InFlight::enter(&registry, &b.conn).unwrap();
        assert!(registry.make_room());
        assert!(a.conn.closing.load(Ordering::Acquire));
        assert!(!b.conn.closing.load(Ordering::Acquire));
        let c = registry.register();
        let _busy_c = InFlight::enter(&registry, &c.conn).unwrap();
        // Every live connection busy: no room until one closes.
        assert!(!registry.make_room());
        drop(a);
        assert!(!registry.make_room());
        drop(busy);
        assert!(registry.make_room());
        assert_eq!(registry.evicted.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn requests_beyond_the_in_flight_cap_are_shed() {
        let registry = Connections::new(Limits {
            max_in_flight: 1,
            ..Limits::default()
        });
        let busy = registry.register();
        let first = InFlight::enter(&registry, &busy.conn).unwrap();
        // At the cap: the busy connection's next stream is shed...
        assert!(InFlight::enter(&registry, &busy.conn).is_none());
        // ... while an idle connection's request gets in, up to twice the cap.
        let (light, lighter) = (registry.register(), registry.register());
        let second = InFlight::enter(&registry, &light.conn).unwrap();
        assert!(InFlight::enter(&registry, &lighter.conn).is_none());
        drop((first, second));
        assert!(InFlight::enter(&registry, &busy.conn).is_some());
        assert_eq!(registry.shed.load(Ordering::Relaxed), 2);
    }
}
