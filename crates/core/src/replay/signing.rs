//! Signed requests: the field encoding, HMAC keys and tags, and the identity a verified
//! message is admitted under.

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Longest accepted field (request id, resource id, action), in bytes.
pub const MAX_FIELD_LEN: usize = 255;
/// Length of an HMAC-SHA256 tag in bytes.
pub const TAG_LEN: usize = 32;
/// Default tolerance between a request's timestamp and the server's clock, both ways
/// (Stripe and Standard Webhooks use 5 minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Encoding version, first byte of every encoding. Keep the encoding short: with the
/// version byte, three one-byte lengths and the timestamp, a request whose three fields
/// total up to 43 bytes encodes in at most 55 bytes, which SHA-256 pads into one block (a
/// 22-character request id, `order-000042` and `refund` encode in 52 bytes).
const VERSION: &[u8] = &[1];

/// What a request signature is a MAC *of*: this 64-byte block (a label, zero-padded), then
/// [`SignedFields::encode`]. Without it a MAC of the bare encoding, which any other use
/// of the same key could produce over the same bytes, would be a valid signature.
///
/// The label fills exactly one SHA-256 block, so [`HmacKey::new`] absorbs it once and
/// every request still costs what it did without it: one compression for the encoding
/// (55 bytes or less, as above) and one for the outer hash. Fixed length keeps
/// `context || encoding` as unambiguous as the encoding.
pub const SIGNING_CONTEXT: [u8; 64] = context_block(b"raceproof/operate/v1");

/// `label` followed by zeros up to one SHA-256 block (labels are shorter than a block).
const fn context_block(label: &[u8]) -> [u8; 64] {
    let mut block = [0u8; 64];
    let mut i = 0;
    while i < label.len() && i < block.len() {
        block[i] = label[i];
        i += 1;
    }
    block
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("{field} is empty or longer than {MAX_FIELD_LEN} bytes")]
    FieldLength { field: &'static str },
    #[error("signature is not {} hex digits", TAG_LEN * 2)]
    MalformedSignature,
    #[error("signature does not match")]
    BadSignature,
    /// The signed timestamp is outside the tolerance window around the server's clock.
    #[error("timestamp is {off_by} s {direction} the server's clock (tolerance {tolerance} s)")]
    OutsideWindow {
        off_by: u64,
        direction: Direction,
        tolerance: i64,
    },
    /// The replay store refuses an identity that expires before what it already forgot
    /// (a clock that stepped back must not make a forgotten message admissible again).
    #[error("timestamp is outside the accepted window")]
    Stale,
    #[error("request was already processed")]
    Replayed,
    /// The replay set holds as many messages as it may: the oldest frees its slot in
    /// `retry_after_secs` (when it expires; at least 1).
    #[error("replay set is full; space frees in {retry_after_secs} s")]
    Capacity { retry_after_secs: u64 },
    #[error("HMAC key is empty")]
    EmptyKey,
    #[error("resource is not registered")]
    UnknownResource,
}

/// Which side of the server's clock a refused timestamp is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Behind,
    Ahead,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Behind => "behind",
            Direction::Ahead => "ahead of",
        })
    }
}

/// A message whose signature checked out: its identity in the replay set (the verified
/// tag, a MAC of the whole signed message) and the time it was signed at. Made by a
/// format's verification ([`HmacKey::verify_request`] for the field encoding, the server's
/// Standard Webhooks adapter for its headers); admitted by
/// [`crate::service::Operations::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verified {
    pub tag: Tag,
    /// Unix seconds, as signed.
    pub timestamp: i64,
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

    /// Whether every field is within the encoding's limits (1 to 255 bytes), as
    /// [`Self::encode`] checks them, without building the encoding.
    pub fn check(&self) -> Result<(), ReplayError> {
        self.write_encoding(|_| {})
    }

    /// The bytes a signature is the HMAC of: [`SIGNING_CONTEXT`], then the encoding. For
    /// clients that MAC a buffer; [`HmacKey::sign`] streams the same bytes.
    pub fn signed_message(&self) -> Result<Vec<u8>, ReplayError> {
        let mut out = SIGNING_CONTEXT.to_vec();
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
/// is prepared once and cloned per message, not rebuilt from the key every time; so is the
/// state that has also absorbed [`SIGNING_CONTEXT`], for requests.
#[derive(Clone)]
pub struct HmacKey {
    prepared: HmacSha256,
    requests: HmacSha256,
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
        let mut requests = prepared.clone();
        requests.update(&SIGNING_CONTEXT);
        Ok(Self { prepared, requests })
    }

    /// The plain HMAC of arbitrary bytes: never a request signature, which is a MAC in the
    /// [`SIGNING_CONTEXT`] (see [`Self::sign`]).
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

    /// Constant-time check of `tag` over the concatenation of `parts`, streamed into the
    /// MAC (no buffer is built): `verify_parts(&[a, b], tag)` is `verify(&[a, b].concat(), tag)`.
    pub fn verify_parts(&self, parts: &[&[u8]], tag: &Tag) -> Result<(), ReplayError> {
        let mut mac = self.prepared.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(&tag.0)
            .map_err(|_| ReplayError::BadSignature)
    }

    /// The MAC state after absorbing [`SIGNING_CONTEXT`] (already in the cloned state) and
    /// the canonical encoding of `fields`, streamed field by field (no buffer is built);
    /// equal to MACing [`SignedFields::signed_message`].
    fn mac_fields(&self, fields: &SignedFields) -> Result<HmacSha256, ReplayError> {
        let mut mac = self.requests.clone();
        fields.write_encoding(|bytes| mac.update(bytes))?;
        Ok(mac)
    }

    /// Signs `fields`: the MAC of [`SIGNING_CONTEXT`] and their canonical encoding.
    pub fn sign(&self, fields: &SignedFields) -> Result<Tag, ReplayError> {
        Ok(Tag(self.mac_fields(fields)?.finalize().into_bytes().into()))
    }

    /// Constant-time check of `tag` as the signature of `fields` (see [`Self::sign`]).
    pub fn verify_fields(&self, fields: &SignedFields, tag: &Tag) -> Result<(), ReplayError> {
        self.mac_fields(fields)?
            .verify_slice(&tag.0)
            .map_err(|_| ReplayError::BadSignature)
    }

    /// The field encoding's verification: `signature` (hex) must be this key's signature
    /// of `fields` (constant time). Unauthenticated input stops here, before admission.
    pub fn verify_request(
        &self,
        fields: &SignedFields,
        signature: &str,
    ) -> Result<Verified, ReplayError> {
        let tag = Tag::from_hex(signature)?;
        self.verify_fields(fields, &tag)?;
        Ok(Verified {
            tag,
            timestamp: fields.timestamp,
        })
    }
}
