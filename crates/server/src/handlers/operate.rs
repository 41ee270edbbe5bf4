//! `POST /operate`: a signed one-time operation. `proven_fix` verifies the Standard
//! Webhooks signature ([`crate::webhook`]) and admits the message with
//! [`raceproof_core::service::Operations::admit`]; the seeds run their own racy check.

use crate::extract::{BodyShape, JsonWithHeaders, parse_json};
use crate::problem::{Problem, operate_problem, replay_problem};
use crate::state::{AppState, Operate, blocking};
use crate::webhook::{
    ID_HEADER, SIGNATURE_HEADER, SignedHeaders, TIMESTAMP_HEADER, WebhookError, WebhookKey,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use raceproof_core::backend::BackendError;
use raceproof_core::replay::{ReplayError, SignedFields, Verified};
use raceproof_flows::{OperateFlow, OperateRequest, SeedOperate, SeedPayload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperateBody {
    resource_id: String,
    action: String,
}

impl BodyShape for OperateBody {
    const SHAPE: &'static str = r#"{"resource_id": string, "action": string}"#;
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

impl BodyShape for SeedBody {
    const SHAPE: &'static str = r#"{"resource_id": string, "action": string, "timestamp": string|integer, "signature": hex}"#;
}

#[derive(Serialize)]
pub struct Processed {
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
        WebhookError::Signature => Problem::new(StatusCode::UNAUTHORIZED, error.to_string()),
        WebhookError::Header(_) | WebhookError::Timestamp | WebhookError::Id => {
            Problem::bad_request(error.to_string())
        }
    }
}

/// The admission's refusal: a stale timestamp (400, naming the header), a replay (409), a
/// full set or a store that did not answer (503).
fn admission_problem(error: &BackendError) -> Problem {
    match error {
        BackendError::Replay(ReplayError::OutsideWindow {
            off_by,
            direction,
            tolerance,
        }) => Problem::typed(
            StatusCode::BAD_REQUEST,
            "stale-timestamp",
            "Stale Timestamp",
            format!(
                "webhook-timestamp is {off_by} s {direction} the server's clock (tolerance \
                 {tolerance} s)"
            ),
        ),
        BackendError::Replay(e) => replay_problem(e),
        BackendError::Unavailable(what) => {
            tracing::warn!(error = %what, "replay store unavailable; request refused");
            Problem::unavailable("the replay store is unavailable; nothing was processed")
        }
        BackendError::Store(_) => {
            tracing::warn!("replay store: unexpected answer; request refused");
            Problem::unavailable("the replay store is unavailable; nothing was processed")
        }
    }
}

/// `POST /operate`: a signed one-time operation.
pub async fn operate(
    State(state): State<Arc<AppState>>,
    JsonWithHeaders { headers, body }: JsonWithHeaders,
) -> Result<Json<Processed>, Problem> {
    match state.operate() {
        Operate::Admit {
            webhooks,
            blocking: blocks,
            ..
        } => {
            let (message, fields) = verify_webhook(webhooks, &headers, &body)?;
            let admit = move |state: &AppState| match state.operate() {
                Operate::Admit { service, .. } => service.admit(&message, || processed(fields)),
                Operate::Seed(_) => Err(BackendError::unavailable("no replay store")),
            };
            let admitted = if *blocks {
                // A network store (Redis) blocks: admit from a blocking thread.
                let shared = Arc::clone(&state);
                blocking(move || admit(&shared)).await?
            } else {
                admit(&state)
            };
            admitted.map_err(|e| admission_problem(&e))
        }
        Operate::Seed(seed) => operate_seed(seed, &body),
    }
    .map(Json)
}

/// The admitted message's effect, and its answer.
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

/// Everything before admission: headers, signature, body shape, field rules.
fn verify_webhook(
    webhooks: &WebhookKey,
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
    let message = webhooks
        .verify(&signed, body)
        .map_err(|e| webhook_problem(&e))?;
    let OperateBody {
        resource_id,
        action,
    } = parse_json(body)?;
    let fields = SignedFields {
        request_id: signed.id.to_owned(),
        resource_id,
        action,
        timestamp: message.timestamp,
    };
    // The core's field rules (non-empty, at most 255 bytes) for what is processed.
    fields.check().map_err(|e| replay_problem(&e))?;
    Ok((message, fields))
}

fn operate_seed(seed: &SeedOperate, body: &[u8]) -> Result<Processed, Problem> {
    let SeedBody {
        resource_id,
        action,
        timestamp,
        signature,
    } = parse_json(body)?;
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
