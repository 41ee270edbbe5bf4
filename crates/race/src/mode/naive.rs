//! The baseline a user would write: one task per request, released by a barrier, each sending a
//! whole request on a connection opened beforehand (so connection setup is not in the spread) to
//! that request's target.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Barrier;

use super::{Outcome, Plan};
use crate::wire::{Http1, Prepared, since};

pub async fn fire(
    plan: &Plan<'_>,
    requests: &[Prepared],
    origin: Instant,
) -> Result<Vec<Outcome>, String> {
    let targets = plan.targets;
    let mut connections = Vec::with_capacity(requests.len());
    for index in 0..requests.len() {
        let target = targets.for_request(index);
        let connection = Http1::connect(target)
            .await
            .map_err(|error| targets.blame(target, error))?;
        connections.push(connection);
    }
    let barrier = Arc::new(Barrier::new(requests.len()));
    let mut tasks = Vec::with_capacity(requests.len());
    for (index, (mut connection, request)) in connections.into_iter().zip(requests).enumerate() {
        let barrier = Arc::clone(&barrier);
        let target = targets.for_request(index).clone();
        let request = request.clone();
        let timeout = plan.timeout;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let invoke_ns = since(origin);
            let send = connection.send(&target, &request, origin, timeout);
            super::record(invoke_ns, origin, timeout, send).await
        }));
    }
    super::join(tasks).await
}
