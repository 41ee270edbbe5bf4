//! `raceproof-race`: see `crates/race/README.md`.

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    raceproof_race::cli::main_with(raceproof_race::cli::Cli::parse())
}

// tokio built under `--cfg loom` has no networking: the tester does not exist there.
#[cfg(loom)]
fn main() {}
