//! The handlers' inputs, as axum extractors: Basic credentials, `If-Match`, and JSON bodies
//! (checked, capped and timed). Each refuses with the problem a client gets, so a handler
//! receives only well-formed input, in the order its arguments list them.

use crate::connections::ClientAddr;
use crate::problem::Problem;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use raceproof_core::audit::{AuditQuery, MAX_PAGE};
use raceproof_core::auth::Credentials;
use raceproof_core::throttle::ClientId;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The request's Basic credentials (401 with the challenge when absent or malformed).
#[derive(Debug)]
pub struct BasicAuth(pub Credentials);

impl<S: Send + Sync> FromRequestParts<S> for BasicAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Problem::unauthorized(
                "this endpoint needs exactly one Authorization: Basic header",
            ));
        };
        let text = value
            .to_str()
            .map_err(|_| Problem::unauthorized("the Authorization header is not visible ASCII"))?;
        // The parser's errors describe the defect, never the header's content.
        Credentials::parse_header(text)
            .map(BasicAuth)
            .map_err(|e| Problem::unauthorized(e.to_string()))
    }
}

/// The client a request came from, as the login throttle counts it: its TCP peer (an
/// IPv6 /64), or one "unknown" client for requests that did not come over a connection
/// (tests calling the router directly). Behind a reverse proxy every request has the
/// proxy's address: forwarded headers are not trusted, since any client can send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub ClientId);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ClientAddr>()
                .map_or_else(ClientId::unknown, |ClientAddr(peer)| {
                    ClientId::of(peer.ip())
                }),
        ))
    }
}

/// Entries `GET /audit` returns when `limit` is not given.
pub const DEFAULT_AUDIT_PAGE: usize = 1000;

/// `GET /audit`'s query: `after=SEQ` (entries after it, oldest first; without it, the
/// newest) and `limit=N` (1 to 4096, default 1000). Anything else: 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditParams(pub AuditQuery);

impl<S: Send + Sync> FromRequestParts<S> for AuditParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let bad = || {
            Problem::bad_request(format!(
                "the query takes after=<sequence number> and limit=<1..={MAX_PAGE}>"
            ))
        };
        let mut query = AuditQuery::newest(DEFAULT_AUDIT_PAGE);
        let pairs = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes());
        for (key, value) in pairs {
            let number = value.parse::<u64>().map_err(|_| bad())?;
            match key.as_ref() {
                "after" => query.after = Some(number),
                "limit" if (1..=MAX_PAGE as u64).contains(&number) => {
                    query.limit = usize::try_from(number).map_err(|_| bad())?;
                }
                _ => return Err(bad()),
            }
        }
        Ok(AuditParams(query))
    }
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// A strong tag naming a version (`"7"`).
    Version(u64),
    /// A well-formed tag that no record has: weak (`W/"7"`: If-Match compares strongly,
    /// RFC 9110 section 13.1.1) or not one of ours (`"abc"`). Answers 412.
    NeverMatches,
}

/// The request's `If-Match`, if any (400 when malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precondition(pub Option<IfMatch>);

impl<S: Send + Sync> FromRequestParts<S> for Precondition {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parse_if_match(&parts.headers).map(Precondition)
    }
}

/// Parses `If-Match` strictly: one entity tag. `*` and lists are refused (400): `*` would
/// make the update unconditional, which is what the header exists to prevent.
pub fn parse_if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, Problem> {
    let mut values = headers.get_all(IF_MATCH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &'static str| Problem::bad_request(why);
    if values.next().is_some() {
        return Err(bad("send one If-Match header with one entity tag"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad("If-Match is not visible ASCII"))?
        .trim_matches([' ', '\t']);
    if text == "*" {
        return Err(bad(
            "If-Match: * is not accepted here; send the record's ETag",
        ));
    }
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let opaque = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| t.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)))
        .ok_or_else(|| bad("If-Match must be a single entity tag, e.g. \"3\""))?;
    let canonical = !opaque.is_empty()
        && opaque.bytes().all(|b| b.is_ascii_digit())
        && (opaque == "0" || !opaque.starts_with('0'));
    match opaque.parse::<u64>() {
        Ok(version) if canonical && !weak => Ok(Some(IfMatch::Version(version))),
        _ => Ok(Some(IfMatch::NeverMatches)),
    }
}

/// The raw bytes of a JSON body: content type checked (415), size capped (413), deadline
/// (408). For bodies that are signed as sent.
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl FromRequest<Arc<AppState>> for JsonBytes {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Problem> {
        let (parts, body) = request.into_parts();
        read_json(&parts.headers, body, state).await.map(JsonBytes)
    }
}

/// [`JsonBytes`] and the request's headers, taken from the request rather than copied (as
/// axum's `HeaderMap` extractor does): for a handler that reads both, such as `/operate`.
#[derive(Debug)]
pub struct JsonWithHeaders {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl FromRequest<Arc<AppState>> for JsonWithHeaders {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Problem> {
        let (parts, body) = request.into_parts();
        let body = read_json(&parts.headers, body, state).await?;
        Ok(JsonWithHeaders {
            headers: parts.headers,
            body,
        })
    }
}

/// The JSON body's checks: content type (415), size (413), deadline (408).
async fn read_json(
    headers: &HeaderMap,
    body: axum::body::Body,
    state: &Arc<AppState>,
) -> Result<Bytes, Problem> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(is_json_media_type);
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let settings = state.settings();
    let limit = settings.max_body_bytes;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let collect = http_body_util::BodyExt::collect(limited);
    // A body that has already arrived is read without starting a timer.
    match crate::middleware::within(deadline, collect).await {
        None => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )),
        Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Some(Err(_)) => Err(Problem::bad_request("the body could not be read")),
        Some(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// `application/json` or `application/<anything>+json`, in any case, without allocating.
fn is_json_media_type(media_type: &str) -> bool {
    const APPLICATION: &str = "application/";
    media_type.eq_ignore_ascii_case("application/json")
        || (media_type.len() >= APPLICATION.len() + "+json".len()
            && media_type
                .get(..APPLICATION.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(APPLICATION))
            && media_type
                .get(media_type.len() - "+json".len()..)
                .is_some_and(|t| t.eq_ignore_ascii_case("+json")))
}

/// A JSON body type, with the shape its error messages name.
pub trait BodyShape: DeserializeOwned {
    /// The expected shape, as a client is told it (e.g. `{"target": string}`).
    const SHAPE: &'static str;
}

/// A JSON body of shape `T`: [`JsonBytes`]' checks, then parsed (400 naming the expected
/// shape, never echoing the input).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: BodyShape> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Problem> {
        let JsonBytes(bytes) = JsonBytes::from_request(request, state).await?;
        parse_json::<T>(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body of shape `T`; the error names the expected shape, never the input.
pub fn parse_json<T: BodyShape>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )),
            Category::Data => {
                Problem::bad_request(format!("the body must be a JSON object {}", T::SHAPE))
            }
        }
    })
}
