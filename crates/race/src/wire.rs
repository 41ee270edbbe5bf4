//! Targets, prepared requests, responses, and the plain HTTP/1.1 client used outside bursts
//! (setup, audit and final-state requests) and by the naive mode.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::RaceError;
use crate::failure::{Failure, FailureKind};

/// The response header raceproof's server (started with its timing flag) sets to the instant its
/// handler started, in nanoseconds since the Unix epoch.
pub const HANDLER_START_HEADER: &str = "x-raceproof-handler-start-ns";
/// The largest response body read (an audit log over many bursts is the biggest).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long one request may take before it counts as failed (`info`: outcome unknown).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where requests go: an `http://host:port` URL that was resolved once.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    /// `host:port` as the Host header / `:authority` carries it.
    pub authority: String,
    pub addr: SocketAddr,
    pub loopback: bool,
}

impl Target {
    /// Parses and resolves `url`; refuses any non-loopback address unless `allow_non_loopback`.
    pub async fn resolve(url: &str, allow_non_loopback: bool) -> Result<Self, RaceError> {
        let bad = |message: &str| RaceError::Target(url.to_owned(), message.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported (h2c and cleartext HTTP/1.1 only)",
                ));
            }
            _ => return Err(bad("expected http://host:port")),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad(
                "give the origin only (no path); scenario paths are absolute",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|error| RaceError::Target(url.to_owned(), format!("cannot resolve: {error}")))?
            .collect();
        let first = *addrs.first().ok_or_else(|| bad("resolves to no address"))?;
        let loopback = addrs.iter().all(|addr| addr.ip().is_loopback());
        if !loopback && !allow_non_loopback {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            return Err(RaceError::NotLoopback(url.to_owned(), list.join(", ")));
        }
        Ok(Target {
            url: url.to_owned(),
            authority: authority.as_str().to_owned(),
            addr: first,
            loopback,
        })
    }

    pub async fn connect(&self) -> Result<TcpStream, String> {
        let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|error| format!("connect: {error}"))?;
        stream
            .set_nodelay(true)
            .map_err(|error| format!("set_nodelay: {error}"))?;
        Ok(stream)
    }
}

/// The instances a burst is split across: never empty, and the first is the primary.
///
/// Request `i` of a burst goes to `targets[i % n]` (round robin), so copies that one process
/// would refuse land on different processes, as behind a load balancer. Setup, audit and
/// final-state requests go to the primary: they observe state the instances are meant to share.
#[derive(Debug, Clone)]
pub struct Targets {
    all: Vec<Target>,
}

impl Targets {
    /// One instance: every request goes to it, as with a single `--target`.
    pub fn one(target: Target) -> Self {
        Targets { all: vec![target] }
    }

    /// Several instances in the order given; `None` when `targets` is empty.
    pub fn new(targets: Vec<Target>) -> Option<Self> {
        (!targets.is_empty()).then_some(Targets { all: targets })
    }

    /// Resolves every URL with [`Target::resolve`] (so the loopback rule applies to each).
    /// The same origin may appear twice: that is two connections to one instance.
    pub async fn resolve(urls: &[String], allow_non_loopback: bool) -> Result<Self, RaceError> {
        // No burst has more requests, so more targets could never all be reached.
        let max = crate::limits::MAX_REQUESTS_PER_BURST;
        if urls.len() > max {
            return Err(RaceError::Limit(format!(
                "{} targets, the limit is {max} (the most requests in one burst)",
                urls.len()
            )));
        }
        let mut all = Vec::with_capacity(urls.len());
        for url in urls {
            all.push(Target::resolve(url, allow_non_loopback).await?);
        }
        Targets::new(all).ok_or(RaceError::NoTarget)
    }

    /// The first target: setup, audit and final-state requests go here.
    pub fn primary(&self) -> &Target {
        // Non-empty by construction.
        &self.all[0]
    }

    /// Where request `index` of a burst goes: round robin over the targets.
    pub fn for_request(&self, index: usize) -> &Target {
        &self.all[self.slot_for(index)]
    }

    /// The position in [`Targets::as_slice`] of [`Targets::for_request`]`(index)`.
    pub fn slot_for(&self, index: usize) -> usize {
        index % self.all.len()
    }

    /// Every target, the primary first.
    pub fn as_slice(&self) -> &[Target] {
        &self.all
    }

    /// `error` as it is with one target; with several, prefixed with `target`'s URL, so that a
    /// failure names the instance.
    pub(crate) fn blame(&self, target: &Target, error: String) -> String {
        if self.all.len() > 1 {
            format!("{}: {error}", target.url)
        } else {
            error
        }
    }

    /// Their URLs, in order.
    pub fn urls(&self) -> Vec<String> {
        self.all.iter().map(|target| target.url.clone()).collect()
    }
}

impl From<Target> for Targets {
    fn from(target: Target) -> Self {
        Targets::one(target)
    }
}

/// A request ready to go on the wire.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Index of the actor that sends it.
    pub actor: usize,
    pub method: http::Method,
    pub path: String,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Bytes,
}

impl Prepared {
    /// An `http::Request` for hyper (HTTP/1.1) or h2: `uri` is the path for HTTP/1.1 and the
    /// absolute form for h2 (which derives `:scheme` and `:authority` from it).
    pub fn to_http<B>(
        &self,
        target: &Target,
        absolute: bool,
        body: B,
    ) -> Result<http::Request<B>, String> {
        let uri = if absolute {
            format!("http://{}{}", target.authority, self.path)
        } else {
            self.path.clone()
        };
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(uri);
        if !absolute {
            builder = builder.header(http::header::HOST, target.authority.as_str());
        }
        for (name, value) in &self.headers {
            // HTTP/2 forbids connection-specific headers; `:authority` replaces Host.
            let connection_specific = [
                http::header::HOST,
                http::header::CONNECTION,
                http::header::TRANSFER_ENCODING,
                http::header::UPGRADE,
                http::header::TE,
            ]
            .contains(name);
            if !(absolute && connection_specific) {
                builder = builder.header(name, value);
            }
        }
        builder
            .body(body)
            .map_err(|error| format!("invalid request: {error}"))
    }

    /// The HTTP/1.1 request as bytes (request line and headers built from validated parts).
    pub fn to_http1_bytes(&self, target: &Target) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!(
                "{} {} HTTP/1.1\r\nhost: {}\r\n",
                self.method, self.path, target.authority
            )
            .as_bytes(),
        );
        let has_length = self
            .headers
            .iter()
            .any(|(name, _)| name == http::header::CONTENT_LENGTH);
        if !has_length
            && (!self.body.is_empty()
                || self.method == http::Method::POST
                || self.method == http::Method::PUT)
        {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"connection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// A response as the invariants see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's handler-start stamp, if it sent one.
    pub fn handler_start_ns(&self) -> Option<u64> {
        self.header(HANDLER_START_HEADER)?.trim().parse().ok()
    }

    pub(crate) fn from_parts(parts: &http::response::Parts, body: Bytes) -> Self {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Response {
            status: parts.status.as_u16(),
            headers,
            body,
        }
    }
}

/// Monotonic nanoseconds since `origin`.
pub fn since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// An HTTP/1.1 connection made ready before a burst (naive mode), or kept open for the reads
/// of a run ([`Reader`]).
pub struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Http1 {
    pub async fn connect(target: &Target) -> Result<Self, String> {
        let stream = target.connect().await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("handshake: {error}"))?;
        tokio::spawn(async move {
            // The connection ends when the peer closes it or the sender is dropped.
            let _ = connection.await;
        });
        Ok(Http1 { sender })
    }

    /// Whether the server has closed the connection (it cannot carry another request).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request; returns the response and when its head arrived (ns since `origin`).
    /// The connection stays usable for another request if the server keeps it open.
    pub async fn send(
        &mut self,
        target: &Target,
        request: &Prepared,
        origin: Instant,
        timeout: Duration,
    ) -> Result<(Response, u64), Failure> {
        let work = async {
            let request = request
                .to_http(target, false, Full::new(request.body.clone()))
                .map_err(|error| Failure::new(FailureKind::Protocol, error))?;
            self.sender
                .ready()
                .await
                .map_err(|error| Failure::hyper("connection", &error))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|error| Failure::hyper("request", &error))?;
            let first_byte = since(origin);
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|error| {
                    Failure::new(FailureKind::Reset, format!("response body: {error}"))
                })?
                .to_bytes();
            Ok((Response::from_parts(&parts, body), first_byte))
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| Failure::timeout(timeout))?
    }
}

/// The reads of a run (setup requests, audit and final-state reads), all on one HTTP/1.1
/// connection kept open from the first read to the end of the run, so that behind one port
/// with several workers they all reach the same worker and see the same state. If the server
/// closes it, the next read opens another, which may reach another worker: [`Reader::opened`]
/// counts the connections, so a burst whose reads were split across two can be told apart.
pub struct Reader {
    target: Target,
    timeout: Duration,
    connection: Option<Http1>,
    opened: usize,
}

impl Reader {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Reader {
            target,
            timeout,
            connection: None,
            opened: 0,
        }
    }

    /// Where the reads go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How many connections the reads have used so far.
    pub fn opened(&self) -> usize {
        self.opened
    }

    /// Sends one read on the kept connection (opening it first if there is none, or the server
    /// closed it).
    pub async fn send(&mut self, request: &Prepared, context: &str) -> Result<Response, RaceError> {
        let reusable = self
            .connection
            .take()
            .filter(|connection| !connection.is_closed());
        let mut connection = match reusable {
            Some(connection) => connection,
            None => {
                let connection = Http1::connect(&self.target)
                    .await
                    .map_err(|error| RaceError::transport(context, error))?;
                self.opened += 1;
                connection
            }
        };
        let (response, _) = connection
            .send(&self.target, request, Instant::now(), self.timeout)
            .await
            .map_err(|failure| RaceError::transport(context, failure))?;
        self.connection = Some(connection);
        Ok(response)
    }
}

/// Checks that `path` can go on the wire as it is: an absolute path and optional query made
/// only of characters a URL may carry (no space, no `#`, no control character). Nothing is
/// encoded behind the scenario's back: a request is sent as written or not at all.
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("path `{path}` must start with `/`"));
    }
    if let Some(bad) = path.chars().find(|c| {
        !c.is_ascii_graphic()
            || matches!(
                c,
                '#' | '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'
            )
    }) {
        let hint = match bad {
            ' ' => {
                "write a space as %20 (or + in a query), or use {{urlencode ...}} on a placeholder"
            }
            '#' => "a fragment is never sent: write # as %23",
            _ => "percent-encode it, or use {{urlencode ...}} on a placeholder",
        };
        return Err(format!(
            "path `{path}` contains {bad:?}, which a URL cannot carry: {hint}"
        ));
    }
    http::uri::PathAndQuery::try_from(path)
        .map(|_| ())
        .map_err(|error| format!("path `{path}` is not a valid URL path: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(port: u16) -> Target {
        Target {
            url: format!("http://127.0.0.1:{port}"),
            authority: format!("127.0.0.1:{port}"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            loopback: true,
        }
    }

    #[test]
    fn targets_are_never_empty_and_go_round_robin() {
        assert!(Targets::new(Vec::new()).is_none());
        let one = Targets::from(target(1));
        assert_eq!(one.for_request(5).addr.port(), 1);
        assert_eq!(one.blame(one.primary(), "refused".into()), "refused");

        let three = Targets::new(vec![target(1), target(2), target(3)]);
        let three = three.as_ref().map(|targets| {
            let ports: Vec<u16> = (0..7)
                .map(|index| targets.for_request(index).addr.port())
                .collect();
            (targets.primary().addr.port(), ports, targets.urls().len())
        });
        assert_eq!(three, Some((1, vec![1, 2, 3, 1, 2, 3, 1], 3)));
    }

    #[test]
    fn more_targets_than_a_burst_can_reach_are_refused() {
        let urls = vec!["http://127.0.0.1:1".to_owned(); 65];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let refused = runtime.map(|runtime| runtime.block_on(Targets::resolve(&urls, false)));
        assert!(matches!(refused, Ok(Err(RaceError::Limit(_)))));
    }
}
