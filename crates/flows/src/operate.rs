//! `POST /operate`: an HMAC-signed request runs a one-time operation (seed 002).
//!
//! The races: "was it processed?" and "process it" are separate steps, so one signed
//! request submitted twice runs twice; the seed's fix serialises on a per-resource lock,
//! but creates that lock with a check-then-insert of its own. Independently of any race,
//! the seed signs `f"{resource_id}{action}{timestamp}"`, so a signature for `("ab", "c")`
//! is also one for `("a", "bc")`.

use crate::Narrator;
use raceproof_core::backend::{BackendError, ReplayStore};
use raceproof_core::replay::{Clock, HmacKey, ReplayError, ResourceFlags, SignedFields, Tag};
use raceproof_core::service::Operations;
use raceproof_core::sync::{Arc, Mutex};
use std::collections::{HashMap, HashSet};

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

/// One per-resource lock of the seed's `processed_locks`, numbered for the trace.
type ResourceLock = Arc<(usize, Mutex<()>)>;

#[derive(Default)]
struct LockMap {
    locks: HashMap<String, ResourceLock>,
    created: usize,
}

/// The seed variants: `processed_set`, `processed_locks`, and the seed's key.
pub struct SeedOperate {
    fixed: bool,
    key: HmacKey,
    /// `processed_set`: resource ids already processed (the seed's notion of "once").
    processed: Mutex<HashSet<String>>,
    /// `processed_locks`: one lock per resource id.
    locks: Mutex<LockMap>,
    log: Narrator,
}

impl SeedOperate {
    /// `fixed`: the seed's hardened endpoint (`seed_fix`) rather than the vulnerable one.
    pub fn new(fixed: bool, key: HmacKey, log: Narrator) -> Self {
        Self {
            fixed,
            key,
            processed: Mutex::new(HashSet::new()),
            locks: Mutex::new(LockMap::default()),
            log,
        }
    }

    /// `process_resource(data)`: the business logic, `pass` in the seed. It is what must
    /// happen exactly once, so it is recorded as an effect.
    fn process(&self, payload: &SeedPayload) {
        self.log.effect("processed", || payload.message());
    }

    /// `verify_signature`: HMAC over the plain concatenation, compared in constant time.
    fn verify(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        let message = seed_concatenation(&payload.resource_id, &payload.action, &payload.timestamp);
        let verified =
            Tag::from_hex(&payload.signature).and_then(|tag| self.key.verify(&message, &tag));
        self.log.note(|| {
            let outcome = if verified.is_ok() { "ok" } else { "bad" };
            format!("verify signature of {}: {outcome}", payload.message())
        });
        Ok(verified?)
    }

    /// `resource_already_processed(rid)` (the seed leaves it a placeholder; this is the
    /// lookup it stands for).
    fn is_processed(&self, resource_id: &str) -> bool {
        let processed = self.processed.lock().contains(resource_id);
        self.log
            .note(|| format!("read processed[{resource_id}] = {processed}"));
        processed
    }

    /// `mark_processed(rid)`
    fn mark_processed(&self, resource_id: &str) {
        self.processed.lock().insert(resource_id.to_owned());
        self.log
            .note(|| format!("write processed[{resource_id}] = true"));
    }

    /// The seed's vulnerable `/operate`: verify, check processed, process.
    fn operate_seed_vulnerable(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.verify(payload)?;
        if self.is_processed(&payload.resource_id) {
            return Err(OperateError::AlreadyProcessed);
        }
        // RACE WINDOW: the same request, submitted twice, passes the check twice.
        self.process(payload);
        self.mark_processed(&payload.resource_id);
        Ok(())
    }

    /// The seed's `get_lock`, statement by statement:
    ///
    /// ```python
    /// if resource_id not in processed_locks:
    ///     processed_locks[resource_id] = asyncio.Lock()
    /// return processed_locks[resource_id]
    /// ```
    ///
    /// On one asyncio event loop nothing runs between the lines; on threads (or several
    /// workers) two requests can each install and take a lock of their own.
    fn get_lock(&self, resource_id: &str) -> ResourceLock {
        let present = self.locks.lock().locks.contains_key(resource_id);
        self.log
            .note(|| format!("read locks[{resource_id}] present = {present}"));
        if !present {
            // RACE WINDOW: another request may install its own lock here.
            let mut map = self.locks.lock();
            map.created += 1;
            let id = map.created;
            map.locks
                .insert(resource_id.to_owned(), Arc::new((id, Mutex::new(()))));
            self.log
                .note(|| format!("write locks[{resource_id}] = lock #{id}"));
        }
        // RACE WINDOW
        let map = self.locks.lock();
        // Present: inserted above or seen present, and entries are never removed.
        let lock = map.locks.get(resource_id).cloned();
        drop(map);
        lock.unwrap_or_else(|| Arc::new((0, Mutex::new(()))))
    }

    /// The seed's hardened `/operate`: constant-time verify, then check-process-mark under
    /// the per-resource lock from `get_lock`.
    fn operate_seed_fix(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.verify(payload)?;
        let rid = &payload.resource_id;
        let lock = self.get_lock(rid);
        let _held = lock.1.lock();
        self.log
            .note(|| format!("acquire lock #{} for {rid}", lock.0));
        if self.is_processed(rid) {
            return Err(OperateError::AlreadyProcessed);
        }
        self.process(payload);
        self.mark_processed(rid);
        Ok(())
    }
}

impl OperateFlow for SeedOperate {
    fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        let OperateRequest::Seed(payload) = request else {
            return Err(OperateError::WrongScheme);
        };
        if self.fixed {
            self.operate_seed_fix(payload)
        } else {
            self.operate_seed_vulnerable(payload)
        }
    }
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
