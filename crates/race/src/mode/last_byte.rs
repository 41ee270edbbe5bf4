//! Last-byte synchronization over HTTP/1.1: one connection per request (to that request's
//! target), everything but the last byte sent ahead, then the last bytes written back to back.
//! Responses are parsed with `httparse` (head and chunk sizes); the request asks for
//! `connection: close`, so a body without a length ends at EOF.
//!
//! Just before the release each connection is read without waiting: anything already there (a
//! response, or the server closing) came back before the request was complete, so the request
//! is marked `early` and the runner counts the burst as unsynchronized.

use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Failure, FailureKind, Outcome, Plan, Released};
use crate::wire::{MAX_RESPONSE_BYTES, Prepared, Response, since};

pub async fn fire(
    plan: &Plan<'_>,
    requests: &[Prepared],
    origin: Instant,
) -> Result<Vec<Outcome>, String> {
    let targets = plan.targets;
    let mut held = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let target = targets.for_request(index);
        let bytes = request.to_http1_bytes(target);
        let (ahead, last) = bytes.split_at(bytes.len().saturating_sub(1));
        let mut stream = target
            .connect()
            .await
            .map_err(|error| targets.blame(target, error))?;
        stream
            .write_all(ahead)
            .await
            .map_err(|error| targets.blame(target, format!("write: {error}")))?;
        held.push((stream, last.to_vec()));
    }
    // Let the servers answer whatever they answer before the release.
    tokio::task::yield_now().await;
    let invoke_ns = since(origin);
    let mut released = Vec::with_capacity(held.len());
    for (mut stream, last) in held {
        let already = came_back(&stream);
        let early = already.is_some();
        let sent = stream
            .write_all(&last)
            .await
            .map_err(|error| Failure::io("write last byte", &error));
        released.push(Released {
            response: match (sent, already) {
                // A server that answered and closed may refuse the last byte.
                (Ok(()), already) | (Err(_), already @ Some(_)) => {
                    Ok(read_response(stream, already.unwrap_or_default(), origin))
                }
                (Err(failure), None) => Err(failure),
            },
            early,
        });
    }
    super::gather(released, invoke_ns, origin, plan.timeout).await
}

/// What the server has already sent on `stream`, read without waiting: `None` when nothing
/// has come back, `Some` (maybe empty: the server closed) when something has.
fn came_back(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 16 * 1024];
    match stream.try_read(&mut buffer) {
        Ok(n) => {
            buffer.truncate(n);
            Some(buffer)
        }
        // WouldBlock: nothing yet. Another error surfaces when the response is read.
        Err(_) => None,
    }
}

async fn read_response(
    mut stream: TcpStream,
    mut raw: Vec<u8>,
    origin: Instant,
) -> Result<(Response, u64), Failure> {
    let mut chunk = [0u8; 16 * 1024];
    let mut first_byte = (!raw.is_empty()).then(|| since(origin));
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|error| Failure::io("read", &error))?;
        if n == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| since(origin));
        if raw.len() + n > MAX_RESPONSE_BYTES {
            return Err(Failure::new(
                FailureKind::Protocol,
                format!("response over {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    if raw.is_empty() {
        return Err(Failure::new(
            FailureKind::Reset,
            "the server closed the connection without a response",
        ));
    }
    let response = parse_response(&raw).map_err(|error| {
        let kind = if error.starts_with("connection closed") {
            FailureKind::Reset
        } else {
            FailureKind::Protocol
        };
        Failure::new(kind, error)
    })?;
    Ok((response, first_byte.unwrap_or_else(|| since(origin))))
}

/// Parses a complete HTTP/1.1 response (the connection was closed after it).
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed
        .parse(raw)
        .map_err(|error| format!("response head: {error}"))?
    {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => {
            return Err("connection closed before the response head was complete".to_owned());
        }
    };
    let status = parsed.code.ok_or("response without a status")?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|header| {
            (
                header.name.to_ascii_lowercase(),
                String::from_utf8_lossy(header.value).into_owned(),
            )
        })
        .collect();
    let response = Response {
        status,
        headers,
        body: Bytes::new(),
    };
    let rest = &raw[head_len..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| "invalid content-length".to_owned())?;
        rest.get(..length)
            .ok_or("connection closed before the body was complete")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        body: Bytes::from(body),
        ..response
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let (used, size) =
            match httparse::parse_chunk_size(rest).map_err(|_| "invalid chunk size".to_owned())? {
                httparse::Status::Complete(found) => found,
                httparse::Status::Partial => return Err("truncated chunked body".to_owned()),
            };
        if size == 0 {
            return Ok(body);
        }
        let size = usize::try_from(size).map_err(|_| "chunk too large".to_owned())?;
        let data = rest.get(used..used + size).ok_or("truncated chunk")?;
        body.extend_from_slice(data);
        rest = rest.get(used + size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_chunked_and_eof_bodies() {
        let plain =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"1\"\r\n\r\nokEXTRA");
        assert_eq!(
            plain.as_ref().map(|r| (r.status, r.body.clone())),
            Ok((200, Bytes::from_static(b"ok")))
        );
        assert_eq!(
            plain.ok().and_then(|r| r.header("etag").map(str::to_owned)),
            Some("\"1\"".to_owned())
        );
        let chunked = parse_response(b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(
            chunked.map(|r| (r.status, r.body)),
            Ok((409, Bytes::from_static(b"abcde")))
        );
        let eof = parse_response(b"HTTP/1.1 200 OK\r\n\r\nuntil eof");
        assert_eq!(eof.map(|r| r.body), Ok(Bytes::from_static(b"until eof")));
    }

    #[test]
    fn truncated_responses_are_errors() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab")
                .is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
