//! The server binary as a child process on a free loopback port.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};

const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");

/// Starts the binary on port 0 with the example users, the fast hasher and `args`, and
/// reads the address it logged; the rest of its log is left to the caller.
pub fn spawn(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_raceproof-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--users",
            USERS,
            "--hasher",
            "fast",
        ])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("RACEPROOF_WEBHOOK_SECRET")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited early"
        );
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    (child, addr, stderr)
}

/// A server process whose log is drained, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(args: &[&str]) -> Self {
        let (child, addr, mut stderr) = spawn(args);
        // Keep reading the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
