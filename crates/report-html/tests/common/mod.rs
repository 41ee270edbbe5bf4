//! What the page tests and the browser test share: the sample reports, and readers of the
//! page's markup.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use raceproof_report_html::Reports;
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn sample() -> Reports {
    let reports = Reports::load(&fixtures());
    assert!(reports.unreadable.is_empty(), "{:?}", reports.unreadable);
    assert_eq!(reports.present(), 5, "every sample report is read");
    reports
}

/// Every attribute or CSS that makes a browser load something: none may name the network.
/// (An address in report text is escaped, quotes included, so it cannot become one.)
pub fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    let mut needles = vec![
        "url(http".to_owned(),
        "url(\"http".to_owned(),
        "url('http".to_owned(),
        "url(//".to_owned(),
        "@import".to_owned(),
        "<link".to_owned(),
        "<iframe".to_owned(),
        "<object".to_owned(),
        "<embed".to_owned(),
        "fetch(".to_owned(),
        "xmlhttprequest".to_owned(),
        "websocket".to_owned(),
    ];
    for attribute in [
        "src",
        "href",
        "xlink:href",
        "srcset",
        "action",
        "formaction",
        "poster",
        "data",
        "background",
    ] {
        for quote in ["\"", "'"] {
            for start in ["http", "//"] {
                needles.push(format!(" {attribute}={quote}{start}"));
            }
        }
    }
    for needle in &needles {
        assert!(
            !lower.contains(needle.as_str()),
            "the page fetches something: {needle}"
        );
    }
}

/// The text from `from` to the end of the element that starts there (a swimlane table).
pub fn element_from<'a>(html: &'a str, marker: &str, end: &str) -> &'a str {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let len = html[start..].find(end).expect("element ends");
    &html[start..start + len]
}

/// The order of the commits of a swimlane: (lane, text) per committed step.
pub fn commits(swimlane: &str) -> Vec<(String, String)> {
    swimlane
        .split("<tr ")
        .filter(|row| row.contains("data-kind=\"commit\""))
        .map(|row| {
            let lane = row
                .split("data-lane=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap()
                .to_owned();
            let text = row
                .split("<span class=\"ev mono\">")
                .nth(1)
                .and_then(|rest| rest.split("</span>").next())
                .unwrap()
                .to_owned();
            (lane, text)
        })
        .collect()
}
