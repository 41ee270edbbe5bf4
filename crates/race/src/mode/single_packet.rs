//! Single-packet attack over HTTP/2 cleartext (prior knowledge).
//!
//! Every request goes out on one connection without its final frame (a body's last byte, or an
//! empty END_STREAM DATA frame for a request without a body). A PING round trip then makes sure
//! all of that has been written and read by the server, and warms the connection. Finally every
//! final frame is queued with no `.await` in between: `h2` only encodes and writes frames when
//! its connection task is polled, and on a current-thread runtime that task cannot run until
//! this one yields, so the final frames leave in one write. Whether they also arrive together is
//! measured (the server's handler-start stamps), not assumed.

use std::time::Instant;

use bytes::Bytes;
use h2::{Ping, RecvStream, SendStream};

use super::Outcome;
use crate::wire::{MAX_RESPONSE_BYTES, Prepared, REQUEST_TIMEOUT, Response, Target, since};

/// The HTTP/2 connection-level flow-control window every peer starts with (RFC 9113, 6.9.2).
const INITIAL_CONNECTION_WINDOW: usize = 65_535;

pub async fn fire(
    target: &Target,
    requests: &[Prepared],
    origin: Instant,
) -> Result<Vec<Outcome>, String> {
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
    tokio::time::timeout(REQUEST_TIMEOUT, ping_pong.ping(Ping::opaque()))
        .await
        .map_err(|_| "no PONG from the server".to_owned())?
        .map_err(|error| format!("h2 ping: {error}"))?;
    let mut client = client
        .ready()
        .await
        .map_err(|error| format!("h2 not ready: {error}"))?;
    let limit = client.current_max_send_streams();
    if requests.len() > limit {
        return Err(format!(
            "a burst of {} requests exceeds the server's SETTINGS_MAX_CONCURRENT_STREAMS ({limit}); lower the actors' counts",
            requests.len()
        ));
    }

    // Everything but the final frames must be on the wire before the release, so it has to fit
    // in the connection's flow-control window, which starts at 65,535 bytes for every peer.
    let held_back: usize = requests
        .iter()
        .map(|request| request.body.len().saturating_sub(1))
        .sum();
    if held_back >= INITIAL_CONNECTION_WINDOW {
        return Err(format!(
            "the burst's bodies total {held_back} bytes before their last bytes; single-packet needs them under {INITIAL_CONNECTION_WINDOW} (one HTTP/2 flow-control window): use last-byte, or smaller bodies"
        ));
    }

    let mut pending = Vec::with_capacity(requests.len());
    for request in requests {
        let head = request.to_http(target, true, ())?;
        let (response, mut send) = client
            .send_request(head, false)
            .map_err(|error| format!("h2 send_request: {error}"))?;
        let body = &request.body;
        let split = body.len().saturating_sub(1);
        if split > 0 {
            send.send_data(body.slice(..split), false)
                .map_err(|error| format!("h2 send_data: {error}"))?;
        }
        pending.push((response, send, body.slice(split..)));
        client = client
            .ready()
            .await
            .map_err(|error| format!("h2 not ready: {error}"))?;
    }
    // Flush every partial request and warm the connection: the PING is queued behind them.
    tokio::time::timeout(REQUEST_TIMEOUT, ping_pong.ping(Ping::opaque()))
        .await
        .map_err(|_| "no PONG from the server".to_owned())?
        .map_err(|error| format!("h2 ping: {error}"))?;

    // Release: no await between these calls, so they leave in one write.
    let invoke_ns = since(origin);
    let mut released = Vec::with_capacity(pending.len());
    for (response, mut send, last) in pending {
        released.push(release(&mut send, last).map(|()| receive(response, origin)));
    }
    drop(client);
    super::gather(released, invoke_ns, origin).await
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
