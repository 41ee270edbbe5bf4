//! Request ids (issue 21): a client's `x-request-id` is kept only when it is short and
//! plain ([`MAX_CLIENT_ID_LEN`] bytes of letters, digits and `-._:`), since it is echoed in
//! the response and written to every log line of the request; anything else is replaced.
//! The server's own ids are 128 bits that tell nothing: not when the server started, not
//! how many requests it has served.

use axum::http::HeaderValue;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest client request id kept, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Whether a client's request id may be kept (echoed and logged).
pub fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CLIENT_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
}

/// Server-made ids: a per-process counter through a keyed hash (SipHash, keyed from the
/// OS's randomness once per process), 32 hex digits. Unique in practice, unpredictable
/// without the keys, and cheaper than a UUID v4's `getrandom` call per request.
#[derive(Clone)]
pub struct ServerIds {
    keys: Arc<(RandomState, RandomState)>,
    next: Arc<AtomicU64>,
}

impl Default for ServerIds {
    fn default() -> Self {
        Self {
            keys: Arc::new((RandomState::new(), RandomState::new())),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl ServerIds {
    /// The next id, as a header value (32 lowercase hex digits, formatted on the stack).
    pub fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let half = |keys: &RandomState| {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(n);
            hasher.finish()
        };
        let word = (u128::from(half(&self.keys.0)) << 64) | u128::from(half(&self.keys.1));
        let mut id = [0u8; 32];
        for (i, digit) in id.iter_mut().enumerate() {
            let nibble = (word >> (4 * (31 - i))) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
        // Hex digits are always a valid header value.
        HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("-"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_short_plain_client_ids_are_kept() {
        let keep = |v: &str| acceptable(&HeaderValue::from_str(v).unwrap());
        assert!(keep("3f2c9a1e-7b44-4c1d-9a55-0d6b8e2f1a90"));
        assert!(keep("trace:abc.def_1"));
        assert!(!keep(""));
        assert!(!keep(&"a".repeat(MAX_CLIENT_ID_LEN + 1)));
        assert!(!keep("two words"));
        assert!(!keep("<script>"));
    }

    #[test]
    fn server_ids_are_distinct_and_do_not_count() {
        let ids = ServerIds::default();
        let (a, b) = (ids.next(), ids.next());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
        // Consecutive ids share no prefix a reader could count on.
        assert_ne!(a[..8], b[..8]);
        // Another process (another key) numbers differently.
        assert_ne!(ServerIds::default().next(), a);
    }
}
