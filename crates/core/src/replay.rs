//! Replay protection for HMAC-signed requests.
//!
//! A request is admitted once: its signature is verified in constant time over an
//! unambiguous encoding of every field that must be bound, its timestamp must be within the
//! tolerance window of the server's clock, and its identity is inserted into the replay set
//! *if absent*, in one critical section. An entry stays in the set exactly as long as its
//! timestamp is acceptable: after that the request is refused as stale anyway, so memory
//! is bounded by request rate x window.

pub use crate::clock::{Clock, ManualClock, SystemClock};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::parking_lot::Mutex;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Longest accepted field (request id, resource id, action), in bytes.
pub const MAX_FIELD_LEN: usize = 255;
/// Length of an HMAC-SHA256 tag in bytes.
pub const TAG_LEN: usize = 32;
/// Default tolerance between a request's timestamp and the server's clock, both ways
/// (Stripe and Standard Webhooks use 5 minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Default cap on the replay set's size: beyond it new requests are refused, not admitted.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Encoding version, first byte of every signed message. Keep the encoding short: with the
/// version byte, three one-byte lengths and the timestamp, typical requests fit in one
/// SHA-256 block (55 bytes), so binding more fields than the seed costs no extra hashing.
const VERSION: &[u8] = &[1];

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("{field} is empty or longer than {MAX_FIELD_LEN} bytes")]
    FieldLength { field: &'static str },
    #[error("signature is not {} hex digits", TAG_LEN * 2)]
    MalformedSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp is outside the accepted window")]
    Stale,
    #[error("request was already processed")]
    Replayed,
    #[error("replay set is full; try again later")]
    Capacity,
    #[error("HMAC key is empty")]
    EmptyKey,
    #[error("resource is not registered")]
    UnknownResource,
}

/// The fields a client signs. All of them are bound by the signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedFields {
    /// Client-chosen id of this request (the seed's `X-Request-Id`), so that two genuine
    /// requests with the same resource, action and second are still distinct.
    pub request_id: String,
    pub resource_id: String,
    pub action: String,
    /// Unix seconds.
    pub timestamp: i64,
}

impl SignedFields {
    /// The canonical encoding: a version byte, then each field prefixed with its length
    /// (one byte; fields are 1..=255 bytes), then the timestamp as 8 big-endian bytes.
    /// Distinct fields never encode alike, unlike the seed's
    /// `f"{resource_id}{action}{timestamp}"`.
    pub fn encode(&self) -> Result<Vec<u8>, ReplayError> {
        let mut out = Vec::with_capacity(VERSION.len() + 3 + 8 + 64);
        self.write_encoding(|bytes| out.extend_from_slice(bytes))?;
        Ok(out)
    }

    /// Feeds the canonical encoding to `sink` piece by piece, after checking every field's
    /// length (nothing is fed when one is wrong).
    fn write_encoding(&self, mut sink: impl FnMut(&[u8])) -> Result<(), ReplayError> {
        let parts = [
            ("request id", &self.request_id),
            ("resource id", &self.resource_id),
            ("action", &self.action),
        ];
        let mut lengths = [0u8; 3];
        for (len, (field, value)) in lengths.iter_mut().zip(parts) {
            *len = u8::try_from(value.len())
                .ok()
                .filter(|&n| n > 0)
                .ok_or(ReplayError::FieldLength { field })?;
        }
        sink(VERSION);
        for (len, (_, value)) in lengths.iter().zip(parts) {
            sink(&[*len]);
            sink(value.as_bytes());
        }
        sink(&self.timestamp.to_be_bytes());
        Ok(())
    }
}

/// An HMAC-SHA256 tag: the identity of a signed message in the replay set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub [u8; TAG_LEN]);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({}..)", hex::encode(&self.0[..4]))
    }
}

impl Tag {
    /// Parses a hex signature (case-insensitive), exactly `2 * TAG_LEN` digits.
    pub fn from_hex(text: &str) -> Result<Self, ReplayError> {
        if text.len() != TAG_LEN * 2 {
            return Err(ReplayError::MalformedSignature);
        }
        let mut bytes = [0u8; TAG_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| ReplayError::MalformedSignature)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Signs and verifies with one HMAC key. The keyed state (inner and outer pads absorbed)
/// is prepared once and cloned per message, not rebuilt from the key every time.
#[derive(Clone)]
pub struct HmacKey {
    prepared: HmacSha256,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

impl HmacKey {
    pub fn new(secret: &[u8]) -> Result<Self, ReplayError> {
        if secret.is_empty() {
            return Err(ReplayError::EmptyKey);
        }
        let prepared = HmacSha256::new_from_slice(secret).map_err(|_| ReplayError::EmptyKey)?;
        Ok(Self { prepared })
    }

    /// The tag of arbitrary bytes.
    pub fn tag(&self, message: &[u8]) -> Tag {
        let mut mac = self.prepared.clone();
        mac.update(message);
        Tag(mac.finalize().into_bytes().into())
    }

    /// Constant-time check of `tag` over `message`.
    pub fn verify(&self, message: &[u8], tag: &Tag) -> Result<(), ReplayError> {
        let mut mac = self.prepared.clone();
        mac.update(message);
        mac.verify_slice(&tag.0)
            .map_err(|_| ReplayError::BadSignature)
    }

    /// The MAC state after absorbing the canonical encoding of `fields`, streamed field by
    /// field (no buffer is built); equal to MACing [`SignedFields::encode`].
    fn mac_fields(&self, fields: &SignedFields) -> Result<HmacSha256, ReplayError> {
        let mut mac = self.prepared.clone();
        fields.write_encoding(|bytes| mac.update(bytes))?;
        Ok(mac)
    }

    /// Signs the canonical encoding of `fields`.
    pub fn sign(&self, fields: &SignedFields) -> Result<Tag, ReplayError> {
        Ok(Tag(self.mac_fields(fields)?.finalize().into_bytes().into()))
    }

    /// Constant-time check of `tag` over the canonical encoding of `fields`.
    pub fn verify_fields(&self, fields: &SignedFields, tag: &Tag) -> Result<(), ReplayError> {
        self.mac_fields(fields)?
            .verify_slice(&tag.0)
            .map_err(|_| ReplayError::BadSignature)
    }
}

/// Hashes a [`Tag`] by its first eight bytes. Tags are HMAC outputs, unpredictable without
/// the key, and only verified tags are inserted, so a keyed hash would buy nothing here.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(word) => self.0 ^= u64::from_le_bytes(*word),
            None => {
                for &b in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(b);
                }
            }
        }
    }
}

/// A tag and when it may be forgotten, ordered by that time alone (ties need no sifting).
#[derive(Debug, Clone, Copy)]
struct Expiry {
    at: i64,
    tag: Tag,
}

impl PartialEq for Expiry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Expiry {}

impl PartialOrd for Expiry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Expiry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// Message identities and when each may be forgotten, in one critical section.
#[derive(Debug, Default)]
struct Entries {
    expiry: HashMap<Tag, i64, BuildHasherDefault<TagHasher>>,
    by_expiry: BinaryHeap<Reverse<Expiry>>,
    /// The latest `now` evicted at. An entry expiring before it may have been held and
    /// forgotten already, so it is refused: a clock that steps back (the system clock can)
    /// must not make an evicted message admissible a second time.
    horizon: Option<i64>,
}

impl Entries {
    /// Drops every entry whose timestamp is no longer acceptable at `now`.
    fn evict(&mut self, now: i64) {
        self.horizon = Some(self.horizon.map_or(now, |h| h.max(now)));
        while let Some(Reverse(oldest)) = self.by_expiry.peek().copied() {
            if oldest.at >= now {
                break;
            }
            self.by_expiry.pop();
            self.expiry.remove(&oldest.tag);
        }
    }
}

/// The set of admitted message identities, bounded in time and in size, split into shards
/// (by tag) that lock independently. Shards use parking_lot's mutex: every request takes
/// one, and in the contention bench it doubled the throughput of std's on a hot key.
#[derive(Debug)]
pub struct ReplaySet {
    shards: Box<[Mutex<Entries>]>,
    capacity_per_shard: usize,
}

impl ReplaySet {
    /// One shard holding up to `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self::sharded(capacity, 1)
    }

    /// `shards` independently locked shards (at least one), each holding up to
    /// `capacity / shards` entries, rounded up.
    pub fn sharded(capacity: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        Self {
            shards: (0..shards)
                .map(|_| Mutex::new(Entries::default()))
                .collect(),
            capacity_per_shard: capacity.div_ceil(shards),
        }
    }

    fn shard(&self, tag: &Tag) -> &Mutex<Entries> {
        let word = u64::from_le_bytes(*tag.0.first_chunk::<8>().unwrap_or(&[0; 8]));
        // The remainder is below the shard count, so the cast cannot truncate.
        &self.shards[(word % self.shards.len() as u64) as usize]
    }

    /// Inserts `tag`, to be kept until `expires_at`, unless it is already present: the
    /// check and the insert are one critical section. Expired entries are evicted first.
    /// An entry that expires before the latest `now` seen is refused as stale.
    pub fn insert_if_absent(&self, tag: Tag, expires_at: i64, now: i64) -> Result<(), ReplayError> {
        let mut guard = self.shard(&tag).lock();
        let entries = &mut *guard;
        entries.evict(now);
        let held = entries.expiry.len();
        let Entry::Vacant(slot) = entries.expiry.entry(tag) else {
            return Err(ReplayError::Replayed);
        };
        if entries.horizon.is_some_and(|horizon| expires_at < horizon) {
            return Err(ReplayError::Stale);
        }
        if held >= self.capacity_per_shard {
            return Err(ReplayError::Capacity);
        }
        slot.insert(expires_at);
        entries.by_expiry.push(Reverse(Expiry {
            at: expires_at,
            tag,
        }));
        Ok(())
    }

    /// Whether `tag` is held (after evicting what is expired at `now`).
    pub fn contains(&self, tag: &Tag, now: i64) -> bool {
        let mut entries = self.shard(tag).lock();
        entries.evict(now);
        entries.expiry.contains_key(tag)
    }

    /// Entries currently held (expired ones included until their shard's next eviction).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expiry.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One processed flag per pre-registered resource, claimed with a compare-and-swap: the
/// lock-free strategy, valid when the rule is "once per resource" (the seed's
/// `processed_set`) and resources are rows known in advance, so that no map is needed.
#[derive(Debug)]
pub struct ResourceFlags {
    index: HashMap<String, usize>,
    claimed: Box<[AtomicBool]>,
}

impl ResourceFlags {
    pub fn new<I: IntoIterator<Item = impl Into<String>>>(resources: I) -> Self {
        // One flag per distinct resource: a resource listed twice keeps its first index.
        let mut index: HashMap<String, usize> = HashMap::new();
        for resource in resources {
            let next = index.len();
            index.entry(resource.into()).or_insert(next);
        }
        let claimed = (0..index.len()).map(|_| AtomicBool::new(false)).collect();
        Self { index, claimed }
    }

    /// Claims `resource` once: `Ok` for the first caller, `Replayed` for every other,
    /// `UnknownResource` for a resource that was never registered.
    pub fn claim(&self, resource: &str) -> Result<(), ReplayError> {
        let &i = self
            .index
            .get(resource)
            .ok_or(ReplayError::UnknownResource)?;
        self.claimed[i]
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| ReplayError::Replayed)
    }
}

/// Signature, freshness and replay checks for signed requests, in that order.
#[derive(Debug)]
pub struct ReplayGuard<C = SystemClock> {
    key: HmacKey,
    clock: C,
    tolerance: i64,
    seen: ReplaySet,
}

impl ReplayGuard {
    /// The defaults: system clock, 300 s tolerance, [`DEFAULT_CAPACITY`] entries.
    pub fn new(key: HmacKey) -> Self {
        Self::with(key, SystemClock, ReplaySet::new(DEFAULT_CAPACITY))
    }
}

impl<C: Clock> ReplayGuard<C> {
    pub fn with(key: HmacKey, clock: C, seen: ReplaySet) -> Self {
        Self {
            key,
            clock,
            tolerance: DEFAULT_TOLERANCE_SECS,
            seen,
        }
    }

    /// Accept timestamps within `secs` of the clock, both ways (negative values count as 0).
    pub fn tolerance(mut self, secs: i64) -> Self {
        self.tolerance = secs.max(0);
        self
    }

    pub fn key(&self) -> &HmacKey {
        &self.key
    }

    pub fn seen(&self) -> &ReplaySet {
        &self.seen
    }

    /// Checks the signature (constant time) and the timestamp's freshness, without
    /// touching the replay set.
    pub fn verify_fresh(&self, fields: &SignedFields, signature: &str) -> Result<Tag, ReplayError> {
        self.verify_at(fields, signature).map(|(tag, _)| tag)
    }

    /// [`Self::verify_fresh`], also returning the clock reading it used.
    fn verify_at(&self, fields: &SignedFields, signature: &str) -> Result<(Tag, i64), ReplayError> {
        let tag = Tag::from_hex(signature)?;
        self.key.verify_fields(fields, &tag)?;
        let now = self.clock.now();
        if fields.timestamp.abs_diff(now) > self.tolerance.unsigned_abs() {
            return Err(ReplayError::Stale);
        }
        Ok((tag, now))
    }

    /// Admits a signed request at most once.
    ///
    /// The signature is checked first, so unauthenticated input never reaches the set. An
    /// admitted request's identity stays in the set until `timestamp + tolerance`, the last
    /// second at which the freshness check could accept it again.
    pub fn admit(&self, fields: &SignedFields, signature: &str) -> Result<Tag, ReplayError> {
        let (tag, now) = self.verify_at(fields, signature)?;
        let expires_at = fields.timestamp.saturating_add(self.tolerance);
        self.seen.insert_if_absent(tag, expires_at, now)?;
        Ok(tag)
    }
}
