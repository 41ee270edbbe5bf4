//! `raceproof-server --users FILE [--listen ADDR] [--variant V] ...`: see `--help`.

/// jemalloc rather than the system allocator, with a background thread that gives freed
/// pages back to the OS after `dirty_decay_ms` (set in `.cargo/config.toml`): glibc's
/// malloc (and mimalloc, whose purges wait for the freeing thread to allocate again) kept
/// the memory of a burst of unfinished requests after they closed, so each attack stacked
/// on the last (the abuse suite's `unfinished-heads` probe measures it).
#[cfg(not(loom))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
