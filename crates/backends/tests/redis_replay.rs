//! The Redis replay store against a real Redis (`REDIS_URL`). Opt in with
//! `RACEPROOF_BACKEND_TESTS=1`; each test keeps its keys under its own prefix.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use common::{backend_up, now, opted_in, redis_url, unique};
use raceproof_backends::PoolConfig;
use raceproof_backends::redis::RedisReplayStore;
use raceproof_core::backend::{BackendError, ReplayStore};
use raceproof_core::replay::{HmacKey, ReplayError, SignedFields, Tag};
use raceproof_core::service::Operations;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A store under a fresh prefix, or `None` when the test is skipped.
fn store(test: &str) -> Option<RedisReplayStore> {
    if !opted_in(test) {
        return None;
    }
    let prefix = format!("{}:", unique("rp_test"));
    let store =
        RedisReplayStore::with_prefix(&redis_url(), &prefix, PoolConfig::default()).unwrap();
    backend_up(test, "redis", store.ping().is_ok()).then_some(store)
}

fn tag(n: u8) -> Tag {
    Tag([n; 32])
}

#[test]
fn admits_once_then_refuses_the_replay() {
    let Some(store) = store("admits_once_then_refuses_the_replay") else {
        return;
    };
    let t = now();
    store.insert_if_absent(&tag(1), t + 300, t).unwrap();
    assert_eq!(
        store.insert_if_absent(&tag(1), t + 300, t),
        Err(BackendError::Replay(ReplayError::Replayed))
    );
    // Another identity is independent.
    store.insert_if_absent(&tag(2), t + 300, t).unwrap();
}

#[test]
fn key_expires_exactly_when_the_request_stops_being_fresh() {
    let Some(store) = store("key_expires_exactly_when_the_request_stops_being_fresh") else {
        return;
    };
    let t = now();
    let expires_at = t + 300;
    store.insert_if_absent(&tag(3), expires_at, t).unwrap();
    let mut cmd = redis::cmd("PEXPIRETIME");
    cmd.arg(store.key(&tag(3)));
    let at: i64 = store.query(&cmd).unwrap();
    // Fresh while the clock reads expires_at (whole seconds): gone at the next second.
    assert_eq!(at, (expires_at + 1) * 1000);
    let mut ttl = redis::cmd("PTTL");
    ttl.arg(store.key(&tag(3)));
    let ttl: i64 = store.query(&ttl).unwrap();
    assert!(ttl > 299_000 && ttl <= 301_000, "PTTL {ttl}");
}

#[test]
fn expired_identity_is_stale_and_not_stored() {
    let Some(store) = store("expired_identity_is_stale_and_not_stored") else {
        return;
    };
    let t = now();
    assert_eq!(
        store.insert_if_absent(&tag(4), t - 1, t),
        Err(BackendError::Replay(ReplayError::Stale))
    );
    let mut exists = redis::cmd("EXISTS");
    exists.arg(store.key(&tag(4)));
    assert_eq!(store.query::<i64>(&exists).unwrap(), 0);
}

#[test]
fn eight_threads_one_identity_exactly_one_admitted() {
    let Some(store) = store("eight_threads_one_identity_exactly_one_admitted") else {
        return;
    };
    let t = now();
    for round in 0..50u8 {
        let admitted = AtomicUsize::new(0);
        let replayed = AtomicUsize::new(0);
        let barrier = Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    match store.insert_if_absent(&tag(round), t + 60, t) {
                        Ok(()) => admitted.fetch_add(1, Ordering::SeqCst),
                        Err(BackendError::Replay(ReplayError::Replayed)) => {
                            replayed.fetch_add(1, Ordering::SeqCst)
                        }
                        Err(e) => panic!("unexpected {e}"),
                    };
                });
            }
        });
        assert_eq!(admitted.into_inner(), 1, "round {round}");
        assert_eq!(replayed.into_inner(), 7, "round {round}");
    }
}

#[test]
fn two_instances_sharing_redis_process_a_request_once() {
    let Some(first) = store("two_instances_sharing_redis_process_a_request_once") else {
        return;
    };
    // A second "process": its own pool, the same Redis and prefix.
    let prefix = first.key(&Tag([0; 32]));
    let prefix = prefix.trim_end_matches('0');
    let second =
        RedisReplayStore::with_prefix(&redis_url(), prefix, PoolConfig::default()).unwrap();
    let key = HmacKey::new(b"test key").unwrap();
    let a = Operations::new(first);
    let b = Operations::new(second);
    let fields = SignedFields {
        request_id: "r1".into(),
        resource_id: "acct".into(),
        action: "debit".into(),
        timestamp: now(),
    };
    let sig = key.sign(&fields).unwrap().to_hex();
    let processed = AtomicUsize::new(0);
    let results: Vec<_> = std::thread::scope(|s| {
        let (fields, sig, processed, key) = (&fields, &sig, &processed, &key);
        let run = move |ops: &Operations<RedisReplayStore>| {
            ops.admit_request(key, fields, sig, || {
                processed.fetch_add(1, Ordering::SeqCst)
            })
        };
        let (a, b) = (&a, &b);
        let ha = s.spawn(move || run(a));
        let hb = s.spawn(move || run(b));
        vec![ha.join().unwrap(), hb.join().unwrap()]
    });
    assert_eq!(processed.into_inner(), 1);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.contains(&Err(BackendError::Replay(ReplayError::Replayed))));
}

#[test]
fn redis_down_is_unavailable_and_nothing_is_processed() {
    if !opted_in("redis_down_is_unavailable_and_nothing_is_processed") {
        return;
    }
    let config = PoolConfig {
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        max_connections: 2,
    };
    // Nothing listens on port 1.
    let store = RedisReplayStore::connect("redis://127.0.0.1:1", config).unwrap();
    let t = now();
    let err = store.insert_if_absent(&tag(9), t + 60, t).unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    let key = HmacKey::new(b"k").unwrap();
    let ops = Operations::new(store);
    let fields = SignedFields {
        request_id: "r".into(),
        resource_id: "x".into(),
        action: "y".into(),
        timestamp: t,
    };
    let sig = key.sign(&fields).unwrap().to_hex();
    let mut ran = false;
    let answer = ops.admit_request(&key, &fields, &sig, || ran = true);
    assert!(answer.is_err_and(|e| e.is_unavailable()));
    assert!(!ran, "a request that could not be recorded was processed");
}
