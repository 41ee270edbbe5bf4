//! Scenario files: who sends what, how it is signed, what is set up before each burst, and
//! which invariant must hold over what comes back. See `crates/race/README.md` for the format.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

type Span = std::ops::Range<usize>;

use crate::error::RaceError;
use crate::extract::Extract;
use crate::template::Template;

/// Upper bound on a scenario file's size.
pub const MAX_SCENARIO_BYTES: usize = 256 * 1024;
/// Upper bound on requests in one burst (sum of the actors' `count`).
pub const MAX_REQUESTS_PER_BURST: usize = 64;
/// Upper bound on setup requests before each burst.
pub const MAX_SETUP_REQUESTS: usize = 16;
/// Upper bound on a request body template's expanded size.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The scenarios shipped with the tester, for raceproof's own server.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "promote-vs-demote",
        include_str!("../scenarios/promote-vs-demote.toml"),
    ),
    (
        "promote-vs-password",
        include_str!("../scenarios/promote-vs-password.toml"),
    ),
    (
        "update-email-same-version",
        include_str!("../scenarios/update-email-same-version.toml"),
    ),
    (
        "operate-replay",
        include_str!("../scenarios/operate-replay.toml"),
    ),
    (
        "operate-replay-webhooks",
        include_str!("../scenarios/operate-replay-webhooks.toml"),
    ),
    (
        "operate-splice",
        include_str!("../scenarios/operate-splice.toml"),
    ),
];

// ---- the file as written ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    credentials: BTreeMap<String, Spanned<RawCredential>>,
    #[serde(default)]
    signers: BTreeMap<String, Spanned<RawSigner>>,
    #[serde(default)]
    setup: Vec<Spanned<RawRequest>>,
    actors: Vec<Spanned<RawRequest>>,
    #[serde(default, rename = "invariant")]
    invariants: Vec<Spanned<RawInvariant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    user: String,
    password: Option<String>,
    password_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum RawSigner {
    Basic {
        credential: String,
    },
    StandardWebhooks {
        secret: Option<String>,
        secret_env: Option<String>,
        id: Option<String>,
        timestamp: Option<String>,
    },
    HmacFields {
        secret: Option<String>,
        secret_env: Option<String>,
        #[serde(default)]
        secret_encoding: SecretEncoding,
        fields: Vec<String>,
        into: String,
    },
}

/// One request, as an actor or as a setup step (some keys only make sense for one of them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    name: Option<String>,
    count: Option<usize>,
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    signer: Option<String>,
    #[serde(default)]
    sign_overrides: BTreeMap<String, String>,
    expect: Option<Vec<u16>>,
    #[serde(default)]
    capture: BTreeMap<String, String>,
    op: Option<RawOp>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawOp {
    Read {
        value_from: String,
    },
    Write {
        value: Option<String>,
        value_from: Option<String>,
    },
    Cas {
        expect: String,
        value: Option<String>,
        value_from: Option<String>,
    },
    Add {
        delta: i64,
    },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawInvariant {
    AtMostOneSuccess {
        actors: Option<Vec<String>>,
    },
    DistinctVersions {
        actors: Option<Vec<String>>,
        version_from: Option<String>,
    },
    Linearizable {
        model: ModelKind,
        initial: Option<String>,
        fail_statuses: Option<Vec<u16>>,
    },
    CommitOrder {
        path: Option<String>,
        signer: String,
        revokes: Option<Vec<String>>,
    },
    FinalState {
        method: Option<String>,
        path: String,
        signer: Option<String>,
        expect: Vec<String>,
    },
}

// ---- the compiled scenario ----------------------------------------------------------------

/// How a signing secret is written in the scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretEncoding {
    #[default]
    Utf8,
    Base64,
    Hex,
}

/// Where a secret comes from; resolved when a run starts, never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Literal(String),
    Env(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretSource::Env(name) => write!(f, "Env({name})"),
        }
    }
}

impl SecretSource {
    pub fn resolve(&self) -> Result<String, RaceError> {
        match self {
            SecretSource::Literal(value) => Ok(value.clone()),
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| RaceError::MissingEnv(name.clone()))
            }
        }
    }
}

/// A user name and password for Basic auth and `{{cred.*}}` placeholders.
#[derive(Debug, Clone)]
pub struct Credential {
    pub user: String,
    pub password: SecretSource,
}

/// How a request is authenticated or signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// `Authorization: Basic base64(user:password)`.
    Basic { credential: String },
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`,
    /// HMAC-SHA256 over `{id}.{timestamp}.{body}` with the `whsec_` secret's decoded bytes.
    StandardWebhooks {
        secret: SecretSource,
        id: Template,
        timestamp: Template,
    },
    /// HMAC-SHA256 over the named JSON body fields concatenated in order, hex, written into the
    /// body field `into` (the seed service's scheme).
    HmacFields {
        secret: SecretSource,
        encoding: SecretEncoding,
        fields: Vec<String>,
        into: String,
    },
}

/// A request template.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: http::Method,
    pub path: Template,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Template,
    pub signer: Option<String>,
    /// Field values signed instead of the body's (to build a spliced signature).
    pub sign_overrides: Vec<(String, Template)>,
    /// Statuses a setup request must answer with (empty: any).
    pub expect: Vec<u16>,
    /// Variables a setup request captures from its response.
    pub capture: Vec<(String, Extract)>,
    pub line: usize,
}

/// What an actor's request does, for the linearizability check.
#[derive(Debug, Clone)]
pub enum OpSpec {
    Read { value_from: Extract },
    Write { value: ValueSpec },
    Cas { expect: Template, value: ValueSpec },
    Add { delta: i64 },
}

/// The value an operation writes: known in advance, or read from the response.
#[derive(Debug, Clone)]
pub enum ValueSpec {
    Template(Template),
    Response(Extract),
}

/// One actor: a request template sent `count` times per burst.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub count: usize,
    pub request: RequestSpec,
    pub op: Option<OpSpec>,
}

/// The sequential specification a history must linearize against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Register,
    Counter,
}

/// A JSON-pointer comparison: `/role == "user"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub pointer: String,
    pub equal: bool,
    pub value: serde_json::Value,
    pub source: String,
}

/// What must hold over a burst.
#[derive(Debug, Clone)]
pub enum Invariant {
    AtMostOneSuccess {
        actors: Vec<String>,
    },
    DistinctVersions {
        actors: Vec<String>,
        version_from: Extract,
    },
    Linearizable {
        model: ModelKind,
        initial: Option<Template>,
        fail_statuses: Vec<u16>,
    },
    CommitOrder {
        request: RequestSpec,
        revokes: Vec<String>,
    },
    FinalState {
        request: RequestSpec,
        expect: Vec<Expectation>,
    },
}

impl Invariant {
    /// The name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Invariant::AtMostOneSuccess { .. } => "at_most_one_success",
            Invariant::DistinctVersions { .. } => "distinct_versions",
            Invariant::Linearizable { .. } => "linearizable",
            Invariant::CommitOrder { .. } => "commit_order",
            Invariant::FinalState { .. } => "final_state",
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub credentials: BTreeMap<String, Credential>,
    pub signers: BTreeMap<String, Signer>,
    pub setup: Vec<RequestSpec>,
    pub actors: Vec<Actor>,
    pub invariants: Vec<Invariant>,
}

/// Accumulates the location of the first problem in a file.
struct Loader<'a> {
    origin: &'a str,
    source: &'a str,
}

impl Loader<'_> {
    fn error_at(&self, span: &Span, message: impl Into<String>) -> RaceError {
        self.error_offset(span.start, message)
    }

    /// An error on the line, inside `span`, where `needle` first occurs (else where `span` starts).
    fn error_near(&self, span: &Span, needle: &str, message: impl Into<String>) -> RaceError {
        // A table's span may cover only its `[[header]]`: search on to the next header.
        let rest = self.source.get(span.end..).unwrap_or("");
        let end = rest
            .find("\n[")
            .map_or(self.source.len(), |found| span.end + found);
        let within = self.source.get(span.start..end).unwrap_or("");
        let offset = within
            .find(needle)
            .filter(|_| !needle.is_empty())
            .map_or(span.start, |found| span.start + found);
        self.error_offset(offset, message)
    }

    fn error_offset(&self, offset: usize, message: impl Into<String>) -> RaceError {
        let before = self.source.get(..offset).unwrap_or(self.source);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        RaceError::Scenario {
            origin: self.origin.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn line_of(&self, span: &Span) -> usize {
        self.source
            .get(..span.start)
            .unwrap_or(self.source)
            .matches('\n')
            .count()
            + 1
    }
}

impl Scenario {
    /// Loads a built-in by name, or else a file by path.
    pub fn load(name_or_path: &str) -> Result<Self, RaceError> {
        if let Some((name, source)) = BUILTINS.iter().find(|(name, _)| *name == name_or_path) {
            return Self::parse(source, &format!("builtin:{name}"));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<&str> = BUILTINS.iter().map(|(name, _)| *name).collect();
            return Err(RaceError::UnknownScenario(
                name_or_path.to_owned(),
                names.join(", "),
            ));
        }
        let read = |source| RaceError::ReadScenario {
            path: path.to_owned(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(read)?;
        if metadata.len() > MAX_SCENARIO_BYTES as u64 {
            return Err(RaceError::Limit(format!(
                "scenario file {} is {} bytes, the limit is {MAX_SCENARIO_BYTES}",
                path.display(),
                metadata.len()
            )));
        }
        let source = std::fs::read_to_string(path).map_err(read)?;
        Self::parse(&source, &path.display().to_string())
    }

    /// Parses and validates a scenario; `origin` names it in errors (`file:line:column`).
    pub fn parse(source: &str, origin: &str) -> Result<Self, RaceError> {
        let loader = Loader { origin, source };
        if source.len() > MAX_SCENARIO_BYTES {
            return Err(RaceError::Limit(format!(
                "scenario {origin} exceeds {MAX_SCENARIO_BYTES} bytes"
            )));
        }
        let raw: RawScenario = toml::from_str(source).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            loader.error_offset(offset, error.message().to_owned())
        })?;
        loader.compile(raw)
    }
}

impl Loader<'_> {
    fn compile(&self, raw: RawScenario) -> Result<Scenario, RaceError> {
        let mut credentials = BTreeMap::new();
        for (name, spanned) in &raw.credentials {
            let span = spanned.span();
            let cred = spanned.get_ref();
            let password = self.secret(&span, &cred.password, &cred.password_env, "password")?;
            credentials.insert(
                name.clone(),
                Credential {
                    user: cred.user.clone(),
                    password,
                },
            );
        }
        let cred_names: Vec<&str> = credentials.keys().map(String::as_str).collect();
        let mut signers = BTreeMap::new();
        for (name, spanned) in &raw.signers {
            let span = spanned.span();
            let signer = match spanned.get_ref() {
                RawSigner::Basic { credential } => {
                    if !credentials.contains_key(credential) {
                        return Err(self.error_near(
                            &span,
                            credential,
                            format!("signer `{name}`: no credential named `{credential}`"),
                        ));
                    }
                    Signer::Basic {
                        credential: credential.clone(),
                    }
                }
                RawSigner::StandardWebhooks {
                    secret,
                    secret_env,
                    id,
                    timestamp,
                } => Signer::StandardWebhooks {
                    secret: self.secret(&span, secret, secret_env, "secret")?,
                    id: self.template(
                        &span,
                        id.as_deref().unwrap_or("msg_{{uuid}}"),
                        &cred_names,
                    )?,
                    timestamp: self.template(
                        &span,
                        timestamp.as_deref().unwrap_or("{{now}}"),
                        &cred_names,
                    )?,
                },
                RawSigner::HmacFields {
                    secret,
                    secret_env,
                    secret_encoding,
                    fields,
                    into,
                } => {
                    if fields.is_empty() || into.is_empty() {
                        return Err(self.error_at(
                            &span,
                            format!("signer `{name}`: `fields` and `into` must not be empty"),
                        ));
                    }
                    Signer::HmacFields {
                        secret: self.secret(&span, secret, secret_env, "secret")?,
                        encoding: *secret_encoding,
                        fields: fields.clone(),
                        into: into.clone(),
                    }
                }
            };
            signers.insert(name.clone(), signer);
        }
        if raw.setup.len() > MAX_SETUP_REQUESTS {
            return Err(self.error_at(
                &(0..0),
                format!(
                    "{} setup requests, the limit is {MAX_SETUP_REQUESTS}",
                    raw.setup.len()
                ),
            ));
        }
        let mut captured = BTreeSet::new();
        let mut setup = Vec::new();
        for spanned in &raw.setup {
            let span = spanned.span();
            let request = spanned.get_ref();
            if request.name.is_some() || request.count.is_some() || request.op.is_some() {
                return Err(
                    self.error_at(&span, "a setup request takes no `name`, `count` or `op`")
                );
            }
            let spec = self.request(&span, request, &cred_names, &signers)?;
            self.check_vars(&span, &spec, &captured)?;
            captured.extend(spec.capture.iter().map(|(name, _)| name.clone()));
            setup.push(spec);
        }
        if raw.actors.is_empty() {
            return Err(self.error_at(&(0..0), "a scenario needs at least one [[actors]] entry"));
        }
        let mut actors: Vec<Actor> = Vec::new();
        let mut total = 0usize;
        for spanned in &raw.actors {
            let span = spanned.span();
            let request = spanned.get_ref();
            let name = request
                .name
                .clone()
                .ok_or_else(|| self.error_at(&span, "an actor needs a `name`"))?;
            if actors.iter().any(|actor| actor.name == name) {
                return Err(self.error_at(&span, format!("two actors are named `{name}`")));
            }
            if request.expect.is_some() || !request.capture.is_empty() {
                return Err(self.error_at(
                    &span,
                    "an actor takes no `expect` or `capture` (invariants judge its response)",
                ));
            }
            let count = request.count.unwrap_or(1);
            total = total.saturating_add(count);
            if count == 0 || total > MAX_REQUESTS_PER_BURST {
                return Err(self.error_near(
                    &span,
                    "count",
                    format!("actor `{name}`: count must be 1.., and all actors together at most {MAX_REQUESTS_PER_BURST} requests per burst"),
                ));
            }
            let spec = self.request(&span, request, &cred_names, &signers)?;
            self.check_vars(&span, &spec, &captured)?;
            let op = request
                .op
                .as_ref()
                .map(|op| self.op(&span, op, &cred_names))
                .transpose()?;
            actors.push(Actor {
                name,
                count,
                request: spec,
                op,
            });
        }
        let actor_names: Vec<String> = actors.iter().map(|actor| actor.name.clone()).collect();
        let mut invariants = Vec::new();
        for spanned in &raw.invariants {
            let span = spanned.span();
            invariants.push(self.invariant(
                &span,
                spanned.get_ref(),
                &actor_names,
                &actors,
                &cred_names,
                &signers,
                &captured,
            )?);
        }
        if invariants.is_empty() {
            return Err(self.error_at(&(0..0), "a scenario needs at least one [[invariant]]"));
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            credentials,
            signers,
            setup,
            actors,
            invariants,
        })
    }

    fn secret(
        &self,
        span: &Span,
        literal: &Option<String>,
        env: &Option<String>,
        what: &str,
    ) -> Result<SecretSource, RaceError> {
        match (literal, env) {
            (Some(value), None) => Ok(SecretSource::Literal(value.clone())),
            (None, Some(name)) => Ok(SecretSource::Env(name.clone())),
            _ => Err(self.error_at(
                span,
                format!("give exactly one of `{what}` and `{what}_env`"),
            )),
        }
    }

    fn template(
        &self,
        span: &Span,
        source: &str,
        cred_names: &[&str],
    ) -> Result<Template, RaceError> {
        Template::parse(source, cred_names)
            .map_err(|message| self.error_near(span, source, message))
    }

    fn extract(&self, span: &Span, source: &str) -> Result<Extract, RaceError> {
        Extract::parse(source).map_err(|message| self.error_near(span, source, message))
    }

    fn check_vars(
        &self,
        span: &Span,
        spec: &RequestSpec,
        captured: &BTreeSet<String>,
    ) -> Result<(), RaceError> {
        let templates = std::iter::once(&spec.path)
            .chain(std::iter::once(&spec.body))
            .chain(spec.headers.iter().map(|(_, template)| template))
            .chain(spec.sign_overrides.iter().map(|(_, template)| template));
        self.check_template_vars(span, templates, captured)
    }

    fn check_template_vars<'t>(
        &self,
        span: &Span,
        templates: impl Iterator<Item = &'t Template>,
        captured: &BTreeSet<String>,
    ) -> Result<(), RaceError> {
        for template in templates {
            for var in template.vars() {
                if !captured.contains(var) {
                    return Err(self.error_near(
                        span,
                        &format!("var.{var}"),
                        format!("`{{{{var.{var}}}}}` is not captured by an earlier setup request"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn request(
        &self,
        span: &Span,
        raw: &RawRequest,
        cred_names: &[&str],
        signers: &BTreeMap<String, Signer>,
    ) -> Result<RequestSpec, RaceError> {
        let method = http::Method::from_bytes(raw.method.as_bytes()).map_err(|_| {
            self.error_near(span, "method", format!("invalid method `{}`", raw.method))
        })?;
        if !raw.path.starts_with('/') {
            return Err(self.error_near(
                span,
                "path",
                format!("path `{}` must start with `/`", raw.path),
            ));
        }
        if raw.headers.len() > 32 {
            return Err(self.error_at(span, "at most 32 headers per request"));
        }
        let mut headers = Vec::new();
        for (name, value) in &raw.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                self.error_near(span, name, format!("invalid header name `{name}`"))
            })?;
            headers.push((name, self.template(span, value, cred_names)?));
        }
        if let Some(signer) = &raw.signer
            && !signers.contains_key(signer)
        {
            return Err(self.error_near(span, "signer", format!("no signer named `{signer}`")));
        }
        let sign_overrides = raw
            .sign_overrides
            .iter()
            .map(|(field, value)| Ok((field.clone(), self.template(span, value, cred_names)?)))
            .collect::<Result<Vec<_>, RaceError>>()?;
        let capture = raw
            .capture
            .iter()
            .map(|(name, source)| Ok((name.clone(), self.extract(span, source)?)))
            .collect::<Result<Vec<_>, RaceError>>()?;
        Ok(RequestSpec {
            method,
            path: self.template(span, &raw.path, cred_names)?,
            headers,
            body: self.template(span, raw.body.as_deref().unwrap_or(""), cred_names)?,
            signer: raw.signer.clone(),
            sign_overrides,
            expect: raw.expect.clone().unwrap_or_default(),
            capture,
            line: self.line_of(span),
        })
    }

    fn op(&self, span: &Span, raw: &RawOp, cred_names: &[&str]) -> Result<OpSpec, RaceError> {
        let value = |value: &Option<String>, value_from: &Option<String>| match (value, value_from)
        {
            (Some(value), None) => Ok(ValueSpec::Template(self.template(span, value, cred_names)?)),
            (None, Some(from)) => Ok(ValueSpec::Response(self.extract(span, from)?)),
            _ => Err(self.error_at(span, "an op takes exactly one of `value` and `value_from`")),
        };
        Ok(match raw {
            RawOp::Read { value_from } => OpSpec::Read {
                value_from: self.extract(span, value_from)?,
            },
            RawOp::Write {
                value: v,
                value_from,
            } => OpSpec::Write {
                value: value(v, value_from)?,
            },
            RawOp::Cas {
                expect,
                value: v,
                value_from,
            } => OpSpec::Cas {
                expect: self.template(span, expect, cred_names)?,
                value: value(v, value_from)?,
            },
            RawOp::Add { delta } => OpSpec::Add { delta: *delta },
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn invariant(
        &self,
        span: &Span,
        raw: &RawInvariant,
        actor_names: &[String],
        actors: &[Actor],
        cred_names: &[&str],
        signers: &BTreeMap<String, Signer>,
        captured: &BTreeSet<String>,
    ) -> Result<Invariant, RaceError> {
        let select = |names: &Option<Vec<String>>| -> Result<Vec<String>, RaceError> {
            let Some(names) = names else {
                return Ok(actor_names.to_vec());
            };
            for name in names {
                if !actor_names.contains(name) {
                    return Err(self.error_near(span, name, format!("no actor named `{name}`")));
                }
            }
            Ok(names.clone())
        };
        let get = |method: Option<&str>, path: &str, signer: Option<&String>| {
            let raw = RawRequest {
                name: None,
                count: None,
                method: method.unwrap_or("GET").to_owned(),
                path: path.to_owned(),
                headers: BTreeMap::new(),
                body: None,
                signer: signer.cloned(),
                sign_overrides: BTreeMap::new(),
                expect: None,
                capture: BTreeMap::new(),
                op: None,
            };
            let spec = self.request(span, &raw, cred_names, signers)?;
            self.check_vars(span, &spec, captured)?;
            Ok::<_, RaceError>(spec)
        };
        Ok(match raw {
            RawInvariant::AtMostOneSuccess { actors } => Invariant::AtMostOneSuccess {
                actors: select(actors)?,
            },
            RawInvariant::DistinctVersions {
                actors,
                version_from,
            } => Invariant::DistinctVersions {
                actors: select(actors)?,
                version_from: self
                    .extract(span, version_from.as_deref().unwrap_or("header:etag"))?,
            },
            RawInvariant::Linearizable {
                model,
                initial,
                fail_statuses,
            } => {
                if let Some(actor) = actors.iter().find(|actor| actor.op.is_none()) {
                    return Err(self.error_at(
                        span,
                        format!("linearizable: actor `{}` has no `op`", actor.name),
                    ));
                }
                let initial = initial
                    .as_deref()
                    .map(|source| self.template(span, source, cred_names))
                    .transpose()?;
                if let Some(initial) = &initial {
                    self.check_template_vars(span, std::iter::once(initial), captured)?;
                }
                Invariant::Linearizable {
                    model: *model,
                    initial,
                    fail_statuses: fail_statuses
                        .clone()
                        .unwrap_or_else(|| (400..500).collect()),
                }
            }
            RawInvariant::CommitOrder {
                path,
                signer,
                revokes,
            } => Invariant::CommitOrder {
                request: get(None, path.as_deref().unwrap_or("/audit"), Some(signer))?,
                revokes: revokes
                    .clone()
                    .unwrap_or_else(|| vec!["demote".to_owned(), "change_password".to_owned()]),
            },
            RawInvariant::FinalState {
                method,
                path,
                signer,
                expect,
            } => Invariant::FinalState {
                request: get(method.as_deref(), path, signer.as_ref())?,
                expect: expect
                    .iter()
                    .map(|source| {
                        parse_expectation(source)
                            .map_err(|message| self.error_near(span, source, message))
                    })
                    .collect::<Result<_, _>>()?,
            },
        })
    }
}

/// Parses `/json/pointer == <JSON value>` (or `!=`).
pub fn parse_expectation(source: &str) -> Result<Expectation, String> {
    let (pointer, equal, value) = if let Some((left, right)) = source.split_once("==") {
        (left, true, right)
    } else if let Some((left, right)) = source.split_once("!=") {
        (left, false, right)
    } else {
        return Err(format!(
            "expectation `{source}`: expected `/pointer == value` or `/pointer != value`"
        ));
    };
    let pointer = pointer.trim();
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!(
            "expectation `{source}`: a JSON pointer starts with `/`"
        ));
    }
    let value: serde_json::Value = serde_json::from_str(value.trim()).map_err(|error| {
        format!("expectation `{source}`: the right side is not a JSON value ({error})")
    })?;
    Ok(Expectation {
        pointer: pointer.to_owned(),
        equal,
        value,
        source: source.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for (name, source) in BUILTINS {
            let scenario = Scenario::parse(source, name);
            assert!(scenario.is_ok(), "{name}: {:?}", scenario.err());
        }
    }

    fn error_line(source: &str) -> usize {
        match Scenario::parse(source, "t.toml") {
            Err(RaceError::Scenario { line, .. }) => line,
            other => panic!("expected a scenario error, got {other:?}"),
        }
    }

    const MINIMAL: &str = "name = \"t\"\n[[actors]]\nname = \"a\"\nmethod = \"GET\"\npath = \"/\"\n[[invariant]]\nkind = \"at_most_one_success\"\n";

    #[test]
    fn minimal_scenario_parses() {
        assert!(Scenario::parse(MINIMAL, "t.toml").is_ok());
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(error_line("name = \"t\"\n[[actors]]\nname = \n"), 3);
        // Syntax and shape errors: where the TOML parser stopped.
        assert_eq!(
            error_line(&MINIMAL.replace("path = \"/\"", "path = \"/\"\nbogus = 1")),
            6
        );
        assert_eq!(
            error_line(&MINIMAL.replace("at_most_one_success", "no_such_invariant")),
            7
        );
        // Semantic errors: the line of the offending value inside its table.
        assert_eq!(
            error_line(&MINIMAL.replace("path = \"/\"", "path = \"/{{nope}}\"")),
            5
        );
        assert_eq!(
            error_line(
                &MINIMAL.replace("method = \"GET\"", "method = \"GET\"\nsigner = \"ghost\"")
            ),
            5
        );
        assert_eq!(
            error_line(&MINIMAL.replace("name = \"a\"", "name = \"a\"\ncount = 0")),
            4
        );
        let final_state = "kind = \"final_state\"\npath = \"/\"\nexpect = [\"role = 1\"]";
        assert_eq!(
            error_line(&MINIMAL.replace("kind = \"at_most_one_success\"", final_state)),
            9
        );
    }

    #[test]
    fn expectations_parse() {
        let parsed = parse_expectation("/role == \"user\"");
        assert_eq!(
            parsed.map(|e| (e.pointer, e.equal, e.value)),
            Ok(("/role".to_owned(), true, serde_json::json!("user")))
        );
        assert!(parse_expectation("/n != 3").is_ok_and(|e| !e.equal));
        assert!(parse_expectation("role == 3").is_err());
        assert!(parse_expectation("/role == user").is_err());
    }
}
