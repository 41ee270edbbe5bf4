#![cfg(not(loom))]
//! Request signatures are MACs in their own context: a MAC of the bare encoded fields,
//! which any other use of the same key could produce over the same bytes, is not one.

use proptest::prelude::*;
use raceproof_core::backend::BackendError;
use raceproof_core::replay::{
    HmacKey, ManualClock, ReplayError, ReplaySet, SIGNING_CONTEXT, SignedFields,
};
use raceproof_core::service::Operations;

const NOW: i64 = 1_700_000_000;

fn fields() -> impl Strategy<Value = SignedFields> {
    (
        "[a-zA-Z0-9_-]{1,40}",
        "[a-z0-9-]{1,40}",
        "[a-z]{1,16}",
        -5i64..5,
    )
        .prop_map(|(request_id, resource_id, action, offset)| SignedFields {
            request_id,
            resource_id,
            action,
            timestamp: NOW + offset,
        })
}

/// Keys of any length HMAC accepts (shorter and longer than its 64-byte block).
fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..100)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A plain MAC of the encoding is refused, by the key and by the service.
    #[test]
    fn mac_of_the_bare_encoding_is_not_a_signature(f in fields(), secret in secret()) {
        let key = HmacKey::new(&secret).expect("non-empty key");
        let bare = key.tag(&f.encode().expect("valid"));
        prop_assert_eq!(key.verify_fields(&f, &bare), Err(ReplayError::BadSignature));
        let ops = Operations::with_clock(ReplaySet::new(8), ManualClock::new(NOW));
        let admit = |signature: &str| ops.admit_request(&key, &f, signature, || ());
        prop_assert_eq!(admit(&bare.to_hex()), Err(BackendError::Replay(ReplayError::BadSignature)));
        // The genuine signature is still admitted, once.
        let signature = key.sign(&f).expect("valid").to_hex();
        prop_assert!(admit(&signature).is_ok());
        prop_assert_eq!(admit(&signature), Err(BackendError::Replay(ReplayError::Replayed)));
    }

    /// A signature is the plain HMAC of the context block followed by the encoding, so a
    /// client that MACs a buffer computes the same tag as the streamed `sign`.
    #[test]
    fn signature_is_the_mac_of_context_then_encoding(f in fields(), secret in secret()) {
        let key = HmacKey::new(&secret).expect("non-empty key");
        let message = f.signed_message().expect("valid");
        prop_assert_eq!(&message[..SIGNING_CONTEXT.len()], SIGNING_CONTEXT.as_slice());
        let encoded = f.encode().expect("valid");
        prop_assert_eq!(&message[SIGNING_CONTEXT.len()..], encoded.as_slice());
        let tag = key.sign(&f).expect("valid");
        prop_assert_eq!(key.tag(&message), tag);
        prop_assert_eq!(key.verify_fields(&f, &tag), Ok(()));
    }
}

/// The context is one whole SHA-256 block, absorbed with the key, and a typical request
/// (22-character request id, `order-NNNNNN`, `refund`) encodes in at most 55 bytes: one
/// more block, as before the context.
#[test]
fn context_is_one_block_and_typical_requests_one_more() {
    assert_eq!(SIGNING_CONTEXT.len(), 64);
    assert!(SIGNING_CONTEXT.starts_with(b"raceproof/operate/v1\0"));
    let typical = SignedFields {
        request_id: "x".repeat(22),
        resource_id: "order-000042".to_owned(),
        action: "refund".to_owned(),
        timestamp: NOW,
    };
    let encoded = typical.encode().expect("valid");
    assert_eq!(encoded.len(), 52);
    // SHA-256 appends at least 9 bytes (0x80 and the 64-bit length) within the block.
    assert!(encoded.len() + 9 <= 64);
}
