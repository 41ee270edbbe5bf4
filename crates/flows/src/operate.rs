//! `POST /operate`: an HMAC-signed request runs a one-time operation (seed 002).
//!
//! The races: "was it processed?" and "process it" are separate steps, so one signed
//! request submitted twice runs twice; the seed's fix serialises on a per-resource lock,
//! but creates that lock with a check-then-insert of its own. Independently of any race,
//! the seed signs `f"{resource_id}{action}{timestamp}"`, so a signature for `("ab", "c")`
//! is also one for `("a", "bc")`.
//!
//! The seed's routes are `async def`: their ports are async ([`crate::SeedOperate`], in
//! `seed_operate.rs`). Ours are the service's synchronous admission ([`ProvenOperate`]),
//! which a handler calls without an await (in memory) or from a blocking task (a shared
//! store).

use crate::Narrator;
use raceproof_core::backend::{BackendError, ReplayStore};
use raceproof_core::replay::{Clock, HmacKey, ReplayError, ResourceFlags, SignedFields, Tag};
use raceproof_core::service::Operations;

/// The seed's signed message: plain concatenation, so `("ab", "c")` and `("a", "bc")` sign
/// the same bytes. Kept to show why it is unsafe.
pub fn seed_concatenation(resource_id: &str, action: &str, timestamp: &str) -> Vec<u8> {
    format!("{resource_id}{action}{timestamp}").into_bytes()
}

/// The name of a message in traces and in `exactly_once`: `resource/action@timestamp`.
pub fn message_name(resource_id: &str, action: &str, timestamp: &str) -> String {
    format!("{resource_id}/{action}@{timestamp}")
}

/// The seed's `Payload`: the signed fields as strings, and the hex signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPayload {
    pub resource_id: String,
    pub action: String,
    pub timestamp: String,
    pub signature: String,
}

impl SeedPayload {
    /// A payload signed the seed's way (plain concatenation).
    pub fn sign(key: &HmacKey, resource_id: &str, action: &str, timestamp: &str) -> Self {
        Self {
            resource_id: resource_id.to_owned(),
            action: action.to_owned(),
            timestamp: timestamp.to_owned(),
            signature: key
                .tag(&seed_concatenation(resource_id, action, timestamp))
                .to_hex(),
        }
    }

    pub fn message(&self) -> String {
        message_name(&self.resource_id, &self.action, &self.timestamp)
    }
}

/// A signed `/operate` request, in one of the two signing schemes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperateRequest {
    /// The seed's JSON body with its concatenation signature (seed variants).
    Seed(SeedPayload),
    /// Length-prefixed signed fields and their signature (proven variants).
    Signed {
        fields: SignedFields,
        signature: String,
    },
}

/// Why `/operate` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperateError {
    /// 401, 409, 400 ... from the checks of a signed request.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// 503: the replay store did not answer; nothing was admitted.
    #[error("{0}")]
    Unavailable(String),
    /// 409 in the seed: the resource was already processed.
    #[error("already processed")]
    AlreadyProcessed,
    /// 400: this variant does not accept this signing scheme.
    #[error("this endpoint expects the other signing scheme")]
    WrongScheme,
}

/// `/operate`, whatever the variant.
pub trait OperateFlow: Send + Sync {
    fn operate(&self, request: &OperateRequest) -> Result<(), OperateError>;
}

/// The name of a signed request's message.
fn signed_name(fields: &SignedFields) -> String {
    message_name(
        &fields.resource_id,
        &fields.action,
        &fields.timestamp.to_string(),
    )
}

impl From<BackendError> for OperateError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Replay(e) => OperateError::Replay(e),
            BackendError::Unavailable(what) => OperateError::Unavailable(what),
            // A replay store has no accounts: anything else is not an answer.
            BackendError::Store(_) => {
                OperateError::Unavailable("replay store: unexpected answer".to_owned())
            }
        }
    }
}

/// Ours: the field encoding's verification ([`HmacKey::verify_request`]), then the
/// service's admission ([`Operations::admit`]) into the replay store `S`; the effect is
/// the processing a model counts.
pub struct ProvenOperate<S, C> {
    key: HmacKey,
    operations: Operations<S, C>,
    log: Narrator,
}

impl<S: ReplayStore, C: Clock> ProvenOperate<S, C> {
    pub fn new(key: HmacKey, operations: Operations<S, C>, log: Narrator) -> Self {
        Self {
            key,
            operations,
            log,
        }
    }

    pub fn operations(&self) -> &Operations<S, C> {
        &self.operations
    }
}

/// Verifies a signed request and admits it through `operations`, narrating the effect
/// (or the refusal) into `log`.
fn verify_and_admit<S: ReplayStore, C: Clock>(
    key: &HmacKey,
    operations: &Operations<S, C>,
    fields: &SignedFields,
    signature: &str,
    log: &Narrator,
) -> Result<(), OperateError> {
    let admitted = operations.admit_request(key, fields, signature, || {
        log.effect("processed", || signed_name(fields));
    });
    if let Err(e) = &admitted {
        log.note(|| format!("refuse {}: {e}", signed_name(fields)));
    }
    Ok(admitted?)
}

impl<S: ReplayStore, C: Clock> OperateFlow for ProvenOperate<S, C> {
    fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        let OperateRequest::Signed { fields, signature } = request else {
            return Err(OperateError::WrongScheme);
        };
        verify_and_admit(&self.key, &self.operations, fields, signature, &self.log)
    }
}

/// Ours, lock-free: the same verification and admission, with the replay store replaced by
/// one compare-and-swap flag per registered resource ([`ResourceFlags::claim`]): once per
/// *resource*, as the seed intends, for resources known in advance.
pub struct ProvenOperateCas<C> {
    key: HmacKey,
    flags: ResourceFlags,
    clock: C,
    log: Narrator,
}

impl<C: Clock> ProvenOperateCas<C> {
    pub fn new(key: HmacKey, flags: ResourceFlags, clock: C, log: Narrator) -> Self {
        Self {
            key,
            flags,
            clock,
            log,
        }
    }
}

/// One request's claim on its resource's flag, as a replay store: the flag is the
/// identity, and it is never forgotten (so the expiry does not matter).
struct ClaimResource<'a> {
    flags: &'a ResourceFlags,
    resource_id: &'a str,
}

impl ReplayStore for ClaimResource<'_> {
    fn insert_if_absent(&self, _: &Tag, _: i64, _: i64) -> Result<(), BackendError> {
        Ok(self.flags.claim(self.resource_id)?)
    }
}

impl<C: Clock> OperateFlow for ProvenOperateCas<C> {
    fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        let OperateRequest::Signed { fields, signature } = request else {
            return Err(OperateError::WrongScheme);
        };
        let claim = ClaimResource {
            flags: &self.flags,
            resource_id: &fields.resource_id,
        };
        let operations = Operations::with_clock(claim, &self.clock);
        verify_and_admit(&self.key, &operations, fields, signature, &self.log)
    }
}
