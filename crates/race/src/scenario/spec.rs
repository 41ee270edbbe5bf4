//! The compiled scenario: validated request templates, signers, actors and invariants, as the
//! runner uses them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::audit::AuditSchema;
use crate::error::RaceError;
use crate::extract::Extract;
use crate::template::{Context, Template};

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
    /// HMAC-SHA256 over the named fields' values concatenated in order, hex, written into
    /// `into` (the seed service's scheme); each field is a JSON body field, a query parameter,
    /// a form field or a header.
    HmacFields {
        secret: SecretSource,
        encoding: SecretEncoding,
        fields: Vec<Field>,
        into: Field,
    },
}

/// Where a signed value is read from, or a signature written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A top-level field of a JSON object body.
    Json,
    /// A query parameter of the path (its decoded value).
    Query,
    /// A field of an `application/x-www-form-urlencoded` body (its decoded value).
    Form,
    /// A request header.
    Header,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::Json => "json",
            Place::Query => "query",
            Place::Form => "form",
            Place::Header => "header",
        }
    }
}

/// A named value of a request, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub place: Place,
    pub name: String,
}

impl Field {
    /// `name` in `default`'s place, or `query:name`, `form:name`, `header:name`, `json:name`.
    pub fn parse(text: &str, default: Place) -> Result<Self, String> {
        let (place, name) = match text.split_once(':') {
            Some(("json", name)) => (Place::Json, name),
            Some(("query", name)) => (Place::Query, name),
            Some(("form", name)) => (Place::Form, name),
            Some(("header", name)) => (Place::Header, name),
            Some((other, _)) => {
                return Err(format!(
                    "`{text}`: `{other}:` is not a place (json:, query:, form:, header:)"
                ));
            }
            None => (default, text),
        };
        if name.is_empty() {
            return Err(format!("`{text}`: empty field name"));
        }
        if place == Place::Header && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("`{text}`: invalid header name"));
        }
        Ok(Field {
            place,
            name: name.to_owned(),
        })
    }
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
pub struct ActorSpec {
    pub name: String,
    pub count: usize,
    pub request: RequestSpec,
    pub op: Option<OpSpec>,
}

/// The sequential specification a history must linearize against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecKind {
    Register,
    Counter,
}

impl SpecKind {
    /// As written in a scenario: `register`, `counter`.
    pub fn name(self) -> &'static str {
        match self {
            SpecKind::Register => "register",
            SpecKind::Counter => "counter",
        }
    }
}

/// A JSON-pointer comparison: `/role == "user"`, `/_v == {{var.version}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub pointer: String,
    pub equal: bool,
    pub value: Expected,
    pub source: String,
}

/// The right side of an [`Expectation`].
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A JSON value, as written.
    Json(serde_json::Value),
    /// A template, expanded after the burst, then read as JSON (`3`, `"a"`, `true`), or as a
    /// string if it is not JSON: `{{var.version}}` compares with the number 3 when the captured
    /// text is `3`, `{{var.email}}` with the string.
    Template(Template),
}

/// What must hold over a burst.
#[derive(Debug, Clone)]
pub enum InvariantSpec {
    AtMostOneSuccess {
        actors: Vec<String>,
    },
    DistinctVersions {
        actors: Vec<String>,
        version_from: Extract,
    },
    Linearizable {
        model: SpecKind,
        initial: Option<Template>,
        fail_statuses: Vec<u16>,
    },
    /// Every write committed during the burst, read from the audit `request` returns (its
    /// entries found by `schema`), must be authorized by raceproof's rule.
    CommitOrder {
        request: RequestSpec,
        schema: Box<AuditSchema>,
    },
    FinalState {
        request: RequestSpec,
        expect: Vec<Expectation>,
    },
}

impl InvariantSpec {
    /// The name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            InvariantSpec::AtMostOneSuccess { .. } => "at_most_one_success",
            InvariantSpec::DistinctVersions { .. } => "distinct_versions",
            InvariantSpec::Linearizable { .. } => "linearizable",
            InvariantSpec::CommitOrder { .. } => "commit_order",
            InvariantSpec::FinalState { .. } => "final_state",
        }
    }
}

/// A validated scenario file: what the race tester fires at a service and how it judges
/// what comes back (not the model harness's `raceproof_check::Scenario`, a loom model).
#[derive(Debug, Clone)]
pub struct RaceScenario {
    pub name: String,
    pub description: String,
    pub credentials: BTreeMap<String, Credential>,
    pub signers: BTreeMap<String, Signer>,
    pub setup: Vec<RequestSpec>,
    pub actors: Vec<ActorSpec>,
    pub invariants: Vec<InvariantSpec>,
}

impl Expectation {
    /// Parses `/json/pointer == <JSON value or template>` (or `!=`); `credentials` are the
    /// names a `{{cred.}}` placeholder may use.
    pub fn parse(source: &str, credentials: &[&str]) -> Result<Expectation, String> {
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
        let value = value.trim();
        let value = if value.contains("{{") {
            Expected::Template(
                Template::parse(value, credentials)
                    .map_err(|error| format!("expectation `{source}`: {error}"))?,
            )
        } else {
            Expected::Json(serde_json::from_str(value).map_err(|error| {
                format!("expectation `{source}`: the right side is not a JSON value ({error})")
            })?)
        };
        Ok(Expectation {
            pointer: pointer.to_owned(),
            equal,
            value,
            source: source.to_owned(),
        })
    }
}

impl Expected {
    /// The JSON value to compare with, placeholders expanded.
    pub fn resolve(&self, cx: &Context<'_>) -> Result<serde_json::Value, String> {
        match self {
            Expected::Json(value) => Ok(value.clone()),
            Expected::Template(template) => {
                let text = template.expand(cx)?;
                Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
            }
        }
    }
}
