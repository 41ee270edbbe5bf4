//! `cargo xtask layout`: the checks a newcomer's map of the code relies on.
//!
//! - **Import circles**: within each crate, module `a` using `crate::b` while `b` uses
//!   `crate::a` (directly or round a longer loop) means neither can be read first. Edges
//!   come from `crate::`, `super::` and `self::` paths in each module's file (comments left
//!   out), resolved to the deepest module a file defines, through the crate root's
//!   `pub use` re-exports; a module and its own submodules may use each other.
//! - **Long files**: a source file over [`LONG_FILE`] lines must say why at its top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lines past which a source file needs a reason at its top.
pub const LONG_FILE: usize = 500;

/// A crate's modules (`""` is the root; `a::b` a nested module), each with the modules it
/// uses.
pub struct Graph {
    pub crate_name: String,
    pub uses: BTreeMap<String, Vec<String>>,
}

/// Every crate of the workspace: the root package, `crates/*` and `xtask`.
pub fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf(), root.join("xtask")];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        let mut crates: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        crates.sort();
        dirs.extend(crates.into_iter().filter(|d| d.join("Cargo.toml").exists()));
    }
    dirs
}

/// The module of `file` (relative to `src/`): `lib.rs`/`main.rs` are the root, `a.rs` and
/// `a/mod.rs` are `a`, `a/b.rs` is `a::b`.
fn module_of(file: &Path) -> String {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts.join("::")
}

/// The Rust files of `src/`, binaries (`src/bin/`, their own crates) left out.
fn sources(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path != src.join("bin") {
                sources(src, &path, out);
            }
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `text` without `//` comments (doc comments included), line by line.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string is rare in `use` paths; cutting it loses nothing needed.
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths following each `prefix` (`crate`, `super`, `self`) in `code`, with
/// `{a, b::c}` groups spread out: `crate::{a, b::c}` gives `a` and `b::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(i) = rest.find(&needle) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + needle.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '$')) {
            continue;
        }
        out.extend(path_or_group(rest));
    }
    out
}

/// The path at the start of `text`, or the paths of the `{...}` group there.
fn path_or_group(text: &str) -> Vec<String> {
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &group[..end];
        let mut items = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        return items
            .into_iter()
            .flat_map(|item| path_or_group(item.trim()))
            .collect();
    }
    let path: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let path = path.trim_end_matches(':').to_owned();
    if path.is_empty() {
        Vec::new()
    } else {
        vec![path]
    }
}

/// The deepest module in `modules` that `path` (from the crate root) names.
fn deepest(modules: &[String], path: &str) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    (0..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

/// The module graph of the crate at `dir` (`None`: it has no `src/`).
pub fn graph(dir: &Path) -> Option<Graph> {
    let src = dir.join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    if files.is_empty() {
        return None;
    }
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| {
            let module = module_of(f.strip_prefix(&src).ok()?);
            Some((module, code(&std::fs::read_to_string(f).ok()?)))
        })
        .collect();
    let modules: Vec<String> = texts.iter().map(|(m, _)| m.clone()).collect();
    // The root's re-exports: `pub use a::{X, Y}` makes `crate::X` mean module `a`.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    if let Some((_, root)) = texts.iter().find(|(m, _)| m.is_empty()) {
        for statement in root.split(';') {
            let Some(used) = statement.trim().strip_prefix("pub use ") else {
                continue;
            };
            let (prefix, names) = match used.split_once("::{") {
                Some((prefix, group)) => (prefix.trim(), path_or_group(&format!("{{{group}"))),
                None => ("", path_or_group(used.trim())),
            };
            for name in names {
                let full = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}::{name}")
                };
                let module = deepest(&modules, &full);
                if let Some(last) = full.rsplit("::").next()
                    && !module.is_empty()
                {
                    reexports.insert(last.to_owned(), module);
                }
            }
        }
    }
    let mut uses = BTreeMap::new();
    for (module, text) in &texts {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut targets: Vec<String> = Vec::new();
        let mut add = |target: String| {
            if !targets.contains(&target) {
                targets.push(target);
            }
        };
        for path in paths_after(text, "crate") {
            let first = path.split("::").next().unwrap_or_default();
            match reexports.get(first) {
                Some(module) if !modules.contains(&first.to_owned()) => add(module.clone()),
                _ => add(deepest(&modules, &path)),
            }
        }
        for (prefix, base) in [("super", parent), ("self", module.as_str())] {
            for path in paths_after(text, prefix) {
                let full = if base.is_empty() {
                    path
                } else {
                    format!("{base}::{path}")
                };
                add(deepest(&modules, &full));
            }
        }
        let related = |other: &str| {
            let nested =
                |a: &str, b: &str| b.is_empty() || a == b || a.starts_with(&format!("{b}::"));
            nested(module, other) || nested(other, module)
        };
        targets.retain(|t| !related(t));
        uses.insert(module.clone(), targets);
    }
    let crate_name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    Some(Graph { crate_name, uses })
}

impl Graph {
    /// The import circles: each a set of two or more modules that reach one another.
    pub fn circles(&self) -> Vec<Vec<String>> {
        // Two modules are in one circle when each reaches the other.
        let reach = |from: &str| {
            let mut seen = vec![from.to_owned()];
            let mut next = vec![from.to_owned()];
            while let Some(m) = next.pop() {
                for t in self.uses.get(&m).into_iter().flatten() {
                    if !seen.contains(t) {
                        seen.push(t.clone());
                        next.push(t.clone());
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<&String, Vec<String>> =
            self.uses.keys().map(|m| (m, reach(m))).collect();
        let mut circles: Vec<Vec<String>> = Vec::new();
        for (m, from_m) in &reaches {
            if circles.iter().any(|c| c.contains(m)) {
                continue;
            }
            let circle: Vec<String> = from_m
                .iter()
                .filter(|o| reaches.get(o).is_some_and(|r| r.contains(m)))
                .cloned()
                .collect();
            if circle.len() > 1 {
                circles.push(circle);
            }
        }
        circles
    }
}

/// Source files (not tests) over [`LONG_FILE`] lines, with their length and first line.
pub fn long_files(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    let src = dir.join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
        files.extend(bins.flatten().map(|e| e.path()));
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f).ok()?;
            let lines = text.lines().count();
            let first = text.lines().next().unwrap_or_default().to_owned();
            (lines > LONG_FILE).then_some((f, lines, first))
        })
        .collect()
}

/// Prints every crate's import circles and long files; fails on any circle.
pub fn check(root: &Path) -> Result<(), String> {
    let mut circles = Vec::new();
    for dir in crate_dirs(root) {
        if let Some(graph) = graph(&dir) {
            for circle in graph.circles() {
                circles.push(format!("{}: {}", graph.crate_name, circle.join(" <-> ")));
            }
        }
    }
    for dir in crate_dirs(root) {
        for (file, lines, first) in long_files(&dir) {
            let name = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            println!("{name}: {lines} lines; its top says: {first}");
        }
    }
    if circles.is_empty() {
        println!("no import circles");
        Ok(())
    } else {
        Err(format!("import circles:\n  {}", circles.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(files: &[(&str, &str)]) -> Graph {
        let dir = std::env::temp_dir().join(format!(
            "raceproof-layout-{}-{}",
            std::process::id(),
            files.len() * 1000 + files.iter().map(|(_, t)| t.len()).sum::<usize>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join("src").join(name);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let graph = graph(&dir).expect("has sources");
        let _ = std::fs::remove_dir_all(&dir);
        graph
    }

    #[test]
    fn a_two_module_circle_is_found_and_a_one_way_use_is_not() {
        let g = graph_of(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::X;"),
            (
                "b.rs",
                "// crate::c in a comment is no use\nuse crate::{a::Y, a::Z};",
            ),
            ("c.rs", "pub struct Z;"),
        ]);
        assert_eq!(g.circles(), vec![vec!["a".to_owned(), "b".to_owned()]]);
        assert_eq!(g.uses["b"], ["a"]);
    }

    #[test]
    fn a_circle_through_a_reexport_and_super_is_found() {
        let g = graph_of(&[
            (
                "lib.rs",
                "mod run; mod scenario;\npub use run::{Runner, TIMEOUT};",
            ),
            ("run/mod.rs", "mod threads;\nuse crate::scenario::Scenario;"),
            ("run/threads.rs", "use super::Runner;"),
            ("scenario.rs", "fn f() { let _ = crate::TIMEOUT; }"),
        ]);
        assert_eq!(
            g.circles(),
            vec![vec!["run".to_owned(), "scenario".to_owned()]]
        );
    }

    #[test]
    fn a_module_and_its_submodules_may_use_each_other() {
        let g = graph_of(&[
            ("lib.rs", "mod run;"),
            ("run/mod.rs", "mod threads; use self::threads::go;"),
            ("run/threads.rs", "use super::Shared; use crate::run::X;"),
        ]);
        assert!(g.circles().is_empty(), "{:?}", g.uses);
    }

    /// No crate of the workspace has an import circle, and a file over the limit says why
    /// at its top (a line starting "Longer than"); `cargo xtask layout` prints them all.
    #[test]
    fn no_crate_has_an_import_circle_and_long_files_say_why() {
        let root = crate::workspace_root();
        for dir in crate_dirs(&root) {
            let Some(graph) = graph(&dir) else { continue };
            assert!(
                graph.circles().is_empty(),
                "{}: {:?}",
                dir.display(),
                graph.circles()
            );
            for (file, lines, _) in long_files(&dir) {
                let text = std::fs::read_to_string(&file).expect("readable");
                let explained = text.lines().take(40).any(|l| {
                    l.trim_start_matches(['/', '!', ' '])
                        .starts_with("Longer than")
                });
                assert!(
                    explained,
                    "{}: {lines} lines and no \"Longer than ...\" reason at its top",
                    file.display()
                );
            }
        }
    }
}
