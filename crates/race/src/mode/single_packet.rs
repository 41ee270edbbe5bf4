//! Single-packet attack over HTTP/2 cleartext (prior knowledge), one connection per target.
//!
//! Every request goes out on its target's connection without its final frame (a body's last
//! byte, or an empty END_STREAM DATA frame for a request without a body). A PING round trip on
//! every connection then makes sure all of that has been written and read by the servers, and
//! warms the connections. Finally every final frame, on every connection, is queued with no
//! `.await` in between: `h2` only encodes and writes frames when a connection's task is polled,
//! and on a current-thread runtime no such task can run until this one yields, so each
//! connection's final frames leave in one write. Whether they also arrive together is measured
//! (the servers' handler-start stamps), not assumed.

use std::future::poll_fn;
use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Ping, PingPong, RecvStream, SendStream};

use super::Outcome;
use crate::wire::{
    MAX_RESPONSE_BYTES, Prepared, REQUEST_TIMEOUT, Response, Target, Targets, since,
};

/// The HTTP/2 connection-level flow-control window every peer starts with (RFC 9113, 6.9.2).
const INITIAL_CONNECTION_WINDOW: usize = 65_535;

/// One target's h2 connection, ready for its share of the burst.
struct Connection<'a> {
    target: &'a Target,
    client: SendRequest<Bytes>,
    ping_pong: PingPong,
}

pub async fn fire(
    targets: &Targets,
    requests: &[Prepared],
    origin: Instant,
) -> Result<Vec<Outcome>, String> {
    // Connection k carries the requests for target k; a target that gets none gets no connection.
    let mut connections: Vec<Option<Connection<'_>>> = Vec::new();
    for (slot, target) in targets.as_slice().iter().enumerate() {
        let share: Vec<&Prepared> = (requests.iter().enumerate())
            .filter(|(index, _)| targets.slot_for(*index) == slot)
            .map(|(_, request)| request)
            .collect();
        if share.is_empty() {
            connections.push(None);
            continue;
        }
        let connection = open(target, &share)
            .await
            .map_err(|error| targets.blame(target, error))?;
        connections.push(Some(connection));
    }

    let mut pending = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let connection = connections
            .get_mut(targets.slot_for(index))
            .and_then(Option::as_mut)
            .ok_or("no connection for a request")?;
        let blame = |error: String| targets.blame(connection.target, error);
        let head = request.to_http(connection.target, true, ())?;
        poll_fn(|cx| connection.client.poll_ready(cx))
            .await
            .map_err(|error| blame(format!("h2 not ready: {error}")))?;
        let (response, mut send) = connection
            .client
            .send_request(head, false)
            .map_err(|error| blame(format!("h2 send_request: {error}")))?;
        let body = &request.body;
        let split = body.len().saturating_sub(1);
        if split > 0 {
            send.send_data(body.slice(..split), false)
                .map_err(|error| blame(format!("h2 send_data: {error}")))?;
        }
        pending.push((response, send, body.slice(split..)));
    }
    // Flush every partial request and warm each connection: its PING is queued behind them.
    for connection in connections.iter_mut().flatten() {
        ping(&mut connection.ping_pong)
            .await
            .map_err(|error| targets.blame(connection.target, error))?;
    }

    // Release: no await between these calls, whatever their connection, so each connection's
    // final frames leave in one write, and none leaves before the last one is queued.
    let invoke_ns = since(origin);
    let mut released = Vec::with_capacity(pending.len());
    for (response, mut send, last) in pending {
        released.push(release(&mut send, last).map(|()| receive(response, origin)));
    }
    // The connection tasks end once their streams are done and the clients are dropped.
    drop(connections);
    super::gather(released, invoke_ns, origin).await
}

/// Opens `target`'s connection and checks that `share` (its requests) can be staged on it.
async fn open<'a>(target: &'a Target, share: &[&Prepared]) -> Result<Connection<'a>, String> {
    let stream = target.connect().await?;
    let (client, mut connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|error| {
            format!("h2 handshake (is the target serving h2c with prior knowledge?): {error}")
        })?;
    let mut ping_pong = connection.ping_pong().ok_or("h2 ping_pong already taken")?;
    tokio::spawn(async move {
        // Ends when every stream is done and the client handle is dropped.
        let _ = connection.await;
    });
    // The server sends its SETTINGS before it can answer a PING: after the PONG the concurrent
    // stream limit below is the server's, not h2's default.
    ping(&mut ping_pong).await?;
    let client = client
        .ready()
        .await
        .map_err(|error| format!("h2 not ready: {error}"))?;
    let limit = client.current_max_send_streams();
    if share.len() > limit {
        return Err(format!(
            "{} requests of a burst on one connection exceed the server's SETTINGS_MAX_CONCURRENT_STREAMS ({limit}); lower the actors' counts",
            share.len()
        ));
    }

    // Everything but the final frames must be on the wire before the release, so it has to fit
    // in the connection's flow-control window, which starts at 65,535 bytes for every peer.
    let held_back: usize = share
        .iter()
        .map(|request| request.body.len().saturating_sub(1))
        .sum();
    if held_back >= INITIAL_CONNECTION_WINDOW {
        return Err(format!(
            "the bodies of a burst on one connection total {held_back} bytes before their last bytes; single-packet needs them under {INITIAL_CONNECTION_WINDOW} (one HTTP/2 flow-control window): use last-byte, or smaller bodies"
        ));
    }
    Ok(Connection {
        target,
        client,
        ping_pong,
    })
}

async fn ping(ping_pong: &mut PingPong) -> Result<(), String> {
    tokio::time::timeout(REQUEST_TIMEOUT, ping_pong.ping(Ping::opaque()))
        .await
        .map_err(|_| "no PONG from the server".to_owned())?
        .map(|_pong| ())
        .map_err(|error| format!("h2 ping: {error}"))
}

fn release(send: &mut SendStream<Bytes>, last: Bytes) -> Result<(), String> {
    send.send_data(last, true)
        .map_err(|error| format!("h2 final frame: {error}"))
}

async fn receive(
    response: h2::client::ResponseFuture,
    origin: Instant,
) -> Result<(Response, u64), String> {
    let response = response
        .await
        .map_err(|error| format!("h2 response: {error}"))?;
    let first_byte = since(origin);
    let (parts, body) = response.into_parts();
    let body = read_body(body).await?;
    Ok((Response::from_parts(&parts, body), first_byte))
}

async fn read_body(mut body: RecvStream) -> Result<Bytes, String> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|error| format!("h2 response body: {error}"))?;
        // Returning the capacity keeps the server able to send; it cannot fail for a live stream.
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("response body over {MAX_RESPONSE_BYTES} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
