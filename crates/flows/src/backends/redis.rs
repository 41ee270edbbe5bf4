//! Redis, one command at a time, and `/operate` served by several processes sharing it.

use crate::Narrator;
use raceproof_core::backend::{BackendError, ReplayStore, forget_at_millis};
use raceproof_core::replay::{Clock, HmacKey, ReplayError, SignedFields, Tag};
use raceproof_core::service::Operations;
use raceproof_core::sync::{Arc, Mutex};
use std::collections::HashMap;

/// A Redis server: one command at a time. Keys map to their `PXAT` (no time passes in the
/// models, so nothing expires).
pub struct RedisServer {
    keys: Mutex<HashMap<String, i64>>,
    log: Narrator,
}

impl RedisServer {
    pub fn new(log: Narrator) -> Self {
        Self {
            keys: Mutex::named("redis", HashMap::new()),
            log,
        }
    }

    /// `GET key`: whether it is set.
    pub fn get(&self, key: &str) -> bool {
        let keys = self.keys.lock();
        let found = keys.contains_key(key);
        self.log.note(|| {
            format!(
                "redis> GET {key} -> {}",
                if found { "\"1\"" } else { "(nil)" }
            )
        });
        found
    }

    /// `SET key 1 PXAT ms`: unconditional.
    pub fn set(&self, key: &str, pxat: i64) {
        let mut keys = self.keys.lock();
        keys.insert(key.to_owned(), pxat);
        self.log
            .note(|| format!("redis> SET {key} 1 PXAT {pxat} -> OK"));
    }

    /// `SET key 1 NX PXAT ms`: set only if absent, in the same command; true if set.
    pub fn set_nx(&self, key: &str, pxat: i64) -> bool {
        let mut keys = self.keys.lock();
        let set = !keys.contains_key(key);
        if set {
            keys.insert(key.to_owned(), pxat);
        }
        self.log.note(|| {
            format!(
                "redis> SET {key} 1 NX PXAT {pxat} -> {}",
                if set { "OK" } else { "(nil)" }
            )
        });
        set
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a replay store uses Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisProtocol {
    /// `SET key 1 NX PXAT ms`: what `RedisReplayStore` sends.
    SetNx,
    /// `GET key`, then `SET key 1 PXAT ms` if it was absent: two commands, a race window.
    GetThenSet,
}

impl RedisProtocol {
    pub fn name(self) -> &'static str {
        match self {
            RedisProtocol::SetNx => "set_nx",
            RedisProtocol::GetThenSet => "get_then_set",
        }
    }
}

/// A [`ReplayStore`] over a [`RedisServer`], as one server process holds it.
pub struct ModelReplayStore {
    redis: Arc<RedisServer>,
    protocol: RedisProtocol,
}

impl ModelReplayStore {
    pub fn new(redis: Arc<RedisServer>, protocol: RedisProtocol) -> Self {
        Self { redis, protocol }
    }
}

impl ReplayStore for ModelReplayStore {
    fn insert_if_absent(
        &self,
        identity: &Tag,
        expires_at: i64,
        now: i64,
    ) -> Result<(), BackendError> {
        // The expiry `RedisReplayStore` sends; its key, shortened for the trace.
        let pxat = forget_at_millis(expires_at, now)?;
        let hex = identity.to_hex();
        let key = format!("replay:{}", hex.get(..8).unwrap_or(&hex));
        match self.protocol {
            RedisProtocol::SetNx => {
                if self.redis.set_nx(&key, pxat) {
                    Ok(())
                } else {
                    Err(ReplayError::Replayed.into())
                }
            }
            RedisProtocol::GetThenSet => {
                if self.redis.get(&key) {
                    return Err(ReplayError::Replayed.into());
                }
                // RACE WINDOW: another process's GET also finds the key absent.
                self.redis.set(&key, pxat);
                Ok(())
            }
        }
    }
}

/// `POST /operate` served by several processes sharing one Redis: each process is the
/// service's [`Operations`] over its own connection to the one server.
pub struct SharedOperate<C> {
    key: HmacKey,
    instances: Vec<Operations<ModelReplayStore, C>>,
    log: Narrator,
}

impl<C: Clock> SharedOperate<C> {
    /// One instance per clock, all on `redis` with `protocol`.
    pub fn new(
        key: &HmacKey,
        clocks: Vec<C>,
        redis: &Arc<RedisServer>,
        protocol: RedisProtocol,
        log: Narrator,
    ) -> Self {
        let instances = clocks
            .into_iter()
            .map(|clock| {
                Operations::with_clock(ModelReplayStore::new(redis.clone(), protocol), clock)
            })
            .collect();
        Self {
            key: key.clone(),
            instances,
            log,
        }
    }

    /// Instance `instance` serves the request; an admitted request is processed (the
    /// effect `exactly_once` counts).
    pub fn operate(
        &self,
        instance: usize,
        fields: &SignedFields,
        signature: &str,
    ) -> Result<(), BackendError> {
        let ops = self
            .instances
            .get(instance)
            .ok_or_else(|| BackendError::unavailable("no such instance"))?;
        let answer = ops.admit_request(&self.key, fields, signature, || {
            self.log.effect("processed", || {
                crate::message_name(
                    &fields.resource_id,
                    &fields.action,
                    &fields.timestamp.to_string(),
                )
            });
        });
        self.log.note(|| match &answer {
            Ok(()) => format!("instance {instance}: 200"),
            Err(e) => format!("instance {instance}: refused ({e})"),
        });
        answer
    }
}
