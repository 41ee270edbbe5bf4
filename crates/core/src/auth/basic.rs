//! HTTP Basic authentication credentials (RFC 7617).
//!
//! `Authorization: Basic base64(user-id ":" password)`. The parser is strict where the RFC
//! leaves room for confusion: canonical padded base64 only, the split happens on the *first*
//! colon (a user-id cannot contain one, a password can), control characters are rejected,
//! the text must be UTF-8, and the header is capped in size before anything is decoded.
//! Errors never echo the header: it carries a password.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// Longest `Authorization` header accepted, in bytes. Generous for real credentials, small
/// enough that decoding it is cheap whatever arrives.
pub const MAX_HEADER_LEN: usize = 4096;

/// Why an `Authorization` header is not usable Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasicAuthError {
    #[error("authorization header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("authorization header is empty")]
    Empty,
    #[error("authorization scheme is not Basic")]
    WrongScheme,
    #[error("Basic credentials are missing after the scheme")]
    MissingCredentials,
    #[error("Basic credentials are not canonical padded base64")]
    InvalidBase64,
    #[error("decoded Basic credentials are not UTF-8")]
    InvalidUtf8,
    #[error("decoded Basic credentials have no ':' between user-id and password")]
    MissingColon,
    #[error("user-id is empty")]
    EmptyUserId,
    #[error("user-id contains ':'")]
    ColonInUserId,
    #[error("credentials contain a control character")]
    ControlCharacter,
}

/// A user-id and password taken from a Basic `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user_id: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Builds credentials, applying the same rules as the parser, so that
    /// `Credentials::parse_header(&c.to_header())` always gives `c` back.
    pub fn new(user_id: &str, password: &str) -> Result<Self, BasicAuthError> {
        if user_id.is_empty() {
            return Err(BasicAuthError::EmptyUserId);
        }
        if user_id.contains(':') {
            // The first colon ends the user-id (RFC 7617 section 2).
            return Err(BasicAuthError::ColonInUserId);
        }
        if user_id
            .chars()
            .chain(password.chars())
            .any(char::is_control)
        {
            return Err(BasicAuthError::ControlCharacter);
        }
        let credentials = Self {
            user_id: user_id.to_owned(),
            password: password.to_owned(),
        };
        if credentials.to_header().len() > MAX_HEADER_LEN {
            return Err(BasicAuthError::TooLong);
        }
        Ok(credentials)
    }

    /// Parses the value of an `Authorization` header.
    pub fn parse_header(header: &str) -> Result<Self, BasicAuthError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(BasicAuthError::TooLong);
        }
        // Field values arrive with optional whitespace trimmed by HTTP parsing (RFC 9110 5.5).
        let value = header.trim_matches([' ', '\t']);
        if value.is_empty() {
            return Err(BasicAuthError::Empty);
        }
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        // The auth-scheme is case-insensitive (RFC 9110 11.1).
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(BasicAuthError::WrongScheme);
        }
        let token = rest.trim_start_matches(' ');
        if token.is_empty() {
            return Err(BasicAuthError::MissingCredentials);
        }
        let decoded = STANDARD
            .decode(token)
            .map_err(|_| BasicAuthError::InvalidBase64)?;
        let text = String::from_utf8(decoded).map_err(|_| BasicAuthError::InvalidUtf8)?;
        let (user_id, password) = text.split_once(':').ok_or(BasicAuthError::MissingColon)?;
        Self::new(user_id, password)
    }

    /// The header value a client sends: `Basic base64(user-id:password)`.
    pub fn to_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.user_id, self.password))
        )
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn password(&self) -> &str {
        &self.password
    }
}
