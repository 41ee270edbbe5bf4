//! Section 5: what the fixes cost. Each flow's proven fix against the seed's vulnerable code,
//! per lock strategy: the time ratio with its min–max over runs, and the instruction-count
//! ratio beside it. Then the HTTP service's throughput against the bare-handler floor.

use crate::markup::{count, esc, num};
use crate::shell;
use crate::svg::{self, Scale, Shape};
use raceproof_report::bench::{BenchReport, Instructions, Timing};
use raceproof_report::services::HttpReport;
use std::fmt::Write as _;

const LABEL_W: f64 = 300.0;
const PLOT_W: f64 = 420.0;
const NOTE_W: f64 = 250.0;
const ROW_H: f64 = 24.0;
const TOP: f64 = 34.0;

/// One variant measured against the vulnerable code.
struct Row<'a> {
    name: String,
    timing: Option<&'a Timing>,
    instructions: Option<&'a Instructions>,
}

/// The flows the bench measured against their seed: groups with a `seed_vulnerable`
/// timing under the default strategy, in report order.
fn flows(r: &BenchReport) -> Vec<&str> {
    let mut flows: Vec<&str> = Vec::new();
    for t in &r.timings {
        if t.function == "seed_vulnerable"
            && t.parameter == r.default_strategy
            && !flows.contains(&t.group.as_str())
        {
            flows.push(&t.group);
        }
    }
    flows
}

fn flow_chart(r: &BenchReport, flow: &str) -> String {
    let default = r.default_strategy.as_str();
    let base = r.timing(flow, "seed_vulnerable", default);
    let base_ir = r.instructions(flow, &format!("seed_vulnerable_{default}"));
    let mut rows: Vec<Row> = r
        .timings
        .iter()
        .filter(|t| t.group == flow && t.function == "proven_fix")
        .map(|t| Row {
            name: format!(
                "proven_fix, {}{}",
                t.parameter,
                if t.parameter == default {
                    " (default)"
                } else {
                    ""
                }
            ),
            timing: Some(t),
            instructions: r.instructions(flow, &format!("proven_fix_{}", t.parameter)),
        })
        .collect();
    if let Some(t) = r.timing(flow, "seed_fix", default) {
        rows.push(Row {
            name: "seed_fix (the seed's own fix)".to_owned(),
            timing: Some(t),
            instructions: r.instructions(flow, &format!("seed_fix_{default}")),
        });
    }
    let ratios: Vec<(Option<raceproof_report::bench::Ratio>, Option<f64>)> = rows
        .iter()
        .map(|row| {
            (
                row.timing.zip(base).and_then(|(t, b)| t.ratio_to(b)),
                row.instructions
                    .zip(base_ir)
                    .filter(|(_, b)| b.per_op > 0.0)
                    .map(|(i, b)| i.per_op / b.per_op),
            )
        })
        .collect();
    let (lo, hi) = ratios
        .iter()
        .flat_map(|(t, i)| t.iter().flat_map(|t| [t.min, t.max]).chain(*i))
        .fold((1.0_f64, 1.0_f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let scale = Scale::linear(lo.min(0.8), hi.max(1.2), LABEL_W, LABEL_W + PLOT_W);
    let bottom = TOP + ROW_H * rows.len() as f64;
    let mut chart = svg::open(
        LABEL_W + PLOT_W + NOTE_W,
        bottom + 44.0,
        &format!("{flow}: cost against the seed's vulnerable code"),
    );
    chart.push_str(&svg::legend(
        Shape::Circle,
        LABEL_W,
        12.0,
        "ratio",
        "time: median, min–max over runs",
    ));
    chart.push_str(&svg::legend(
        Shape::Diamond,
        LABEL_W + 240.0,
        12.0,
        "ir",
        "instructions (callgrind)",
    ));
    chart.push_str(&svg::x_axis(
        &scale,
        bottom,
        TOP - 6.0,
        "\u{00D7} the seed's vulnerable code (1 = same cost)",
        "\u{00D7}",
    ));
    let one = scale.at(1.0);
    chart.push_str(&svg::vline(one, TOP - 6.0, bottom, "one"));
    chart.push_str(&svg::text(
        LABEL_W + PLOT_W + 12.0,
        TOP - 10.0,
        "start",
        "axis-title",
        "median time · instructions",
    ));
    for (i, (row, (time, ir))) in rows.iter().zip(&ratios).enumerate() {
        let y = TOP + ROW_H * (i as f64 + 0.5);
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            y + 4.0,
            "end",
            "label",
            &row.name,
        ));
        if let Some(t) = time {
            let _ = write!(
                chart,
                "<line class=\"whisker\" x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>",
                scale.at(t.min),
                scale.at(t.max)
            );
            chart.push_str(&svg::marker(
                Shape::Circle,
                scale.at(t.median),
                y,
                5.0,
                "ratio",
                &format!(
                    "{}: {}\u{00D7} the vulnerable code's time ({}–{} over runs)",
                    row.name,
                    num(t.median, 2),
                    num(t.min, 2),
                    num(t.max, 2)
                ),
            ));
        }
        if let Some(ir) = ir {
            chart.push_str(&svg::marker(
                Shape::Diamond,
                scale.at(*ir),
                y,
                4.5,
                "ir",
                &format!(
                    "{}: {}\u{00D7} the vulnerable code's instructions",
                    row.name,
                    num(*ir, 2)
                ),
            ));
        }
        let note = format!(
            "{} ns · {} Ir",
            row.timing
                .map_or_else(|| "-".to_owned(), |t| num(t.median_ns, 0)),
            row.instructions
                .map_or_else(|| "-".to_owned(), |i| count(i.per_op.round() as usize)),
        );
        chart.push_str(&svg::text(
            LABEL_W + PLOT_W + 12.0,
            y + 4.0,
            "start",
            "label",
            &note,
        ));
    }
    chart.push_str("</svg>");
    format!(
        "<figure id=\"cost-{flow}\" class=\"cost\"><h3>{}</h3>{chart}<figcaption>Against the seed's \
         vulnerable <code>{}</code> under the default strategy: {} ns, {} instructions per request.\
         </figcaption></figure>",
        esc(flow),
        esc(flow),
        base.map_or_else(|| "-".to_owned(), |t| num(t.median_ns, 0)),
        base_ir.map_or_else(|| "-".to_owned(), |i| count(i.per_op.round() as usize)),
    )
}

fn http_chart(r: &HttpReport) -> String {
    let hi = r
        .endpoints
        .iter()
        .map(|e| e.ratio_to_floor)
        .fold(1.0_f64, f64::max);
    // Room right of the floor's line, so that it does not sit on the plot's edge.
    let scale = Scale::linear(0.0, hi * 1.15, LABEL_W, LABEL_W + PLOT_W);
    let bottom = TOP + ROW_H * r.endpoints.len() as f64;
    let mut chart = svg::open(
        LABEL_W + PLOT_W + NOTE_W,
        bottom + 44.0,
        "HTTP throughput against the floor",
    );
    chart.push_str(&svg::x_axis(
        &scale,
        bottom,
        TOP - 6.0,
        "throughput \u{00D7} the bare axum handler's (the floor = 1)",
        "\u{00D7}",
    ));
    let one = scale.at(1.0);
    chart.push_str(&svg::vline(one, TOP - 6.0, bottom, "one"));
    chart.push_str(&svg::text(one, TOP - 10.0, "middle", "axis-title", "floor"));
    chart.push_str(&svg::text(
        LABEL_W + PLOT_W + 12.0,
        TOP - 10.0,
        "start",
        "axis-title",
        "req/s · p50 / p99 µs",
    ));
    for (i, e) in r.endpoints.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        // Rows of one endpoint differ by hasher and by credential cache (issue 19).
        let name = match (e.hasher.as_str(), e.cache.as_str()) {
            ("-", _) => e.endpoint.clone(),
            (hasher, "-") => format!("{} ({hasher})", e.endpoint),
            (hasher, cache) => format!("{} ({hasher}, cache {cache})", e.endpoint),
        };
        chart.push_str(&svg::text(
            LABEL_W - 10.0,
            y + ROW_H / 2.0 + 4.0,
            "end",
            "label",
            &name,
        ));
        let _ = write!(
            chart,
            "<rect class=\"bar\" x=\"{LABEL_W:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {}\u{00D7} the floor</title></rect>",
            y + 4.0,
            (scale.at(e.ratio_to_floor) - LABEL_W).max(1.0),
            ROW_H - 8.0,
            esc(&name),
            num(e.ratio_to_floor, 2)
        );
        chart.push_str(&svg::text(
            LABEL_W + PLOT_W + 12.0,
            y + ROW_H / 2.0 + 4.0,
            "start",
            "label",
            &format!(
                "{} req/s · {} / {}{}",
                count(e.rps.round() as usize),
                e.p50_us,
                e.p99_us,
                if e.errors > 0 {
                    format!(" · {} non-2xx", e.errors)
                } else {
                    String::new()
                }
            ),
        ));
    }
    chart.push_str("</svg>");
    format!(
        "<figure id=\"cost-http\" class=\"cost\"><h3>HTTP service</h3>{chart}<figcaption>Loopback, {} \
         connections, {} s per endpoint in slices interleaved with the floor's; measured on {}.\
         </figcaption></figure>",
        r.connections,
        num(r.seconds_per_endpoint, 1),
        esc(&r.machine)
    )
}

pub fn section(bench: Option<&BenchReport>, http: Option<&HttpReport>) -> String {
    let lead = "What a proven fix costs against the racy code it replaces: per flow and lock \
                strategy, the ratio of median times with its min–max over runs (\u{25CF} and \
                whisker) and the ratio of instruction counts (\u{25C6}), which other work on the \
                machine does not move. Left of the dashed line the fix is cheaper.";
    let mut out = String::new();
    match bench {
        Some(r) => {
            let _ = write!(
                out,
                "<p class=\"summary\">{} criterion run(s){}, measured on {}.</p>",
                r.runs,
                if r.quick {
                    " in quick mode (rough)"
                } else {
                    ""
                },
                esc(&r.machine)
            );
            for flow in flows(r) {
                out.push_str(&flow_chart(r, flow));
            }
        }
        None => out.push_str(&shell::missing(
            "bench.json (`cargo xtask bench` writes it)",
        )),
    }
    match http {
        Some(r) => out.push_str(&http_chart(r)),
        None => out.push_str(&shell::missing(
            "http.json (`cargo xtask bench --http` writes it)",
        )),
    }
    shell::section("costs", "What the fixes cost", lead, &out)
}
