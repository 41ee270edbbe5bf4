//! The raceproof suite: re-exports the core and the model harness so that the tests,
//! benches and examples in this package use one import path.

pub use raceproof_check as check;
pub use raceproof_core as core;

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

/// The machine figures were measured on: CPU model and cores, for the reports.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!("{cpu}, {cores} cores")
}
