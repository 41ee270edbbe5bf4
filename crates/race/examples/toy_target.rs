//! The tests' toy target as a program, to point the tester (or anything else) at:
//!
//! ```text
//! cargo run --release -p raceproof-race --example toy_target -- --port 8080 --window-us 100
//! ```
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(not(loom))]
fn main() -> std::io::Result<()> {
    use clap::Parser as _;

    /// The toy target: racy and safe redeem-once and versioned-item endpoints, HTTP/1.1 and h2c.
    #[derive(clap::Parser)]
    struct Args {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The racy endpoints' window between check and write, in microseconds.
        #[arg(long, default_value_t = 100)]
        window_us: u64,
        /// Do not send x-raceproof-handler-start-ns (behave like a foreign server).
        #[arg(long)]
        no_stamp: bool,
        /// Serve the contract endpoints (/promote, /demote, /password, /update-email, /users,
        /// /audit) fixed instead of seed-like.
        #[arg(long)]
        fixed_contract: bool,
    }

    let args = Args::parse();
    let config = support::ToyConfig {
        stamp: !args.no_stamp,
        window: std::time::Duration::from_micros(args.window_us),
        contract_racy: !args.fixed_contract,
        ..support::ToyConfig::default()
    };
    let server = support::ToyServer::start_on(&format!("127.0.0.1:{}", args.port), config)?;
    println!(
        "toy target on {} (racy window {} µs)",
        server.url(),
        args.window_us
    );
    server.wait();
    Ok(())
}

#[cfg(loom)]
fn main() {}
