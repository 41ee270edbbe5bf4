//! The compiled scenario: validated request templates, signers, actors and invariants, as the
//! runner uses them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::RaceError;
use crate::extract::Extract;
use crate::template::Template;

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
    /// Every write committed during the burst, read from the audit `request` returns, must be
    /// authorized by raceproof's rule.
    CommitOrder {
        request: RequestSpec,
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
    /// Parses `/json/pointer == <JSON value>` (or `!=`).
    pub fn parse(source: &str) -> Result<Expectation, String> {
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
}
