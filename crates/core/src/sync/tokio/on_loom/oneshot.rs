//! `tokio::sync::oneshot`, modelled: one slot under a loom mutex.

use super::{lock, object, wake};
use crate::sync::model::touched;
use crate::sync::tokio::model::{narrate, registered};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// tokio's `oneshot::error`.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum TryRecvError {
        Empty,
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                TryRecvError::Empty => "channel empty",
                TryRecvError::Closed => "channel closed",
            })
        }
    }

    impl std::error::Error for TryRecvError {}
}

struct Slot<T> {
    value: Option<T>,
    sender_gone: bool,
    receiver_gone: bool,
    receiver: Option<Waker>,
}

type Channel<T> = Arc<loom::sync::Mutex<Slot<T>>>;

/// Sends the channel's one value.
pub struct Sender<T> {
    channel: Channel<T>,
}

/// Awaits the channel's one value.
pub struct Receiver<T> {
    channel: Channel<T>,
    narrated: bool,
}

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let channel = Arc::new(loom::sync::Mutex::new(Slot {
        value: None,
        sender_gone: false,
        receiver_gone: false,
        receiver: None,
    }));
    (
        Sender {
            channel: channel.clone(),
        },
        Receiver {
            channel,
            narrated: false,
        },
    )
}

impl<T> Sender<T> {
    /// Sends `value`; gives it back when the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        touched(object(&*self.channel));
        let mut slot = lock(&self.channel);
        if slot.receiver_gone {
            return Err(value);
        }
        slot.value = Some(value);
        let receiver = slot.receiver.take();
        drop(slot);
        wake(receiver.into_iter().collect());
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.channel).receiver_gone
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let mut slot = lock(&self.channel);
        slot.sender_gone = true;
        let receiver = slot.receiver.take();
        drop(slot);
        wake(receiver.into_iter().collect());
    }
}

impl<T> Receiver<T> {
    pub fn try_recv(&mut self) -> Result<T, error::TryRecvError> {
        touched(object(&*self.channel));
        let mut slot = lock(&self.channel);
        match slot.value.take() {
            Some(value) => Ok(value),
            None if slot.sender_gone => Err(error::TryRecvError::Closed),
            None => Err(error::TryRecvError::Empty),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            lock(&self.channel).receiver_gone = true;
        }
    }
}

impl<T> Unpin for Receiver<T> {}

impl<T> Future for Receiver<T> {
    type Output = Result<T, error::RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        touched(object(&*self.channel));
        let mut slot = lock(&self.channel);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.sender_gone {
            return Poll::Ready(Err(error::RecvError(())));
        }
        slot.receiver = Some(cx.waker().clone());
        drop(slot);
        registered();
        if !self.narrated {
            self.narrated = true;
            narrate(|| "waits for a oneshot value".to_owned());
        }
        Poll::Pending
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receiver { .. }")
    }
}
