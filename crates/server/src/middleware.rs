//! What every route gets around its handler: request ids, tracing, panic catching, problem
//! bodies for every error, a deadline, and (`--expose-timing`) the handler-start stamp.

use crate::config::Settings;
use crate::problem::Problem;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{Next, map_response};
use axum::response::{IntoResponse, Response};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The response header `--expose-timing` adds.
pub const HANDLER_START_HEADER: &str = "x-raceproof-handler-start-ns";

/// The deadline a whole request gets, for documentation and tests.
pub fn request_deadline(settings: &Settings) -> Duration {
    settings.timeout * 2 + settings.hash_wait
}

/// The middleware every route gets: request ids, tracing, panic catching, problem bodies
/// for every error, a deadline. Public so the bench can put it around a bare handler.
pub fn with_middleware(routes: Router, settings: &Settings) -> Router {
    // The body has its own deadline (408); this one bounds the whole request (503).
    let deadline = request_deadline(settings);
    routes
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            deadline,
        ))
        .layer(map_response(crate::problem::normalize))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(
            crate::request_id::ServerIds::default(),
        ))
}

/// One span per request, named by its id (never its headers: they carry credentials).
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
    )
}

/// A panic becomes a 500 with a problem body, and a log line.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked; answered 500");
    Problem::internal().into_response()
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `--expose-timing`: when the handler could start, in ns since the Unix epoch: once the
/// whole request had arrived. hyper hands a request to the service as soon as its headers
/// are in, so a stamp taken here would be the headers' arrival, which a synchronized burst
/// (single-packet, last-byte) sends ahead of its release; the stamp is therefore taken when
/// the body's end is read, and only a request whose body nobody reads (a GET) is stamped
/// here, at its headers.
pub(crate) async fn stamp_handler_start(request: Request, next: Next) -> Response {
    let headers_at = unix_ns();
    let arrived = Arc::new(OnceLock::new());
    let request = request.map(|body| {
        Body::new(StampedBody {
            inner: body,
            arrived: Arc::clone(&arrived),
        })
    });
    let mut response = next.run(request).await;
    let start = arrived.get().copied().unwrap_or(headers_at);
    if let Ok(value) = HeaderValue::from_str(&start.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HANDLER_START_HEADER), value);
    }
    response
}

/// A request body that records when its end was read.
struct StampedBody {
    inner: Body,
    arrived: Arc<OnceLock<u128>>,
}

impl http_body::Body for StampedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(frame) = &polled
            && (frame.is_none() || self.inner.is_end_stream())
        {
            self.arrived.get_or_init(unix_ns);
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
