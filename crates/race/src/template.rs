//! Placeholders in request templates: `{{uuid}}` (fresh per request), `{{burst.uuid}}` (one per
//! burst, shared by its requests), `{{burst.index}}`, `{{now}}` / `{{now_ms}}` (Unix time when the
//! burst is prepared), `{{cred.NAME.user}}`, `{{cred.NAME.password}}`, `{{var.NAME}}` (captured by
//! a setup request), and `{{urlencode X}}` for any of them: X percent-encoded for a URL (every
//! byte but `A-Z a-z 0-9 - . _ ~`), for a query parameter or a path segment. Anything else
//! between `{{` and `}}` is an error at load time.

use std::collections::BTreeMap;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Uuid,
    BurstUuid,
    BurstIndex,
    Now,
    NowMs,
    CredUser(String),
    CredPassword(String),
    Var(String),
    UrlEncode(Box<Part>),
}

/// What `{{urlencode ..}}` leaves as it is: RFC 3986's unreserved characters.
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded as one URL component (what `{{urlencode ..}}` does).
pub fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, URL_COMPONENT).to_string()
}

/// A parsed template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a template is expanded against.
pub struct Context<'a> {
    pub request_uuid: &'a str,
    pub burst_uuid: &'a str,
    pub burst_index: usize,
    pub now_s: u64,
    pub credentials: &'a BTreeMap<String, (String, String)>,
    pub vars: &'a BTreeMap<String, String>,
}

impl Template {
    /// Parses `source`; `credentials` are the names a `cred.` placeholder may use.
    pub fn parse(source: &str, credentials: &[&str]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in template `{source}`"))?;
            parts.push(Self::placeholder(after[..close].trim(), credentials)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    fn placeholder(name: &str, credentials: &[&str]) -> Result<Part, String> {
        if let Some(inner) = name.strip_prefix("urlencode ") {
            let inner = Self::placeholder(inner.trim(), credentials)?;
            if matches!(inner, Part::UrlEncode(_)) {
                return Err(format!("`{{{{{name}}}}}`: urlencode once"));
            }
            return Ok(Part::UrlEncode(Box::new(inner)));
        }
        let part = match name {
            "uuid" => Part::Uuid,
            "burst.uuid" => Part::BurstUuid,
            "burst.index" => Part::BurstIndex,
            "now" => Part::Now,
            "now_ms" => Part::NowMs,
            _ => {
                if let Some(var) = name.strip_prefix("var.") {
                    if var.is_empty() {
                        return Err("empty variable name in `{{var.}}`".to_owned());
                    }
                    Part::Var(var.to_owned())
                } else if let Some(cred) = name.strip_prefix("cred.") {
                    let (who, field) = cred.rsplit_once('.').ok_or_else(|| {
                        format!("`{{{{{name}}}}}`: expected cred.NAME.user or cred.NAME.password")
                    })?;
                    if !credentials.contains(&who) {
                        return Err(format!("`{{{{{name}}}}}`: no credential named `{who}`"));
                    }
                    match field {
                        "user" => Part::CredUser(who.to_owned()),
                        "password" => Part::CredPassword(who.to_owned()),
                        _ => return Err(format!("`{{{{{name}}}}}`: expected .user or .password")),
                    }
                } else {
                    return Err(format!(
                        "unknown placeholder `{{{{{name}}}}}` (known: uuid, burst.uuid, burst.index, now, now_ms, cred.NAME.user, cred.NAME.password, var.NAME, and urlencode X for any of them)"
                    ));
                }
            }
        };
        Ok(part)
    }

    /// The variables (`{{var.NAME}}`) this template reads.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Var(name) => Some(name.as_str()),
            Part::UrlEncode(inner) => match inner.as_ref() {
                Part::Var(name) => Some(name.as_str()),
                _ => None,
            },
            _ => None,
        })
    }

    /// The literal text between the placeholders, each placeholder replaced by `with`.
    pub fn skeleton(&self, with: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Lit(text) => text.as_str(),
                _ => with,
            })
            .collect()
    }

    /// Expands the template. Fails only on a variable no setup request captured.
    pub fn expand(&self, cx: &Context<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            expand_part(part, cx, &mut out)?;
        }
        Ok(out)
    }
}

fn expand_part(part: &Part, cx: &Context<'_>, out: &mut String) -> Result<(), String> {
    match part {
        Part::UrlEncode(inner) => {
            let mut raw = String::new();
            expand_part(inner, cx, &mut raw)?;
            out.push_str(&urlencode(&raw));
        }
        Part::Lit(text) => out.push_str(text),
        Part::Uuid => out.push_str(cx.request_uuid),
        Part::BurstUuid => out.push_str(cx.burst_uuid),
        Part::BurstIndex => out.push_str(&cx.burst_index.to_string()),
        Part::Now => out.push_str(&cx.now_s.to_string()),
        Part::NowMs => out.push_str(&cx.now_s.saturating_mul(1000).to_string()),
        Part::CredUser(who) | Part::CredPassword(who) => {
            let (user, password) = cx
                .credentials
                .get(who)
                .ok_or_else(|| format!("credential `{who}` is not resolved"))?;
            out.push_str(if matches!(part, Part::CredUser(_)) {
                user
            } else {
                password
            });
        }
        Part::Var(name) => out.push_str(
            cx.vars
                .get(name)
                .ok_or_else(|| format!("variable `{name}` was not captured by a setup request"))?,
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(source: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let credentials =
            BTreeMap::from([("root".to_owned(), ("root".to_owned(), "pw".to_owned()))]);
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let cx = Context {
            request_uuid: "R",
            burst_uuid: "B",
            burst_index: 7,
            now_s: 10,
            credentials: &credentials,
            vars: &vars,
        };
        Template::parse(source, &["root"])?.expand(&cx)
    }

    fn expand(source: &str) -> Result<String, String> {
        expand_with(source, &[("version", "3")])
    }

    #[test]
    fn expands_every_placeholder() {
        assert_eq!(
            expand(
                "{{uuid}}-{{ burst.uuid }}-{{burst.index}}-{{now}}-{{now_ms}}-{{cred.root.user}}:{{cred.root.password}}-{{var.version}}"
            ),
            Ok("R-B-7-10-10000-root:pw-3".to_owned())
        );
        assert_eq!(expand("plain"), Ok("plain".to_owned()));
    }

    #[test]
    fn rejects_unknown_and_unclosed_placeholders() {
        assert!(expand("{{nope}}").is_err());
        assert!(expand("{{cred.alice.user}}").is_err());
        assert!(expand("{{cred.root.token}}").is_err());
        assert!(expand("{{uuid").is_err());
        assert!(expand("{{var.missing}}").is_err());
    }

    #[test]
    fn urlencode_encodes_one_component() {
        let source = "/s?q={{urlencode var.q}}&r={{ urlencode uuid }}";
        let template = Template::parse(source, &[]);
        assert_eq!(
            template.map(|t| t.vars().map(str::to_owned).collect::<Vec<_>>()),
            Ok(vec!["q".to_owned()])
        );
        assert_eq!(
            expand_with(source, &[("q", "a b&c=d/é~")]),
            Ok("/s?q=a%20b%26c%3Dd%2F%C3%A9~&r=R".to_owned())
        );
        assert!(Template::parse("{{urlencode urlencode uuid}}", &[]).is_err());
        assert!(Template::parse("{{urlencode nope}}", &[]).is_err());
    }
}
