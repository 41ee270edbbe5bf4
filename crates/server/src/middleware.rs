//! What every route gets around its handler: a request id, panic catching, problem bodies
//! for every error, a deadline and logs, as one layer ([`RequestLayer`]); and
//! (`--expose-timing`) the handler-start stamp.
//!
//! One hand-written layer rather than five of tower-http's (`SetRequestId`,
//! `PropagateRequestId`, `TraceLayer`, `CatchPanic`, `Timeout`) and axum's `map_response`:
//! each of those wraps the future (and some the body) once more, and together they cost
//! about as much as the HTTP floor itself (`cargo xtask bench --http` measures each alone).
//! This one boxes one future per request, starts no timer for a handler that answers when
//! first polled, and formats nothing unless a log line is enabled: at the default level a
//! server error (5xx, a panic, the deadline) is one WARN or ERROR line with the request id,
//! and `RUST_LOG=debug` adds a span per request, which every log line inside it carries, and
//! a line per response.

use crate::config::Settings;
use crate::problem::Problem;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{Layer, Service};

/// The response header `--expose-timing` adds.
pub const HANDLER_START_HEADER: &str = "x-raceproof-handler-start-ns";

/// The request id header, kept as the client sent it or set by the server.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The deadline a whole request gets, for documentation and tests.
pub fn request_deadline(settings: &Settings) -> Duration {
    settings.timeout * 2 + settings.hash_wait
}

/// The middleware every route gets ([`RequestLayer`]). Public so the bench can put it
/// around a bare handler.
pub fn with_middleware(routes: Router, settings: &Settings) -> Router {
    routes.layer(RequestLayer::new(settings))
}

/// `future`'s output, or `None` once `deadline` has passed. No timer is started unless the
/// future is still pending when first polled (most handlers are not).
pub async fn within<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Request id, logs, panic catching, problem bodies, deadline: see the module docs.
#[derive(Clone)]
pub struct RequestLayer {
    ids: crate::request_id::ServerIds,
    deadline: Duration,
}

impl RequestLayer {
    pub fn new(settings: &Settings) -> Self {
        Self {
            ids: crate::request_id::ServerIds::default(),
            // The body has its own deadline (408); this one bounds the whole request (503).
            deadline: request_deadline(settings),
        }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService {
            inner,
            layer: self.clone(),
        }
    }
}

/// [`RequestLayer`] around a service.
#[derive(Clone)]
pub struct RequestService<S> {
    inner: S,
    layer: RequestLayer,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for RequestService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // A client's id only when short and plain (it is echoed and logged).
        let id = match request.headers().get(&REQUEST_ID_HEADER) {
            Some(id) if crate::request_id::acceptable(id) => id.clone(),
            _ => {
                let id = self.layer.ids.next();
                request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
                id
            }
        };
        let deadline = Instant::now() + self.layer.deadline;
        // Debug only: a span formats its fields, and a subscriber that records it allocates.
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            Some(request_span(&request, &id))
        } else {
            None
        };
        // For a server error's log line (cheap clones: no allocation).
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let handled = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
        };
        Box::pin(async move {
            let response = match handled {
                Err(panic) => panic_response(&panic),
                Ok(future) => {
                    let mut future = std::pin::pin!(future);
                    let guarded = std::future::poll_fn(|cx| {
                        let _entered = span.as_ref().map(tracing::Span::enter);
                        match std::panic::catch_unwind(AssertUnwindSafe(|| {
                            future.as_mut().poll(cx)
                        })) {
                            Ok(Poll::Ready(Ok(response))) => Poll::Ready(Ok(response)),
                            Ok(Poll::Ready(Err(never))) => match never {},
                            Ok(Poll::Pending) => Poll::Pending,
                            Err(panic) => Poll::Ready(Err(panic)),
                        }
                    });
                    match within(deadline, guarded).await {
                        Some(Ok(response)) => response,
                        Some(Err(panic)) => panic_response(&panic),
                        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            };
            let mut response = crate::problem::normalize(response);
            let status = response.status();
            let request_id = id.to_str().unwrap_or("-");
            if status.is_server_error() {
                let path = uri.path();
                let status = status.as_u16();
                tracing::warn!(request_id, %method, path, status, "server error");
            } else {
                tracing::debug!(request_id, status = status.as_u16(), "answered");
            }
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
            Ok(response)
        })
    }
}

/// One span per request (debug level), named by its id (never its headers: they carry
/// credentials).
fn request_span(request: &Request, id: &HeaderValue) -> tracing::Span {
    tracing::debug_span!(
        "request",
        id = id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = request.uri().path(),
    )
}

/// A panic becomes a 500 with a problem body, and a log line.
fn panic_response(panic: &Box<dyn std::any::Any + Send + 'static>) -> Response {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn panics() -> &'static str {
        panic!("a bug")
    }

    fn app(timeout: Duration) -> Router {
        let settings = Settings {
            timeout,
            hash_wait: Duration::ZERO,
            ..Settings::default()
        };
        let routes = Router::new()
            .route("/now", get(|| async { "now" }))
            .route(
                "/later",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "later"
                }),
            )
            .route(
                "/never",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "never"
                }),
            )
            .route("/panics", get(panics));
        with_middleware(routes, &settings)
    }

    async fn status_and_id(app: &Router, path: &str) -> (StatusCode, Option<String>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), id)
    }

    #[tokio::test]
    async fn every_answer_has_an_id_and_the_deadline_and_panics_are_problems() {
        let app = app(Duration::from_millis(100));
        let (status, first) = status_and_id(&app, "/now").await;
        assert_eq!(status, StatusCode::OK);
        let (status, second) = status_and_id(&app, "/later").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "pending, then ready within the deadline"
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_ne!(first, second);
        // Server-made ids tell neither the start time nor the count (issue 21).
        for id in [&first, &second] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let request = Request::get("/never").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        let (status, id) = status_and_id(&app, "/panics").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(id.is_some());
    }

    #[tokio::test]
    async fn within_starts_no_timer_for_a_ready_future_and_stops_a_slow_one() {
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(
            within(past, async { 7 }).await,
            Some(7),
            "ready first: no timer"
        );
        let soon = Instant::now() + Duration::from_millis(10);
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(within(soon, slow).await, None);
    }
}
