//! `tokio::task::{yield_now, spawn_blocking}` and `tokio::time::sleep`, modelled: a yield
//! and a sleep give way once; a blocking job runs off the event loop.

pub use crate::sync::tokio::in_models::JoinError;
use crate::sync::tokio::model::{give_way, in_task, off_the_loop};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};
use std::time::Duration;

/// Gives way to every other ready task of the event loop.
pub async fn yield_now() {
    give_way(Some("yields".to_owned())).await;
}

/// Gives way; no time passes and no sleep is ordered before another.
pub async fn sleep(duration: Duration) {
    give_way(Some(format!("sleeps {} ms", duration.as_millis()))).await;
}

type Output<T> = std::sync::Arc<std::sync::Mutex<Option<T>>>;

/// `spawn_blocking`'s handle. Its job runs when the handle is first polled, off the event
/// loop (the task hands its token over meanwhile).
pub struct JoinHandle<T> {
    job: Option<Box<dyn FnOnce() -> T + Send>>,
    output: Output<T>,
}

impl<T> Unpin for JoinHandle<T> {}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let done = self
            .output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(output) = done {
            return Poll::Ready(Ok(output));
        }
        let Some(job) = self.job.take() else {
            panic!("JoinHandle polled after completion");
        };
        if !in_task() {
            // Not under the model's executor: no event loop to leave.
            return Poll::Ready(Ok(job()));
        }
        let output = self.output.clone();
        off_the_loop(Box::new(move || {
            let value = job();
            *output.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        }));
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinHandle { .. }")
    }
}

/// A blocking job (a password hash, a synchronous client call): it runs off the event
/// loop, when the handle is awaited. Await the handle where you spawn it, as a handler does.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    JoinHandle {
        job: Some(Box::new(f)),
        output: std::sync::Arc::new(std::sync::Mutex::new(None)),
    }
}
