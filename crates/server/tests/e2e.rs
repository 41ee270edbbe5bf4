//! The binary itself: started on a free loopback port with the example users file, asked
//! over a real TCP connection (HTTP/1.1 and h2c), stopped with SIGTERM.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// Starts the server on port 0 and reads the address it logged.
fn start() -> (
    std::process::Child,
    SocketAddr,
    std::io::BufReader<std::process::ChildStderr>,
) {
    common::process::spawn(&[])
}

async fn request(addr: SocketAddr, http2: bool, request: Request<Full<Bytes>>) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let response = if http2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_binary_serves_http1_and_h2c_and_stops_on_sigterm() {
    let (mut child, addr, mut stderr) = start();
    let promote = Request::post(format!("http://{addr}/promote"))
        .header("host", addr.to_string())
        .header("authorization", "Basic YWRtaW46YWRtMW4=") // admin:adm1n
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"target":"alice"}"#)))
        .unwrap();
    let (status, body) = request(addr, false, promote).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"target":"alice","role":"admin"}"#)
    );
    let get = Request::get(format!("http://{addr}/users/alice"))
        .header("authorization", "Basic YWxpY2U6czNjcjN0") // alice:s3cr3t
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = request(addr, true, get).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""role":"admin""#), "{body}");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(stderr.get_mut(), &mut rest).unwrap();
    assert!(rest.contains("SIGTERM received"), "{rest}");
    // The demo secret is in the users file; it must never reach the log.
    assert!(!rest.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}
