//! raceproof's core: the auth, versioned-store and replay-guard logic of authenticated
//! endpoints, written once against the [`sync`] facade so that the same code runs in
//! production (std / parking_lot) and under loom's model checker (`--cfg loom`).
//!
//! Production code only: the seeds' deliberately racy ports live in `raceproof-flows`, and
//! the model checker observes this crate from the outside (calls, returns, the audit log).
//!
//! - [`service`]: the operations everything calls (server, catalogue, benches), generic over
//!   the backends below.
//! - [`auth`]: RFC 7617 Basic credentials, Argon2id password hashes, constant-time checks.
//! - [`authority`]: roles, principals, and the one authorization rule.
//! - [`store`]: the versioned in-memory user store, with atomic authorize-and-act operations.
//! - [`audit`]: every committed write in commit order, with the authority it was made on.
//! - [`replay`]: HMAC-signed requests and the bounded in-memory replay set.
//! - [`clock`]: the time admission reads; modelled under loom.
//! - [`table`]: the lock strategies the store is generic over.
//! - [`throttle`]: failed-login counters per (user, client), user and client.
//! - [`backend`]: the replay store and user repository traits the service is generic over.

pub mod audit;
pub mod auth;
pub mod authority;
pub mod backend;
pub mod clock;
pub mod replay;
pub mod service;
pub mod store;
pub mod sync;
pub mod table;
pub mod throttle;
