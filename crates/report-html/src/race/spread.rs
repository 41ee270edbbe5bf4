//! Each burst's arrival spread as a strip plot, per way it was measured.

use super::fields::{number, text, whole};
use crate::markup::{count, esc, num};
use crate::svg::{self, Scale, Shape};
use serde_json::Value;
use std::fmt::Write as _;

/// The left margin (row labels) and the plot's width.
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 560.0;

/// At most this many bursts are drawn per strip (evenly picked); the caption says so.
const MAX_DOTS: usize = 2000;

/// One strip: a spread measured one way.
struct Strip<'a> {
    spread: &'a Value,
    source: &'a str,
}

fn source_words(source: &str) -> &'static str {
    match source {
        "server" => "server-measured: the handlers' start stamps",
        "client" => "client-measured: the response heads' arrival at the tester",
        _ => "measured where the report does not say",
    }
}

/// Each burst's spread as a dot (jittered up and down so that they do not hide each
/// other), with the median and p90 marked.
pub fn figure(run: &Value, id: &str) -> String {
    let mut strips: Vec<Strip> = Vec::new();
    if let Some(spread) = run.get("spread_us").filter(|s| s.is_object()) {
        strips.push(Strip {
            spread,
            source: text(spread, "source").unwrap_or("?"),
        });
    }
    if let Some(client) = run.get("client_spread_us").filter(|s| s.is_object())
        && !strips.iter().any(|s| s.source == "client")
    {
        strips.push(Strip {
            spread: client,
            source: "client",
        });
    }
    let anomalous = run
        .get("example")
        .and_then(|e| e.get("burst"))
        .and_then(Value::as_u64)
        .and_then(|b| usize::try_from(b).ok());
    if strips.is_empty() {
        return "<p class=\"note\">No spread measured (no burst completed).</p>".to_owned();
    }
    let samples = |s: &Strip| -> Vec<f64> {
        s.spread
            .get("per_burst")
            .and_then(Value::as_array)
            .map(|all| all.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let most = strips
        .iter()
        .flat_map(|s| {
            samples(s)
                .into_iter()
                .chain(number(s.spread, "p90"))
                .chain(number(s.spread, "median"))
        })
        .fold(0.0_f64, f64::max)
        .max(1.0);
    // A heavy tail (one burst far slower than the rest) would squash every other dot into
    // the left edge: then a log scale.
    let least = strips
        .iter()
        .flat_map(samples)
        .filter(|us| *us > 0.0)
        .fold(f64::INFINITY, f64::min);
    let median = strips
        .iter()
        .filter_map(|s| number(s.spread, "median"))
        .fold(f64::INFINITY, f64::min);
    let log = most > 10.0 * median && least.is_finite();
    let scale = if log {
        Scale::log(least, most, LABEL_W, LABEL_W + PLOT_W)
    } else {
        Scale::linear(0.0, most, LABEL_W, LABEL_W + PLOT_W)
    };
    const STRIP_H: f64 = 72.0;
    let height = 30.0 + STRIP_H * strips.len() as f64 + 40.0;
    let mut chart = svg::open(LABEL_W + PLOT_W + 40.0, height, "arrival spread per burst");
    chart.push_str(&svg::legend(
        Shape::Circle,
        LABEL_W,
        12.0,
        "burst",
        "one burst",
    ));
    let _ = write!(
        chart,
        "<line class=\"quantile\" x1=\"{0}\" y1=\"12\" x2=\"{1}\" y2=\"12\"/>{2}\
         <line class=\"quantile p90\" x1=\"{3}\" y1=\"12\" x2=\"{4}\" y2=\"12\"/>{5}",
        LABEL_W + 110.0,
        LABEL_W + 130.0,
        svg::text(LABEL_W + 135.0, 16.0, "start", "legend", "median"),
        LABEL_W + 200.0,
        LABEL_W + 220.0,
        svg::text(LABEL_W + 225.0, 16.0, "start", "legend", "p90"),
    );
    if anomalous.is_some() {
        chart.push_str(&svg::legend(
            Shape::Cross,
            LABEL_W + 270.0,
            12.0,
            "burst-anomalous",
            "the anomalous burst drawn below",
        ));
    }
    let bottom = 30.0 + STRIP_H * strips.len() as f64;
    chart.push_str(&svg::x_axis(
        &scale,
        bottom,
        26.0,
        if log {
            "spread within one burst (µs), log scale"
        } else {
            "spread within one burst (µs)"
        },
        "",
    ));
    let mut caption = Vec::new();
    for (row, strip) in strips.iter().enumerate() {
        let top = 30.0 + STRIP_H * row as f64;
        let mid = top + STRIP_H / 2.0;
        let label = if strip.source == "server" {
            "server"
        } else {
            "client"
        };
        chart.push_str(&svg::text(LABEL_W - 10.0, mid - 2.0, "end", "label", label));
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            mid + 12.0,
            "end",
            "tick",
            "measured",
        ));
        let all = samples(strip);
        let step = all.len().div_ceil(MAX_DOTS).max(1);
        // Every burst judged and none lost: sample i is burst i + 1, so the anomalous burst
        // drawn below can be marked among the others.
        let marked = anomalous
            .filter(|_| all.len() == whole(run, "bursts") && whole(run, "errors") == 0)
            .and_then(|burst| burst.checked_sub(1))
            .and_then(|i| Some((i, *all.get(i)?)));
        for (i, us) in all.iter().enumerate().step_by(step) {
            // A fixed jitter per burst: the same report draws the same picture.
            let jitter = ((i.wrapping_mul(7919) % 97) as f64 / 96.0 - 0.5) * (STRIP_H - 16.0);
            chart.push_str(&svg::marker(
                Shape::Circle,
                scale.at(*us),
                mid + jitter,
                2.6,
                "burst",
                &format!("burst sample {}: {} µs", i + 1, num(*us, 1)),
            ));
        }
        if let Some((i, us)) = marked {
            chart.push_str(&svg::marker(
                Shape::Cross,
                scale.at(us),
                mid,
                5.0,
                "burst-anomalous",
                &format!(
                    "burst {}: {} µs, the anomalous burst drawn below",
                    i + 1,
                    num(us, 1)
                ),
            ));
            chart.push_str(&svg::text(
                scale.at(us) + 8.0,
                mid + 4.0,
                "start",
                "label",
                &format!("burst {}", i + 1),
            ));
        }
        for (key, class) in [("median", "quantile"), ("p90", "quantile p90")] {
            if let Some(x) = number(strip.spread, key) {
                let px = scale.at(x);
                let _ = write!(
                    chart,
                    "<line class=\"{class}\" x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\"><title>{key}: {} µs</title></line>",
                    top + 3.0,
                    top + STRIP_H - 3.0,
                    num(x, 1)
                );
                // The median's words left of its line, the p90's right: they do not collide.
                let (dx, anchor) = if key == "median" {
                    (-3.0, "end")
                } else {
                    (3.0, "start")
                };
                chart.push_str(&svg::text(
                    px + dx,
                    top + 10.0,
                    anchor,
                    "tick",
                    &format!("{key} {}", num(x, 1)),
                ));
            }
        }
        caption.push(format!(
            "{}: {} bursts, median {} µs, p90 {} µs, sd {} µs{}",
            source_words(strip.source),
            count(whole(strip.spread, "samples")),
            num(number(strip.spread, "median").unwrap_or(f64::NAN), 1),
            num(number(strip.spread, "p90").unwrap_or(f64::NAN), 1),
            num(number(strip.spread, "sd").unwrap_or(f64::NAN), 1),
            match all.len() {
                0 => " (this report has no per-burst spreads: only its median and p90 are drawn)"
                    .to_owned(),
                n if step > 1 => format!(
                    " ({} of {} bursts drawn)",
                    count(n.div_ceil(step)),
                    count(n)
                ),
                _ => String::new(),
            }
        ));
    }
    chart.push_str("</svg>");
    format!(
        "<figure id=\"spread-{id}\" class=\"spread\" data-source=\"{}\"><p class=\"figtitle\">Arrival \
         spread per burst: {} / {}</p>{chart}<figcaption>{}.</figcaption></figure>",
        esc(strips[0].source),
        esc(text(run, "scenario").unwrap_or("?")),
        esc(text(run, "mode").unwrap_or("?")),
        esc(&caption.join("; "))
    )
}
