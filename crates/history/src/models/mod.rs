//! Sequential models: a register (with compare-and-set), a versioned register (the email
//! update: compare-and-set on a version), a counter, a set, and [`Keyed`], one independent
//! object of any model per key.

mod counter;
mod keyed;
mod register;
mod set;
mod versioned;

pub use counter::{Counter, CounterCall, CounterRet};
pub use keyed::Keyed;
pub use register::{Register, RegisterCall, RegisterRet};
pub use set::{Set, SetCall, SetRet};
pub use versioned::{VersionedCall, VersionedRegister, VersionedRet};
