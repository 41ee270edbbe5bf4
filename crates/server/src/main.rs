//! `raceproof-server --users FILE [--listen ADDR] [--variant V] ...`: see `--help`.

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;

    let cli = raceproof_server::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match cli.runtime.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(raceproof_server::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "raceproof-server did not start");
            std::process::ExitCode::FAILURE
        }
    }
}
