//! Section 4: the race tester's runs, per scenario and mode: each burst's arrival spread as
//! a strip plot (server- or client-measured, as labelled), what came back, and the first
//! anomalous burst drawn as a timeline of its requests, Porcupine-style.
//!
//! `race.json`'s schema is the race tester's own type (`raceproof_race::report::RaceJson`).
//! The tester links this crate to write its part with `--html`, so this crate cannot link
//! it back: it reads the JSON form, field by field, and leaves out what a report lacks (an
//! older report, or a field a newer tester adds). `crates/race/tests/html.rs` renders a
//! report the tester wrote, so a renamed field fails a test there.

mod burst;
mod fields;
mod spread;

use crate::markup::{count, esc, num, slug, table};
use crate::shell;
use fields::{object, text, whole};
use serde_json::Value;

/// The section from a `race.json` (`None`: no run yet).
pub fn section(race: Option<&Value>) -> String {
    let lead = "What the black-box race tester saw against a running service: per scenario and \
                mode, the arrival spread of every burst (how far apart the requests of one burst \
                reached the server's handlers, or, where the server sends no stamps, the \
                response heads at the client), the bursts in which an invariant broke, and the \
                first such burst as a timeline of its requests.";
    let Some(race) = race else {
        return shell::section(
            "race",
            "Race tester runs",
            lead,
            &shell::missing(
                "race.json (`cargo run --release -p raceproof-race -- run SCENARIO --target URL` writes it)",
            ),
        );
    };
    let scenarios = race
        .get("scenarios")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let targets = race
        .get("targets")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .or_else(|| text(race, "target").map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    let mut out = format!(
        "<p class=\"summary\">{} scenario run(s) against <code>{}</code>, measured on {}.</p>",
        scenarios.len(),
        esc(&targets),
        esc(text(race, "machine").unwrap_or("an unnamed machine"))
    );
    if scenarios.is_empty() {
        out.push_str(&shell::missing("any scenario run in race.json"));
    }
    for run in scenarios {
        out.push_str(&scenario_run(run));
    }
    shell::section("race", "Race tester runs", lead, &out)
}

/// The id of a scenario run's part of the page (its figures' ids are built on it).
pub fn run_id(run: &Value) -> String {
    slug(&[
        "race",
        text(run, "scenario").unwrap_or("?"),
        text(run, "mode").unwrap_or("?"),
    ])
}

fn scenario_run(run: &Value) -> String {
    let scenario = text(run, "scenario").unwrap_or("?");
    let mode = text(run, "mode").unwrap_or("?");
    let id = run_id(run);
    let bursts = whole(run, "bursts");
    let anomalies = whole(run, "anomalies");
    let (sym, class, verdict) = if let Some(failed) = text(run, "failed") {
        ("?", "inconclusive", format!("could not run: {failed}"))
    } else if anomalies > 0 {
        (
            "\u{2717}",
            "violated",
            format!(
                "an invariant broke in {} of {} bursts ({}%), first in burst {}",
                count(anomalies),
                count(bursts),
                num(100.0 * anomalies as f64 / bursts.max(1) as f64, 1),
                run.get("first_anomaly_burst")
                    .and_then(Value::as_u64)
                    .map_or_else(|| "?".to_owned(), |b| b.to_string())
            ),
        )
    } else if bursts == 0 {
        ("?", "inconclusive", "no burst was judged".to_owned())
    } else {
        (
            "\u{2713}",
            "proven",
            format!("every invariant held in {} bursts", count(bursts)),
        )
    };
    let mut out = format!(
        "<div class=\"case\" id=\"{id}\" data-race=\"{}\"><h3><span class=\"sym {class}\">{sym}</span> {} / {}</h3>\
         <p><span class=\"{class}\">{}</span>. Invariants: {}.</p>",
        esc(&format!("{scenario} / {mode}")),
        esc(scenario),
        esc(mode),
        esc(&verdict),
        run.get("invariant")
            .and_then(Value::as_array)
            .map(|all| all
                .iter()
                .filter_map(Value::as_str)
                .map(|i| format!("<code>{}</code>", esc(i)))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    out.push_str(&notes(run));
    out.push_str(&spread::figure(run, &id));
    out.push_str(&outcomes(run));
    if let Some(example) = run.get("example").filter(|e| !e.is_null()) {
        out.push_str(&burst::timeline(
            example,
            &id,
            &format!("{scenario} / {mode}"),
        ));
    }
    out.push_str("</div>");
    out
}

/// What else a run says: bursts not fired, bursts without a 2xx, unsynchronized bursts,
/// undecided bursts, the invariants that broke and how often.
fn notes(run: &Value) -> String {
    let mut items = Vec::new();
    if let Some(broken) = object(run, "violations_by_invariant").filter(|m| !m.is_empty()) {
        let list: Vec<String> = broken
            .iter()
            .map(|(inv, n)| {
                format!(
                    "<code>{}</code> in {} burst(s)",
                    esc(inv),
                    n.as_u64().unwrap_or(0)
                )
            })
            .collect();
        items.push(format!("broken: {}", list.join(", ")));
    }
    let errors = whole(run, "errors");
    if errors > 0 {
        items.push(format!(
            "{} burst(s) could not be fired; the first: {}",
            count(errors),
            esc(text(run, "first_error").unwrap_or("?"))
        ));
    }
    let without = whole(run, "bursts_without_success");
    if without > 0 {
        items.push(format!("{} burst(s) got no 2xx response", count(without)));
    }
    let unsynchronized = whole(run, "unsynchronized_bursts");
    if unsynchronized > 0 {
        items.push(format!(
            "{} burst(s) not synchronized (a response came back before the release){}",
            count(unsynchronized),
            text(run, "first_unsynchronized").map_or_else(String::new, |f| format!(": {}", esc(f)))
        ));
    }
    if let Some(undecided) = object(run, "undecided_by_invariant").filter(|m| !m.is_empty()) {
        for (inv, n) in undecided {
            items.push(format!(
                "<code>{}</code> could not decide {} burst(s) (neither anomalies nor passes)",
                esc(inv),
                n.as_u64().unwrap_or(0)
            ));
        }
    }
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<ul class=\"notes\"><li>{}</li></ul>",
        items.join("</li><li>")
    )
}

/// Per actor, what came back over every burst (statuses, timeouts, resets), where the
/// report has it.
fn outcomes(run: &Value) -> String {
    let Some(actors) = object(run, "outcomes").filter(|m| !m.is_empty()) else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = actors
        .iter()
        .map(|(actor, o)| {
            let statuses = object(o, "statuses")
                .map(|s| {
                    s.iter()
                        .map(|(code, n)| {
                            format!("{} \u{00D7} {}", esc(code), n.as_u64().unwrap_or(0))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                esc(actor),
                count(whole(o, "requests")),
                statuses,
                count(whole(o, "timeouts")),
                count(whole(o, "resets")),
                count(whole(o, "connection_errors") + whole(o, "protocol_errors")),
                count(whole(o, "early")),
            ]
        })
        .collect();
    format!(
        "<details class=\"outcomes\"><summary>What came back, per actor</summary>{}</details>",
        table(
            "outcomes",
            &[
                "actor",
                "requests",
                "statuses",
                "timeouts",
                "resets",
                "connection / protocol errors",
                "before the release"
            ],
            &rows
        )
    )
}
