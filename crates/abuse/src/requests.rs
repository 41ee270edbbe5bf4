//! Requests that are too big, too slow, malformed, or too many: huge heads, body floods,
//! slow bodies, malformed inputs, stream floods, a write flood against the audit log, and
//! password guessing.

use crate::wire::{self, Answer, basic, exchange, percentile_ms, request};
use crate::{Config, Target, row};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use raceproof_report::abuse::AbuseProbe;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(15);

pub async fn run(target: Target, config: &Config) -> Vec<AbuseProbe> {
    vec![
        huge_heads(target, config).await,
        missing_host(target).await,
        body_floods(target, config).await,
        slow_body(target, config).await,
        malformed(target).await,
        stream_flood(target, config).await,
        audit_flood(target).await,
        guessing(target, config).await,
    ]
}

async fn huge_heads(target: Target, config: &Config) -> AbuseProbe {
    let n = 64;
    let filler = "a".repeat(4 * config.max_header_bytes);
    let raw = request("GET", "/users/bob", &format!("X-Fill: {filler}\r\n"), "");
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(
            exchange(target.addr, &raw, WAIT)
                .await
                .map_or(0, |a| a.status),
        );
    }
    let refused = statuses.iter().filter(|&&s| s == 431).count();
    row(
        "huge-heads",
        "HTTP/1.1 heads of 4 x the limit",
        format!("head {} KiB (431 beyond)", config.max_header_bytes / 1024),
        format!("{refused} of {n} answered 431 (hyper's own, empty body) and closed"),
        refused == n,
    )
}

async fn missing_host(target: Target) -> AbuseProbe {
    let raw = format!(
        "GET /users/bob HTTP/1.1\r\n{}Connection: close\r\n\r\n",
        basic("bob", "b0b")
    );
    let answer = exchange(target.addr, raw.as_bytes(), WAIT)
        .await
        .unwrap_or_default();
    row(
        "missing-host",
        "an HTTP/1.1 request without Host",
        "RFC 9112 3.2: 400",
        format!(
            "{}{}",
            answer.status,
            if answer.is_problem() {
                " problem+json"
            } else {
                ""
            }
        ),
        answer.status == 400 && answer.is_problem(),
    )
}

async fn body_floods(target: Target, config: &Config) -> AbuseProbe {
    let auth = basic("bob", "b0b");
    // A declared 100 MB body: refused on its Content-Length, before a byte of it is read.
    let declared = format!(
        "POST /update-email HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: 100000000\r\nConnection: close\r\n\r\n"
    );
    let first = exchange(target.addr, declared.as_bytes(), WAIT)
        .await
        .unwrap_or_default();
    // A chunked body of 1 MiB: refused once it passes the limit while streaming.
    let mut chunked = format!(
        "POST /update-email HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..64 {
        chunked.extend_from_slice(format!("4000\r\n{}\r\n", "a".repeat(0x4000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let second = exchange(target.addr, &chunked, WAIT)
        .await
        .unwrap_or_default();
    row(
        "body-floods",
        "a declared 100 MB body; a chunked 1 MiB body",
        format!("body {} KiB (413 beyond)", config.max_body_bytes / 1024),
        format!("{} and {}", first.status, second.status),
        first.status == 413 && second.status == 413,
    )
}

async fn slow_body(target: Target, config: &Config) -> AbuseProbe {
    let head = format!(
        "POST /update-email HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n{{\"email\"",
        basic("bob", "b0b")
    );
    // The body never finishes: the server gives up after its body timeout.
    let answer = exchange(target.addr, head.as_bytes(), WAIT)
        .await
        .unwrap_or_default();
    row(
        "slow-body",
        "a body that stops after 8 of 100 bytes",
        format!("body within {}s (408)", config.body_timeout_secs),
        answer.status.to_string(),
        answer.status == 408,
    )
}

/// Malformed inputs: each must get a 4xx, never a 5xx nor a secret.
async fn malformed(target: Target) -> AbuseProbe {
    let bob = basic("bob", "b0b");
    let cases: Vec<Vec<u8>> = vec![
        b"HELLO\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /users/bob HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
        b"GET /users/bob HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n".to_vec(),
        b"GET /users/bob HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n".to_vec(),
        request("POST", "/update-email", &bob, "{"),
        request("POST", "/update-email", &bob, "[]"),
        request("POST", "/update-email", &bob, r#"{"email":"a@b","extra":1}"#),
        request("POST", "/update-email", &format!("{bob}If-Match: *\r\n"), r#"{"email":"a@b"}"#),
        request("POST", "/update-email", &format!("{bob}If-Match: \"1\", \"2\"\r\n"), r#"{"email":"a@b"}"#),
        request("POST", "/promote", &bob, r#"{"target":"\u0000"}"#),
        request("POST", "/operate", "", r#"{"resource_id":"a","action":"b"}"#),
        request("POST", "/operate", "webhook-id: x\r\nwebhook-timestamp: -1\r\nwebhook-signature: v1,AAAA\r\n", "{}"),
        request("GET", "/audit?after=-1", &basic("root", "r00t"), ""),
        request("GET", "/%ff%fe", "", ""),
        request("DELETE", "/users/bob", &bob, ""),
        b"POST /update-email HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        b"GET /users/bob HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
    ];
    let n = cases.len();
    let mut client_errors = 0;
    let mut worst = Vec::new();
    for raw in &cases {
        let answer: Answer = exchange(target.addr, raw, WAIT).await.unwrap_or_default();
        // A server-made request id is 32 random hex digits, which can spell `b0b`: it is
        // not searched.
        let head: Vec<&str> = answer
            .head
            .lines()
            .filter(|line| !line.to_ascii_lowercase().starts_with("x-request-id:"))
            .collect();
        let head = head.join("\r\n");
        let leaks = ["s3cr3t", "b0b", "r00t", "whsec_", "argon2"]
            .iter()
            .any(|secret| answer.body.contains(secret) || head.contains(secret));
        if (400..500).contains(&answer.status) && !leaks {
            client_errors += 1;
        } else {
            worst.push(format!(
                "{} ({})",
                answer.status,
                String::from_utf8_lossy(&raw[..raw.len().min(24)])
            ));
        }
    }
    row(
        "malformed",
        "bad request lines, headers, credentials, JSON, preconditions, framing",
        "4xx, no 5xx, no secret echoed",
        if worst.is_empty() {
            format!("{client_errors} of {n} answered 4xx, none echoing a secret")
        } else {
            format!("{client_errors} of {n} 4xx; others: {}", worst.join(", "))
        },
        client_errors == n,
    )
}

/// h2c streams of authenticated requests from many connections at once, while a
/// legitimate HTTP/1.1 client keeps asking.
async fn stream_flood(target: Target, config: &Config) -> AbuseProbe {
    let connections = 16;
    let streams = config.max_streams as usize;
    let length = Duration::from_secs(3);
    let stop = Instant::now() + length;
    let alice = wire::basic("alice", "s3cr3t");
    let alice = alice
        .trim_end()
        .trim_start_matches("Authorization: ")
        .to_owned();
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let Ok(stream) = TcpStream::connect(target.addr).await else {
            continue;
        };
        let Ok((sender, conn)) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await
        else {
            continue;
        };
        tokio::spawn(conn);
        for _ in 0..streams {
            let mut sender = sender.clone();
            let (addr, alice) = (target.addr, alice.clone());
            flood.spawn(async move {
                let (mut ok, mut shed, mut other) = (0u64, 0u64, 0u64);
                while Instant::now() < stop {
                    let request = hyper::Request::get(format!("http://{addr}/users/alice"))
                        .header("authorization", &alice)
                        .body(Empty::<Bytes>::new())
                        .expect("a valid request");
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.into_body().collect().await;
                            match status {
                                200 => ok += 1,
                                503 => shed += 1,
                                _ => other += 1,
                            }
                        }
                        Err(_) => break,
                    }
                }
                (ok, shed, other)
            });
        }
    }
    // The legitimate client: one request at a time on new connections, as long as the
    // flood lasts.
    let mut latencies = Vec::new();
    let (mut legit_ok, mut legit_shed, mut legit_other) = (0, 0, 0);
    let raw = request("GET", "/users/bob", &basic("bob", "b0b"), "");
    while Instant::now() < stop {
        let start = Instant::now();
        match exchange(target.addr, &raw, WAIT).await.map(|a| a.status) {
            Some(200) => legit_ok += 1,
            Some(503) => legit_shed += 1,
            _ => legit_other += 1,
        }
        latencies.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut ok, mut shed, mut other) = (0, 0, 0);
    while let Some(Ok((o, s, x))) = flood.join_next().await {
        ok += o;
        shed += s;
        other += x;
    }
    latencies.sort();
    row(
        "stream-flood",
        "16 h2c connections x max streams of authenticated GETs for 3 s, beside one client",
        format!(
            "{} streams per connection; {} requests in flight (503 beyond)",
            config.max_streams, config.max_in_flight
        ),
        format!(
            "flood: {ok} answered, {shed} shed, {other} other; legitimate: {legit_ok} \
             answered, {legit_shed} shed, {legit_other} other, p50 {:.1} ms, p90 {:.1} ms",
            percentile_ms(&latencies, 50),
            percentile_ms(&latencies, 90)
        ),
        // Shed, never failed otherwise, and the one-at-a-time client still served.
        shed > 0 && other == 0 && legit_ok > 0,
    )
}

/// One keep-alive HTTP/1.1 connection for many requests.
async fn keep_alive(
    target: Target,
) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(target.addr).await.ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Option<(u16, String)> {
    sender.ready().await.ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn post(path: &str, auth: &str, body: String) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(path)
        .header("host", "localhost")
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

/// A plain user floods writes; the admin's earlier promotion must stay in `GET /audit`.
async fn audit_flood(target: Target) -> AbuseProbe {
    let writes = 5000;
    let header = |line: String| {
        line.trim_end()
            .trim_start_matches("Authorization: ")
            .to_owned()
    };
    let (root, bob) = (header(basic("root", "r00t")), header(basic("bob", "b0b")));
    let attack = "a plain user makes 5000 writes after an admin's promotion";
    let limit = "protected entries are never dropped for another user's writes";
    let Some(mut sender) = keep_alive(target).await else {
        return crate::inconclusive("audit-flood", attack, limit, "no connection".into());
    };
    let promoted = send(
        &mut sender,
        post("/promote", &root, r#"{"target":"alice"}"#.into()),
    )
    .await;
    let promoted_seq = match &promoted {
        Some((200, _)) => send(
            &mut sender,
            hyper::Request::get("/audit?limit=1")
                .header("host", "localhost")
                .header("authorization", &root)
                .body(Full::new(Bytes::new()))
                .expect("a valid request"),
        )
        .await
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|page| page["entries"][0]["seq"].as_u64()),
        _ => None,
    };
    let Some(seq) = promoted_seq else {
        return crate::inconclusive(
            "audit-flood",
            attack,
            limit,
            format!("promotion: {promoted:?}"),
        );
    };
    let mut ok = 0;
    for n in 0..writes {
        let body = format!(r#"{{"email":"bob{n}@example.org"}}"#);
        if let Some((200, _)) = send(&mut sender, post("/update-email", &bob, body)).await {
            ok += 1;
        }
    }
    let page = send(
        &mut sender,
        hyper::Request::get(format!("/audit?after={}&limit=1", seq - 1))
            .header("host", "localhost")
            .header("authorization", &root)
            .body(Full::new(Bytes::new()))
            .expect("a valid request"),
    )
    .await
    .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
    .unwrap_or_default();
    let entry = &page["entries"][0];
    let kept = entry["seq"].as_u64() == Some(seq) && entry["action"] == "promote";
    row(
        "audit-flood",
        attack,
        limit,
        format!(
            "{ok} writes; promotion seq {seq} {}; dropped: {} ordinary, {} protected",
            if kept { "still listed" } else { "GONE" },
            page["dropped"]["ordinary"],
            page["dropped"]["protected"]
        ),
        // The flood must have made the log drop entries, or it tested nothing.
        kept && page["dropped"]["ordinary"].as_u64().is_some_and(|n| n > 0),
    )
}

/// Wrong passwords for one user from one client, one after another.
async fn guessing(target: Target, config: &Config) -> AbuseProbe {
    let guesses = 40;
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    let mut retry_after = None;
    for n in 0..guesses {
        let raw = request(
            "GET",
            "/users/admin",
            &basic("admin", &format!("guess-{n}")),
            "",
        );
        let answer = exchange(target.addr, &raw, WAIT).await.unwrap_or_default();
        if answer.status == 429 {
            retry_after = retry_after.or(answer.header("retry-after").map(str::to_owned));
        }
        *counts.entry(answer.status).or_default() += 1;
    }
    let checked = counts.get(&401).copied().unwrap_or(0);
    let refused = counts.get(&429).copied().unwrap_or(0);
    let limit = config.login_per_client_user as usize;
    row(
        "guessing",
        "40 wrong passwords for one user from one client",
        format!("{limit} failures per user and client per window (429 + Retry-After)"),
        format!(
            "{checked} checked (401), {refused} refused (429, Retry-After: {})",
            retry_after.as_deref().unwrap_or("-")
        ),
        checked == limit && refused == guesses - limit && retry_after.is_some(),
    )
}
