//! `--runtime`: the tokio runtime requests run on, one of the deployments the model catalogue
//! judges `/operate` under (one event loop, or a multi-thread pool; several processes are
//! several instances).

use clap::ValueEnum;

/// The async runtime requests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// tokio's multi-thread runtime.
    MultiThread,
    /// One thread, one event loop.
    CurrentThread,
}

impl RuntimeKind {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::MultiThread => "multi-thread",
            RuntimeKind::CurrentThread => "current-thread",
        }
    }

    /// The runtime, with I/O and timers on.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            RuntimeKind::MultiThread => tokio::runtime::Builder::new_multi_thread(),
            RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        }
        .enable_all()
        .build()
    }
}
