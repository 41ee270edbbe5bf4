//! Scenario files: who sends what, how it is signed, what is set up before each burst, and
//! which invariant must hold over what comes back. See `crates/race/README.md` for the format.
//!
//! By stage: `raw` is the file as written (TOML shapes), `load` reads a built-in or a file,
//! `compile` checks it and builds the `spec` the runner uses; `source` locates errors.

mod audit_schema;
mod compile;
mod load;
mod raw;
mod source;
mod spec;
#[cfg(test)]
mod tests;

pub use load::BUILTINS;
pub use spec::{
    ActorSpec, Credential, Expectation, Expected, Field, InvariantSpec, OpSpec, Place,
    RaceScenario, RequestSpec, SecretEncoding, SecretSource, Signer, SpecKind, ValueSpec,
};
