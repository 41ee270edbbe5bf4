//! Placeholders in request templates: `{{uuid}}` (fresh per request), `{{burst.uuid}}` (one per
//! burst, shared by its requests), `{{burst.index}}`, `{{now}}` / `{{now_ms}}` (Unix time when the
//! burst is prepared), `{{cred.NAME.user}}`, `{{cred.NAME.password}}`, `{{var.NAME}}` (captured by
//! a setup request). Anything else between `{{` and `}}` is an error at load time.

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
                        "unknown placeholder `{{{{{name}}}}}` (known: uuid, burst.uuid, burst.index, now, now_ms, cred.NAME.user, cred.NAME.password, var.NAME)"
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
            _ => None,
        })
    }

    /// Expands the template. Fails only on a variable no setup request captured.
    pub fn expand(&self, cx: &Context<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
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
                Part::Var(name) => out.push_str(cx.vars.get(name).ok_or_else(|| {
                    format!("variable `{name}` was not captured by a setup request")
                })?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(source: &str) -> Result<String, String> {
        let credentials =
            BTreeMap::from([("root".to_owned(), ("root".to_owned(), "pw".to_owned()))]);
        let vars = BTreeMap::from([("version".to_owned(), "3".to_owned())]);
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
}
