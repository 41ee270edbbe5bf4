//! The service layer: the operations the server's handlers, the model catalogue, the
//! benches and the backends' tests all call, generic over where the state lives.
//!
//! - [`Accounts`]: the Basic-auth endpoints over any [`UserRepository`] (the in-memory
//!   [`crate::store::UserStore`] under any lock strategy, PostgreSQL, or a seed's racy port).
//! - [`Operations`]: `POST /operate`'s admission over any [`ReplayStore`] (the in-memory
//!   [`crate::replay::ReplaySet`], Redis).
//! - [`LoginThrottle`]: failed logins limited around [`Accounts`]' authentication, over
//!   any [`crate::throttle::AttemptLimiter`].
//!
//! Each is what raceproof's model catalogue checks under loom, with the in-memory backends
//! explored exhaustively and the shared ones through command-level models: a handler that
//! calls these functions inherits the proof, and one that does not call them cannot reach
//! a repository's writes (they take a [`crate::authority::Principal`], which only
//! [`Accounts::authenticate`] makes).
//!
//! Password hashing is slow on purpose and shared backends do network I/O: call these off
//! an async runtime's worker threads (e.g. tokio's `spawn_blocking`), with a bound on how
//! many run at once.
//!
//! [`UserRepository`]: crate::backend::UserRepository
//! [`ReplayStore`]: crate::backend::ReplayStore

mod accounts;
mod operate;
mod throttle;

pub use crate::replay::Verified;
pub use accounts::Accounts;
pub use operate::Operations;
pub use throttle::{LoginError, LoginThrottle};
