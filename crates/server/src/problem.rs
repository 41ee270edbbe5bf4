//! RFC 9457 problem details: every error this service sends is `application/problem+json`
//! with `type`, `title`, `status` and `detail`. Details are written here, from typed errors,
//! never from the request: a problem body never echoes a credential or a body field.

use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use raceproof_core::backend::BackendError;
use raceproof_core::replay::ReplayError;
use raceproof_core::service::LoginError;
use raceproof_core::store::StoreError;
use raceproof_core::throttle::{Scope, Throttled};
use raceproof_flows::OperateError;
use serde::Serialize;
use std::borrow::Cow;

/// The media type of a problem body (RFC 9457 section 3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The challenge sent with every 401 (RFC 7617 section 2).
pub const BASIC_CHALLENGE: &str = r#"Basic realm="raceproof", charset="UTF-8""#;

/// Seconds a client is told to wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

/// A problem response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` when the status code says it all.
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub status: u16,
    pub detail: Cow<'static, str>,
    /// Extra headers (a challenge, `Retry-After`).
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of type `about:blank`: the title is the status code's reason phrase.
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// A problem of a type of ours, named `urn:raceproof:problem:<slug>`.
    pub fn typed(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            kind: Cow::Owned(format!("urn:raceproof:problem:{slug}")),
            title: Cow::Borrowed(title),
            ..Self::new(status, detail)
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// Sets `Retry-After` to `secs` (at least 1): when the refusing limit really frees.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.headers.retain(|(name, _)| name != RETRY_AFTER);
        self.headers
            .push((RETRY_AFTER, HeaderValue::from(secs.max(1))));
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401 with the Basic challenge.
    pub fn unauthorized(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail).with_header(WWW_AUTHENTICATE, BASIC_CHALLENGE)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
            .with_header(RETRY_AFTER, RETRY_AFTER_SECS)
    }

    /// 500: nothing about the cause reaches the client (it is logged).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to handle this request; it was logged",
        )
    }

    /// The problem body alone, with its content type, for a response made elsewhere.
    fn body(&self) -> Vec<u8> {
        // Serializing plain strings and a number cannot fail; the fallback is still valid.
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"type":"about:blank"}"#.to_vec())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// Which precondition a stale version came with: the seed's body field answers 409 (as the
/// seed does), `If-Match` answers 412 (RFC 9110 section 13.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreconditionSource {
    IfMatch,
    Body,
}

/// Maps a store refusal onto its status code.
pub fn store_problem(error: &StoreError, source: PreconditionSource) -> Problem {
    use StoreError as E;
    match error {
        E::InvalidCredentials => Problem::unauthorized("invalid credentials"),
        E::CredentialsRevoked => Problem::unauthorized(
            "the credentials were changed while this request was in flight; authenticate again",
        ),
        E::Forbidden => Problem::new(
            StatusCode::FORBIDDEN,
            "this operation needs the admin role at the moment it is applied",
        ),
        E::NotFound => Problem::new(StatusCode::NOT_FOUND, "no such user"),
        E::AlreadyExists => Problem::new(StatusCode::CONFLICT, "the user already exists"),
        E::PreconditionFailed { current } => match source {
            PreconditionSource::IfMatch => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                format!("the record is at version {current}; If-Match did not match"),
            ),
            PreconditionSource::Body => Problem::typed(
                StatusCode::CONFLICT,
                "version-conflict",
                "Version Conflict",
                format!("the record is at version {current}, not expected_version"),
            ),
        },
        E::PreconditionRequired => Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "this server requires If-Match (or expected_version) on updates",
        ),
        E::LastAdmin => Problem::typed(
            StatusCode::CONFLICT,
            "last-admin",
            "Last Admin",
            "the last admin cannot be demoted",
        ),
        E::InvalidInput { field } => Problem::bad_request(format!(
            "invalid {field}: empty, too long or containing control characters"
        )),
        E::Internal => Problem::internal(),
    }
}

/// Maps a user repository's answer onto its status code: the store's refusals as in
/// memory, and 503 when the backend could not be reached (logged by kind, never its URL).
/// The 503 does not claim that nothing changed: a connection lost during `COMMIT` leaves
/// the outcome unknown, and the audit log tells.
pub fn backend_problem(error: &BackendError, source: PreconditionSource) -> Problem {
    match error {
        BackendError::Store(e) => store_problem(e, source),
        BackendError::Replay(e) => replay_problem(e),
        BackendError::Unavailable(what) => {
            tracing::warn!(error = %what, "user database unavailable; answered 503");
            Problem::unavailable("the user database is unavailable; retry shortly")
        }
    }
}

/// A login refused by the throttle: 429 with the seconds until the refusing counter's
/// window ends. The detail says which counter, never the user or the address.
pub fn throttled_problem(throttled: &Throttled) -> Problem {
    let detail = match throttled.scope {
        Scope::Pair => "too many failed logins for this user from this client; retry later",
        Scope::User => {
            "too many failed logins for this user from new clients; retry later, or log in \
             from a client that logged in before"
        }
        Scope::Client => "too many failed logins from this client; retry later",
        Scope::Table => "too many clients are failing to log in; retry later",
    };
    Problem::typed(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-failed-logins",
        "Too Many Failed Logins",
        detail,
    )
    .retry_after(throttled.retry_after_secs)
}

/// Maps a throttled service call onto its status code.
pub fn login_problem(error: &LoginError, source: PreconditionSource) -> Problem {
    match error {
        LoginError::Throttled(throttled) => throttled_problem(throttled),
        LoginError::Backend(e) => backend_problem(e, source),
    }
}

/// Maps an `/operate` refusal onto its status code.
pub fn operate_problem(error: &OperateError) -> Problem {
    match error {
        OperateError::Replay(e) => replay_problem(e),
        OperateError::AlreadyProcessed => Problem::typed(
            StatusCode::CONFLICT,
            "replayed",
            "Already Processed",
            "this resource was already processed",
        ),
        OperateError::WrongScheme => {
            Problem::bad_request("this server variant expects the other signing scheme")
        }
        OperateError::Unavailable(what) => {
            tracing::warn!(error = %what, "replay store unavailable; request refused");
            Problem::unavailable("the replay store is unavailable; nothing was processed")
        }
    }
}

/// Maps a signed-request refusal onto its status code.
pub fn replay_problem(error: &ReplayError) -> Problem {
    use ReplayError as E;
    match error {
        E::MalformedSignature | E::BadSignature => Problem::new(
            StatusCode::UNAUTHORIZED,
            "no signature matches this request",
        ),
        E::Stale | E::OutsideWindow { .. } => Problem::typed(
            StatusCode::BAD_REQUEST,
            "stale-timestamp",
            "Stale Timestamp",
            "the timestamp is outside the accepted window",
        ),
        E::Replayed => Problem::typed(
            StatusCode::CONFLICT,
            "replayed",
            "Replayed",
            "this signed message was already processed",
        ),
        E::Capacity { retry_after_secs } => {
            Problem::unavailable("the replay set is full; space frees as messages expire")
                .retry_after(*retry_after_secs)
        }
        E::FieldLength { field } => {
            Problem::bad_request(format!("{field} is empty or longer than 255 bytes"))
        }
        E::UnknownResource => Problem::new(StatusCode::NOT_FOUND, "unknown resource"),
        E::EmptyKey => Problem::internal(),
    }
}

/// Gives every error response a problem body: routing's 404 and 405, a timeout's 503, ...
/// Headers such as `Allow` and `Retry-After` are kept.
pub fn normalize(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "no such resource",
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed here; see Allow",
        StatusCode::SERVICE_UNAVAILABLE => "the request took too long; try again later",
        _ => "the request could not be handled",
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    let problem = Problem::new(status, detail);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(RETRY_AFTER) {
        parts
            .headers
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    Response::from_parts(parts, axum::body::Body::from(problem.body()))
}
