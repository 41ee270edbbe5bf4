//! Markdown tables from the typed reports: what `cargo xtask readme` puts between the
//! markers of README.md and the pages in `docs/`. Nothing here measures or reads files.

pub mod abuse;
pub mod bench;
pub mod deployments;
pub mod random;
pub mod services;
pub mod verdicts;
