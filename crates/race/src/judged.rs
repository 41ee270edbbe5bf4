//! What one invariant concluded about one burst: its own module because the invariants and
//! the audit reading that feeds them both produce it.

/// What one invariant concluded about a burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Held,
    Broken(String),
    /// Neither a violation nor a pass: why the invariant could not decide.
    Undecided(String),
}
