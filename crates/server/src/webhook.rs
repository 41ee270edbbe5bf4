//! `POST /operate` signed the Standard Webhooks way: the format's verification, which
//! yields the message's identity for the service's admission.
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries over
//! `"{id}.{timestamp}.{body}"`, keyed with the bytes of the `whsec_` secret. Any Standard
//! Webhooks library can sign one.
//!
//! This module is a thin adapter: [`WebhookKey::verify`] checks each `v1` entry with
//! [`HmacKey::verify`] (constant time) over the whole signed content (id, timestamp, raw
//! body bytes), so unauthenticated input stops here (401), and returns the
//! [`Verified`] identity: the matching tag, a MAC of the *whole* signed message, and the
//! signed timestamp. The freshness window and the atomic insert-if-absent are
//! `raceproof_core::service::Operations::admit`, the function the model catalogue proves;
//! the handler calls it next.

use crate::config::WebhookSecret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use raceproof_core::replay::{HmacKey, ReplayError, TAG_LEN, Tag, Verified};

/// Header names (Standard Webhooks, unbranded).
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Signature entries looked at, at most: each costs one HMAC.
pub const MAX_SIGNATURES: usize = 8;
/// Longest `webhook-id` accepted (the core's field limit).
pub const MAX_ID_LEN: usize = raceproof_core::replay::MAX_FIELD_LEN;

/// Why a Standard Webhooks request failed verification.
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
}

/// The three headers, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// Signs and verifies Standard Webhooks messages with the `whsec_` secret.
#[derive(Clone)]
pub struct WebhookKey {
    key: HmacKey,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(<redacted>)")
    }
}

impl WebhookKey {
    pub fn new(secret: &WebhookSecret) -> Result<Self, ReplayError> {
        Ok(Self {
            key: HmacKey::new(secret.bytes())?,
        })
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

    /// The format's verification: a canonical timestamp, an id within the core's limits,
    /// and one of at most [`MAX_SIGNATURES`] `v1` entries matching (constant time). Returns
    /// the identity the service admits; freshness is the admission's to check.
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
    ) -> Result<Verified, WebhookError> {
        if headers.id.is_empty() || headers.id.len() > MAX_ID_LEN {
            return Err(WebhookError::Id);
        }
        let timestamp = parse_timestamp(headers.timestamp)?;
        // `id.timestamp.body`, streamed into the MAC: the body is not copied.
        let content = [
            headers.id.as_bytes(),
            b".",
            headers.timestamp.as_bytes(),
            b".",
            body,
        ];
        let tag = headers
            .signature
            .split(' ')
            .filter(|entry| !entry.is_empty())
            .take(MAX_SIGNATURES)
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(decode_tag)
            .find(|tag| self.key.verify_parts(&content, tag).is_ok())
            .ok_or(WebhookError::Signature)?;
        Ok(Verified { tag, timestamp })
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
    use raceproof_core::backend::BackendError;
    use raceproof_core::replay::{Direction, ManualClock, ReplaySet};
    use raceproof_core::service::Operations;

    /// The reference vector of the Standard Webhooks test suites (libraries' `sign`
    /// tests): secret, id, timestamp, body and the signature their implementations make.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key() -> WebhookKey {
        WebhookKey::new(&WebhookSecret::parse(SPEC_SECRET).unwrap()).unwrap()
    }

    fn headers<'a>(timestamp: &'a str, signature: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: SPEC_ID,
            timestamp,
            signature,
        }
    }

    #[test]
    fn signs_and_verifies_the_standard_webhooks_vector_then_admits_it_once() {
        let key = key();
        assert_eq!(key.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        let ts = SPEC_TIMESTAMP.to_string();
        let verified = key
            .verify(&headers(&ts, SPEC_SIGNATURE), SPEC_BODY)
            .unwrap();
        assert_eq!(verified.timestamp, SPEC_TIMESTAMP);
        let ops = Operations::with_clock(ReplaySet::new(8), ManualClock::new(SPEC_TIMESTAMP));
        ops.admit(&verified, || ()).unwrap();
        assert_eq!(
            ops.admit(&verified, || ()),
            Err(BackendError::Replay(ReplayError::Replayed))
        );
    }

    #[test]
    fn one_matching_entry_among_several_is_enough() {
        let key = key();
        let ts = SPEC_TIMESTAMP.to_string();
        let several = format!(
            "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v2,abc {SPEC_SIGNATURE} v1,zz"
        );
        assert!(key.verify(&headers(&ts, &several), SPEC_BODY).is_ok());
        let none = "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v1a,x";
        assert_eq!(
            key.verify(&headers(&ts, none), SPEC_BODY).unwrap_err(),
            WebhookError::Signature
        );
    }

    #[test]
    fn tampering_with_any_part_breaks_the_signature() {
        let key = key();
        let ts = SPEC_TIMESTAMP.to_string();
        let body = br#"{"test": 2432232315}"#;
        assert!(key.verify(&headers(&ts, SPEC_SIGNATURE), body).is_err());
        let later = (SPEC_TIMESTAMP + 1).to_string();
        assert!(
            key.verify(&headers(&later, SPEC_SIGNATURE), SPEC_BODY)
                .is_err()
        );
        let other_id = SignedHeaders {
            id: "msg_other",
            timestamp: &ts,
            signature: SPEC_SIGNATURE,
        };
        assert!(key.verify(&other_id, SPEC_BODY).is_err());
    }

    /// A verified message is still refused by the admission when stale, with the reason.
    #[test]
    fn stale_timestamps_are_refused_by_the_admission_with_the_reason() {
        let ts = SPEC_TIMESTAMP.to_string();
        let verified = key()
            .verify(&headers(&ts, SPEC_SIGNATURE), SPEC_BODY)
            .unwrap();
        let clock = ManualClock::new(SPEC_TIMESTAMP + 301);
        let ops = Operations::with_clock(ReplaySet::new(8), clock).tolerance(300);
        assert_eq!(
            ops.admit(&verified, || ()),
            Err(BackendError::Replay(ReplayError::OutsideWindow {
                off_by: 301,
                direction: Direction::Behind,
                tolerance: 300,
            }))
        );
        assert!(ops.store().is_empty());
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
