//! Serving the router: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one listener,
//! with every connection's lifetime bounded (issue 21) and a graceful shutdown.
//!
//! A connection lives through these steps, each with its own limit ([`Limits`]):
//!
//! 1. accept, if the connection cap allows ([`Connections::room`]);
//! 2. the first bytes, within `handshake_timeout` from accept: 24 bytes of the HTTP/2
//!    preface, or bytes that are not one (HTTP/1.x); silent sockets and bare `PRI`
//!    prefixes are closed here;
//! 3. HTTP/1.1: each request head within `header_timeout` (hyper counts it from when it
//!    starts waiting, so an idle keep-alive connection also closes after it), at most
//!    `max_header_bytes` (431 beyond); HTTP/2: at most `max_streams` streams,
//!    `max_header_bytes` of headers, a PING every `h2_keepalive` of silence;
//! 4. no request in flight for `idle_timeout`, an eviction at the cap, or shutdown: a
//!    graceful close (HTTP/2 GOAWAY), then at most [`DRAIN_TIMEOUT`] to finish.

use crate::connections::{ConnService, Connections, LOG_EVERY};
use crate::handshake::{Prefixed, detect};
use crate::limits::Limits;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long open connections get to finish after shutdown starts, or after being asked to
/// close.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` with the default [`Limits`] until `shutdown` completes.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    serve_with(listener, app, Limits::default(), shutdown).await;
}

/// The hyper settings of every connection.
fn builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper reads a head into this buffer: a head that does not fit is refused with
        // 431, so an unfinished head holds at most this much memory.
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.h2_keepalive)
        .keep_alive_timeout(limits.h2_keepalive);
    builder
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets open
/// connections finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Connections::new(limits);
    let builder = Arc::new(builder(registry.limits()));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            () = registry.room() => tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                accept_errors.log(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            Arc::clone(&registry),
            Arc::clone(&builder),
            stopping.clone(),
        ));
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; draining open ones");
    let _ = stop.send(true);
    tokio::select! {
        () = registry.drained() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; exiting anyway");
        }
    }
}

/// One connection, from its first byte to its close.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    registry: Arc<Connections>,
    builder: Arc<Builder<TokioExecutor>>,
    mut stopping: watch::Receiver<bool>,
) {
    let registration = registry.register();
    let conn = Arc::clone(&registration.conn);
    let handshake = registry.limits().handshake_timeout;
    let detected = tokio::select! {
        detected = tokio::time::timeout(handshake, detect(&mut stream)) => detected,
        () = conn.closed() => return,
        _ = stopping.wait_for(|stop| *stop) => return,
    };
    let (protocol, prefix) = match detected {
        Ok(Ok(detected)) => detected,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connection closed before its first request");
            return;
        }
        Err(_elapsed) => {
            tracing::debug!(%peer, ?handshake, "no request line or preface in time: closed");
            return;
        }
    };
    let service = ConnService::new(app, Arc::clone(&registry), Arc::clone(&conn), peer);
    let io = TokioIo::new(Prefixed::new(prefix, stream));
    let serving = builder.serve_connection_with_upgrades(io, service);
    let mut serving = std::pin::pin!(serving);
    let why = tokio::select! {
        result = serving.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, ?protocol, "connection ended with an error");
            }
            return;
        }
        () = registry.idle(&conn) => "idle",
        () = conn.closed() => "evicted at the connection cap",
        _ = stopping.wait_for(|stop| *stop) => "shutdown",
    };
    tracing::debug!(%peer, ?protocol, why, "closing the connection gracefully");
    serving.as_mut().graceful_shutdown();
    if tokio::time::timeout(DRAIN_TIMEOUT, serving).await.is_err() {
        tracing::debug!(%peer, "connection did not finish in time after a graceful close");
    }
    drop(registration);
}

/// `accept` failures, logged at most once per [`LOG_EVERY`] with how many there were.
#[derive(Default)]
struct AcceptErrors {
    last: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    fn log(&mut self, error: &std::io::Error) {
        self.unlogged += 1;
        if self.last.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::warn!(%error, failures = self.unlogged, "accept failed");
            self.last = Some(Instant::now());
            self.unlogged = 0;
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
