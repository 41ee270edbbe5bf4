//! The Basic-auth endpoints: `/promote`, `/demote`, `/password`, `/update-email`,
//! `/users/{id}`, `/audit` and `/login-limits/{user}`, each one call to
//! [`raceproof_core::service::Accounts`] under the login throttle
//! ([`AppState::login`]).

use crate::extract::{AuditParams, BasicAuth, BodyShape, Client, IfMatch, JsonBody, Precondition};
use crate::problem::{PreconditionSource, Problem, store_problem};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};
use raceproof_core::audit::{Action, Commit, Dropped};
use raceproof_core::store::{Role, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    target: String,
}

impl BodyShape for TargetBody {
    const SHAPE: &'static str = r#"{"target": string}"#;
}

#[derive(Serialize)]
pub struct RoleChanged {
    target: String,
    role: &'static str,
}

/// `POST /promote` and `POST /demote`: an admin sets `target`'s role.
async fn set_role(
    state: Arc<AppState>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    target: String,
    role: Role,
) -> Result<Json<RoleChanged>, Problem> {
    let name = target.clone();
    state
        .login(
            credentials,
            client,
            PreconditionSource::Body,
            move |accounts, c| match role {
                Role::Admin => accounts.promote(c, &name),
                Role::User => accounts.demote(c, &name),
            },
        )
        .await?;
    Ok(Json(RoleChanged {
        target,
        role: match role {
            Role::Admin => "admin",
            Role::User => "user",
        },
    }))
}

pub async fn promote(
    State(state): State<Arc<AppState>>,
    credentials: BasicAuth,
    client: Client,
    JsonBody(TargetBody { target }): JsonBody<TargetBody>,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, credentials, client, target, Role::Admin).await
}

pub async fn demote(
    State(state): State<Arc<AppState>>,
    credentials: BasicAuth,
    client: Client,
    JsonBody(TargetBody { target }): JsonBody<TargetBody>,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, credentials, client, target, Role::User).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    new_password: String,
}

impl BodyShape for PasswordBody {
    const SHAPE: &'static str = r#"{"new_password": string}"#;
}

#[derive(Serialize)]
pub struct PasswordChanged {
    user: String,
    password_changed: bool,
}

/// `POST /password`: the caller replaces their own password.
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    JsonBody(PasswordBody { new_password }): JsonBody<PasswordBody>,
) -> Result<Json<PasswordChanged>, Problem> {
    // A password that Basic credentials could not carry would lock the user out.
    if new_password.is_empty() || new_password.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "new_password must be non-empty, without control characters",
        ));
    }
    let user = credentials.user_id().to_owned();
    let own = user.clone();
    state
        .login(
            credentials,
            client,
            PreconditionSource::Body,
            move |accounts, c| accounts.change_password(c, &own, &new_password),
        )
        .await?;
    Ok(Json(PasswordChanged {
        user,
        password_changed: true,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
    #[serde(default)]
    expected_version: Option<u64>,
}

impl BodyShape for EmailBody {
    const SHAPE: &'static str = r#"{"email": string, "expected_version"?: integer}"#;
}

#[derive(Serialize)]
pub struct EmailChanged {
    email: String,
    version: u64,
}

fn etag(version: u64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `POST /update-email`: compare-and-set of the caller's email.
pub async fn update_email(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    Precondition(if_match): Precondition,
    JsonBody(EmailBody {
        email,
        expected_version,
    }): JsonBody<EmailBody>,
) -> Result<Response, Problem> {
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
        (None, None) if state.settings().require_if_match => {
            return Err(store_problem(
                &StoreError::PreconditionRequired,
                PreconditionSource::IfMatch,
            ));
        }
        (None, None) => (None, PreconditionSource::IfMatch),
    };
    let new_email = email.clone();
    let version = state
        .login(credentials, client, source, move |accounts, c| {
            accounts.update_email(c, expected, &new_email)
        })
        .await?;
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

/// `GET /users/{id}`: the record and its version as a strong ETag (never the hash), for
/// the user themself or an admin (403 for anyone else, whether the user exists or not).
pub async fn user(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let wanted = id.clone();
    let record = state
        .login(
            credentials,
            client,
            PreconditionSource::Body,
            move |accounts, c| accounts.user_as(c, &wanted),
        )
        .await?
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

/// One entry of `GET /audit`: a [`Commit`] on the wire.
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

/// `GET /audit`'s body (the core's `AuditLog` is the log itself; this is a copy of one
/// page of it on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditResponse {
    pub entries: Vec<AuditEntry>,
    /// More entries follow: ask with `?after=<next_after>`; `null` when this page is the
    /// last (or the newest entries were asked for).
    pub next_after: Option<u64>,
    /// The highest sequence number committed so far.
    pub last_seq: u64,
    /// What the log has dropped, and why.
    pub dropped: DroppedEntries,
}

/// Entries the in-memory log no longer holds (PostgreSQL keeps all: zeros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedEntries {
    /// A user's own email updates, dropped oldest first per writer to keep the budget.
    pub ordinary: u64,
    /// Role changes, password changes and admins' writes, dropped only when that budget
    /// was full: the writer's own oldest first.
    pub protected: u64,
    /// The retention rule, when anything was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl From<Dropped> for DroppedEntries {
    fn from(dropped: Dropped) -> Self {
        let any = dropped.ordinary + dropped.protected > 0;
        Self {
            ordinary: dropped.ordinary,
            protected: dropped.protected,
            why: any.then(|| {
                "the in-memory log keeps a bounded number of entries per class; a full class \
                 drops the writer's own oldest entry, so one user's traffic never drops \
                 another's protected entries"
                    .to_owned()
            }),
        }
    }
}

/// `GET /audit?after=SEQ&limit=N` (admins; the rule is the service's): one page of the
/// committed writes, in commit order; without `after`, the newest.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    AuditParams(query): AuditParams,
) -> Result<Json<AuditResponse>, Problem> {
    let page = state
        .login(
            credentials,
            client,
            PreconditionSource::Body,
            move |accounts, c| accounts.audit_page(c, query),
        )
        .await?;
    Ok(Json(AuditResponse {
        next_after: page
            .more
            .then(|| page.entries.last().map(|c| c.seq))
            .flatten(),
        last_seq: page.last_seq,
        dropped: page.dropped.into(),
        entries: page.entries.iter().map(AuditEntry::from).collect(),
    }))
}

/// `GET /login-limits/{user}`'s body: the throttle's counters for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLimits {
    pub user: String,
    /// Failures from clients not known for this user, in the current window.
    pub failures: u32,
    pub limit: u32,
    pub resets_in_secs: u64,
    /// Whether any counter holds more failures than it admits (never, for a limiter that
    /// keeps its bound: the race tester's scenario asserts it).
    pub over_limit: bool,
    pub clients: Vec<ClientCounter>,
}

/// One (user, client) counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCounter {
    pub client: String,
    pub failures: u32,
    pub limit: u32,
    pub known: bool,
    pub resets_in_secs: u64,
}

/// Authenticates an admin (401, 403) under the login throttle.
async fn as_admin(
    state: &Arc<AppState>,
    credentials: raceproof_core::auth::Credentials,
    client: raceproof_core::throttle::ClientId,
) -> Result<(), Problem> {
    state
        .login(
            credentials,
            client,
            PreconditionSource::Body,
            |accounts, c| accounts.admin(c),
        )
        .await
        .map(|_| ())
}

/// `GET /login-limits/{user}` (admins): who is failing to log in as `user`.
pub async fn login_limits(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    Path(user): Path<String>,
) -> Result<Json<LoginLimits>, Problem> {
    as_admin(&state, credentials, client).await?;
    let limits = state.logins().limits(&user);
    Ok(Json(LoginLimits {
        over_limit: limits.over_limit(),
        user: limits.user,
        failures: limits.failures,
        limit: limits.limit,
        resets_in_secs: limits.resets_in_secs,
        clients: limits
            .clients
            .into_iter()
            .map(|c| ClientCounter {
                client: c.client.to_string(),
                failures: c.failures,
                limit: c.limit,
                known: c.known,
                resets_in_secs: c.resets_in_secs,
            })
            .collect(),
    }))
}

#[derive(Serialize)]
pub struct LimitsCleared {
    user: String,
    cleared: bool,
}

/// `DELETE /login-limits/{user}` (admins): forgets `user`'s failures (an operator
/// unlocking an account).
pub async fn clear_login_limits(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
    Client(client): Client,
    Path(user): Path<String>,
) -> Result<Json<LimitsCleared>, Problem> {
    as_admin(&state, credentials, client).await?;
    state.logins().clear(&user);
    tracing::info!("login limits cleared by an admin");
    Ok(Json(LimitsCleared {
        user,
        cleared: true,
    }))
}
