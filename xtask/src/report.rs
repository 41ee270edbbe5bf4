//! `cargo xtask report [--screenshots]`: `target/raceproof/report.html`, one self-contained
//! page from the reports under `target/raceproof/` (the ones `readme` makes its tables
//! from). `verify`, `stress` and `bench` refresh it after they write their report.
//! `--screenshots` also cuts the README's figures out of it with headless Chromium, into
//! `docs/img/`.

use raceproof_report_html::browser::Browser;
use raceproof_report_html::{PAGE, Reports, page, readme_figures};
use std::path::{Path, PathBuf};

/// Writes the page from the reports there are; returns where, and what it was made from.
pub fn write(root: &Path) -> Result<(PathBuf, Reports), String> {
    let dir = raceproof_report::dir(root);
    let reports = Reports::load(&dir);
    for problem in &reports.unreadable {
        eprintln!("xtask: report: {problem}");
    }
    let path = dir.join(PAGE);
    raceproof_report_html::write(&path, &page(&reports))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "report: {} (from {} of 5 reports)",
        path.display(),
        reports.present()
    );
    Ok((path, reports))
}

/// After a command that writes a report: the page again, or a warning (the command's own
/// outcome is what counts).
pub fn refresh(root: &Path) {
    if let Err(why) = write(root) {
        eprintln!("xtask: report.html not refreshed: {why}");
    }
}

pub fn run(root: &Path, screenshots: bool) -> Result<(), String> {
    let (path, reports) = write(root)?;
    if !screenshots {
        return Ok(());
    }
    let browser = Browser::find().ok_or(
        "no headless browser: install Chromium (`apt-get install -y chromium`) or name one in \
         RACEPROOF_CHROMIUM",
    )?;
    let figures = readme_figures(&reports);
    if figures.is_empty() {
        return Err("the reports hold no figure the README shows".to_owned());
    }
    for (name, id) in figures {
        let out = root.join("docs").join("img").join(name);
        let (width, height) = browser.screenshot_element(&path, &id, &out)?;
        println!("{} ({width}x{height}, #{id})", out.display());
    }
    Ok(())
}
