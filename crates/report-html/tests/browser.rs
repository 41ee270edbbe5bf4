//! The report in a real headless Chromium: the page's script ran without an error, every
//! section rendered, the `promote / seed_fix` swimlane shows the demotion commit (T2) before
//! the promotion commit (T1), and screenshots are saved (the whole page and the README's
//! figures) under `target/raceproof/screenshots/`.
//!
//! Without a browser the test says SKIPPED on stderr and returns, unless
//! `RACEPROOF_REQUIRE_BROWSER` is set (`.ci/run` installs Chromium and sets it): then a
//! missing browser fails.
// Once per CI run is enough: not again in the loom suite.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{commits, element_from, sample};
use raceproof_report_html::browser::{Browser, Dom};
use raceproof_report_html::{Reports, page, readme_figures};
use std::path::{Path, PathBuf};

fn browser() -> Option<Browser> {
    let found = Browser::find();
    if found.is_none() {
        assert!(
            std::env::var_os("RACEPROOF_REQUIRE_BROWSER").is_none(),
            "RACEPROOF_REQUIRE_BROWSER is set but no Chromium was found (PATH, RACEPROOF_CHROMIUM)"
        );
        eprintln!(
            "\n*** SKIPPED: no headless Chromium on this machine (apt-get install -y chromium, \
             or RACEPROOF_CHROMIUM=/path/to/chrome): the report was NOT checked in a browser ***\n"
        );
    }
    found
}

fn out_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = raceproof_report::dir(&root).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What every rendering must show: the script ran to its end and counted no error, and
/// Chromium logged none.
fn assert_ran_clean(dom: &Dom, what: &str) {
    assert_eq!(
        dom.root_attribute("data-ready"),
        Some("1"),
        "{what}: the page's script did not finish"
    );
    assert_eq!(
        dom.root_attribute("data-script-errors"),
        Some("0"),
        "{what}: script errors"
    );
    assert!(
        dom.console_errors.is_empty(),
        "{what}: {:?}",
        dom.console_errors
    );
    assert!(
        dom.html.contains("page script: no errors"),
        "{what}: the script's own line"
    );
}

#[test]
fn the_sample_report_renders_in_headless_chromium() {
    let Some(browser) = browser() else {
        return;
    };
    let dir = out_dir();
    let path = dir.join("sample-report.html");
    let reports = sample();
    raceproof_report_html::write(&path, &page(&reports)).unwrap();
    let dom = browser.dump_dom(&path, "").unwrap();
    assert_ran_clean(&dom, "sample report");

    // Each section, with what it draws, as the browser built it.
    for (section, content) in [
        ("verdicts", "id=\"verdict-grid\""),
        ("counterexamples", "data-swimlane=\"promote / seed_fix\""),
        ("loom-vs-threads", "id=\"loom-vs-threads-chart\""),
        ("race", "class=\"spread\""),
        ("costs", "id=\"cost-http\""),
    ] {
        let part = element_from(
            &dom.html,
            &format!("<section id=\"{section}\""),
            "</section>",
        );
        assert!(part.contains(content), "section {section} lacks {content}");
        assert!(!part.contains("data-missing"), "section {section} is empty");
    }
    assert!(
        dom.html.matches("<circle class=\"burst\"").count() > 10,
        "spread dots"
    );

    let lanes = element_from(
        &dom.html,
        "data-swimlane=\"promote / seed_fix\"",
        "</table>",
    );
    let commits = commits(lanes);
    assert_eq!(commits.len(), 2, "{commits:?}");
    assert_eq!(
        (commits[0].0.as_str(), commits[1].0.as_str()),
        ("T2", "T1"),
        "the demotion (T2) commits first: {commits:?}"
    );
    assert!(commits[0].1.contains("admin.role = user"), "{commits:?}");
    assert!(commits[1].1.contains("alice.role = admin"), "{commits:?}");

    let shot = dir.join("sample-report.png");
    browser.screenshot(&path, "", (1280, 2400), &shot).unwrap();
    eprintln!("screenshot: {}", shot.display());

    for (name, id) in readme_figures(&reports) {
        let out = dir.join(format!("sample-{name}"));
        let (width, height) = browser.screenshot_element(&path, &id, &out).unwrap();
        assert!(width > 200 && height > 80, "#{id} is {width}x{height}");
        eprintln!("screenshot: {} ({width}x{height})", out.display());
    }
}

#[test]
fn the_real_report_renders_too_when_there_is_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reports = Reports::load(&raceproof_report::dir(&root));
    if reports.present() == 0 {
        eprintln!("no report under target/raceproof yet: only the sample was rendered");
        return;
    }
    let Some(browser) = browser() else {
        return;
    };
    let path = out_dir().join("real-report.html");
    raceproof_report_html::write(&path, &page(&reports)).unwrap();
    let dom = browser.dump_dom(&path, "").unwrap();
    assert_ran_clean(&dom, "real report");
    assert_eq!(dom.html.matches("data-section=").count(), 5);
}
