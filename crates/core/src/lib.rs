//! raceproof's core: the auth, versioned-store and replay-guard logic of authenticated
//! endpoints, written once against the [`sync`] facade so that the same code runs in
//! production (std / parking_lot) and under loom's model checker (`--cfg loom`).
//!
//! - [`auth`]: RFC 7617 Basic credentials, Argon2id password hashes, constant-time checks.
//! - [`store`]: the versioned user store, with atomic authorize-and-act operations.
//! - [`replay`]: HMAC-signed requests, freshness window, bounded replay set.
//! - [`table`]: the lock strategies the store is generic over.
//! - [`flows`]: the seeds' endpoints in their vulnerable, seed-fixed and proven variants.
//! - [`observe`]: the probe through which models see what happened, in order.

pub mod auth;
pub mod flows;
pub mod observe;
pub mod replay;
pub mod store;
pub mod sync;
pub mod table;
