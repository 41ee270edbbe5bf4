//! A real headless Chromium, driven from its command line (`--dump-dom`, `--screenshot`):
//! how the report's test checks what a browser makes of the page, and how the README's
//! screenshots are cut out of the real report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one browser run may take before it is killed.
const DEADLINE: Duration = Duration::from_secs(90);

/// The programs tried, in order, when `RACEPROOF_CHROMIUM` does not name one.
const CANDIDATES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// A Chromium (or Chrome) binary.
#[derive(Debug, Clone)]
pub struct Browser {
    program: PathBuf,
}

/// What the browser made of a page: the DOM after its scripts ran, and the lines of its
/// console log that report a script error.
#[derive(Debug, Clone)]
pub struct Dom {
    pub html: String,
    pub console_errors: Vec<String>,
}

impl Dom {
    /// The value of `name` on the page's `<html>` element (where the page's script writes
    /// whether it ran, its error count and a focused element's size).
    pub fn root_attribute(&self, name: &str) -> Option<&str> {
        let start = self.html.find("<html")?;
        let tag = &self.html[start..start + self.html[start..].find('>')?];
        let key = format!(" {name}=\"");
        let from = tag.find(&key)? + key.len();
        Some(&tag[from..from + tag[from..].find('"')?])
    }
}

impl Browser {
    /// `RACEPROOF_CHROMIUM` when set, else the first of `chromium`, `chromium-browser`,
    /// `google-chrome` found on `PATH`.
    pub fn find() -> Option<Browser> {
        if let Some(program) = std::env::var_os("RACEPROOF_CHROMIUM") {
            return Some(Browser {
                program: PathBuf::from(program),
            });
        }
        let path = std::env::var_os("PATH")?;
        CANDIDATES.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
                .map(|program| Browser { program })
        })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The DOM of `page` (a file) after load, with `fragment` (`#...`, or empty) in its
    /// address.
    pub fn dump_dom(&self, page: &Path, fragment: &str) -> Result<Dom, String> {
        let url = format!("{}{fragment}", file_url(page)?);
        let (stdout, stderr) = self.run(&["--dump-dom".to_owned(), url])?;
        if !stdout.contains("<html") {
            return Err(format!(
                "{} printed no DOM; its log:\n{stderr}",
                self.program.display()
            ));
        }
        Ok(Dom {
            html: stdout,
            console_errors: stderr
                .lines()
                .filter(|l| {
                    l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error"))
                })
                .map(str::to_owned)
                .collect(),
        })
    }

    /// A `width` x `height` screenshot of `page` with `fragment` in its address, as PNG.
    pub fn screenshot(
        &self,
        page: &Path,
        fragment: &str,
        (width, height): (u32, u32),
        out: &Path,
    ) -> Result<(), String> {
        let url = format!("{}{fragment}", file_url(page)?);
        let out = absolute(out)?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let _ = std::fs::remove_file(&out);
        let (_, stderr) = self.run(&[
            format!("--screenshot={}", out.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".to_owned(),
            url,
        ])?;
        match std::fs::read(&out) {
            Ok(png) if png.starts_with(b"\x89PNG\r\n\x1a\n") => Ok(()),
            Ok(_) => Err(format!("{} is not a PNG", out.display())),
            Err(e) => Err(format!(
                "no screenshot at {} ({e}); log:\n{stderr}",
                out.display()
            )),
        }
    }

    /// A screenshot of the element `id` of `page` alone, as the page shows it with
    /// `#focus=ID`; returns its size in pixels.
    pub fn screenshot_element(
        &self,
        page: &Path,
        id: &str,
        out: &Path,
    ) -> Result<(u32, u32), String> {
        let fragment = format!("#focus={id}");
        let dom = self.dump_dom(page, &fragment)?;
        let size = |name| {
            dom.root_attribute(name)
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| format!("the page did not measure #{id} ({name} missing)"))
        };
        let size = (size("data-focus-width")?, size("data-focus-height")?);
        self.screenshot(page, &fragment, size, out)?;
        Ok(size)
    }

    /// Runs the browser headless on its own fresh profile, with every host unresolvable so
    /// that nothing can be fetched; returns stdout and stderr.
    fn run(&self, args: &[String]) -> Result<(String, String), String> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "raceproof-browser-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let result = self.run_in(&scratch, args);
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    fn run_in(&self, scratch: &Path, args: &[String]) -> Result<(String, String), String> {
        let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
        let file = |path: &Path| {
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let mut child = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--enable-logging=stderr",
                "--v=0",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--force-device-scale-factor=1",
            ])
            .arg(format!(
                "--user-data-dir={}",
                scratch.join("profile").display()
            ))
            .args(args)
            .stdin(Stdio::null())
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < DEADLINE => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} still running after {} s: killed",
                        self.program.display(),
                        DEADLINE.as_secs()
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        let (stdout, stderr) = (read(&out_path), read(&err_path));
        if status.success() {
            Ok((stdout, stderr))
        } else {
            Err(format!(
                "{} failed ({status}):\n{stderr}",
                self.program.display()
            ))
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `file://` address of a local file, characters that would end a path escaped.
pub fn file_url(path: &Path) -> Result<String, String> {
    let path = absolute(path)?;
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    let mut url = String::from("file://");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            ' ' => url.push_str("%20"),
            '#' => url.push_str("%23"),
            '?' => url.push_str("%3F"),
            _ => url.push(c),
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_attributes_are_read_from_the_html_tag() {
        let dom = Dom {
            html:
                "<!DOCTYPE html><html lang=\"en\" data-ready=\"1\" data-script-errors=\"0\"><head>"
                    .to_owned(),
            console_errors: Vec::new(),
        };
        assert_eq!(dom.root_attribute("data-ready"), Some("1"));
        assert_eq!(dom.root_attribute("data-script-errors"), Some("0"));
        assert_eq!(dom.root_attribute("data-focus-width"), None);
    }

    #[test]
    fn file_urls_escape_what_would_end_a_path() {
        let url = file_url(Path::new("/tmp/a b#c.html")).expect("absolute");
        assert_eq!(url, "file:///tmp/a%20b%23c.html");
    }
}
