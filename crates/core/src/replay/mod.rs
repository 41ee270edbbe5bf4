//! Replay protection for HMAC-signed requests: signing, verification, and the replay set.
//!
//! A request is admitted once: its signature is verified in constant time over an
//! unambiguous encoding of every field that must be bound ([`HmacKey::verify_request`],
//! which yields the message's [`Verified`] identity), then
//! [`crate::service::Operations::admit`] checks its timestamp against the tolerance window
//! of the server's clock and inserts its identity into the replay set *if absent*, in one
//! critical section. An entry is held exactly as long as its timestamp is acceptable:
//! after that the request is refused as stale anyway, so memory is bounded by request rate
//! x window (and by the set's capacity). Expired entries stop counting at once and leave
//! memory a few per request, so no request pays for a mass expiry.
//!
//! - `signing`: the field encoding, HMAC keys and tags, and the [`Verified`] identity.
//! - `set`: what admission records: the bounded [`ReplaySet`], and [`ResourceFlags`] for
//!   once-per-resource.

mod set;
mod signing;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use set::{DEFAULT_CAPACITY, EVICTION_BUDGET, KEY_LEN, ReplaySet, ReplayStats, ResourceFlags};
pub use signing::{
    DEFAULT_TOLERANCE_SECS, Direction, HmacKey, MAX_FIELD_LEN, ReplayError, SIGNING_CONTEXT,
    SignedFields, TAG_LEN, Tag, Verified,
};
