//! The shared backends' protocols, statement by statement, for the model checker (issue 11).
//!
//! `raceproof-backends` talks to real Redis and PostgreSQL, which loom cannot run. These
//! are emulations at the granularity the protocols rely on:
//!
//! - [`RedisServer`]: each command is one critical section (Redis runs commands one at a
//!   time), so `SET NX` is atomic and `GET` then `SET` is two steps with a gap.
//! - [`SqlDb`]: each SQL statement is one critical section over the *committed* rows (READ
//!   COMMITTED: a statement sees what was committed when it runs, never another
//!   transaction's pending writes); a row lock (`FOR SHARE`, `FOR UPDATE`, or the one an
//!   `UPDATE` takes) is a facade lock held until the transaction ends. An `UPDATE` re-checks
//!   its own row's condition after getting the lock, as PostgreSQL does; a subquery on
//!   another row is read once, from the committed state, and not re-checked.
//!
//! A transaction's commit is one critical section that applies its writes and appends its
//! `Commit` with the actor's role and epoch *as committed at that instant* (a ghost
//! observation: the real repository records what it read under its lock, which is the same
//! value exactly when the protocol is right). `authorized_at_commit` judges those.
//!
//! Each protocol comes in the shape `raceproof-backends` uses and in the broken shapes a
//! port is tempted to write: the catalogue proves the first and catches the others.

//!
//! `redis`: the replay store's commands, under the service's admission. `sql`: the user
//! repository's statements and transactions.

mod redis;
mod sql;

pub use redis::{ModelReplayStore, RedisProtocol, RedisServer, SharedOperate};
pub use sql::{EmailSql, PromoteSql, Row, SqlAccounts, SqlDb, Tx};
