//! `cargo xtask readme`: writes the generated tables of README.md and of the pages in
//! `docs/` from the reports in `target/raceproof/`, so that no figure there is typed by
//! hand. Each table sits between `<!-- name -->` and `<!-- /name -->`; everything outside
//! the markers is prose, kept as it is. A report that is missing leaves its tables as they
//! were committed (and says so): a page is never filled with figures no tool measured.

use crate::render;
use raceproof_report::abuse::AbuseReport;
use raceproof_report::bench::BenchReport;
use raceproof_report::file;
use raceproof_report::random::RandomReport;
use raceproof_report::services::{BackendsReport, HttpReport, InstanceRuns};
use raceproof_report::stress::StressReport;
use raceproof_report::verdicts::VerdictsReport;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The setups the two-instance test writes (`crates/server/tests/instances.rs`), in the
/// order their rows are listed; the shared one needs Redis and PostgreSQL.
const INSTANCE_SETUPS: [&str; 3] = ["shared", "memory", "alone"];

/// One generated table: the page and marker it goes to, and its text when the reports it
/// is made from are there (`Err`: which report is missing, and the command that writes it).
struct Section {
    page: &'static str,
    marker: &'static str,
    body: Result<String, String>,
}

/// The report `name` under `dir`, or why it cannot be used: missing, or written by an
/// older tool in another shape (then `by` writes it anew).
fn load<T: DeserializeOwned>(dir: &Path, name: &str, by: &str) -> Result<T, String> {
    match raceproof_report::read(&dir.join(name)) {
        Ok(Some(report)) => Ok(report),
        Ok(None) => Err(format!("{name} is missing (`{by}` writes it)")),
        Err(e) => Err(format!("{e} (`{by}` writes it anew)")),
    }
}

/// Every generated table, from the reports that are there.
fn sections(dir: &Path) -> Vec<Section> {
    let verdicts = load::<VerdictsReport>(dir, file::VERDICTS, "cargo xtask verify");
    let stress = load::<StressReport>(dir, file::STRESS, "cargo xtask stress");
    let random = load::<RandomReport>(dir, file::RANDOM, "cargo xtask verify --random");
    let bench = load::<BenchReport>(dir, file::BENCH, "cargo xtask bench");
    let http = load::<HttpReport>(dir, file::HTTP, "cargo xtask bench --http");
    let backends = load::<BackendsReport>(dir, file::BACKENDS, "cargo xtask bench --backends");
    let abuse = load::<AbuseReport>(dir, file::ABUSE, "cargo xtask abuse");
    let mut setups = Vec::new();
    let mut missing_setup = None;
    for setup in INSTANCE_SETUPS {
        let name = file::instances(setup);
        match load::<InstanceRuns>(
            dir,
            &name,
            "RACEPROOF_BACKEND_TESTS=1 cargo test -p raceproof-server --test instances",
        ) {
            Ok(runs) => setups.push(runs),
            Err(why) => missing_setup = missing_setup.or(Some(why)),
        }
    }
    let instances = match missing_setup {
        None => Ok(render::services::instances(&setups)),
        Some(why) => Err(why),
    };

    let from = |report: &Result<VerdictsReport, String>, f: fn(&VerdictsReport) -> String| {
        report.as_ref().map(f).map_err(Clone::clone)
    };
    let side_by_side = match (&verdicts, &stress) {
        (Ok(v), Ok(s)) => Ok(render::verdicts::side_by_side(v, s)),
        (Err(why), _) | (_, Err(why)) => Err(why.clone()),
    };
    let randomized = match (&verdicts, &random) {
        (Ok(v), Ok(r)) => Ok(render::random::side_by_side(v, r)),
        (Err(why), _) | (_, Err(why)) => Err(why.clone()),
    };
    let first_counterexample = verdicts.as_ref().map_err(Clone::clone).and_then(|v| {
        render::verdicts::first_counterexample(v)
            .ok_or_else(|| "verdicts.json holds no counterexample".to_owned())
    });
    vec![
        Section {
            page: "README.md",
            marker: "summary",
            body: from(&verdicts, render::verdicts::summary),
        },
        Section {
            page: "README.md",
            marker: "deployments",
            body: from(&verdicts, render::deployments::deployments),
        },
        Section {
            page: "docs/verdicts.md",
            marker: "deployments",
            body: from(&verdicts, render::deployments::deployments),
        },
        Section {
            page: "README.md",
            marker: "counterexample",
            body: first_counterexample,
        },
        Section {
            page: "docs/verdicts.md",
            marker: "scenarios",
            body: from(&verdicts, render::verdicts::scenarios),
        },
        Section {
            page: "docs/verdicts.md",
            marker: "verdicts",
            body: from(&verdicts, render::verdicts::full_table),
        },
        Section {
            page: "docs/verdicts.md",
            marker: "counterexamples",
            body: from(&verdicts, render::verdicts::counterexamples),
        },
        Section {
            page: "docs/verdicts.md",
            marker: "side-by-side",
            body: side_by_side,
        },
        Section {
            page: "docs/randomized.md",
            marker: "randomized",
            body: randomized,
        },
        Section {
            page: "README.md",
            marker: "cost",
            body: bench
                .as_ref()
                .map(render::bench::summary)
                .map_err(Clone::clone),
        },
        Section {
            page: "docs/performance.md",
            marker: "bench",
            body: bench
                .as_ref()
                .map(render::bench::tables)
                .map_err(Clone::clone),
        },
        Section {
            page: "docs/performance.md",
            marker: "http",
            body: http
                .as_ref()
                .map(render::services::http)
                .map_err(Clone::clone),
        },
        Section {
            page: "docs/instances.md",
            marker: "backends",
            body: backends
                .as_ref()
                .map(render::services::backends)
                .map_err(Clone::clone),
        },
        Section {
            page: "docs/instances.md",
            marker: "instances",
            body: instances,
        },
        Section {
            page: "docs/abuse.md",
            marker: "abuse",
            body: abuse
                .as_ref()
                .map(render::abuse::table)
                .map_err(Clone::clone),
        },
        Section {
            page: "crates/server/README.md",
            marker: "abuse",
            body: abuse
                .as_ref()
                .map(render::abuse::table)
                .map_err(Clone::clone),
        },
    ]
}

pub fn regenerate(root: &Path) -> Result<(), String> {
    let dir = raceproof_report::dir(root);
    let sections = sections(&dir);
    // Each page once: its sections are not next to each other in the list.
    let mut pages: Vec<&str> = sections.iter().map(|s| s.page).collect();
    pages.sort_unstable();
    pages.dedup();
    let (mut written, mut kept) = (0, Vec::new());
    for page in pages {
        let path = root.join(page);
        let mut text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for section in sections.iter().filter(|s| s.page == page) {
            // The marker must be there either way: a page and its generator agree.
            let (start, end) = find_section(&text, section.marker).ok_or_else(|| {
                format!(
                    "{page} has no <!-- {0} --> ... <!-- /{0} -->",
                    section.marker
                )
            })?;
            match &section.body {
                Ok(body) => {
                    text = format!("{}\n{}\n{}", &text[..start], body.trim_end(), &text[end..]);
                    written += 1;
                }
                Err(why) => kept.push(format!("{page} <!-- {} -->: {why}", section.marker)),
            }
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("{written} tables regenerated from {}", dir.display());
    for line in &kept {
        println!("kept as committed: {line}");
    }
    let broken = crate::links::broken(root)?;
    if broken.is_empty() {
        println!("every relative link in README.md and docs/ resolves");
        Ok(())
    } else {
        Err(format!("broken links:\n  {}", broken.join("\n  ")))
    }
}

/// The byte range of the body of section `name`: from the end of its opening marker to
/// the start of its closing marker.
fn find_section(text: &str, name: &str) -> Option<(usize, usize)> {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_the_text_between_its_markers() {
        let text = "a\n<!-- t -->\nold\n<!-- /t -->\nb";
        let (start, end) = find_section(text, "t").expect("found");
        assert_eq!(&text[start..end], "\nold\n");
        assert_eq!(find_section(text, "other"), None);
        assert_eq!(find_section("<!-- t --> no end", "t"), None);
    }

    #[test]
    fn the_readme_stays_a_front_door_under_300_lines() {
        let readme =
            std::fs::read_to_string(crate::workspace_root().join("README.md")).expect("README.md");
        let lines = readme.lines().count();
        assert!(
            lines < 300,
            "README.md has {lines} lines: move detail to docs/"
        );
    }

    #[test]
    fn every_generated_section_has_its_markers_in_the_committed_pages() {
        let root = crate::workspace_root();
        // An empty reports directory: every section is kept, and must still be found.
        let empty =
            std::env::temp_dir().join(format!("raceproof-no-reports-{}", std::process::id()));
        for section in sections(&empty) {
            assert!(
                section.body.is_err(),
                "{} has no report to come from",
                section.marker
            );
            let text = std::fs::read_to_string(root.join(section.page)).expect("page exists");
            assert!(
                find_section(&text, section.marker).is_some(),
                "{} lacks <!-- {} -->",
                section.page,
                section.marker
            );
        }
    }
}
