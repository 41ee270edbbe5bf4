//! Every relative link in README.md and the pages of `docs/` must lead somewhere in the
//! repository: a file that exists and, for `page.md#anchor`, a heading of that page.
//! Links outside the repository (`../shared`, absolute paths) are broken by definition:
//! a reader of a clone has only the clone.

use std::path::{Component, Path, PathBuf};

/// The pages whose links are checked: README.md and every `docs/*.md`.
fn pages(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut pages = vec![root.join("README.md")];
    let docs = root.join("docs");
    let entries =
        std::fs::read_dir(&docs).map_err(|e| format!("cannot read {}: {e}", docs.display()))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    found.sort();
    pages.extend(found);
    Ok(pages)
}

/// `page: target (why)` for each relative link that does not resolve.
pub fn broken(root: &Path) -> Result<Vec<String>, String> {
    let mut broken = Vec::new();
    for page in pages(root)? {
        let text = std::fs::read_to_string(&page)
            .map_err(|e| format!("cannot read {}: {e}", page.display()))?;
        let name = page
            .strip_prefix(root)
            .unwrap_or(&page)
            .display()
            .to_string();
        for target in links(&text) {
            if let Err(why) = resolve(root, &page, &text, &target) {
                broken.push(format!("{name}: {target} ({why})"));
            }
        }
    }
    Ok(broken)
}

/// Whether `target`, linked from `page` (whose text is `text`), resolves.
fn resolve(root: &Path, page: &Path, text: &str, target: &str) -> Result<(), String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return Ok(());
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        if path.starts_with('/') {
            return Err("absolute path".to_owned());
        }
        let dir = page.parent().unwrap_or(root);
        normalize(&dir.join(path))
    };
    if !file.starts_with(root) {
        return Err("outside the repository".to_owned());
    }
    if !file.exists() {
        return Err("no such file".to_owned());
    }
    if anchor.is_empty() {
        return Ok(());
    }
    let target_text = if path.is_empty() {
        text.to_owned()
    } else if file.extension().is_some_and(|x| x == "md") {
        std::fs::read_to_string(&file).map_err(|e| e.to_string())?
    } else {
        return Ok(());
    };
    if headings(&target_text).iter().any(|h| slug(h) == anchor) {
        Ok(())
    } else {
        Err(format!("no heading #{anchor}"))
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The lines of `text` outside fenced code blocks.
fn outside_fences(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The prose of `text`: fenced code blocks and inline code (between pairs of backticks)
/// left out.
fn prose(text: &str) -> Vec<String> {
    outside_fences(text)
        .into_iter()
        .map(|line| line.split('`').step_by(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// The targets of the inline links `[text](target)` and `<a href="target">` in `text`.
fn links(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.trim_matches(['<', '>']).to_owned());
            rest = &after[end..];
        }
        let mut rest = line.as_str();
        while let Some(i) = rest.find("href=\"") {
            let after = &rest[i + 6..];
            let Some(end) = after.find('"') else {
                break;
            };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The headings (`#` lines) of a markdown text, outside code blocks.
fn headings(text: &str) -> Vec<String> {
    outside_fences(text)
        .into_iter()
        .filter(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches('#').trim().to_owned())
        .collect()
}

/// A heading's anchor as GitHub makes it: lower case, spaces to `-`, punctuation other
/// than `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_outside_code_are_found() {
        let text = "See [a](docs/a.md) and [b](b.md#x \"title\").\n\
                    ```\n[not](a link)\n```\n\
                    `[nor](this)` but <a href=\"c.md\">c</a>";
        assert_eq!(links(text), ["docs/a.md", "b.md#x", "c.md"]);
    }

    #[test]
    fn slugs_follow_github() {
        assert_eq!(slug("Model your own flow"), "model-your-own-flow");
        assert_eq!(
            slug("Several instances: Redis and PostgreSQL"),
            "several-instances-redis-and-postgresql"
        );
        assert_eq!(
            slug("loom against a stress test"),
            "loom-against-a-stress-test"
        );
    }

    #[test]
    fn a_link_out_of_the_repository_or_to_nothing_is_broken() {
        let root = crate::workspace_root();
        let readme = root.join("README.md");
        let text = "# Title\n";
        assert!(resolve(&root, &readme, text, "../shared/DESIGN.md").is_err());
        assert!(resolve(&root, &readme, text, "/etc/passwd").is_err());
        assert!(resolve(&root, &readme, text, "no/such/file.md").is_err());
        assert!(resolve(&root, &readme, text, "#no-such-heading").is_err());
        assert!(resolve(&root, &readme, text, "#title").is_ok());
        assert!(resolve(&root, &readme, text, "Cargo.toml").is_ok());
        assert!(resolve(&root, &readme, text, "https://docs.rs/loom").is_ok());
    }

    #[test]
    fn every_relative_link_in_the_readme_and_docs_resolves() {
        let broken = broken(&crate::workspace_root()).expect("pages readable");
        assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    }
}
