//! Request ids (issue 21): a client's `x-request-id` is kept only when it is short and
//! plain ([`MAX_CLIENT_ID_LEN`] bytes of letters, digits and `-._:`), since it is echoed in
//! the response and written to every log line of the request; anything else is replaced.
//! The server's own ids are 128 bits that tell nothing: not when the server started, not
//! how many requests it has served.

use axum::http::{HeaderMap, HeaderValue};
use std::hash::{BuildHasher as _, Hasher as _, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request-id header.
pub const X_REQUEST_ID: &str = "x-request-id";

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

/// Removes a client's request id that may not be kept (or more than one), so that the
/// server makes one instead.
pub fn sanitize(headers: &mut HeaderMap) {
    let mut values = headers.get_all(X_REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => return,
        (Some(value), None) => acceptable(value),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove(X_REQUEST_ID);
    }
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
    /// The next id.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let half = |keys: &RandomState| {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(n);
            hasher.finish()
        };
        format!("{:016x}{:016x}", half(&self.keys.0), half(&self.keys.1))
    }
}

impl MakeRequestId for ServerIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&self.next_id())
            .ok()
            .map(RequestId::new)
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
        let mut headers = HeaderMap::new();
        headers.append(X_REQUEST_ID, HeaderValue::from_static("a"));
        headers.append(X_REQUEST_ID, HeaderValue::from_static("b"));
        sanitize(&mut headers);
        assert!(headers.get(X_REQUEST_ID).is_none());
    }

    #[test]
    fn server_ids_are_distinct_and_do_not_count() {
        let ids = ServerIds::default();
        let (a, b) = (ids.next_id(), ids.next_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        // Consecutive ids share no prefix a reader could count on.
        assert_ne!(a[..8], b[..8]);
        // Another process (another key) numbers differently.
        assert_ne!(ServerIds::default().next_id(), a);
    }
}
