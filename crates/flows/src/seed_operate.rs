//! Seed 002's `/operate`, statement by statement, as FastAPI runs it: both routes are
//! `async def`, so they are **async flows**. On one event loop (one uvicorn worker) a
//! request switches only where it awaits; on a multi-thread runtime or across workers it
//! does not hold the loop to itself.
//!
//! The seed's storage calls are placeholders (`resource_already_processed`: "Placeholder
//! for actual storage check"; `is_already_processed` / `mark_processed`: "Replace with a
//! persistent, TTL-backed store"). Here they read and write the seed's own in-process
//! `processed_set`, and they are called the way the seed calls them:
//!
//! - the vulnerable route calls `resource_already_processed` and `process_resource` as plain
//!   functions, with no await: on one event loop its check and its write cannot be separated
//!   ([`SeedRoute::Vulnerable`]; a storage delay there blocks the worker, as a synchronous
//!   database call in an `async def` does);
//! - the same route once the check awaits its storage, as a real async handler would
//!   ([`SeedRoute::VulnerableAwaitingStorage`]): an await between check and write;
//! - the hardened route awaits `get_lock`, `is_already_processed` and `mark_processed`
//!   ([`SeedRoute::Hardened`]); each await is an I/O point
//!   ([`raceproof_core::sync::tokio::io`]) and the asyncio lock is the facade's async mutex.
//!
//! An I/O point can carry a simulated latency ([`SeedOperate::with_io_latency`]), so that
//! the race window is reachable from outside (the server's `--io-latency-ms`); models run
//! without one.

use crate::Narrator;
use crate::operate::{OperateError, OperateRequest, SeedPayload, seed_concatenation};
use raceproof_core::replay::{HmacKey, Tag};
use raceproof_core::sync::tokio::sync::Mutex as AsyncLock;
use raceproof_core::sync::tokio::{io, time};
use raceproof_core::sync::{Arc, Mutex};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Which of the seed's `/operate` routes, ported as FastAPI runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeedRoute {
    /// The vulnerable route: verify, `resource_already_processed`, `process_resource`, with
    /// the storage calls plain functions (no await between check and write).
    Vulnerable,
    /// The vulnerable route with its storage check and write awaited.
    VulnerableAwaitingStorage,
    /// The hardened route: per-resource `asyncio.Lock` from `get_lock`, then the awaited
    /// check, `process_resource`, the awaited mark.
    Hardened,
}

/// One per-resource lock of the seed's `processed_locks`, numbered for the trace.
type ResourceLock = Arc<(usize, AsyncLock<()>)>;

#[derive(Default)]
struct LockMap {
    locks: HashMap<String, ResourceLock>,
    created: usize,
}

/// The seed's `/operate`: `processed_set`, `processed_locks`, and the seed's key.
pub struct SeedOperate {
    route: SeedRoute,
    key: HmacKey,
    /// `processed_set`: resource ids already processed (the seed's notion of "once").
    processed: Mutex<HashSet<String>>,
    /// `processed_locks`: one lock per resource id.
    locks: Mutex<LockMap>,
    /// How long each storage call takes to answer (none in models).
    io_latency: Duration,
    log: Narrator,
}

impl SeedOperate {
    pub fn new(route: SeedRoute, key: HmacKey, log: Narrator) -> Self {
        Self {
            route,
            key,
            processed: Mutex::new(HashSet::new()),
            locks: Mutex::new(LockMap::default()),
            io_latency: Duration::ZERO,
            log,
        }
    }

    /// Each storage call answers `latency` after it takes effect: a wait at an await (the
    /// awaited routes), or a blocked worker (the vulnerable route's plain calls).
    pub fn with_io_latency(mut self, latency: Duration) -> Self {
        self.io_latency = latency;
        self
    }

    pub fn route(&self) -> SeedRoute {
        self.route
    }

    /// Handles a seed-format request.
    pub async fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        let OperateRequest::Seed(payload) = request else {
            return Err(OperateError::WrongScheme);
        };
        match self.route {
            SeedRoute::Vulnerable => self.operate_vulnerable(payload),
            SeedRoute::VulnerableAwaitingStorage => self.operate_awaiting_storage(payload).await,
            SeedRoute::Hardened => self.operate_hardened(payload).await,
        }
    }

    /// An awaited storage call named `what`: gives way, takes effect, answers after the
    /// latency.
    async fn awaited<R>(&self, what: &str, call: impl FnOnce() -> R) -> R {
        io(what, async {
            let answer = call();
            if !self.io_latency.is_zero() {
                time::sleep(self.io_latency).await;
            }
            answer
        })
        .await
    }

    /// A storage call made without an await: the worker is blocked for the latency.
    fn blocking<R>(&self, call: impl FnOnce() -> R) -> R {
        let answer = call();
        if !self.io_latency.is_zero() {
            // Simulated latency of a synchronous call (servers only; models have none).
            std::thread::sleep(self.io_latency);
        }
        answer
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

    /// `rid in processed_set`: `resource_already_processed` (the lookup its placeholder
    /// stands for) and `is_already_processed`.
    fn is_processed(&self, resource_id: &str) -> bool {
        let processed = self.processed.lock().contains(resource_id);
        self.log
            .note(|| format!("read processed[{resource_id}] = {processed}"));
        processed
    }

    /// `processed_set.add(rid)`: `mark_processed`.
    fn mark_processed(&self, resource_id: &str) {
        self.processed.lock().insert(resource_id.to_owned());
        self.log
            .note(|| format!("write processed[{resource_id}] = true"));
    }

    /// The vulnerable route: no await anywhere.
    fn operate_vulnerable(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.verify(payload)?;
        let rid = &payload.resource_id;
        if self.blocking(|| self.is_processed(rid)) {
            return Err(OperateError::AlreadyProcessed);
        }
        // RACE WINDOW on a thread pool or across workers; none on one event loop.
        self.process(payload);
        self.blocking(|| self.mark_processed(rid));
        Ok(())
    }

    /// The vulnerable route with its storage awaited.
    async fn operate_awaiting_storage(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.verify(payload)?;
        // RACE WINDOW: even on one event loop, the other request runs at the check's await.
        self.check_process_mark("resource_already_processed", payload)
            .await
    }

    /// `if await <check>(rid): raise 409`, `process_resource(...)`, `await mark_processed(rid)`.
    async fn check_process_mark(
        &self,
        check: &str,
        payload: &SeedPayload,
    ) -> Result<(), OperateError> {
        let rid = &payload.resource_id;
        if self.awaited(check, || self.is_processed(rid)).await {
            return Err(OperateError::AlreadyProcessed);
        }
        self.process(payload);
        self.awaited("mark_processed", || self.mark_processed(rid))
            .await;
        Ok(())
    }

    /// The body of the seed's `get_lock`, statement by statement:
    ///
    /// ```python
    /// if resource_id not in processed_locks:
    ///     processed_locks[resource_id] = asyncio.Lock()
    /// return processed_locks[resource_id]
    /// ```
    ///
    /// No await inside: on one event loop nothing runs between the lines; on threads (or
    /// several workers) two requests can each install and take a lock of their own.
    fn get_lock(&self, resource_id: &str) -> ResourceLock {
        let present = self.locks.lock().locks.contains_key(resource_id);
        self.log
            .note(|| format!("read locks[{resource_id}] present = {present}"));
        if !present {
            // RACE WINDOW on threads: another request may install its own lock here.
            let mut map = self.locks.lock();
            map.created += 1;
            let id = map.created;
            map.locks
                .insert(resource_id.to_owned(), Arc::new((id, AsyncLock::new(()))));
            self.log
                .note(|| format!("write locks[{resource_id}] = lock #{id}"));
        }
        let map = self.locks.lock();
        // Present: inserted above or seen present, and entries are never removed.
        let lock = map.locks.get(resource_id).cloned();
        drop(map);
        lock.unwrap_or_else(|| Arc::new((0, AsyncLock::new(()))))
    }

    /// The hardened route.
    async fn operate_hardened(&self, payload: &SeedPayload) -> Result<(), OperateError> {
        self.verify(payload)?;
        let rid = &payload.resource_id;
        let lock = self.awaited("get_lock", || self.get_lock(rid)).await;
        let _held = lock.1.lock().await;
        self.log
            .note(|| format!("acquire lock #{} for {rid}", lock.0));
        self.check_process_mark("is_already_processed", payload)
            .await
    }
}
