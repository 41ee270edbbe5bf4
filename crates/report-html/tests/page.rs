//! The page from the committed sample reports (`tests/fixtures/`, written by the real tools)
//! and from the real ones under `target/raceproof/` when there are: every section drawn,
//! nothing fetched from the network, report text escaped, the counterexample's order kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_self_contained, commits, element_from, fixtures, sample};
use raceproof_report_html::{Reports, Verdicts, page, race_page, readme_figures};
use serde_json::{Value, json};
use std::path::Path;

#[test]
fn the_sample_reports_give_every_section_and_nothing_missing() {
    let html = page(&sample());
    for section in [
        "verdicts",
        "counterexamples",
        "loom-vs-threads",
        "race",
        "costs",
    ] {
        assert!(
            html.contains(&format!(
                "<section id=\"{section}\" data-section=\"{section}\">"
            )),
            "{section}"
        );
    }
    assert!(!html.contains("data-missing"), "a section lacks its report");
    assert_self_contained(&html);
    // The grid has a cell per model, each linking to a detail that exists.
    let verdicts = Reports::load(&fixtures()).verdicts.unwrap();
    let cells = html.matches("<td class=\"cell ").count()
        - html.matches("<td class=\"cell empty\"").count();
    assert_eq!(cells, verdicts.report.models.len());
    for link in html.split("<a href=\"#m--").skip(1) {
        let id = format!("m--{}", link.split('"').next().unwrap());
        assert!(html.contains(&format!("id=\"{id}\"")), "no detail #{id}");
    }
    // Charts with data in them.
    assert!(html.contains("id=\"loom-vs-threads-chart\""));
    assert!(html.matches("class=\"burst\"").count() > 10, "spread dots");
    assert!(html.contains("class=\"req-ok\""), "a burst's timeline");
    assert!(html.contains("id=\"cost-promote\""));
    assert!(html.contains("id=\"cost-http\""));
}

#[test]
fn the_promote_seed_fix_swimlane_shows_the_demotion_commit_before_the_promotion() {
    let html = page(&sample());
    let lanes = element_from(&html, "data-swimlane=\"promote / seed_fix\"", "</table>");
    let commits = commits(lanes);
    assert_eq!(commits.len(), 2, "{commits:?}");
    assert_eq!(commits[0].0, "T2");
    assert!(commits[0].1.contains("admin.role = user"), "{commits:?}");
    assert_eq!(commits[1].0, "T1");
    assert!(commits[1].1.contains("alice.role = admin"), "{commits:?}");
    // The breaking step is the promotion, framed with the invariant's words.
    let breach = element_from(lanes, "<tr class=\"k-commit breach\"", "</tr>");
    assert!(breach.contains("data-lane=\"T1\""), "{breach}");
    assert!(breach.contains("<span class=\"why\">"), "{breach}");
}

#[test]
fn the_real_reports_give_a_page_too_when_there_are() {
    let dir = raceproof_report::dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let reports = Reports::load(&dir);
    assert!(reports.unreadable.is_empty(), "{:?}", reports.unreadable);
    if reports.present() == 0 {
        eprintln!(
            "no report under {} yet: only the samples were drawn",
            dir.display()
        );
        return;
    }
    let html = page(&reports);
    assert_self_contained(&html);
    assert_eq!(html.matches("data-section=").count(), 5);
    if let Some(verdicts) = &reports.verdicts {
        let violated = verdicts
            .report
            .models
            .iter()
            .filter(|m| !m.trace.is_empty())
            .count();
        assert_eq!(html.matches("data-swimlane=").count(), violated);
    }
}

#[test]
fn a_deployment_field_becomes_a_column_of_the_grid() {
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("verdicts.json")).unwrap())
            .unwrap();
    let models = value["models"].as_array_mut().unwrap();
    let mut copy = models[0].clone();
    models[0]["deployment"] = json!("event_loop");
    copy["deployment"] = json!({ "name": "workers_2", "routing": "round_robin" });
    models.push(copy);
    let reports = Reports {
        verdicts: Some(Verdicts::from_value(value).unwrap()),
        ..Reports::default()
    };
    let html = page(&reports);
    let grid = element_from(&html, "<table class=\"grid\"", "</table>");
    assert!(grid.contains("<th>deployment</th>"), "{grid}");
    assert!(grid.contains("<td>event_loop</td>"));
    assert!(grid.contains("<td>workers_2</td>"));
    // The same flow and variant in two deployments: two cells, two details.
    assert!(html.contains("id=\"m--promote--seed_vulnerable--event_loop\""));
    assert!(html.contains("id=\"m--promote--seed_vulnerable--workers_2\""));
}

#[test]
fn report_text_is_escaped_and_the_race_part_stands_alone() {
    let mut race: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("race.json")).unwrap())
            .unwrap();
    let hostile = "<script>alert(1)</script><img src=\"http://evil.example/x.png\">";
    race["scenarios"][0]["scenario"] = json!(hostile);
    let html = race_page(&race);
    assert!(!html.contains(hostile));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_self_contained(&html);
    assert_eq!(html.matches("data-section=").count(), 1);
    assert!(html.contains("<section id=\"race\""));
}

#[test]
fn missing_reports_say_which_command_writes_them() {
    let html = page(&Reports::default());
    for command in [
        "cargo xtask verify",
        "cargo xtask stress",
        "cargo xtask bench",
        "cargo xtask bench --http",
        "raceproof-race",
    ] {
        assert!(html.contains(command), "{command}");
    }
    assert_eq!(html.matches("data-section=").count(), 5);
}

#[test]
fn the_readme_figures_are_found_in_the_sample_page() {
    let reports = sample();
    let html = page(&reports);
    let figures = readme_figures(&reports);
    let names: Vec<&str> = figures.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["swimlane.png", "spread.png", "burst.png"]);
    for (_, id) in &figures {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(figures[0].1, "m--promote--seed_fix");
}
