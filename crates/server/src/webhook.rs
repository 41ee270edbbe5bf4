//! `POST /operate` signed the Standard Webhooks way, admitted by the core's replay set.
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries over
//! `"{id}.{timestamp}.{body}"`, keyed with the bytes of the `whsec_` secret. Any Standard
//! Webhooks library can sign one.
//!
//! Mapping onto `raceproof_core::replay` (the same steps as `ReplayGuard::admit`, over the
//! Standard Webhooks content instead of the core's field encoding):
//!
//! 1. verify: each `v1` entry is decoded to a [`Tag`] and checked with
//!    [`HmacKey::verify`] (constant time) over the whole signed content (id, timestamp,
//!    raw body bytes); unauthenticated input stops here (401);
//! 2. freshness: the timestamp must be within the tolerance of the clock (else 400);
//! 3. admission: the verified tag, which is a MAC of the *whole* signed message, is the
//!    message's identity; [`ReplaySet::insert_if_absent`] inserts it, to be kept until
//!    `timestamp + tolerance`, in one critical section (a second delivery: 409). This
//!    insert is the single admission point; nothing is processed before it succeeds.

use crate::config::WebhookSecret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use raceproof_core::backend::{BackendError, ReplayStore};
use raceproof_core::replay::{
    Clock, DEFAULT_CAPACITY, HmacKey, ReplayError, ReplaySet, TAG_LEN, Tag,
};
use std::sync::Arc;

/// Header names (Standard Webhooks, unbranded).
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Signature entries looked at, at most: each costs one HMAC.
pub const MAX_SIGNATURES: usize = 8;
/// Longest `webhook-id` accepted (the core's field limit).
pub const MAX_ID_LEN: usize = raceproof_core::replay::MAX_FIELD_LEN;

/// Why a Standard Webhooks request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// 400: a required header is absent, repeated or not visible ASCII.
    #[error("header {0} is missing, repeated or not visible ASCII")]
    Header(&'static str),
    /// 400: the timestamp is not a decimal integer.
    #[error("webhook-timestamp is not an integer number of seconds")]
    Timestamp,
    /// 400: the id is empty or too long.
    #[error("webhook-id is empty or longer than {MAX_ID_LEN} bytes")]
    Id,
    /// 401: no `v1` signature matches.
    #[error("no signature matches this request")]
    Signature,
    /// 400: the timestamp is outside the accepted window.
    #[error(
        "webhook-timestamp is {off_by} s {direction} the server's clock (tolerance {tolerance} s)"
    )]
    Stale {
        off_by: u64,
        direction: &'static str,
        tolerance: i64,
    },
    /// 409, 503, ...: the replay set's refusal.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// 503: the shared replay store did not answer (or answered nonsense); nothing was
    /// admitted. The text names the backend and the kind of failure only.
    #[error("{0}")]
    Unavailable(String),
}

/// The three headers, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// A verified, fresh message: what was signed, and its identity.
#[derive(Debug, Clone)]
pub struct Verified {
    pub timestamp: i64,
    pub tag: Tag,
}

/// Verifies and admits Standard Webhooks requests.
pub struct WebhookGuard {
    key: HmacKey,
    clock: Arc<dyn Clock>,
    tolerance: i64,
    seen: Arc<dyn ReplayStore>,
    /// Whether `seen` blocks on I/O (a network store): then admit from a blocking thread.
    blocking: bool,
}

impl std::fmt::Debug for WebhookGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookGuard")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookGuard {
    pub fn new(
        secret: &WebhookSecret,
        clock: Arc<dyn Clock>,
        tolerance: i64,
    ) -> Result<Self, ReplayError> {
        Ok(Self {
            key: HmacKey::new(secret.bytes())?,
            clock,
            tolerance: tolerance.max(0),
            // Sharded by tag so that concurrent deliveries rarely share a lock.
            seen: Arc::new(ReplaySet::sharded(DEFAULT_CAPACITY, 16)),
            blocking: false,
        })
    }

    /// Admits through `store` instead of the process's own set: a store shared by several
    /// processes (Redis) admits each message once across all of them. `blocking` says the
    /// store does network I/O, so that callers admit from a blocking thread.
    pub fn with_store(mut self, store: Arc<dyn ReplayStore>, blocking: bool) -> Self {
        self.seen = store;
        self.blocking = blocking;
        self
    }

    /// Whether [`WebhookGuard::admit`] may block on I/O.
    pub fn blocks(&self) -> bool {
        self.blocking
    }

    /// The signed content: `id.timestamp.body`.
    fn content(headers: &SignedHeaders<'_>, body: &[u8]) -> Vec<u8> {
        let mut content =
            Vec::with_capacity(headers.id.len() + headers.timestamp.len() + 2 + body.len());
        content.extend_from_slice(headers.id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(headers.timestamp.as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        content
    }

    /// Signs a message: the `webhook-signature` value (one `v1` entry).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let headers = SignedHeaders {
            id,
            timestamp: &timestamp,
            signature: "",
        };
        let tag = self.key.tag(&Self::content(&headers, body));
        format!("v1,{}", STANDARD.encode(tag.0))
    }

    /// Steps 1 and 2: the signature (constant time), then the freshness of the timestamp.
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
    ) -> Result<Verified, WebhookError> {
        if headers.id.is_empty() || headers.id.len() > MAX_ID_LEN {
            return Err(WebhookError::Id);
        }
        let timestamp = parse_timestamp(headers.timestamp)?;
        let content = Self::content(headers, body);
        let tag = headers
            .signature
            .split(' ')
            .filter(|entry| !entry.is_empty())
            .take(MAX_SIGNATURES)
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(decode_tag)
            .find(|tag| self.key.verify(&content, tag).is_ok())
            .ok_or(WebhookError::Signature)?;
        let now = self.clock.now();
        let off_by = timestamp.abs_diff(now);
        if off_by > self.tolerance.unsigned_abs() {
            let direction = if timestamp < now {
                "behind"
            } else {
                "ahead of"
            };
            return Err(WebhookError::Stale {
                off_by,
                direction,
                tolerance: self.tolerance,
            });
        }
        Ok(Verified { timestamp, tag })
    }

    /// Step 3: admits a verified message at most once (the core's atomic insert-if-absent).
    pub fn admit(&self, verified: &Verified) -> Result<(), WebhookError> {
        let expires_at = verified.timestamp.saturating_add(self.tolerance);
        self.seen
            .insert_if_absent(&verified.tag, expires_at, self.clock.now())
            .map_err(|e| match e {
                BackendError::Replay(e) => WebhookError::Replay(e),
                BackendError::Unavailable(what) => WebhookError::Unavailable(what),
                // A replay store has no accounts; treat anything else as an outage.
                BackendError::Store(_) => {
                    WebhookError::Unavailable("replay store: unexpected answer".into())
                }
            })
    }
}

/// A decimal integer, optionally negative, with no sign `+`, spaces or leading zeros
/// beyond a single `0` (the content signed is the header's text, so it must be canonical).
fn parse_timestamp(text: &str) -> Result<i64, WebhookError> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.len() <= 19
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(WebhookError::Timestamp);
    }
    text.parse().map_err(|_| WebhookError::Timestamp)
}

/// A base64 HMAC-SHA256, or nothing.
fn decode_tag(text: &str) -> Option<Tag> {
    // 32 bytes are 44 base64 characters; anything longer is not a tag.
    if text.len() > 44 {
        return None;
    }
    let mut bytes = [0u8; TAG_LEN];
    match STANDARD.decode_slice(text, &mut bytes) {
        Ok(TAG_LEN) => Some(Tag(bytes)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Fixed(i64);
    impl Clock for Fixed {
        fn now(&self) -> i64 {
            self.0
        }
    }

    /// The reference vector of the Standard Webhooks test suites (libraries' `sign`
    /// tests): secret, id, timestamp, body and the signature their implementations make.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn guard(now: i64) -> WebhookGuard {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        WebhookGuard::new(&secret, Arc::new(Fixed(now)), 300).unwrap()
    }

    fn headers<'a>(timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: SPEC_ID,
            timestamp,
            signature,
        }
    }

    #[test]
    fn signs_and_verifies_the_standard_webhooks_vector() {
        let guard = guard(SPEC_TIMESTAMP);
        assert_eq!(
            guard.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        let ts = SPEC_TIMESTAMP.to_string();
        let verified = guard
            .verify(&headers(&ts, SPEC_SIGNATURE), SPEC_BODY)
            .unwrap();
        guard.admit(&verified).unwrap();
        assert_eq!(
            guard.admit(&verified),
            Err(WebhookError::Replay(ReplayError::Replayed))
        );
    }

    #[test]
    fn one_matching_entry_among_several_is_enough() {
        let guard = guard(SPEC_TIMESTAMP);
        let ts = SPEC_TIMESTAMP.to_string();
        let several = format!(
            "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v2,abc {SPEC_SIGNATURE} v1,zz"
        );
        assert!(guard.verify(&headers(&ts, &several), SPEC_BODY).is_ok());
        let none = "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v1a,x";
        assert_eq!(
            guard.verify(&headers(&ts, none), SPEC_BODY).unwrap_err(),
            WebhookError::Signature
        );
    }

    #[test]
    fn tampering_with_any_part_breaks_the_signature() {
        let guard = guard(SPEC_TIMESTAMP);
        let ts = SPEC_TIMESTAMP.to_string();
        let body = br#"{"test": 2432232315}"#;
        assert!(guard.verify(&headers(&ts, SPEC_SIGNATURE), body).is_err());
        let later = (SPEC_TIMESTAMP + 1).to_string();
        assert!(
            guard
                .verify(&headers(&later, SPEC_SIGNATURE), SPEC_BODY)
                .is_err()
        );
        let other_id = SignedHeaders {
            id: "msg_other",
            timestamp: &ts,
            signature: SPEC_SIGNATURE,
        };
        assert!(guard.verify(&other_id, SPEC_BODY).is_err());
    }

    #[test]
    fn stale_timestamps_are_refused_with_the_reason() {
        let guard = guard(SPEC_TIMESTAMP + 301);
        let ts = SPEC_TIMESTAMP.to_string();
        let err = guard
            .verify(&headers(&ts, SPEC_SIGNATURE), SPEC_BODY)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "webhook-timestamp is 301 s behind the server's clock (tolerance 300 s)"
        );
    }

    #[test]
    fn timestamps_must_be_canonical_integers() {
        for bad in [
            "",
            "+1",
            " 1",
            "01",
            "1.0",
            "1e3",
            "-",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(WebhookError::Timestamp),
                "{bad:?}"
            );
        }
        assert_eq!(parse_timestamp("0"), Ok(0));
        assert_eq!(parse_timestamp("-5"), Ok(-5));
    }
}
