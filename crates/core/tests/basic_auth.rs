#![cfg(not(loom))]
//! RFC 7617 Basic credentials: round trips, and every malformed header refused with the
//! error that names what is wrong with it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use raceproof_core::auth::{BasicAuthError, Credentials, MAX_HEADER_LEN};

/// The characters `char::is_control` is true for: C0, DEL and C1.
fn control_char() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u32..=0x1f).prop_map(|c| char::from_u32(c).expect("C0 is a valid char")),
        Just('\u{7f}'),
        (0x80u32..=0x9f).prop_map(|c| char::from_u32(c).expect("C1 is a valid char")),
    ]
}

/// Any non-control character, with ASCII and multi-byte ranges weighted in explicitly.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => (0x20u8..0x7f).prop_map(char::from),
        1 => prop::char::range('\u{a0}', '\u{7ff}'),
        1 => prop::char::range('\u{800}', '\u{ffff}')
            .prop_filter("not a control", |c| !c.is_control()),
        1 => prop::char::range('\u{10000}', '\u{10ffff}'),
        2 => any::<char>(),
    ]
    .prop_filter("not a control character", |c| !c.is_control())
}

/// A user-id the RFC allows: non-empty, no ':', no control characters.
fn user_id() -> impl Strategy<Value = String> {
    prop::collection::vec(text_char().prop_filter("no colon", |c| *c != ':'), 1..24)
        .prop_map(String::from_iter)
}

/// A password: possibly empty, may contain ':', no control characters.
fn password() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![4 => text_char(), 1 => Just(':')], 0..40)
        .prop_map(String::from_iter)
}

/// "basic" in a random mix of cases.
fn basic_scheme() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), 5).prop_map(|upper| {
        "basic"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// Optional whitespace around a field value (RFC 9110 5.5).
fn ows() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just(' '), Just('\t')], 0..3).prop_map(String::from_iter)
}

fn spaces(range: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    range.prop_map(|n| " ".repeat(n))
}

fn header_of(scheme: &str, gap: &str, decoded: &[u8]) -> String {
    format!("{scheme}{gap}{}", STANDARD.encode(decoded))
}

/// Inserts `c` at a char boundary chosen by `at` (taken modulo the boundaries).
fn insert_at(s: &str, at: usize, c: char) -> String {
    let boundaries: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    let i = boundaries[at % boundaries.len()];
    let mut out = String::with_capacity(s.len() + c.len_utf8());
    out.push_str(&s[..i]);
    out.push(c);
    out.push_str(&s[i..]);
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(user in user_id(), pw in password()) {
        let credentials = Credentials::new(&user, &pw).expect("valid user-id and password");
        let header = credentials.to_header();
        prop_assert!(header.starts_with("Basic "));
        let parsed = Credentials::parse_header(&header).expect("own header parses");
        prop_assert_eq!(parsed.user_id(), user.as_str());
        prop_assert_eq!(parsed.password(), pw.as_str());
        prop_assert_eq!(parsed, credentials);
    }

    #[test]
    fn scheme_case_and_whitespace_are_accepted(
        user in user_id(),
        pw in password(),
        scheme in basic_scheme(),
        gap in spaces(1..6),
        lead in ows(),
        trail in ows(),
    ) {
        let decoded = format!("{user}:{pw}");
        let header = format!("{lead}{}{trail}", header_of(&scheme, &gap, decoded.as_bytes()));
        let parsed = Credentials::parse_header(&header);
        prop_assert_eq!(parsed, Credentials::new(&user, &pw));
        let parsed = Credentials::parse_header(&header).expect("accepted");
        prop_assert_eq!(parsed.user_id(), user.as_str());
        prop_assert_eq!(parsed.password(), pw.as_str());
    }

    /// The split is on the first colon: everything after it is the password, colons included.
    #[test]
    fn split_is_on_first_colon(user in user_id(), pw in password()) {
        let header = header_of("Basic", " ", format!("{user}:{pw}").as_bytes());
        let parsed = Credentials::parse_header(&header).expect("valid");
        prop_assert_eq!(parsed.user_id(), user.as_str());
        prop_assert_eq!(parsed.password(), pw.as_str());
    }

    #[test]
    fn wrong_scheme(
        scheme in prop_oneof![
            Just("Bearer".to_owned()),
            Just("Digest".to_owned()),
            Just("Basi".to_owned()),
            Just("Basicc".to_owned()),
            Just("Negotiate".to_owned()),
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
        ].prop_filter("not basic", |s| !s.eq_ignore_ascii_case("basic")),
        gap in spaces(1..4),
        user in user_id(),
        pw in password(),
    ) {
        let header = header_of(&scheme, &gap, format!("{user}:{pw}").as_bytes());
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::WrongScheme));
        // A lone scheme with nothing after it is also the wrong scheme, not missing credentials.
        prop_assert_eq!(Credentials::parse_header(&scheme), Err(BasicAuthError::WrongScheme));
    }

    /// The scheme must be separated by SP: a tab or nothing glues it to the token.
    #[test]
    fn scheme_glued_to_token_is_wrong_scheme(
        scheme in basic_scheme(),
        glue in prop_oneof![Just(""), Just("\t")],
        user in user_id(),
        pw in password(),
    ) {
        let header = header_of(&scheme, glue, format!("{user}:{pw}").as_bytes());
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::WrongScheme));
    }

    #[test]
    fn missing_credentials(
        scheme in basic_scheme(),
        trailing in prop::collection::vec(prop_oneof![Just(' '), Just('\t')], 0..6)
            .prop_map(String::from_iter),
        lead in ows(),
    ) {
        let header = format!("{lead}{scheme}{trailing}");
        prop_assert_eq!(
            Credentials::parse_header(&header),
            Err(BasicAuthError::MissingCredentials)
        );
    }

    #[test]
    fn non_alphabet_character_is_invalid_base64(
        decoded in prop::collection::vec(any::<u8>(), 1..48),
        bad in prop_oneof![
            prop::sample::select(vec!['!', '*', '-', '_', '.', '~', '"', ',', ';', '\\', '@', '%']),
            text_char().prop_filter("outside the alphabet", |c| {
                !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | ' '))
            }),
        ],
        at in any::<usize>(),
        replace in any::<bool>(),
    ) {
        let token = STANDARD.encode(&decoded);
        let token = if replace {
            // Overwrite one alphabet character.
            let i = at % token.len();
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = bad;
            chars.into_iter().collect()
        } else {
            insert_at(&token, at, bad)
        };
        let header = format!("Basic {token}");
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
    }

    /// Whitespace inside the token (not at its ends) is not base64.
    #[test]
    fn inner_whitespace_is_invalid_base64(
        decoded in prop::collection::vec(any::<u8>(), 3..48),
        ws in prop_oneof![Just(' '), Just('\t')],
        at in any::<usize>(),
    ) {
        let token = STANDARD.encode(&decoded);
        let i = 1 + at % (token.len() - 1);
        let header = format!("Basic {}{ws}{}", &token[..i], &token[i..]);
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
    }

    #[test]
    fn missing_padding_is_invalid_base64(
        decoded in prop::collection::vec(any::<u8>(), 1..48)
            .prop_filter("needs padding", |d| d.len() % 3 != 0),
        keep in 0usize..2,
    ) {
        let token = STANDARD.encode(&decoded);
        let unpadded = token.trim_end_matches('=');
        let pads = token.len() - unpadded.len();
        prop_assert!(pads > 0);
        // Drop all the padding, or all but one '=' when there are two.
        let token = format!("{unpadded}{}", "=".repeat(keep.min(pads - 1)));
        let header = format!("Basic {token}");
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
        // Excess padding is not canonical either.
        let header = format!("Basic {}=", STANDARD.encode(&decoded));
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
    }

    #[test]
    fn non_canonical_trailing_bits_are_invalid_base64(
        decoded in prop::collection::vec(any::<u8>(), 1..48)
            .prop_filter("has a partial last group", |d| d.len() % 3 != 0),
        junk in 1u8..16,
    ) {
        let token = STANDARD.encode(&decoded);
        let unpadded = token.trim_end_matches('=');
        let pads = token.len() - unpadded.len();
        // One leftover byte leaves 4 unused bits in the last symbol, two leave 2.
        let unused_mask: u8 = if pads == 2 { 0x0f } else { 0x03 };
        let junk = junk & unused_mask;
        prop_assume!(junk != 0);
        let last = unpadded.as_bytes()[unpadded.len() - 1];
        let value = B64.iter().position(|&b| b == last).expect("alphabet symbol") as u8;
        prop_assert_eq!(value & unused_mask, 0, "the encoder writes zero trailing bits");
        let tweaked = char::from(B64[usize::from(value | junk)]);
        let token = format!("{}{tweaked}{}", &unpadded[..unpadded.len() - 1], "=".repeat(pads));
        let header = format!("Basic {token}");
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
    }

    #[test]
    fn truncated_token_is_invalid_base64(
        decoded in prop::collection::vec(any::<u8>(), 1..48),
        cut in 1usize..4,
    ) {
        let token = STANDARD.encode(&decoded);
        // A length that is not a multiple of 4 is never canonical padded base64.
        let token = &token[..token.len() - cut];
        let header = format!("Basic {token}");
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidBase64));
    }

    #[test]
    fn invalid_utf8(
        prefix in prop::collection::vec(any::<u8>(), 0..16),
        bad in prop_oneof![
            // Bytes that never occur in UTF-8.
            prop::sample::select(vec![0xc0u8, 0xc1, 0xf5, 0xfe, 0xff]),
            // A lone continuation byte.
            0x80u8..0xc0,
        ],
        suffix in prop::collection::vec(0u8..0x80, 0..16),
        colon in any::<bool>(),
    ) {
        let mut decoded = prefix;
        if colon {
            decoded.extend_from_slice(b"user:");
        }
        // Make sure `bad` is not completing a multi-byte sequence from the prefix.
        decoded.push(b'x');
        decoded.push(bad);
        decoded.extend(suffix);
        prop_assert!(String::from_utf8(decoded.clone()).is_err());
        let header = header_of("Basic", " ", &decoded);
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::InvalidUtf8));
    }

    #[test]
    fn missing_colon(
        text in prop::collection::vec(
            prop_oneof![8 => text_char(), 1 => control_char()]
                .prop_filter("no colon", |c| *c != ':'),
            1..40,
        ).prop_map(String::from_iter),
    ) {
        let header = header_of("Basic", " ", text.as_bytes());
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::MissingColon));
    }

    #[test]
    fn empty_user_id(
        pw in prop::collection::vec(prop_oneof![8 => text_char(), 1 => control_char()], 0..40)
            .prop_map(String::from_iter),
    ) {
        let header = header_of("Basic", " ", format!(":{pw}").as_bytes());
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::EmptyUserId));
        prop_assert_eq!(Credentials::new("", &pw), Err(BasicAuthError::EmptyUserId));
    }

    #[test]
    fn colon_in_user_id_is_refused_by_new(user in user_id(), at in any::<usize>(), pw in password()) {
        let user = insert_at(&user, at, ':');
        prop_assert_eq!(Credentials::new(&user, &pw), Err(BasicAuthError::ColonInUserId));
        // Over the wire the first colon ends the user-id instead.
        let header = header_of("Basic", " ", format!("{user}:{pw}").as_bytes());
        let (first, rest) = user.split_once(':').expect("has a colon");
        let parsed = Credentials::parse_header(&header);
        if first.is_empty() {
            prop_assert_eq!(parsed, Err(BasicAuthError::EmptyUserId));
        } else {
            let parsed = parsed.expect("splits on the first colon");
            prop_assert_eq!(parsed.user_id(), first);
            prop_assert_eq!(parsed.password(), format!("{rest}:{pw}"));
        }
    }

    #[test]
    fn control_character_in_user_id(
        user in user_id(),
        pw in password(),
        c in control_char(),
        at in any::<usize>(),
    ) {
        let user = insert_at(&user, at, c);
        let header = header_of("Basic", " ", format!("{user}:{pw}").as_bytes());
        prop_assert_eq!(
            Credentials::parse_header(&header),
            Err(BasicAuthError::ControlCharacter)
        );
        prop_assert_eq!(Credentials::new(&user, &pw), Err(BasicAuthError::ControlCharacter));
    }

    #[test]
    fn control_character_in_password(
        user in user_id(),
        pw in password(),
        c in control_char(),
        at in any::<usize>(),
    ) {
        let pw = insert_at(&pw, at, c);
        let header = header_of("Basic", " ", format!("{user}:{pw}").as_bytes());
        prop_assert_eq!(
            Credentials::parse_header(&header),
            Err(BasicAuthError::ControlCharacter)
        );
        prop_assert_eq!(Credentials::new(&user, &pw), Err(BasicAuthError::ControlCharacter));
    }

    #[test]
    fn over_long_header_is_refused_before_decoding(
        excess in 1usize..512,
        filler in prop_oneof![Just('A'), Just('!'), Just(' '), Just('é')],
        valid_prefix in any::<bool>(),
    ) {
        // Garbage or a plausible token: the size cap comes before any other check.
        let mut header = if valid_prefix { "Basic ".to_owned() } else { String::new() };
        while header.len() < MAX_HEADER_LEN + excess {
            header.push(filler);
        }
        prop_assert!(header.len() > MAX_HEADER_LEN);
        prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::TooLong));
    }

    /// `new` accepts exactly the credentials whose header fits in `MAX_HEADER_LEN`.
    #[test]
    fn new_refuses_credentials_whose_header_is_too_long(
        user in user_id(),
        len in 2900usize..3300,
        c in prop_oneof![Just('a'), Just(':'), Just('é')],
    ) {
        let mut pw = String::new();
        while pw.len() + c.len_utf8() <= len {
            pw.push(c);
        }
        let header_len = "Basic ".len() + STANDARD.encode(format!("{user}:{pw}")).len();
        let made = Credentials::new(&user, &pw);
        if header_len > MAX_HEADER_LEN {
            prop_assert_eq!(made, Err(BasicAuthError::TooLong));
            // And the header built by hand is refused by the parser too.
            let header = header_of("Basic", " ", format!("{user}:{pw}").as_bytes());
            prop_assert_eq!(Credentials::parse_header(&header), Err(BasicAuthError::TooLong));
        } else {
            let made = made.expect("fits");
            prop_assert_eq!(made.to_header().len(), header_len);
            prop_assert_eq!(Credentials::parse_header(&made.to_header()), Ok(made));
        }
    }

    #[test]
    fn empty_or_blank_header(blank in prop::collection::vec(prop_oneof![Just(' '), Just('\t')], 0..8)
        .prop_map(String::from_iter))
    {
        prop_assert_eq!(Credentials::parse_header(&blank), Err(BasicAuthError::Empty));
    }

    /// Debug output does not depend on the password at all, so it cannot leak it.
    #[test]
    fn debug_never_contains_the_password(
        user in user_id(),
        pw in password(),
        other in password(),
        secret in "[A-Za-z0-9]{12,20}",
    ) {
        let with = |p: &str| format!("{:?}", Credentials::new(&user, p).expect("valid"));
        prop_assert_eq!(with(&pw), with(&other));
        let marked = format!("{pw}{secret}");
        let debug = with(&marked);
        prop_assert!(!debug.contains(&secret), "{debug} leaks {secret}");
        prop_assert!(debug.contains("redacted"));
        // The user-id is not secret and is shown.
        let shown = format!("{user:?}");
        prop_assert!(debug.contains(&shown));
    }
}

#[test]
fn fixed_examples() {
    use BasicAuthError::*;
    // RFC 7617 section 2's example.
    let c = Credentials::parse_header("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").expect("RFC example");
    assert_eq!((c.user_id(), c.password()), ("Aladdin", "open sesame"));
    for (header, want) in [
        ("", Empty),
        ("Bearer x", WrongScheme),
        ("Basic", MissingCredentials),
        ("Basic   ", MissingCredentials),
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", InvalidBase64),
        ("Basic YR==", InvalidBase64),
        ("Basic /w==", InvalidUtf8),
        ("Basic YWJj", MissingColon),
        ("Basic OnB3", EmptyUserId),
        ("Basic YQA6cHc=", ControlCharacter),
    ] {
        assert_eq!(Credentials::parse_header(header), Err(want), "{header:?}");
    }
}

/// The cap is inclusive: a header of exactly `MAX_HEADER_LEN` bytes is decoded.
#[test]
fn header_of_exactly_max_len_is_accepted() {
    // 3066 decoded bytes encode to 4088 symbols; "Basic" plus 3 spaces makes 4096.
    let decoded = format!("u:{}", "p".repeat(3064));
    let token = STANDARD.encode(&decoded);
    assert_eq!(token.len(), 4088);
    let header = format!("Basic   {token}");
    assert_eq!(header.len(), MAX_HEADER_LEN);
    let parsed = Credentials::parse_header(&header).expect("exactly at the cap");
    assert_eq!(parsed.password().len(), 3064);
    let header = format!("Basic    {token}");
    assert_eq!(
        Credentials::parse_header(&header),
        Err(BasicAuthError::TooLong)
    );
}
