//! A backend going down under a running server, and coming back (issue 11: fail closed,
//! nothing lost). The server reaches Redis or PostgreSQL through a TCP forwarder that the
//! test cuts: open connections are dropped and new ones closed at once, as when the backend
//! stops, while the real service that other tests share keeps running.
//!
//! - `/operate` during the outage: 503, and the message is *not* recorded (once the store is
//!   back, the same message is admitted once, then refused as a replay).
//! - An account write during the outage: 503, and it did not land (once the database is back,
//!   the record is at its old version, and the write succeeds when sent again).
//!
//! Opted in like the other backend tests (`RACEPROOF_BACKEND_TESTS=1`, or `CI=true`).
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod instance;

use instance::*;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards a loopback port to `upstream` until cut.
struct Forwarder {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Forwarder {
    fn start(upstream: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        runtime.spawn({
            let (up, open) = (Arc::clone(&up), Arc::clone(&open));
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    open.lock().unwrap().push(task);
                }
            }
        });
        Self {
            addr,
            up,
            open,
            _runtime: runtime,
        }
    }

    /// The backend "stops": every forwarded connection is dropped, new ones are refused.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// `url` with its `host:port` replaced by the forwarder's.
    fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let userinfo = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{userinfo}{}{path}", self.addr)
    }
}

/// The `host:port` of a URL, resolved.
fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

#[test]
fn a_replay_store_outage_answers_503_and_admits_nothing() {
    let test = "a_replay_store_outage_answers_503_and_admits_nothing";
    let Some(url) = redis(test) else { return };
    let forwarder = Forwarder::start(upstream(&url));
    let (via, prefix) = (forwarder.url_through(&url), unique_prefix());
    let server = Instance::start(Shared::replay(&via, &prefix));
    let rt = runtime();
    let before = message(format!("msg_before_{prefix}"));
    assert_eq!(rt.block_on(send_once(server.addr, &before)), 200);

    forwarder.cut();
    let during = message(format!("msg_during_{prefix}"));
    let refused = [
        rt.block_on(send_once(server.addr, &during)),
        rt.block_on(send_once(server.addr, &during)),
        // Not even a replay can be told apart while the store is away.
        rt.block_on(send_once(server.addr, &before)),
    ];
    eprintln!("redis cut: {refused:?}");
    assert_eq!(refused, [503, 503, 503]);

    forwarder.restore();
    let after = [
        rt.block_on(send_once(server.addr, &during)),
        rt.block_on(send_once(server.addr, &during)),
        rt.block_on(send_once(server.addr, &before)),
    ];
    eprintln!("redis restored: {after:?}");
    // Nothing was recorded during the outage, nothing was forgotten across it.
    assert_eq!(after, [200, 409, 409]);
    server.stop();
}

#[test]
fn a_user_database_outage_answers_503_and_loses_no_write() {
    let test = "a_user_database_outage_answers_503_and_loses_no_write";
    let Some(url) = postgres(test) else { return };
    let forwarder = Forwarder::start(upstream(&url));
    let (via, schema) = (forwarder.url_through(&url), unique_prefix());
    let server = Instance::start(Shared::users(&via, &schema));
    let rt = runtime();
    let addr = server.addr;
    let read = |label: &str| {
        let (status, etag, body) = rt.block_on(send(addr, get_user(addr, "alice")));
        eprintln!("{label}: GET /users/alice {status} {etag:?} {body}");
        (status, etag, body)
    };
    assert_eq!(read("up").0, 200);

    forwarder.cut();
    let write = rt.block_on(send(addr, update_email(addr, "\"1\"", "during@example")));
    eprintln!("cut: update-email {} {}", write.0, write.2);
    assert_eq!(write.0, 503, "{}", write.2);
    assert_eq!(read("cut").0, 503);

    forwarder.restore();
    let (status, etag, body) = read("restored");
    assert_eq!((status, etag.as_deref()), (200, Some("\"1\"")));
    assert_eq!(body["email"], "alice@example.com");
    let again = rt.block_on(send(addr, update_email(addr, "\"1\"", "after@example")));
    assert_eq!(
        (again.0, again.1.as_deref()),
        (200, Some("\"2\"")),
        "{}",
        again.2
    );
    server.stop();
    drop_schema(&url, &schema);
}

/// PostgreSQL restarting while the server is idle leaves its pooled connections closed. The
/// next read and write replace them instead of answering 503 (nothing had been sent on
/// them, so nothing can be applied twice).
#[test]
fn after_a_database_restart_closed_pooled_connections_are_replaced() {
    let test = "after_a_database_restart_closed_pooled_connections_are_replaced";
    let Some(url) = postgres(test) else { return };
    let forwarder = Forwarder::start(upstream(&url));
    let (via, schema) = (forwarder.url_through(&url), unique_prefix());
    let server = Instance::start(Shared::users(&via, &schema));
    let rt = runtime();
    let addr = server.addr;
    // Concurrent reads leave several connections in the pool: after the restart every one
    // of them is closed, and a request must get past all of them (replacing just one closed
    // connection was not enough).
    let warm = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            set.spawn(send(addr, get_user(addr, "alice")));
        }
        set.join_all().await
    });
    for (status, _, body) in warm {
        assert_eq!(status, 200, "{body}");
    }
    // Down and up again with no request in between, for the read...
    forwarder.cut();
    forwarder.restore();
    let read = rt.block_on(send(addr, get_user(addr, "alice")));
    assert_eq!(read.0, 200, "{}", read.2);
    // ...and for the write (a password check, then one transaction).
    forwarder.cut();
    forwarder.restore();
    let write = rt.block_on(send(addr, update_email(addr, "\"1\"", "after@example")));
    assert_eq!(
        (write.0, write.1.as_deref()),
        (200, Some("\"2\"")),
        "{}",
        write.2
    );
    server.stop();
    drop_schema(&url, &schema);
}
