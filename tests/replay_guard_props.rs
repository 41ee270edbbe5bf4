#![cfg(not(loom))]
//! The service's admission (the field encoding's verification, then `Operations::admit`
//! over the in-memory replay set) against a reference model: it
//! admits each fresh, genuine message at most once, and holds no more than the messages
//! that are still acceptable.

use proptest::prelude::*;
use raceproof_core::backend::BackendError;
use raceproof_core::replay::{
    Clock, DEFAULT_TOLERANCE_SECS, Direction, HmacKey, ManualClock, ReplayError, ReplaySet,
    SignedFields, TAG_LEN, Tag,
};
use raceproof_core::service::Operations;
use raceproof_flows::seed_concatenation;
use std::collections::HashMap;
use std::sync::Arc;

/// A clock the test keeps a handle on after giving it to the service.
#[derive(Clone)]
struct SharedClock(Arc<ManualClock>);

impl Clock for SharedClock {
    fn now(&self) -> i64 {
        self.0.now()
    }
}

const BASE: i64 = 1_700_000_000;
const TOL: i64 = DEFAULT_TOLERANCE_SECS;

/// The service under test: the in-memory set, on the test's clock.
type Service = Operations<ReplaySet, SharedClock>;

/// Verifies and admits `fields` under `signature`; the admitted identity, or the refusal.
fn admit(
    ops: &Service,
    key: &HmacKey,
    fields: &SignedFields,
    signature: &str,
) -> Result<Tag, ReplayError> {
    let message = key.verify_request(fields, signature)?;
    match ops.admit(&message, || message.tag) {
        Ok(tag) => Ok(tag),
        Err(BackendError::Replay(e)) => Err(e),
        Err(e) => panic!("the in-memory set always answers: {e}"),
    }
}

/// The refusal of a timestamp `off` seconds from the clock (positive: ahead).
fn outside_window(off: i64) -> ReplayError {
    ReplayError::OutsideWindow {
        off_by: off.unsigned_abs(),
        direction: if off < 0 {
            Direction::Behind
        } else {
            Direction::Ahead
        },
        tolerance: TOL,
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Sign and submit request `request` with timestamp `BASE + offset`.
    Submit { request: u8, offset: i64 },
    /// Resubmit, byte for byte, the `k`-th (mod count) request submitted so far.
    Replay { k: usize },
    /// Move the clock: mostly forward, sometimes back (a wall clock can step back).
    Advance { secs: i64 },
    /// Submit with a signature that is not the key's tag over these fields.
    SubmitForged {
        request: u8,
        offset: i64,
        how: Forgery,
    },
}

#[derive(Debug, Clone)]
enum Forgery {
    FlipBit(usize),
    OtherKey,
    SeedScheme,
}

fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Boundaries of the window, seen from a clock that has moved around.
        2 => prop::sample::select(vec![-400, -301, -300, -299, -150, 0, 150, 299, 300, 301, 400]),
        1 => -400i64..400,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..3, offset()).prop_map(|(request, offset)| Op::Submit { request, offset }),
        3 => any::<usize>().prop_map(|k| Op::Replay { k }),
        3 => prop_oneof![Just(0i64), Just(1), 0i64..400].prop_map(|secs| Op::Advance { secs }),
        1 => (-120i64..0).prop_map(|secs| Op::Advance { secs }),
        1 => (
            0u8..3,
            offset(),
            prop_oneof![
                (0usize..TAG_LEN * 8).prop_map(Forgery::FlipBit),
                Just(Forgery::OtherKey),
                Just(Forgery::SeedScheme),
            ],
        )
            .prop_map(|(request, offset, how)| Op::SubmitForged { request, offset, how }),
    ]
}

fn request(request: u8, offset: i64) -> SignedFields {
    SignedFields {
        request_id: format!("req-{request}"),
        resource_id: "invoice-42".to_owned(),
        action: "pay".to_owned(),
        timestamp: BASE + offset,
    }
}

/// What the guard should do, computed from the spec alone.
#[derive(Debug, Default)]
struct Model {
    /// Tags held by the replay set and when each expires.
    held: HashMap<Tag, i64>,
    /// Every tag ever admitted, with the last second at which it is acceptable.
    admitted: HashMap<Tag, i64>,
    /// The latest clock reading the set evicted at: anything expiring before it may have
    /// been forgotten, so it is refused as stale even if the clock has stepped back since.
    horizon: Option<i64>,
}

impl Model {
    fn evict(&mut self, now: i64) {
        self.held.retain(|_, expiry| *expiry >= now);
        self.horizon = Some(self.horizon.map_or(now, |h| h.max(now)));
    }

    fn admit(
        &mut self,
        now: i64,
        genuine: bool,
        fields: &SignedFields,
        tag: Tag,
        cap: usize,
    ) -> Result<(), ReplayError> {
        if !genuine {
            return Err(ReplayError::BadSignature);
        }
        if (fields.timestamp - now).abs() > TOL {
            return Err(outside_window(fields.timestamp - now));
        }
        self.evict(now);
        if self.held.contains_key(&tag) {
            return Err(ReplayError::Replayed);
        }
        if self.horizon.is_some_and(|h| fields.timestamp + TOL < h) {
            return Err(ReplayError::Stale);
        }
        if self.held.len() >= cap {
            let earliest = self.held.values().min().copied().unwrap_or(now);
            return Err(ReplayError::Capacity {
                retry_after_secs: u64::try_from(earliest + 1 - now).unwrap_or(1).max(1),
            });
        }
        self.held.insert(tag, fields.timestamp + TOL);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn guard_matches_reference_model(
        start in -700i64..100,
        cap in prop_oneof![1 => 1usize..4, 3 => Just(1024usize)],
        ops in prop::collection::vec(op(), 1..48),
    ) {
        let secret = b"replay guard model key";
        let key = HmacKey::new(secret).expect("key");
        let other = HmacKey::new(b"some other key").expect("key");
        let clock = SharedClock(Arc::new(ManualClock::new(BASE + start)));
        let guard = Operations::with_clock(ReplaySet::new(cap), clock.clone());
        let mut model = Model::default();
        let mut submitted: Vec<(SignedFields, String)> = Vec::new();

        for op in ops {
            let now = clock.now();
            let (fields, signature, genuine) = match op {
                Op::Advance { secs } => {
                    clock.0.advance(secs);
                    prop_assert_eq!(guard.store().len(), model.held.len(), "advance evicts nothing");
                    continue;
                }
                Op::Submit { request: r, offset } => {
                    let fields = request(r, offset);
                    let signature = key.sign(&fields).expect("valid").to_hex();
                    submitted.push((fields.clone(), signature.clone()));
                    (fields, signature, true)
                }
                Op::Replay { k } => {
                    if submitted.is_empty() {
                        continue;
                    }
                    let (fields, signature) = submitted[k % submitted.len()].clone();
                    (fields, signature, true)
                }
                Op::SubmitForged { request: r, offset, how } => {
                    let fields = request(r, offset);
                    let tag = match how {
                        Forgery::FlipBit(bit) => {
                            let mut tag = key.sign(&fields).expect("valid");
                            tag.0[bit / 8] ^= 1 << (bit % 8);
                            tag
                        }
                        Forgery::OtherKey => other.sign(&fields).expect("valid"),
                        Forgery::SeedScheme => key.tag(&seed_concatenation(
                            &fields.resource_id,
                            &fields.action,
                            &fields.timestamp.to_string(),
                        )),
                    };
                    (fields, tag.to_hex(), false)
                }
            };
            let tag = Tag::from_hex(&signature).expect("well-formed");
            let before = guard.store().len();
            let got = admit(&guard, &key, &fields, &signature);
            let want = model.admit(now, genuine, &fields, tag, cap);
            prop_assert_eq!(got.as_ref().map(|_| ()).map_err(|e| *e), want, "{:?} at now = BASE{:+}", fields, now - BASE);

            if let Ok(admitted) = &got {
                prop_assert_eq!(*admitted, tag);
                // At most once, ever, whatever the clock did.
                let first = model.admitted.insert(tag, fields.timestamp + TOL).is_none();
                prop_assert!(first, "admitted twice: {:?}", fields);
            }

            let len = guard.store().len();
            prop_assert_eq!(len, model.held.len());
            match want {
                // Requests refused before the set is touched leave it as it was.
                Err(
                    ReplayError::BadSignature
                    | ReplayError::OutsideWindow { .. }
                    | ReplayError::Stale,
                ) => {
                    prop_assert_eq!(len, before);
                }
                // An insert evicted first: nothing held is stale at `now` (nor at any later
                // reading), so the set is bounded by the admitted messages still acceptable.
                _ => {
                    let live = model.admitted.values().filter(|&&expiry| expiry >= now).count();
                    prop_assert!(len <= live, "{len} held, {live} still acceptable");
                    prop_assert!(len <= cap);
                }
            }
        }

        // The set holds exactly what the model holds; in particular every admitted message
        // that is acceptable now and at every reading so far.
        let now = clock.now();
        model.evict(now);
        let horizon = model.horizon.unwrap_or(now);
        for (tag, &expiry) in &model.admitted {
            let held = guard.store().contains(tag, now);
            prop_assert_eq!(held, model.held.contains_key(tag));
            if expiry >= horizon {
                prop_assert!(held);
            }
        }
    }
}

/// Boundaries of the window, by hand: exactly `tolerance` away is still fresh.
#[test]
fn freshness_window_is_inclusive() {
    let key = HmacKey::new(b"k").expect("key");
    let clock = SharedClock(Arc::new(ManualClock::new(BASE)));
    let guard = Operations::with_clock(ReplaySet::new(16), clock.clone());
    for (offset, want) in [
        (-TOL - 1, Err(outside_window(-TOL - 1))),
        (-TOL, Ok(())),
        (TOL, Ok(())),
        (TOL + 1, Err(outside_window(TOL + 1))),
    ] {
        let fields = request(0, offset);
        let sig = key.sign(&fields).expect("valid").to_hex();
        assert_eq!(
            admit(&guard, &key, &fields, &sig).map(|_| ()),
            want,
            "offset {offset}"
        );
    }
    // The entry admitted at -TOL expires at BASE: still held and refused as a replay now...
    let fields = request(0, -TOL);
    let sig = key.sign(&fields).expect("valid").to_hex();
    assert_eq!(
        admit(&guard, &key, &fields, &sig),
        Err(ReplayError::Replayed)
    );
    // ...and one second later it is stale, and may be forgotten.
    clock.0.advance(1);
    assert_eq!(
        admit(&guard, &key, &fields, &sig),
        Err(outside_window(-TOL - 1))
    );
    assert!(
        !guard
            .store()
            .contains(&key.sign(&fields).expect("valid"), clock.now())
    );
    assert_eq!(guard.store().len(), 1);
    // Malformed signatures are refused before anything else.
    assert_eq!(
        admit(&guard, &key, &fields, "zz"),
        Err(ReplayError::MalformedSignature)
    );
}

/// A wall clock that steps back must not let a forgotten message in a second time: the
/// set refuses entries that expire before the latest reading it evicted at.
#[test]
fn clock_stepping_back_does_not_readmit_an_evicted_message() {
    let key = HmacKey::new(b"k").expect("key");
    let clock = SharedClock(Arc::new(ManualClock::new(BASE)));
    let guard = Operations::with_clock(ReplaySet::new(16), clock.clone());
    let first = request(0, 0);
    let sig = key.sign(&first).expect("valid").to_hex();
    assert!(admit(&guard, &key, &first, &sig).is_ok());
    // Later, another request's insert evicts the first (it expired at BASE + TOL).
    clock.0.set(BASE + TOL + 1);
    let second = request(1, TOL + 1);
    let sig2 = key.sign(&second).expect("valid").to_hex();
    assert!(admit(&guard, &key, &second, &sig2).is_ok());
    assert_eq!(guard.store().len(), 1);
    // The clock steps back 11 s: the first request's timestamp is within the window again.
    clock.0.set(BASE + TOL - 10);
    assert_eq!(admit(&guard, &key, &first, &sig), Err(ReplayError::Stale));
    assert_eq!(
        admit(&guard, &key, &second, &sig2),
        Err(ReplayError::Replayed)
    );
}
