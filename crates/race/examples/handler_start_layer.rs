//! Server-measured spread for a Rust service on axum (or any tower stack, with
//! `axum::middleware::from_fn`): a middleware that sets `x-raceproof-handler-start-ns` on every
//! response, the instant (Unix time, nanoseconds) the handler had the whole request: when its
//! body was read to the end, or, for a handler that reads none, when it was called. It does not
//! change what the service waits for: hyper starts a handler on the request's head, and a
//! handler that never reads its body still starts there (which the stamp then shows).
//!
//! ```text
//! cargo run -p raceproof-race --example handler_start_layer -- --port 8080
//! ```
//!
//! serves a demo `POST /redeem/{code}` (200 once per code, 409 after) with the layer.
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
mod layer {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll};
    use std::time::{SystemTime, UNIX_EPOCH};

    use axum::body::{Body, Bytes};
    use axum::extract::Request;
    use axum::middleware::Next;
    use axum::response::Response;
    use http_body::Frame;

    pub const HEADER: &str = "x-raceproof-handler-start-ns";

    fn unix_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
            })
    }

    /// `.layer(axum::middleware::from_fn(handler_start))`
    pub async fn handler_start(request: Request, next: Next) -> Response {
        let called = unix_ns();
        let ended = Arc::new(Mutex::new(None));
        let watched = Arc::clone(&ended);
        let request = request.map(|inner| {
            Body::new(Watched {
                inner,
                ended: watched,
            })
        });
        let mut response = next.run(request).await;
        let ended = *ended.lock().unwrap_or_else(PoisonError::into_inner);
        let started = ended.unwrap_or(called);
        response.headers_mut().insert(HEADER, started.into());
        response
    }

    /// The request body, noting when it was read to its end.
    struct Watched {
        inner: Body,
        ended: Arc<Mutex<Option<u64>>>,
    }

    impl http_body::Body for Watched {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            let polled = Pin::new(&mut self.inner).poll_frame(cx);
            if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
                let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
                ended.get_or_insert_with(unix_ns);
            }
            polled
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    }
}

#[cfg(not(loom))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex, PoisonError};

    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    use clap::Parser as _;

    /// A demo service with the handler-start layer.
    #[derive(clap::Parser)]
    struct Args {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    }

    type Codes = Arc<Mutex<HashSet<String>>>;

    async fn redeem(State(codes): State<Codes>, Path(code): Path<String>) -> StatusCode {
        let first = codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code);
        if first {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        }
    }

    let args = Args::parse();
    let app = axum::Router::new()
        .route("/redeem/{code}", post(redeem))
        .with_state(Codes::default())
        .layer(axum::middleware::from_fn(layer::handler_start));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!(
        "demo service with {} on {}",
        layer::HEADER,
        listener.local_addr()?
    );
    // Small responses must not wait for Nagle's algorithm: it would dwarf any spread.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

#[cfg(loom)]
fn main() {}
