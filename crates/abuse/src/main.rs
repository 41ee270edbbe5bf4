//! `raceproof-abuse --server BIN --users FILE [--out FILE]`: starts `BIN` (raceproof-server)
//! on a free loopback port with the suite's limits, probes it, prints the table, writes
//! the JSON report, and exits 1 if any probe fails. `cargo xtask abuse` runs it.

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    use raceproof_abuse::{Config, Target, run, table};
    use raceproof_report::abuse::{AbuseReport, AbuseVerdict};
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, ExitCode, Stdio};

    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(server), Some(users)) = (value("--server"), value("--users")) else {
        eprintln!("usage: raceproof-abuse --server BIN --users FILE [--out FILE]");
        return ExitCode::from(2);
    };
    let out = value("--out").unwrap_or_else(|| "target/raceproof/abuse.json".to_owned());
    let config = Config {
        only: value("--only"),
        ..Config::default()
    };
    let mut server_args = vec![
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--users".to_owned(),
        users,
        "--hasher".to_owned(),
        "fast".to_owned(),
    ];
    server_args.extend(config.server_args());
    let mut child = match Command::new(&server)
        .args(&server_args)
        .env("RUST_LOG", "warn,raceproof_server=info")
        .env_remove("RACEPROOF_WEBHOOK_SECRET")
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot start {server}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(stderr) = child.stderr.take() else {
        return ExitCode::FAILURE;
    };
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            eprintln!("the server exited before listening");
            return ExitCode::FAILURE;
        }
        if let Some(addr) = line
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
        {
            break addr;
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let target = Target {
        addr,
        pid: child.id(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let probes = runtime.block_on(run(target, &config));
    let _ = child.kill();
    let _ = child.wait();
    print!("{}", table(&probes));
    let report = AbuseReport {
        machine: raceproof_report::machine(),
        server_args: server_args[4..].to_vec(),
        probes,
    };
    if let Err(e) = raceproof_report::write(std::path::Path::new(&out), &report) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    println!("wrote {out}");
    if report
        .probes
        .iter()
        .any(|p| p.verdict == AbuseVerdict::Fails)
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
