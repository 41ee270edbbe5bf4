//! `abuse.json` as the table of `docs/abuse.md`.

use raceproof_report::abuse::AbuseReport;
use std::fmt::Write as _;

/// One row per probe: what the attacker did, the limit, what the server did.
pub fn table(r: &AbuseReport) -> String {
    let mut out = format!(
        "One run of `cargo xtask abuse` on {}: a fresh `raceproof-server --users \
         users.example.toml {}`, probed on loopback.\n\n\
         | probe | attack | limit | observed | verdict |\n\
         |---|---|---|---|---|\n",
        r.machine,
        r.server_args.join(" ")
    );
    for p in &r.probes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.probe,
            p.attack.replace('|', "\\|"),
            p.limit.replace('|', "\\|"),
            p.observed.replace('|', "\\|"),
            p.verdict.label()
        );
    }
    out.trim_end().to_owned()
}
