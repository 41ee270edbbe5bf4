//! `POST /operate`: an HMAC-signed request runs a one-time operation (seed 002).
//!
//! The races: "was it processed?" and "process it" are separate steps, so one signed
//! request submitted twice runs twice; the seed's fix serialises on a per-resource lock,
//! but creates that lock with a check-then-insert of its own. Independently of any race,
//! the seed signs `f"{resource_id}{action}{timestamp}"`, so a signature for `("ab", "c")`
//! is also one for `("a", "bc")`.

use crate::observe::{Event, Probe};
use crate::replay::{
    Clock, HmacKey, ReplayError, ReplayGuard, ResourceFlags, SignedFields, Tag, processed_event,
    seed_concatenation,
};
use crate::sync::{Arc, Mutex};
use std::collections::{HashMap, HashSet};

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

    /// How the message is named in traces and in `exactly_once`.
    pub fn message(&self) -> String {
        message_name(&self.resource_id, &self.action, &self.timestamp)
    }
}

/// The name of a message: `resource/action@timestamp`.
pub fn message_name(resource_id: &str, action: &str, timestamp: &str) -> String {
    format!("{resource_id}/{action}@{timestamp}")
}

/// Why `/operate` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OperateError {
    /// 401, 409, 400 ... from the checks of a signed request.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// 409 in the seed: the resource was already processed.
    #[error("already processed")]
    AlreadyProcessed,
}

/// One per-resource lock of the seed's `processed_locks`, numbered for the trace.
type ResourceLock = Arc<(usize, Mutex<()>)>;

#[derive(Default)]
struct LockMap {
    locks: HashMap<String, ResourceLock>,
    created: usize,
}

/// Shared state of `/operate`: the seed's sets and lock map, and the proven fixes' replay
/// guard and resource flags.
pub struct Operations<C, P> {
    key: HmacKey,
    /// `processed_set`: resource ids already processed (the seed's notion of "once").
    processed: Mutex<HashSet<String>>,
    /// `processed_locks`: one lock per resource id.
    locks: Mutex<LockMap>,
    /// The proven fix's signature, freshness and replay checks.
    guard: ReplayGuard<C, P>,
    /// The lock-free proven fix's once-per-resource flags.
    flags: ResourceFlags,
}

impl<C: Clock, P: Probe> Operations<C, P> {
    /// The seed variants sign with `key` the seed's way; the proven fixes use `guard`, whose
    /// key should be the same secret, and `flags` for once-per-resource processing.
    pub fn new(key: HmacKey, guard: ReplayGuard<C, P>, flags: ResourceFlags) -> Self {
        Self {
            key,
            processed: Mutex::new(HashSet::new()),
            locks: Mutex::new(LockMap::default()),
            guard,
            flags,
        }
    }

    fn probe(&self) -> &P {
        self.guard.seen().probe()
    }

    /// `process_resource(data)`: the business logic, `pass` in the seed. The probe sees it
    /// run; that is what must happen exactly once.
    fn process(&self, message: impl FnOnce() -> String) {
        self.probe().record(|| processed_event(&message()));
    }

    /// `verify_signature`: HMAC over the plain concatenation, compared in constant time.
    fn seed_verify(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        let message = seed_concatenation(&payload.resource_id, &payload.action, &payload.timestamp);
        let verified =
            Tag::from_hex(&payload.signature).and_then(|tag| self.key.verify(&message, &tag));
        self.probe().record(|| {
            Event::note(format!(
                "verify signature of {}: {}",
                payload.message(),
                if verified.is_ok() { "ok" } else { "bad" }
            ))
        });
        Ok(verified?)
    }

    /// `resource_already_processed(rid)` (the seed leaves it a placeholder; this is the
    /// lookup it stands for).
    fn seed_is_processed(&self, resource_id: &str) -> bool {
        let processed = self.processed.lock().contains(resource_id);
        self.probe()
            .record(|| Event::note(format!("read processed[{resource_id}] = {processed}")));
        processed
    }

    /// `mark_processed(rid)`
    fn seed_mark_processed(&self, resource_id: &str) {
        self.processed.lock().insert(resource_id.to_owned());
        self.probe()
            .record(|| Event::note(format!("write processed[{resource_id}] = true")));
    }

    /// The seed's vulnerable `/operate`: verify, check processed, process.
    pub fn operate_seed_vulnerable(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.seed_verify(payload)?;
        if self.seed_is_processed(&payload.resource_id) {
            return Err(OperateError::AlreadyProcessed);
        }
        // RACE WINDOW: the same request, submitted twice, passes the check twice.
        self.process(|| payload.message());
        self.seed_mark_processed(&payload.resource_id);
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
    fn seed_get_lock(&self, resource_id: &str) -> ResourceLock {
        let present = self.locks.lock().locks.contains_key(resource_id);
        self.probe()
            .record(|| Event::note(format!("read locks[{resource_id}] present = {present}")));
        if !present {
            // RACE WINDOW: another request may install its own lock here.
            let mut map = self.locks.lock();
            map.created += 1;
            let id = map.created;
            map.locks
                .insert(resource_id.to_owned(), Arc::new((id, Mutex::new(()))));
            self.probe()
                .record(|| Event::note(format!("write locks[{resource_id}] = lock #{id}")));
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
    pub fn operate_seed_fix(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.seed_verify(payload)?;
        let rid = &payload.resource_id;
        let lock = self.seed_get_lock(rid);
        let _held = lock.1.lock();
        self.probe()
            .record(|| Event::note(format!("acquire lock #{} for {rid}", lock.0)));
        if self.seed_is_processed(rid) {
            return Err(OperateError::AlreadyProcessed);
        }
        self.process(|| payload.message());
        self.seed_mark_processed(rid);
        Ok(())
    }

    /// Ours: verify the length-prefixed encoding, check freshness, and insert the message's
    /// identity into the replay set if absent, in one critical section; process only then.
    pub fn operate_proven_fix(
        &self,
        fields: &SignedFields,
        signature: &str,
    ) -> Result<(), OperateError> {
        let admitted = self.guard.admit(fields, signature);
        self.settle(fields, admitted.map(|_| ()))
    }

    /// Ours, lock-free: verify and check freshness, then claim the resource's flag with a
    /// compare-and-swap. Once per *resource*, as the seed intends, for registered resources.
    pub fn operate_proven_fix_cas(
        &self,
        fields: &SignedFields,
        signature: &str,
    ) -> Result<(), OperateError> {
        let claimed = self
            .guard
            .verify_fresh(fields, signature)
            .and_then(|_| self.flags.claim(&fields.resource_id));
        self.settle(fields, claimed)
    }

    /// Processes an admitted request, or narrates why it was refused.
    fn settle(
        &self,
        fields: &SignedFields,
        admitted: Result<(), ReplayError>,
    ) -> Result<(), OperateError> {
        let name = || {
            message_name(
                &fields.resource_id,
                &fields.action,
                &fields.timestamp.to_string(),
            )
        };
        match admitted {
            Ok(()) => {
                self.process(name);
                Ok(())
            }
            Err(e) => {
                self.probe()
                    .record(|| Event::note(format!("refuse {}: {e}", name())));
                Err(e.into())
            }
        }
    }
}
