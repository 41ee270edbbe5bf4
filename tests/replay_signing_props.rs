#![cfg(not(loom))]
//! Signed requests: the canonical encoding is injective (the seed's concatenation is not),
//! and HMAC tags bind every bit. (The replay guard against a reference model is in
//! `replay_guard_props.rs`.)

use proptest::prelude::*;
use raceproof_core::backend::BackendError;
use raceproof_core::replay::{
    HmacKey, MAX_FIELD_LEN, ManualClock, ReplayError, ReplaySet, SignedFields, TAG_LEN, Tag,
};
use raceproof_core::service::Operations;
use raceproof_flows::seed_concatenation;

/// A field over a tiny alphabet, so that generated pairs often share prefixes and splits.
fn small_field() -> impl Strategy<Value = String> + Clone {
    "[ab:|0-9é]{1,6}"
}

/// A field of any valid length (1..=MAX_FIELD_LEN bytes), any Unicode.
fn any_field() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => small_field(),
        1 => "\\PC{1,64}".prop_filter("fits", |s| s.len() <= MAX_FIELD_LEN),
        1 => (1usize..=MAX_FIELD_LEN).prop_map(|n| "x".repeat(n)),
    ]
}

fn fields(field: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = SignedFields> {
    (
        field.clone(),
        field.clone(),
        field,
        prop_oneof![-3i64..3, any::<i64>()],
    )
        .prop_map(
            |(request_id, resource_id, action, timestamp)| SignedFields {
                request_id,
                resource_id,
                action,
                timestamp,
            },
        )
}

/// A string and two distinct split points strictly inside it (so that both halves are
/// non-empty, as `SignedFields` requires): it needs at least three chars.
fn split_twice() -> impl Strategy<Value = (String, usize, usize)> {
    "[ab0-9é]{3,12}".prop_flat_map(|s| {
        let n = s.chars().count();
        // Inner split points are 1..n; pick i, then j among the n - 2 others.
        (Just(s), 1..n, 1..n - 1).prop_map(move |(s, i, d)| {
            let j = 1 + (i - 1 + d) % (n - 1);
            (s, i, j)
        })
    })
}

/// Splits `s` before its `i`-th char.
fn split_at_char(s: &str, i: usize) -> (&str, &str) {
    let at = s.char_indices().nth(i).map_or(s.len(), |(b, _)| b);
    s.split_at(at)
}

fn key() -> impl Strategy<Value = HmacKey> {
    prop::collection::vec(any::<u8>(), 1..80)
        .prop_map(|secret| HmacKey::new(&secret).expect("non-empty key"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_is_injective(a in fields(any_field()), b in fields(any_field())) {
        let (ea, eb) = (a.encode().expect("valid"), b.encode().expect("valid"));
        prop_assert_eq!(a == b, ea == eb);
    }

    /// Pairs that differ in one field only, over a tiny alphabet: the hard cases for an
    /// encoding that forgot a length or a separator.
    #[test]
    fn encode_is_injective_on_near_pairs(
        a in fields(small_field()),
        which in 0usize..4,
        other in small_field(),
        ts in -3i64..3,
    ) {
        let mut b = a.clone();
        match which {
            0 => b.request_id = other,
            1 => b.resource_id = other,
            2 => b.action = other,
            _ => b.timestamp = ts,
        }
        prop_assert_eq!(a == b, a.encode().expect("valid") == b.encode().expect("valid"));
    }

    /// The same concatenated text split at different points, across any two adjacent fields.
    #[test]
    fn encode_distinguishes_split_points(
        (s, i, j) in split_twice(),
        boundary in 0usize..2,
        fixed in small_field(),
        ts in any::<i64>(),
    ) {
        let make = |k: usize| {
            let (x, y) = split_at_char(&s, k);
            let (x, y) = (x.to_owned(), y.to_owned());
            if boundary == 0 {
                SignedFields { request_id: x, resource_id: y, action: fixed.clone(), timestamp: ts }
            } else {
                SignedFields { request_id: fixed.clone(), resource_id: x, action: y, timestamp: ts }
            }
        };
        let (a, b) = (make(i), make(j));
        prop_assert_ne!(&a, &b);
        prop_assert_ne!(a.encode().expect("valid"), b.encode().expect("valid"));
    }

    /// Signing is MACing the context and the canonical encoding (however the MAC is
    /// computed), and a field that cannot be encoded cannot be signed either.
    #[test]
    fn sign_is_the_tag_of_the_encoding(
        f in fields(any_field()),
        key in key(),
        break_it in prop_oneof![3 => Just(None), 1 => (0usize..3).prop_map(Some)],
    ) {
        let mut f = f;
        match break_it {
            Some(0) => f.request_id.clear(),
            Some(1) => f.resource_id = "z".repeat(MAX_FIELD_LEN + 1),
            Some(_) => f.action.clear(),
            None => {}
        }
        match f.encode() {
            Ok(encoded) => {
                let tag = key.sign(&f).expect("encodable");
                // In the signing context: the context block, then the encoding.
                let signed = [raceproof_core::replay::SIGNING_CONTEXT.as_slice(), &encoded].concat();
                prop_assert_eq!(tag, key.tag(&signed));
                prop_assert_eq!(key.verify(&signed, &tag), Ok(()));
            }
            Err(e) => {
                prop_assert!(break_it.is_some());
                prop_assert_eq!(key.sign(&f), Err(e));
            }
        }
    }

    #[test]
    fn encode_refuses_empty_and_over_long_fields(
        f in fields(small_field()),
        which in 0usize..3,
        long in any::<bool>(),
        extra in 1usize..64,
    ) {
        let bad = if long { "y".repeat(MAX_FIELD_LEN + extra) } else { String::new() };
        let mut f = f;
        let field = match which {
            0 => { f.request_id = bad; "request id" }
            1 => { f.resource_id = bad; "resource id" }
            _ => { f.action = bad; "action" }
        };
        prop_assert_eq!(f.encode(), Err(ReplayError::FieldLength { field }));
    }

    /// The seed's plain concatenation collides for every such pair, so a tag over one
    /// verifies over the other; the canonical encoding keeps them apart.
    #[test]
    fn seed_concatenation_collides_where_encoding_does_not(
        (s, i, j) in split_twice(),
        ts in any::<i64>(),
        request_id in small_field(),
        key in key(),
    ) {
        let ((ri, ai), (rj, aj)) = (split_at_char(&s, i), split_at_char(&s, j));
        let ts_text = ts.to_string();
        let seed_i = seed_concatenation(ri, ai, &ts_text);
        let seed_j = seed_concatenation(rj, aj, &ts_text);
        prop_assert_eq!(&seed_i, &seed_j);

        let fi = SignedFields {
            request_id: request_id.clone(),
            resource_id: ri.to_owned(),
            action: ai.to_owned(),
            timestamp: ts,
        };
        let fj = SignedFields {
            resource_id: rj.to_owned(),
            action: aj.to_owned(),
            ..fi.clone()
        };
        prop_assert_ne!(fi.encode().expect("valid"), fj.encode().expect("valid"));

        // Seed scheme: the tag over (ri, ai) is accepted for (rj, aj).
        let seed_tag = key.tag(&seed_i);
        prop_assert_eq!(key.verify(&seed_j, &seed_tag), Ok(()));
        // Canonical scheme: it is not.
        let tag = key.sign(&fi).expect("valid");
        prop_assert_eq!(key.verify(&fi.signed_message().expect("valid"), &tag), Ok(()));
        prop_assert_eq!(
            key.verify(&fj.signed_message().expect("valid"), &tag),
            Err(ReplayError::BadSignature)
        );
        // Nor does the service admit the re-split request under the original signature.
        let ops = Operations::with_clock(ReplaySet::new(8), ManualClock::new(ts));
        prop_assert_eq!(
            ops.admit_request(&key, &fj, &tag.to_hex(), || ()),
            Err(BackendError::Replay(ReplayError::BadSignature))
        );
        prop_assert!(ops.admit_request(&key, &fi, &tag.to_hex(), || ()).is_ok());
    }

    /// A timestamp's digits can also migrate into the action in the seed's scheme.
    #[test]
    fn seed_concatenation_lets_digits_move_into_the_timestamp(
        resource in "[a-z]{1,6}",
        action in "[a-z]{1,6}",
        digit in 1u8..10,
        ts in 0i64..1_000_000,
    ) {
        let moved = format!("{action}{digit}");
        let ts_long = format!("{digit}{ts}");
        prop_assert_eq!(
            seed_concatenation(&resource, &moved, &ts.to_string()),
            seed_concatenation(&resource, &action, &ts_long)
        );
    }

    #[test]
    fn hmac_accepts_own_tags_and_rejects_bit_flips(
        key in key(),
        message in prop::collection::vec(any::<u8>(), 0..128),
        tag_bit in 0usize..TAG_LEN * 8,
        msg_bit in any::<usize>(),
    ) {
        let tag = key.tag(&message);
        prop_assert_eq!(key.verify(&message, &tag), Ok(()));
        prop_assert_eq!(key.tag(&message), tag, "deterministic");

        let mut flipped = tag;
        flipped.0[tag_bit / 8] ^= 1 << (tag_bit % 8);
        prop_assert_eq!(key.verify(&message, &flipped), Err(ReplayError::BadSignature));

        if !message.is_empty() {
            let bit = msg_bit % (message.len() * 8);
            let mut altered = message.clone();
            altered[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(key.verify(&altered, &tag), Err(ReplayError::BadSignature));
        }
        // Appending or truncating changes the message too.
        let mut longer = message.clone();
        longer.push(0);
        prop_assert_eq!(key.verify(&longer, &tag), Err(ReplayError::BadSignature));
    }

    #[test]
    fn hmac_tags_depend_on_the_key(
        a in prop::collection::vec(any::<u8>(), 1..40),
        b in prop::collection::vec(any::<u8>(), 1..40),
        message in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        // HMAC pads short keys with zeros: keys equal up to trailing zeros are the same key.
        let trim = |k: &[u8]| k.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
        prop_assume!(a[..trim(&a)] != b[..trim(&b)]);
        let (ka, kb) = (HmacKey::new(&a).expect("key"), HmacKey::new(&b).expect("key"));
        prop_assert_eq!(kb.verify(&message, &ka.tag(&message)), Err(ReplayError::BadSignature));
    }

    #[test]
    fn tag_hex_round_trip(bytes in prop::array::uniform32(any::<u8>()), upper in any::<bool>()) {
        let tag = Tag(bytes);
        let hex = tag.to_hex();
        prop_assert_eq!(hex.len(), TAG_LEN * 2);
        let hex = if upper { hex.to_ascii_uppercase() } else { hex };
        prop_assert_eq!(Tag::from_hex(&hex), Ok(tag));
    }

    #[test]
    fn tag_from_hex_rejects_wrong_lengths(len in (0usize..200).prop_filter("not 64", |n| *n != 64)) {
        let text = "a".repeat(len);
        prop_assert_eq!(Tag::from_hex(&text), Err(ReplayError::MalformedSignature));
    }

    #[test]
    fn tag_from_hex_rejects_non_hex(
        bytes in prop::array::uniform32(any::<u8>()),
        at in 0usize..TAG_LEN * 2,
        bad in any::<char>().prop_filter("not hex", |c| !c.is_ascii_hexdigit()),
    ) {
        let hex = Tag(bytes).to_hex();
        let mut chars: Vec<char> = hex.chars().collect();
        chars[at] = bad;
        let text: String = chars.into_iter().collect();
        prop_assert_eq!(Tag::from_hex(&text), Err(ReplayError::MalformedSignature));
    }

    #[test]
    fn only_the_empty_key_is_refused(secret in prop::collection::vec(any::<u8>(), 0..8)) {
        let made = HmacKey::new(&secret);
        if secret.is_empty() {
            prop_assert_eq!(made.err(), Some(ReplayError::EmptyKey));
        } else {
            prop_assert!(made.is_ok());
        }
    }
}

#[test]
fn fixed_examples() {
    assert_eq!(HmacKey::new(b"").err(), Some(ReplayError::EmptyKey));
    // 64 bytes but 32 two-byte chars: not hex.
    assert_eq!(
        Tag::from_hex(&"é".repeat(32)),
        Err(ReplayError::MalformedSignature)
    );
    assert_eq!(
        seed_concatenation("ab", "c", "1"),
        seed_concatenation("a", "bc", "1")
    );
    // RFC 4231 test case 2.
    let key = HmacKey::new(b"Jefe").expect("key");
    assert_eq!(
        key.tag(b"what do ya want for nothing?").to_hex(),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
