//! Memory under unfinished heads: thousands of connections each holding most of the head
//! limit, twice; the server's resident memory before, during and after each round.

use crate::wire::{mib, rss_kib};
use crate::{Config, Target, inconclusive, row};
use raceproof_report::abuse::AbuseProbe;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

/// What a round left behind may exceed the memory before it by at most this much, plus a
/// quarter of what the round took: the allocator may keep some, but not the round.
const SLACK_KIB: u64 = 16 * 1024;

const PROBE: &str = "unfinished-heads";
const ATTACK: &str = "connections each holding 15/16 of the head limit, unfinished, twice";

/// One round: `n` connections each send `bytes` of head and wait; returns the peak RSS
/// seen while they are held. The connections are closed when it returns.
async fn round(target: Target, n: usize, bytes: usize) -> Option<u64> {
    let head = format!(
        "GET /users/bob HTTP/1.1\r\nHost: x\r\nX-Fill: {}",
        "a".repeat(bytes.saturating_sub(40))
    );
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(target.addr).await.ok()?;
        stream.write_all(head.as_bytes()).await.ok()?;
        streams.push(stream);
    }
    // Let the server read what was sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = rss_kib(target.pid);
    drop(streams);
    peak
}

/// The RSS once the server has closed everything and settled.
async fn settled(target: Target) -> Option<u64> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    rss_kib(target.pid)
}

pub async fn unfinished_heads(target: Target, config: &Config) -> AbuseProbe {
    let limit = format!(
        "head {} KiB; memory back within {} + 25% of the peak's rise",
        config.max_header_bytes / 1024,
        mib(SLACK_KIB)
    );
    let n = config.memory_connections.min(config.max_connections);
    let bytes = config.max_header_bytes * 15 / 16;
    let Some(before) = rss_kib(target.pid) else {
        return inconclusive(PROBE, ATTACK, limit, "cannot read the server's RSS".into());
    };
    let measured = async {
        let peak1 = round(target, n, bytes).await?;
        let after1 = settled(target).await?;
        let peak2 = round(target, n, bytes).await?;
        let after2 = settled(target).await?;
        Some((peak1, after1, peak2, after2))
    };
    let Some((peak1, after1, peak2, after2)) = measured.await else {
        return inconclusive(
            PROBE,
            ATTACK,
            limit,
            "a round could not open its sockets".into(),
        );
    };
    let bound = |peak: u64| before + SLACK_KIB + peak.saturating_sub(before) / 4;
    let holds = after1 <= bound(peak1) && after2 <= bound(peak2);
    row(
        PROBE,
        ATTACK,
        limit,
        format!(
            "{n} x {} KiB: before {}, held {} then {}, after {} then {}",
            bytes / 1024,
            mib(before),
            mib(peak1),
            mib(peak2),
            mib(after1),
            mib(after2)
        ),
        holds,
    )
}
