//! Single-packet attack over HTTP/2 cleartext (prior knowledge), `plan.connections`
//! connections per target.
//!
//! Every request with a body goes out on its connection without its final frame (the body's
//! last byte). A request without a body is not sent at all before the release: many servers
//! (hypercorn and every ASGI server, hyper, axum) start the handler as soon as the HEADERS
//! frame arrives, so only holding back the whole HEADERS frame holds such a request back. A
//! PING round trip on every connection then makes sure everything staged has been written and
//! read by the servers, and warms the connections (two round trips: see below). Finally every held-back frame, on every
//! connection, is queued with no `.await` in between (a body's last DATA frame, or a bodiless
//! request's HEADERS frame with END_STREAM): `h2` only encodes and writes frames when a
//! connection's task is polled, and on a current-thread runtime no such task can run until this
//! one yields, so each connection's held-back frames leave in one write, and the connections'
//! writes follow one another. Whether they also arrive together is measured (the servers'
//! handler-start stamps), not assumed.
//!
//! A server can still answer a request with a body before its last byte (a handler that never
//! reads the body): just before the release every staged response is polled once, and one
//! that has already come back (or been reset) marks its request `early`, so the runner counts
//! the burst as unsynchronized rather than as a pass.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Ping, PingPong, RecvStream, SendStream};

use super::{Failure, FailureKind, Outcome, Plan, Released};
use crate::error::RaceError;
use crate::wire::{Http1, MAX_RESPONSE_BYTES, Prepared, Response, Target, since};

/// The HTTP/2 connection-level flow-control window every peer starts with (RFC 9113, 6.9.2).
const INITIAL_CONNECTION_WINDOW: usize = 65_535;

/// One h2 connection, ready for its share of the burst.
struct Connection<'a> {
    target: &'a Target,
    client: SendRequest<Bytes>,
    ping_pong: PingPong,
}

/// A request staged before the release: what is left to send.
enum Held {
    /// No body: nothing sent yet; the HEADERS frame (with END_STREAM) goes at the release.
    Head {
        slot: usize,
        head: http::Request<()>,
    },
    /// All but the body's last byte sent; the last DATA frame (with END_STREAM) goes at the
    /// release.
    LastByte {
        response: ResponseFuture,
        send: SendStream<Bytes>,
        last: Bytes,
    },
}

/// Which connection request `index` goes on: its target's (round robin over targets, as in
/// every mode), then round robin over that target's connections.
fn slot_for(plan: &Plan<'_>, index: usize) -> usize {
    let targets = plan.targets.as_slice().len();
    plan.targets.slot_for(index) * plan.connections + (index / targets) % plan.connections
}

fn target_of<'a>(plan: &Plan<'a>, slot: usize) -> &'a Target {
    &plan.targets.as_slice()[slot / plan.connections]
}

/// Checks, before the first burst, that every target speaks h2c with prior knowledge, so that a
/// server that does not is one clear error up front rather than every burst failing.
pub async fn preflight(plan: &Plan<'_>) -> Result<(), RaceError> {
    for target in plan.targets.as_slice() {
        if let Err(error) = open(target, &[], plan.timeout).await {
            return Err(diagnose(target, error, plan.timeout).await);
        }
    }
    Ok(())
}

/// Why `target` refused h2c: an HTTP/1.1 answer to a plain request means it speaks HTTP/1.1
/// only, which is worth saying in so many words.
async fn diagnose(target: &Target, h2_error: String, timeout: Duration) -> RaceError {
    let probe = Prepared {
        actor: usize::MAX,
        method: http::Method::GET,
        path: "/".to_owned(),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    let http1 = match Http1::connect(target).await {
        Ok(mut connection) => connection
            .send(target, &probe, Instant::now(), timeout)
            .await
            .is_ok(),
        Err(_) => false,
    };
    let message = if http1 {
        format!(
            "{} answers HTTP/1.1 but refuses HTTP/2 with prior knowledge (h2c), which single-packet needs ({h2_error}); use --mode last-byte or --mode naive, or serve h2c (hypercorn does; uvicorn does not)",
            target.url
        )
    } else {
        format!(
            "{}: no HTTP/2 with prior knowledge (h2c), which single-packet needs: {h2_error}",
            target.url
        )
    };
    RaceError::NoH2c(message)
}

pub async fn fire(
    plan: &Plan<'_>,
    requests: &[Prepared],
    origin: Instant,
) -> Result<Vec<Outcome>, String> {
    let slots = plan.targets.as_slice().len() * plan.connections;
    // A slot that gets no request of this burst gets no connection.
    let mut connections: Vec<Option<Connection<'_>>> = Vec::with_capacity(slots);
    for slot in 0..slots {
        let share: Vec<&Prepared> = (requests.iter().enumerate())
            .filter(|(index, _)| slot_for(plan, *index) == slot)
            .map(|(_, request)| request)
            .collect();
        if share.is_empty() {
            connections.push(None);
            continue;
        }
        let target = target_of(plan, slot);
        let connection = open(target, &share, plan.timeout)
            .await
            .map_err(|error| plan.targets.blame(target, error))?;
        connections.push(Some(connection));
    }

    let mut held = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let slot = slot_for(plan, index);
        let connection = connections
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or("no connection for a request")?;
        let blame = |error: String| plan.targets.blame(connection.target, error);
        let head = request.to_http(connection.target, true, ())?;
        if request.body.is_empty() {
            held.push(Held::Head { slot, head });
            continue;
        }
        poll_fn(|cx| connection.client.poll_ready(cx))
            .await
            .map_err(|error| blame(format!("h2 not ready: {error}")))?;
        let (response, mut send) = connection
            .client
            .send_request(head, false)
            .map_err(|error| blame(format!("h2 send_request: {error}")))?;
        let split = request.body.len() - 1;
        if split > 0 {
            send.send_data(request.body.slice(..split), false)
                .map_err(|error| blame(format!("h2 send_data: {error}")))?;
        }
        let last = request.body.slice(split..);
        held.push(Held::LastByte {
            response,
            send,
            last,
        });
    }
    // Flush every partial request and warm each connection: its PING is queued behind them.
    // A server answers a PING at once, before its handlers run: a second round trip gives a
    // handler that started without waiting for what is held back the time to answer, so that
    // the check below sees it.
    for _ in 0..2 {
        for connection in connections.iter_mut().flatten() {
            ping(&mut connection.ping_pong, plan.timeout)
                .await
                .map_err(|error| plan.targets.blame(connection.target, error))?;
        }
    }
    // Let every connection task take in what arrived before its PONG (an early response).
    tokio::task::yield_now().await;

    // Release: no await between these calls, whatever their connection, so each connection's
    // held-back frames leave in one write, and none leaves before the last one is queued.
    let invoke_ns = since(origin);
    let mut cx = Context::from_waker(Waker::noop());
    let mut released = Vec::with_capacity(held.len());
    for held in held {
        released.push(match held {
            Held::Head { slot, head } => {
                let sent = connections
                    .get_mut(slot)
                    .and_then(Option::as_mut)
                    .ok_or_else(|| Failure::new(FailureKind::Connection, "no connection"))
                    .and_then(|connection| release_head(&mut connection.client, head, &mut cx));
                Released {
                    response: sent.map(|response| receive(Awaited::Pending(response), origin)),
                    early: false,
                }
            }
            Held::LastByte {
                mut response,
                mut send,
                last,
            } => {
                // Whatever came back before this instant did not wait for the last byte.
                let awaited = match Pin::new(&mut response).poll(&mut cx) {
                    Poll::Ready(result) => Awaited::Ready(result),
                    Poll::Pending => Awaited::Pending(response),
                };
                let early = matches!(awaited, Awaited::Ready(_));
                let sent = send
                    .send_data(last, true)
                    .map_err(|error| Failure::h2("h2 final frame", &error));
                Released {
                    response: match (sent, &awaited) {
                        // A stream the server already answered may refuse the last byte.
                        (Err(_), Awaited::Ready(_)) | (Ok(()), _) => Ok(receive(awaited, origin)),
                        (Err(failure), Awaited::Pending(_)) => Err(failure),
                    },
                    early,
                }
            }
        });
    }
    // The connection tasks end once their streams are done and the clients are dropped.
    drop(connections);
    super::gather(released, invoke_ns, origin, plan.timeout).await
}

/// Queues a bodiless request's HEADERS frame with END_STREAM, without awaiting.
fn release_head(
    client: &mut SendRequest<Bytes>,
    head: http::Request<()>,
    cx: &mut Context<'_>,
) -> Result<ResponseFuture, Failure> {
    match client.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(error)) => return Err(Failure::h2("h2 not ready", &error)),
        Poll::Pending => {
            return Err(Failure::new(
                FailureKind::Connection,
                "h2 connection not ready at the release (stream limit?)",
            ));
        }
    }
    client
        .send_request(head, true)
        .map(|(response, _no_body)| response)
        .map_err(|error| Failure::h2("h2 send_request", &error))
}

/// Opens an h2 connection to `target` and checks that `share` (its requests) can be staged on
/// it.
async fn open<'a>(
    target: &'a Target,
    share: &[&Prepared],
    timeout: Duration,
) -> Result<Connection<'a>, String> {
    let stream = target.connect().await?;
    let (client, mut connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|error| format!("h2 handshake: {error}"))?;
    let mut ping_pong = connection.ping_pong().ok_or("h2 ping_pong already taken")?;
    tokio::spawn(async move {
        // Ends when every stream is done and the client handle is dropped.
        let _ = connection.await;
    });
    // The server sends its SETTINGS before it can answer a PING: after the PONG the concurrent
    // stream limit below is the server's, not h2's default.
    ping(&mut ping_pong, timeout).await?;
    let client = client
        .ready()
        .await
        .map_err(|error| format!("h2 not ready: {error}"))?;
    let limit = client.current_max_send_streams();
    if share.len() > limit {
        return Err(format!(
            "{} requests of a burst on one connection exceed the server's SETTINGS_MAX_CONCURRENT_STREAMS ({limit}); lower the actors' counts, or spread them with --connections",
            share.len()
        ));
    }

    // Everything but the final frames must be on the wire before the release, so it has to fit
    // in the connection's flow-control window, which starts at 65,535 bytes for every peer.
    let staged: usize = share
        .iter()
        .map(|request| request.body.len().saturating_sub(1))
        .sum();
    if staged >= INITIAL_CONNECTION_WINDOW {
        return Err(format!(
            "the bodies of a burst on one connection total {staged} bytes before their last bytes; single-packet needs them under {INITIAL_CONNECTION_WINDOW} (one HTTP/2 flow-control window): use last-byte, smaller bodies, or --connections"
        ));
    }
    Ok(Connection {
        target,
        client,
        ping_pong,
    })
}

async fn ping(ping_pong: &mut PingPong, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, ping_pong.ping(Ping::opaque()))
        .await
        .map_err(|_| "no PONG from the server".to_owned())?
        .map(|_pong| ())
        .map_err(|error| format!("h2 ping: {error}"))
}

/// A response head: already polled to completion before the release, or still to come.
enum Awaited {
    Ready(Result<http::Response<RecvStream>, h2::Error>),
    Pending(ResponseFuture),
}

async fn receive(awaited: Awaited, origin: Instant) -> Result<(Response, u64), Failure> {
    let response = match awaited {
        Awaited::Ready(result) => result,
        Awaited::Pending(response) => response.await,
    }
    .map_err(|error| Failure::h2("h2 response", &error))?;
    let first_byte = since(origin);
    let (parts, body) = response.into_parts();
    let body = read_body(body).await?;
    Ok((Response::from_parts(&parts, body), first_byte))
}

async fn read_body(mut body: RecvStream) -> Result<Bytes, Failure> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|error| Failure::h2("h2 response body", &error))?;
        // Returning the capacity keeps the server able to send; it cannot fail for a live stream.
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Failure::new(
                FailureKind::Protocol,
                format!("response body over {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
