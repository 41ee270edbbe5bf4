//! The Basic-auth endpoints: `/promote`, `/demote`, `/password`, `/update-email`,
//! `/users/{id}` and `/audit`, each one call to [`raceproof_core::service::Accounts`].

use crate::extract::{BasicAuth, BodyShape, IfMatch, JsonBody, Precondition};
use crate::problem::{PreconditionSource, Problem, backend_problem, store_problem};
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};
use raceproof_core::audit::{Action, Commit};
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
    target: String,
    role: Role,
) -> Result<Json<RoleChanged>, Problem> {
    let service = Arc::clone(&state);
    let name = target.clone();
    state
        .off_runtime(move || {
            let accounts = service.accounts();
            match role {
                Role::Admin => accounts.promote(&credentials, &name),
                Role::User => accounts.demote(&credentials, &name),
            }
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

pub async fn promote(
    State(state): State<Arc<AppState>>,
    credentials: BasicAuth,
    JsonBody(TargetBody { target }): JsonBody<TargetBody>,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, credentials, target, Role::Admin).await
}

pub async fn demote(
    State(state): State<Arc<AppState>>,
    credentials: BasicAuth,
    JsonBody(TargetBody { target }): JsonBody<TargetBody>,
) -> Result<Json<RoleChanged>, Problem> {
    set_role(state, credentials, target, Role::User).await
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
    JsonBody(PasswordBody { new_password }): JsonBody<PasswordBody>,
) -> Result<Json<PasswordChanged>, Problem> {
    // A password that Basic credentials could not carry would lock the user out.
    if new_password.is_empty() || new_password.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "new_password must be non-empty, without control characters",
        ));
    }
    let service = Arc::clone(&state);
    let user = credentials.user_id().to_owned();
    let own = user.clone();
    state
        .off_runtime(move || {
            service
                .accounts()
                .change_password(&credentials, &own, &new_password)
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
    let service = Arc::clone(&state);
    let new_email = email.clone();
    let version = state
        .off_runtime(move || {
            service
                .accounts()
                .update_email(&credentials, expected, &new_email)
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
pub async fn user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let found = if state.users_block() {
        let service = Arc::clone(&state);
        let id = id.clone();
        blocking(move || service.accounts().user(&id)).await?
    } else {
        state.accounts().user(&id)
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

/// `GET /audit`'s body (the core's `AuditLog` is the log itself; this is a copy of its
/// entries on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditResponse {
    pub entries: Vec<AuditEntry>,
}

/// `GET /audit` (admins; the rule is the service's): the committed writes in commit order.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    BasicAuth(credentials): BasicAuth,
) -> Result<Json<AuditResponse>, Problem> {
    let service = Arc::clone(&state);
    let entries = state
        .off_runtime(move || service.accounts().audit(&credentials))
        .await?
        .map_err(|e| backend_problem(&e, PreconditionSource::Body))?;
    Ok(Json(AuditResponse {
        entries: entries.iter().map(AuditEntry::from).collect(),
    }))
}
