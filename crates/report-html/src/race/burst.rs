//! One anomalous burst as a timeline of its requests, Porcupine-style.

use super::fields::{number, text};
use crate::markup::{esc, num, table};
use crate::svg::{self, Scale, Shape};
use serde_json::Value;
use std::fmt::Write as _;

/// The left margin (row labels) and the plot's width.
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 560.0;

/// The first anomalous burst: one row per request, a bar from its invocation to its
/// completion on the tester's clock, and the handler starts on the server's clock below.
pub fn timeline(example: &Value, id: &str, run: &str) -> String {
    let history = example
        .get("history")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if history.is_empty() {
        return String::new();
    }
    let burst = example.get("burst").and_then(Value::as_u64).unwrap_or(0);
    let end = history
        .iter()
        .filter_map(|h| number(h, "complete_us"))
        .fold(1.0_f64, f64::max);
    let scale = Scale::linear(0.0, end, LABEL_W, LABEL_W + PLOT_W);
    const ROW: f64 = 26.0;
    const TOP: f64 = 28.0;
    let starts: Vec<(usize, f64)> = history
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((i, number(h, "server_start_us")?)))
        .collect();
    let rows_bottom = TOP + ROW * history.len() as f64;
    let height = rows_bottom + 44.0 + if starts.is_empty() { 0.0 } else { 86.0 };
    let mut chart = svg::open(
        LABEL_W + PLOT_W + 120.0,
        height,
        "one anomalous burst, request by request",
    );
    chart.push_str(&svg::legend(Shape::Square, LABEL_W, 10.0, "req-ok", "2xx"));
    chart.push_str(&svg::legend(
        Shape::Square,
        LABEL_W + 60.0,
        10.0,
        "req-fail",
        "other status",
    ));
    chart.push_str(&svg::legend(
        Shape::Square,
        LABEL_W + 170.0,
        10.0,
        "req-info",
        "no response",
    ));
    chart.push_str(&svg::x_axis(
        &scale,
        rows_bottom,
        TOP - 4.0,
        "µs since the burst's origin (tester's clock): request sent → response complete",
        "",
    ));
    for (i, h) in history.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let kind = text(h, "type").unwrap_or("info");
        let class = match kind {
            "ok" => "req-ok",
            "fail" => "req-fail",
            _ => "req-info",
        };
        let (x0, x1) = (
            scale.at(number(h, "invoke_us").unwrap_or(0.0)),
            scale.at(number(h, "complete_us").unwrap_or(end)),
        );
        let status = h
            .get("status")
            .and_then(Value::as_u64)
            .map_or_else(|| "no response".to_owned(), |s| s.to_string());
        let actor = text(h, "actor").unwrap_or("?");
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            y + ROW / 2.0 + 4.0,
            "end",
            "label",
            &format!("#{} {actor}", i + 1),
        ));
        let _ = write!(
            chart,
            "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" data-actor=\"{}\" data-status=\"{}\"><title>{}</title></rect>",
            y + 5.0,
            (x1 - x0).max(2.0),
            ROW - 10.0,
            esc(actor),
            esc(&status),
            esc(&format!(
                "{actor}: {} → {status}",
                text(h, "request").unwrap_or("")
            ))
        );
        chart.push_str(&svg::text(
            x1 + 5.0,
            y + ROW / 2.0 + 4.0,
            "start",
            "label",
            &format!("{status} ({kind})"),
        ));
    }
    if !starts.is_empty() {
        // The server's stamps are on its own clock: their own axis, relative to the first.
        let last = starts.iter().map(|(_, us)| *us).fold(1.0_f64, f64::max);
        let server = Scale::linear(0.0, last, LABEL_W, LABEL_W + PLOT_W);
        let y = rows_bottom + 62.0;
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            y + 4.0,
            "end",
            "label",
            "handler starts",
        ));
        chart.push_str(&svg::x_axis(
            &server,
            y + 16.0,
            y - 14.0,
            "µs after the first handler start (server's clock)",
            "",
        ));
        for (n, (i, us)) in starts.iter().enumerate() {
            let x = server.at(*us);
            let lift = if n % 2 == 0 { -6.0 } else { 6.0 };
            chart.push_str(&svg::marker(
                Shape::Diamond,
                x,
                y,
                5.0,
                "start",
                &format!(
                    "#{}: handler started {} µs after the first",
                    i + 1,
                    num(*us, 1)
                ),
            ));
            chart.push_str(&svg::text(
                x,
                y + lift - if lift < 0.0 { 4.0 } else { -12.0 },
                "middle",
                "tick",
                &format!("#{}", i + 1),
            ));
        }
    }
    chart.push_str("</svg>");
    let violations: Vec<String> = example
        .get("violations")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|v| {
            format!(
                "<li><code>{}</code>: {}</li>",
                esc(text(v, "invariant").unwrap_or("?")),
                esc(text(v, "detail").unwrap_or(""))
            )
        })
        .collect();
    let requests: Vec<Vec<String>> = history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            vec![
                format!("#{}", i + 1),
                esc(text(h, "actor").unwrap_or("?")),
                format!(
                    "<span class=\"mono\">{}</span>",
                    esc(text(h, "request").unwrap_or(""))
                ),
                format!(
                    "<span class=\"mono\">{}</span>",
                    esc(text(h, "response").unwrap_or(""))
                ),
            ]
        })
        .collect();
    let audit = example
        .get("audit")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|entries| {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let field = |k: &str| {
                        e.get(k).map_or_else(String::new, |v| match v {
                            Value::String(s) => esc(s),
                            Value::Null => "-".to_owned(),
                            other => esc(&other.to_string()),
                        })
                    };
                    vec![
                        field("seq"),
                        field("actor"),
                        field("action"),
                        field("target"),
                        field("actor_role_at_commit"),
                    ]
                })
                .collect();
            format!(
                "<p>The service's audit log for this burst, in commit order:</p>{}",
                table(
                    "audit",
                    &["seq", "actor", "action", "target", "actor's role at commit"],
                    &rows
                )
            )
        })
        .unwrap_or_default();
    format!(
        "<figure id=\"burst-{id}\" class=\"timeline\"><p class=\"figtitle\">Burst {burst} of {}, request \
         by request</p>{chart}<figcaption>Burst {burst}, the first in which an invariant broke. Secrets \
         are masked.</figcaption></figure><ul class=\"violations\">{}</ul>{audit}\
         <details><summary>Requests and responses of burst {burst}</summary>{}</details>",
        esc(run),
        violations.concat(),
        table("requests", &["", "actor", "request", "response"], &requests)
    )
}
