//! The state, the router and the handlers.

use crate::accounts::{AccountEndpoints, InMemory};
use crate::config::{Settings, WebhookSecret};
use crate::problem::{
    PreconditionSource, Problem, backend_problem, operate_problem, store_problem,
};
use crate::webhook::{
    ID_HEADER, SIGNATURE_HEADER, SignedHeaders, TIMESTAMP_HEADER, Verified, WebhookError,
    WebhookGuard,
};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use raceproof_core::audit::{Action, Commit};
use raceproof_core::auth::{Argon2Hasher, Credentials};
use raceproof_core::replay::{Clock, HmacKey, SignedFields, SystemClock};
use raceproof_core::store::{Role, StoreError, User};
use raceproof_core::table::GlobalMutex;
use raceproof_flows::{
    AccountFlows, Narrator, OperateFlow, OperateRequest, ProvenAccounts, SeedAccounts, SeedOperate,
    SeedPayload, UserSpec, Variant,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The response header `--expose-timing` adds.
pub const HANDLER_START_HEADER: &str = "x-raceproof-handler-start-ns";

/// `/operate`'s implementation.
enum Operate {
    /// Standard Webhooks signatures, admitted by the core's replay set (proven_fix).
    Webhooks(WebhookGuard),
    /// The seed's JSON body and concatenation signature (seed variants).
    Seed(SeedOperate),
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create the users: {0}")]
    Users(StoreError),
    #[error("the webhook secret is not a usable HMAC key")]
    Key,
}

/// Everything the handlers share.
pub struct AppState {
    accounts: Arc<dyn AccountEndpoints>,
    operate: Operate,
    settings: Settings,
    /// Slots for password verification off the runtime.
    hash_slots: Arc<Semaphore>,
}

impl AppState {
    /// The state of `settings.variant` over `users`, with the system clock.
    pub fn new(
        users: &[UserSpec],
        hasher: Argon2Hasher,
        secret: &WebhookSecret,
        settings: Settings,
    ) -> Result<Self, BuildError> {
        Self::with_clock(users, hasher, secret, settings, Arc::new(SystemClock))
    }

    /// [`AppState::new`] with the clock `/operate` checks timestamps against.
    pub fn with_clock(
        users: &[UserSpec],
        hasher: Argon2Hasher,
        secret: &WebhookSecret,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        let silent = Narrator::silent();
        let (accounts, operate): (Arc<dyn AccountFlows>, Operate) = match settings.variant {
            Variant::ProvenFix => {
                let accounts = ProvenAccounts::<GlobalMutex<User>>::new(
                    users,
                    hasher.clone(),
                    settings.require_if_match,
                    &silent,
                )
                .map_err(BuildError::Users)?;
                let guard = WebhookGuard::new(secret, clock, settings.timestamp_tolerance_secs)
                    .map_err(|_| BuildError::Key)?;
                (Arc::new(accounts), Operate::Webhooks(guard))
            }
            seed => {
                let fixed = seed == Variant::SeedFix;
                let key = HmacKey::new(secret.bytes()).map_err(|_| BuildError::Key)?;
                let accounts = SeedAccounts::new(fixed, users, hasher.clone(), silent.clone());
                (
                    Arc::new(accounts),
                    Operate::Seed(SeedOperate::new(fixed, key, silent)),
                )
            }
        };
        Ok(Self {
            accounts: Arc::new(InMemory::new(accounts, hasher)),
            operate,
            hash_slots: Arc::new(Semaphore::new(settings.hash_concurrency.max(1))),
            settings,
        })
    }

    /// Admits `/operate`'s messages through `store` (proven_fix only; the seeds keep their
    /// own racy check). `blocking`: the store does network I/O (Redis), so admissions run
    /// on a blocking thread.
    pub fn with_replay_store(
        mut self,
        store: Arc<dyn raceproof_core::backend::ReplayStore>,
        blocking: bool,
    ) -> Self {
        if let Operate::Webhooks(guard) = self.operate {
            self.operate = Operate::Webhooks(guard.with_store(store, blocking));
        }
        self
    }

    /// Replaces the Basic-auth endpoints' implementation: a shared repository
    /// (`--users-db`), or in tests one that panics or is down.
    pub fn with_accounts(mut self, accounts: Arc<dyn AccountEndpoints>) -> Self {
        self.accounts = accounts;
        self
    }

    /// [`AppState::with_accounts`] for in-memory flows, verifying `GET /audit`'s password
    /// with `hasher`.
    pub fn with_flows(self, flows: Arc<dyn AccountFlows>, hasher: Argon2Hasher) -> Self {
        self.with_accounts(Arc::new(InMemory::new(flows, hasher)))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The service: every endpoint, behind request ids, tracing, panic catching, problem
/// bodies for every error, and a deadline.
pub fn router(state: Arc<AppState>) -> Router {
    let settings = state.settings.clone();
    let mut routes = Router::new()
        .route("/promote", post(promote))
        .route("/demote", post(demote))
        .route("/password", post(change_password))
        .route("/update-email", post(update_email))
        .route("/users/{id}", get(user))
        .route("/audit", get(audit))
        .route("/operate", post(operate));
    if settings.expose_timing {
        routes = routes.route_layer(from_fn(stamp_handler_start));
    }
    with_middleware(routes.with_state(state), &settings)
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
        .layer(SetRequestIdLayer::x_request_id(SequentialIds::new()))
}

/// Request ids `<start>-<n>`: the server's start time in hex, then a counter. Unique per
/// process and cheap (a UUID v4 costs a `getrandom` call per request); a client's own
/// `x-request-id` is kept as it is.
#[derive(Clone)]
struct SequentialIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl SequentialIds {
    fn new() -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            prefix: format!("{start:x}").into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
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
async fn stamp_handler_start(request: Request, next: Next) -> Response {
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

// ---------------------------------------------------------------------------------------
// Inputs

/// The Basic credentials of a request (401 with the challenge when absent or malformed).
fn credentials(headers: &HeaderMap) -> Result<Credentials, Problem> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Problem::unauthorized(
            "this endpoint needs exactly one Authorization: Basic header",
        ));
    };
    let text = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not visible ASCII"))?;
    // The parser's errors describe the defect, never the header's content.
    Credentials::parse_header(text).map_err(|e| Problem::unauthorized(e.to_string()))
}

/// Reads a JSON body: content type checked (415), size capped (413), deadline (408).
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let limit = state.settings.max_body_bytes;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(
        state.settings.timeout,
        http_body_util::BodyExt::collect(limited),
    )
    .await
    {
        Err(_elapsed) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(Problem::bad_request("the body could not be read")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Parses a JSON body of shape `T`; the error names the expected shape, never the input.
fn parse_json<T: DeserializeOwned>(bytes: &[u8], shape: &'static str) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )),
            Category::Data => {
                Problem::bad_request(format!("the body must be a JSON object {shape}"))
            }
        }
    })
}

async fn read_json<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    shape: &'static str,
) -> Result<T, Problem> {
    let bytes = read_body(state, headers, body).await?;
    parse_json(&bytes, shape)
}

/// Runs password work (hash verification) off the async runtime, at most
/// `hash_concurrency` at once; waits `hash_wait` for a slot, then answers 503.
async fn off_runtime<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    let slots = Arc::clone(&state.hash_slots);
    let permit = match tokio::time::timeout(state.settings.hash_wait, slots.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_closed)) => return Err(Problem::internal()),
        Err(_elapsed) => {
            return Err(Problem::unavailable(
                "too many password checks in progress; retry shortly",
            ));
        }
    };
    blocking(move || {
        let _slot = permit;
        work()
    })
    .await
}

/// Runs `work` on a blocking thread (network I/O to a backend); a panic is re-raised here.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        // Re-raised here so that the panic layer answers and logs it like any other.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Problem::internal()),
    }
}

// ---------------------------------------------------------------------------------------
// Basic-auth endpoints

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetBody {
    target: String,
}

#[derive(Serialize)]
struct RoleChanged {
    target: String,
    role: &'static str,
}

/// `POST /promote` and `POST /demote`: an admin sets `target`'s role.
async fn set_role(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    role: Role,
) -> Result<Json<RoleChanged>, Problem> {
    let credentials = credentials(&headers)?;
    let TargetBody { target } = read_json(&state, &headers, body, r#"{"target": string}"#).await?;
    let flows = Arc::clone(&state.accounts);
    let name = target.clone();
    off_runtime(&state, move || match role {
        Role::Admin => flows.promote(&credentials, &name),
        Role::User => flows.demote(&credentials, &name),
    })
    .await?
    .map_err(|e| backend_problem(&e, PreconditionSource::Body))?;
    Ok(Json(RoleChanged {
        target,
        role: match role {
            Role::Admin => "admin",
            Role::User => "user",
        },
    }))
}

async fn promote(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, headers, body, Role::Admin).await
}

async fn demote(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, headers, body, Role::User).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    new_password: String,
}

#[derive(Serialize)]
struct PasswordChanged {
    user: String,
    password_changed: bool,
}

/// `POST /password`: the caller replaces their own password.
async fn change_password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PasswordChanged>, Problem> {
    let credentials = credentials(&headers)?;
    let PasswordBody { new_password } =
        read_json(&state, &headers, body, r#"{"new_password": string}"#).await?;
    // A password that Basic credentials could not carry would lock the user out.
    if new_password.is_empty() || new_password.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "new_password must be non-empty, without control characters",
        ));
    }
    let flows = Arc::clone(&state.accounts);
    let user = credentials.user_id().to_owned();
    off_runtime(&state, move || {
        flows.change_password(&credentials, &new_password)
    })
    .await?
    .map_err(|e| backend_problem(&e, PreconditionSource::Body))?;
    Ok(Json(PasswordChanged {
        user,
        password_changed: true,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
    #[serde(default)]
    expected_version: Option<u64>,
}

#[derive(Serialize)]
struct EmailChanged {
    email: String,
    version: u64,
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// A strong tag naming a version (`"7"`).
    Version(u64),
    /// A well-formed tag that no record has: weak (`W/"7"`: If-Match compares strongly,
    /// RFC 9110 section 13.1.1) or not one of ours (`"abc"`). Answers 412.
    NeverMatches,
}

/// Parses `If-Match` strictly: one entity tag. `*` and lists are refused (400): `*` would
/// make the update unconditional, which is what the header exists to prevent.
pub fn parse_if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, Problem> {
    let mut values = headers.get_all(IF_MATCH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &'static str| Problem::bad_request(why);
    if values.next().is_some() {
        return Err(bad("send one If-Match header with one entity tag"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad("If-Match is not visible ASCII"))?
        .trim_matches([' ', '\t']);
    if text == "*" {
        return Err(bad(
            "If-Match: * is not accepted here; send the record's ETag",
        ));
    }
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let opaque = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| t.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)))
        .ok_or_else(|| bad("If-Match must be a single entity tag, e.g. \"3\""))?;
    let canonical = !opaque.is_empty()
        && opaque.bytes().all(|b| b.is_ascii_digit())
        && (opaque == "0" || !opaque.starts_with('0'));
    match opaque.parse::<u64>() {
        Ok(version) if canonical && !weak => Ok(Some(IfMatch::Version(version))),
        _ => Ok(Some(IfMatch::NeverMatches)),
    }
}

fn etag(version: u64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `POST /update-email`: compare-and-set of the caller's email.
async fn update_email(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let credentials = credentials(&headers)?;
    let if_match = parse_if_match(&headers)?;
    let EmailBody {
        email,
        expected_version,
    } = read_json(
        &state,
        &headers,
        body,
        r#"{"email": string, "expected_version"?: integer}"#,
    )
    .await?;
    let (expected, source) = match (if_match, expected_version) {
        (Some(_), Some(_)) => {
            return Err(Problem::bad_request(
                "give the expected version once: If-Match or expected_version, not both",
            ));
        }
        // No record is at version u64::MAX, so the store answers "precondition failed".
        (Some(IfMatch::NeverMatches), None) => (Some(u64::MAX), PreconditionSource::IfMatch),
        (Some(IfMatch::Version(v)), None) => (Some(v), PreconditionSource::IfMatch),
        (None, Some(v)) => (Some(v), PreconditionSource::Body),
        (None, None) if state.settings.require_if_match => {
            return Err(store_problem(
                &StoreError::PreconditionRequired,
                PreconditionSource::IfMatch,
            ));
        }
        (None, None) => (None, PreconditionSource::IfMatch),
    };
    let flows = Arc::clone(&state.accounts);
    let new_email = email.clone();
    let version = off_runtime(&state, move || {
        flows.update_email(&credentials, expected, &new_email)
    })
    .await?
    .map_err(|e| backend_problem(&e, source))?;
    let mut response = Json(EmailChanged { email, version }).into_response();
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

#[derive(Serialize)]
struct UserRecord<'a> {
    id: &'a str,
    role: String,
    email: &'a str,
    version: u64,
}

/// `GET /users/{id}`: the record and its version as a strong ETag (never the hash).
async fn user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let found = if state.accounts.blocks() {
        let accounts = Arc::clone(&state.accounts);
        let id = id.clone();
        blocking(move || accounts.user(&id)).await?
    } else {
        state.accounts.user(&id)
    };
    let record = found
        .map_err(|e| backend_problem(&e, PreconditionSource::Body))?
        .ok_or_else(|| store_problem(&StoreError::NotFound, PreconditionSource::Body))?;
    let mut response = Json(UserRecord {
        id: &id,
        role: record.role.to_string(),
        email: &record.email,
        version: record.version,
    })
    .into_response();
    response.headers_mut().insert(ETAG, etag(record.version));
    Ok(response)
}

/// One entry of `GET /audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub actor_role_at_commit: Option<String>,
    pub actor_epoch_at_commit: u64,
    pub authenticated_epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl From<&Commit> for AuditEntry {
    fn from(commit: &Commit) -> Self {
        let (email, version) = match &commit.action {
            Action::UpdateEmail { email, version, .. } => (Some(email.clone()), Some(*version)),
            _ => (None, None),
        };
        Self {
            seq: commit.seq,
            actor: commit.actor.clone(),
            action: commit.action.name().to_owned(),
            target: commit.action.subject().to_owned(),
            actor_role_at_commit: commit.actor_role_at_commit.map(|r| r.to_string()),
            actor_epoch_at_commit: commit.actor_epoch_at_commit,
            authenticated_epoch: commit.authenticated_epoch,
            email,
            version,
        }
    }
}

/// `GET /audit`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// `GET /audit` (admins): the committed writes in commit order.
async fn audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AuditLog>, Problem> {
    let credentials = credentials(&headers)?;
    let accounts = Arc::clone(&state.accounts);
    let entries = off_runtime(&state, move || accounts.audit(&credentials))
        .await?
        .map_err(|e| backend_problem(&e, PreconditionSource::Body))?;
    Ok(Json(AuditLog {
        entries: entries.iter().map(AuditEntry::from).collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// /operate

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperateBody {
    resource_id: String,
    action: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SeedTimestamp {
    Text(String),
    Number(i64),
}

/// The seed's `Payload` model.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    resource_id: String,
    action: String,
    timestamp: SeedTimestamp,
    signature: String,
}

#[derive(Serialize)]
struct Processed {
    processed: bool,
    resource_id: String,
    action: String,
}

/// One header's value, present exactly once and visible ASCII.
fn single_header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().map_err(|_| WebhookError::Header(name)),
        _ => Err(WebhookError::Header(name)),
    }
}

fn webhook_problem(error: &WebhookError) -> Problem {
    match error {
        WebhookError::Replay(e) => crate::problem::replay_problem(e),
        WebhookError::Signature => Problem::new(StatusCode::UNAUTHORIZED, error.to_string()),
        WebhookError::Stale { .. } => Problem::typed(
            StatusCode::BAD_REQUEST,
            "stale-timestamp",
            "Stale Timestamp",
            error.to_string(),
        ),
        WebhookError::Header(_) | WebhookError::Timestamp | WebhookError::Id => {
            Problem::bad_request(error.to_string())
        }
        WebhookError::Unavailable(what) => {
            tracing::warn!(error = %what, "replay store unavailable; request refused");
            Problem::unavailable("the replay store is unavailable; nothing was processed")
        }
    }
}

/// `POST /operate`: a signed one-time operation.
async fn operate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Processed>, Problem> {
    let bytes = read_body(&state, &headers, body).await?;
    match &state.operate {
        Operate::Webhooks(guard) => {
            let (verified, fields) = verify_webhook(guard, &headers, &bytes)?;
            if guard.blocks() {
                // A network store (Redis) blocks: admit from a blocking thread.
                let shared = Arc::clone(&state);
                let admitted = tokio::task::spawn_blocking(move || match &shared.operate {
                    Operate::Webhooks(guard) => guard.admit(&verified),
                    Operate::Seed(_) => Err(WebhookError::Unavailable("no replay store".into())),
                })
                .await;
                match admitted {
                    Ok(result) => result.map_err(|e| webhook_problem(&e))?,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => return Err(Problem::internal()),
                }
            } else {
                guard.admit(&verified).map_err(|e| webhook_problem(&e))?;
            }
            Ok(processed(fields))
        }
        Operate::Seed(seed) => operate_seed(seed, &bytes),
    }
    .map(Json)
}

/// The admitted message's answer.
fn processed(fields: SignedFields) -> Processed {
    tracing::debug!(
        webhook_id = %fields.request_id,
        resource_id = %fields.resource_id,
        action = %fields.action,
        "processed"
    );
    Processed {
        processed: true,
        resource_id: fields.resource_id,
        action: fields.action,
    }
}

/// Everything before admission: headers, signature, freshness, body shape, field rules.
fn verify_webhook(
    guard: &WebhookGuard,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Verified, SignedFields), Problem> {
    let signed = (|| {
        Ok(SignedHeaders {
            id: single_header(headers, ID_HEADER)?,
            timestamp: single_header(headers, TIMESTAMP_HEADER)?,
            signature: single_header(headers, SIGNATURE_HEADER)?,
        })
    })()
    .map_err(|e: WebhookError| webhook_problem(&e))?;
    let verified = guard
        .verify(&signed, body)
        .map_err(|e| webhook_problem(&e))?;
    let OperateBody {
        resource_id,
        action,
    } = parse_json(body, r#"{"resource_id": string, "action": string}"#)?;
    let fields = SignedFields {
        request_id: signed.id.to_owned(),
        resource_id,
        action,
        timestamp: verified.timestamp,
    };
    // The core's field rules (non-empty, at most 255 bytes) for what is processed.
    fields
        .encode()
        .map_err(|e| crate::problem::replay_problem(&e))?;
    Ok((verified, fields))
}

fn operate_seed(seed: &SeedOperate, body: &[u8]) -> Result<Processed, Problem> {
    let SeedBody {
        resource_id,
        action,
        timestamp,
        signature,
    } = parse_json(
        body,
        r#"{"resource_id": string, "action": string, "timestamp": string|integer, "signature": hex}"#,
    )?;
    let timestamp = match timestamp {
        SeedTimestamp::Text(text) => text,
        SeedTimestamp::Number(n) => n.to_string(),
    };
    let payload = SeedPayload {
        resource_id,
        action,
        timestamp,
        signature,
    };
    seed.operate(&OperateRequest::Seed(payload.clone()))
        .map_err(|e| operate_problem(&e))?;
    Ok(Processed {
        processed: true,
        resource_id: payload.resource_id,
        action: payload.action,
    })
}

/// The deadline a whole request gets, for documentation and tests.
pub fn request_deadline(settings: &Settings) -> Duration {
    settings.timeout * 2 + settings.hash_wait
}
