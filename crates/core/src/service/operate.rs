//! `POST /operate`'s admission: a verified message runs its effect at most once.

use crate::backend::{BackendError, ReplayStore};
use crate::clock::{Clock, SystemClock};
use crate::replay::{
    DEFAULT_TOLERANCE_SECS, Direction, HmacKey, ReplayError, SignedFields, Verified,
};

/// Admits signed messages into the replay store `S`, reading the time from `C`.
///
/// Signatures are checked before this, by the format's adapter, which yields a
/// [`Verified`] identity: the replay store only ever holds authenticated identities.
#[derive(Debug)]
pub struct Operations<S, C = SystemClock> {
    store: S,
    clock: C,
    tolerance: i64,
}

impl<S: ReplayStore> Operations<S> {
    /// The system clock and the default tolerance ([`DEFAULT_TOLERANCE_SECS`]).
    pub fn new(store: S) -> Self {
        Self::with_clock(store, SystemClock)
    }
}

impl<S: ReplayStore, C: Clock> Operations<S, C> {
    pub fn with_clock(store: S, clock: C) -> Self {
        Self {
            store,
            clock,
            tolerance: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// Accept timestamps within `secs` of the clock, both ways (negative values count as 0).
    pub fn tolerance(mut self, secs: i64) -> Self {
        self.tolerance = secs.max(0);
        self
    }

    /// The same clock and tolerance over another store (a server moving its replay set
    /// to a shared one).
    pub fn with_store<T: ReplayStore>(self, store: T) -> Operations<T, C> {
        Operations {
            store,
            clock: self.clock,
            tolerance: self.tolerance,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Admission, the one implementation: the timestamp must be within the tolerance of the
    /// clock; then the message's identity is inserted into the store *if absent*, in one
    /// atomic step, kept until `timestamp + tolerance` (the last second at which the
    /// freshness check could accept it again); and only then does `effect` run. So the
    /// effect runs at most once per signed message, and never for a stale one.
    ///
    /// A store that cannot answer refuses with [`BackendError::Unavailable`]: nothing was
    /// admitted, and `effect` does not run (fail closed).
    pub fn admit<R>(
        &self,
        message: &Verified,
        effect: impl FnOnce() -> R,
    ) -> Result<R, BackendError> {
        let now = self.clock.now();
        let off_by = message.timestamp.abs_diff(now);
        if off_by > self.tolerance.unsigned_abs() {
            let direction = if message.timestamp < now {
                Direction::Behind
            } else {
                Direction::Ahead
            };
            return Err(ReplayError::OutsideWindow {
                off_by,
                direction,
                tolerance: self.tolerance,
            }
            .into());
        }
        let expires_at = message.timestamp.saturating_add(self.tolerance);
        self.store.insert_if_absent(&message.tag, expires_at, now)?;
        Ok(effect())
    }

    /// A request signed with the core's field encoding: [`HmacKey::verify_request`] (the
    /// format's verification, so a forged or malformed signature never reaches the store),
    /// then [`Self::admit`].
    pub fn admit_request<R>(
        &self,
        key: &HmacKey,
        fields: &SignedFields,
        signature: &str,
        effect: impl FnOnce() -> R,
    ) -> Result<R, BackendError> {
        let message = key.verify_request(fields, signature)?;
        self.admit(&message, effect)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::ManualClock;
    use crate::replay::{ReplaySet, Tag};

    const NOW: i64 = 1_700_000_000;

    fn message(timestamp: i64) -> Verified {
        let key = HmacKey::new(b"k").unwrap();
        let fields = SignedFields {
            request_id: "r".to_owned(),
            resource_id: "x".to_owned(),
            action: "go".to_owned(),
            timestamp,
        };
        let signature = key.sign(&fields).unwrap().to_hex();
        key.verify_request(&fields, &signature).unwrap()
    }

    #[test]
    fn the_effect_runs_once_and_never_for_a_stale_message() {
        let ops = Operations::with_clock(ReplaySet::new(8), ManualClock::new(NOW)).tolerance(10);
        let mut runs = 0;
        ops.admit(&message(NOW - 10), || runs += 1).unwrap();
        assert_eq!(
            ops.admit(&message(NOW - 10), || runs += 1),
            Err(BackendError::Replay(ReplayError::Replayed))
        );
        assert_eq!(
            ops.admit(&message(NOW + 11), || runs += 1),
            Err(BackendError::Replay(ReplayError::OutsideWindow {
                off_by: 11,
                direction: Direction::Ahead,
                tolerance: 10,
            }))
        );
        assert_eq!(runs, 1);
        // Held until timestamp + tolerance, inclusive.
        assert!(ops.store().contains(&message(NOW - 10).tag, NOW));
        assert!(!ops.store().contains(&message(NOW - 10).tag, NOW + 1));
    }

    #[test]
    fn an_unavailable_store_admits_nothing() {
        struct Down;
        impl ReplayStore for Down {
            fn insert_if_absent(&self, _: &Tag, _: i64, _: i64) -> Result<(), BackendError> {
                Err(BackendError::unavailable("down"))
            }
        }
        let ops = Operations::with_clock(Down, ManualClock::new(NOW));
        let mut ran = false;
        assert!(
            ops.admit(&message(NOW), || ran = true)
                .unwrap_err()
                .is_unavailable()
        );
        assert!(!ran);
    }
}
