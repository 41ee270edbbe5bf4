//! The raceproof suite: re-exports the core and the model harness so that the tests,
//! benches and examples in this package use one import path.

pub use raceproof_check as check;
pub use raceproof_core as core;
pub use raceproof_flows as flows;

pub mod catalogue;

/// Writes `value` as pretty JSON to `path`, creating its directory.
pub fn write_json(path: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, json + "\n")
}

/// The machine the figures are measured on, as `cargo xtask` names it.
pub fn machine() -> String {
    std::env::var("RACEPROOF_MACHINE").unwrap_or_else(|_| "an unnamed machine".to_owned())
}
