//! Text into HTML: escaping, element ids, number formats.

use std::fmt::Write as _;

/// `text` safe inside an element or a double-quoted attribute. Every string from a report
/// (an event, a response body a server sent, a scenario name) goes through here: a report
/// read from a service under test is untrusted input.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An element id from parts (`flow`, `variant`, ...): lowercase ASCII letters, digits, `_`
/// and `-`; anything else becomes `-`, and parts are joined with `--`.
pub fn slug(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("--");
        }
        for c in part.chars() {
            out.push(match c {
                'a'..='z' | '0'..='9' | '_' | '-' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            });
        }
    }
    out
}

/// A count with thousands separators: `12,345`.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with at most `decimals` decimals, trailing zeros dropped: `1.5`, `2`, `0.25`.
pub fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A simple HTML table: headings, then rows of cells that are already HTML.
pub fn table(class: &str, headings: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table class=\"{class}\"><thead><tr>");
    for heading in headings {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(heading));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_report_text_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn slugs_keep_ids_plain() {
        assert_eq!(
            slug(&["promote", "proven_fix/rwlock"]),
            "promote--proven_fix-rwlock"
        );
        assert_eq!(slug(&["A b", "<x>"]), "a-b---x-");
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(num(1.50, 2), "1.5");
        assert_eq!(num(2.0, 1), "2");
        assert_eq!(num(f64::NAN, 1), "-");
    }
}
