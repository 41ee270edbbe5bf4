//! Section 1: the verdicts as a grid, flow x variant (x any further dimension a verdict row
//! carries, such as `deployment`), each cell a shape, a word and a link to its detail.

use crate::Verdicts;
use crate::markup::{count, esc, slug};
use crate::shell;
use raceproof_report::VerdictKind;
use raceproof_report::verdicts::ModelVerdict;
use serde_json::Value;
use std::fmt::Write as _;

/// Fields of a verdict row that split a flow's row further when a report has them (the
/// deployment a model ran in). Read from the row as written, so that a field a newer
/// writer adds shows without this page knowing its type.
pub const DIMENSIONS: [&str; 1] = ["deployment"];

/// The symbol and word of a verdict: the cell reads without colour.
pub fn symbol(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Proven => "\u{2713}",
        VerdictKind::Violated => "\u{2717}",
        VerdictKind::Inconclusive => "?",
    }
}

/// A dimension's value as a short label: a string as it is, an object by its `name` (or
/// `label`, `kind`), anything else as compact JSON.
fn label(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => ["name", "label", "kind"]
            .iter()
            .find_map(|key| map.get(*key).and_then(Value::as_str))
            .map(str::to_owned)
            .or_else(|| Some(value.to_string())),
        other => Some(other.to_string()),
    }
}

/// The further dimensions of one row, in [`DIMENSIONS`]' order (`None` where absent).
pub fn dimensions(row: Option<&Value>) -> Vec<Option<String>> {
    DIMENSIONS
        .iter()
        .map(|key| row.and_then(|row| row.get(*key)).and_then(label))
        .collect()
}

/// The id of a model's detail: flow, variant and its dimensions.
pub fn detail_id(model: &ModelVerdict, dims: &[Option<String>]) -> String {
    let mut parts = vec!["m", model.flow.as_str(), model.variant.as_str()];
    parts.extend(dims.iter().flatten().map(String::as_str));
    slug(&parts)
}

/// Variants in columns: the seed's two and ours first, then ours under other strategies,
/// then the rest, each group in the order the report lists them.
fn columns(models: &[ModelVerdict]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for m in models {
        if !seen.contains(&m.variant.as_str()) {
            seen.push(&m.variant);
        }
    }
    let rank = |v: &str| match v {
        "seed_vulnerable" => 0,
        "seed_fix" => 1,
        "proven_fix" => 2,
        v if v.starts_with("proven_fix/") => 3,
        _ => 4,
    };
    seen.sort_by_key(|v| rank(v));
    seen
}

pub fn section(verdicts: Option<&Verdicts>) -> String {
    let lead = "Every model of the catalogue under loom: a row per flow, a column per variant. \
                \u{2713} proven (every interleaving explored, every invariant saw events), \
                \u{2717} violated (with the invariant it breaks), ? inconclusive (the checker \
                could not decide). A double frame marks a verdict that is not the expected one. \
                Each cell links to its detail: the counterexample as a swimlane, or what the \
                proof covered.";
    let Some(verdicts) = verdicts else {
        return shell::section(
            "verdicts",
            "Verdicts",
            lead,
            &shell::missing("verdicts.json (`cargo xtask verify` writes it)"),
        );
    };
    let models = &verdicts.report.models;
    let dims: Vec<Vec<Option<String>>> = (0..models.len())
        .map(|i| dimensions(verdicts.rows.get(i)))
        .collect();
    // Which dimensions any row has: only those get a column.
    let shown: Vec<usize> = (0..DIMENSIONS.len())
        .filter(|d| dims.iter().any(|row| row[*d].is_some()))
        .collect();
    let row_key = |i: usize| -> (String, Vec<Option<String>>) {
        (
            models[i].flow.clone(),
            shown.iter().map(|d| dims[i][*d].clone()).collect(),
        )
    };
    let mut rows: Vec<(String, Vec<Option<String>>)> = Vec::new();
    for i in 0..models.len() {
        let key = row_key(i);
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    let columns = columns(models);

    let mut out = String::new();
    let _ = write!(
        out,
        "<p class=\"summary\" data-models=\"{}\"><strong>{} models</strong>: {} proven, {} violated, \
         {} inconclusive; {}. Measured on {}.</p>",
        models.len(),
        count(models.len()),
        verdicts.report.count(VerdictKind::Proven),
        verdicts.report.count(VerdictKind::Violated),
        verdicts.report.count(VerdictKind::Inconclusive),
        match verdicts.report.unexpected().count() {
            0 => "every verdict is the expected one".to_owned(),
            n => format!("<strong>{n} not the expected verdict</strong>"),
        },
        esc(&verdicts.report.machine)
    );
    out.push_str(
        "<p class=\"controls\"><label><input type=\"checkbox\" data-toggle=\"only-violated\" \
         data-target=\"verdict-grid\"> dim all but violated</label><label><input type=\"checkbox\" \
         data-toggle=\"only-unexpected\" data-target=\"verdict-grid\"> dim all but unexpected</label></p>",
    );
    out.push_str(
        "<div class=\"scroll\"><table class=\"grid\" id=\"verdict-grid\"><thead><tr><th>flow</th>",
    );
    for d in &shown {
        let _ = write!(out, "<th>{}</th>", esc(DIMENSIONS[*d]));
    }
    for column in &columns {
        let _ = write!(
            out,
            "<th class=\"variant\" scope=\"col\">{}</th>",
            esc(column)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for (flow, key_dims) in &rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(flow));
        for value in key_dims {
            let _ = write!(out, "<td>{}</td>", esc(value.as_deref().unwrap_or("-")));
        }
        for column in &columns {
            let found = (0..models.len()).find(|i| {
                let (f, d) = row_key(*i);
                &f == flow && &d == key_dims && models[*i].variant == *column
            });
            match found {
                Some(i) => out.push_str(&cell(&models[i], &dims[i])),
                None => out.push_str("<td class=\"cell empty\" title=\"not modelled\"></td>"),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    shell::section("verdicts", "Verdicts", lead, &out)
}

fn cell(m: &ModelVerdict, dims: &[Option<String>]) -> String {
    let kind = m.verdict;
    let detail = match (kind, &m.invariant) {
        (VerdictKind::Violated, Some(invariant)) => {
            format!("<span class=\"inv\">{}</span>", esc(invariant))
        }
        _ => String::new(),
    };
    let unexpected = if m.as_expected {
        String::new()
    } else {
        format!(
            "<span class=\"flag\">UNEXPECTED</span><span class=\"inv\">expected {}</span>",
            esc(&m.expected.to_string())
        )
    };
    let title = format!(
        "{} / {}: {}{}",
        m.flow,
        m.variant,
        kind,
        m.invariant
            .as_deref()
            .map_or_else(String::new, |i| format!(" ({i})"))
    );
    format!(
        "<td class=\"cell {kind}{}\" data-flow=\"{}\" data-variant=\"{}\" data-verdict=\"{kind}\">\
         <a href=\"#{}\" title=\"{}\"><span class=\"sym\">{}</span><span class=\"word\">{kind}</span>\
         {detail}{unexpected}</a></td>",
        if m.as_expected { "" } else { " unexpected" },
        esc(&m.flow),
        esc(&m.variant),
        detail_id(m, dims),
        esc(&title),
        symbol(kind),
    )
}
