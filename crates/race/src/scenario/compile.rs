//! Compiling a parsed scenario file into a [`RaceScenario`]: every name it refers to exists,
//! every template parses, every limit holds, and an error names the line it is about.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::RaceError;
use crate::extract::Extract;
use crate::limits::{MAX_REQUESTS_PER_BURST, MAX_SETUP_REQUESTS};
use crate::template::Template;

use super::audit_schema::audit_schema;
use super::raw::{RawInvariant, RawOp, RawRequest, RawScenario, RawSigner};
use super::source::{Source, Span};
use super::spec::*;

/// Compiles `raw`, parsed from `source`.
pub(super) fn compile(source: &Source<'_>, raw: RawScenario) -> Result<RaceScenario, RaceError> {
    Compiler { source }.scenario(raw)
}

/// Compiles one file; its errors point into `source`.
struct Compiler<'s, 'a> {
    source: &'s Source<'a>,
}

impl Compiler<'_, '_> {
    fn scenario(&self, raw: RawScenario) -> Result<RaceScenario, RaceError> {
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
                        return Err(self.source.error_near(
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
                    location,
                    fields,
                    into,
                } => {
                    if fields.is_empty() || into.is_empty() {
                        return Err(self.source.error_at(
                            &span,
                            format!("signer `{name}`: `fields` and `into` must not be empty"),
                        ));
                    }
                    let place = location.unwrap_or(Place::Json);
                    let field = |text: &str| {
                        Field::parse(text, place).map_err(|message| {
                            self.source.error_near(
                                &span,
                                text,
                                format!("signer `{name}`: {message}"),
                            )
                        })
                    };
                    Signer::HmacFields {
                        secret: self.secret(&span, secret, secret_env, "secret")?,
                        encoding: *secret_encoding,
                        fields: fields
                            .iter()
                            .map(|text| field(text))
                            .collect::<Result<_, _>>()?,
                        into: field(into)?,
                    }
                }
            };
            signers.insert(name.clone(), signer);
        }
        if raw.setup.len() > MAX_SETUP_REQUESTS {
            return Err(self.source.error_at(
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
                return Err(self
                    .source
                    .error_at(&span, "a setup request takes no `name`, `count` or `op`"));
            }
            let spec = self.request(&span, request, &cred_names, &signers)?;
            self.check_vars(&span, &spec, &captured)?;
            captured.extend(spec.capture.iter().map(|(name, _)| name.clone()));
            setup.push(spec);
        }
        if raw.actors.is_empty() {
            return Err(self
                .source
                .error_at(&(0..0), "a scenario needs at least one [[actors]] entry"));
        }
        let mut actors: Vec<ActorSpec> = Vec::new();
        let mut total = 0usize;
        for spanned in &raw.actors {
            let span = spanned.span();
            let request = spanned.get_ref();
            let name = request
                .name
                .clone()
                .ok_or_else(|| self.source.error_at(&span, "an actor needs a `name`"))?;
            if actors.iter().any(|actor| actor.name == name) {
                return Err(self
                    .source
                    .error_at(&span, format!("two actors are named `{name}`")));
            }
            if request.expect.is_some() || !request.capture.is_empty() {
                return Err(self.source.error_at(
                    &span,
                    "an actor takes no `expect` or `capture` (invariants judge its response)",
                ));
            }
            let count = request.count.unwrap_or(1);
            total = total.saturating_add(count);
            if count == 0 || total > MAX_REQUESTS_PER_BURST {
                return Err(self.source.error_near(
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
            actors.push(ActorSpec {
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
            return Err(self
                .source
                .error_at(&(0..0), "a scenario needs at least one [[invariant]]"));
        }
        Ok(RaceScenario {
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
            _ => Err(self.source.error_at(
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
            .map_err(|message| self.source.error_near(span, source, message))
    }

    fn extract(&self, span: &Span, source: &str) -> Result<Extract, RaceError> {
        Extract::parse(source).map_err(|message| self.source.error_near(span, source, message))
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
                    return Err(self.source.error_near(
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
            self.source
                .error_near(span, "method", format!("invalid method `{}`", raw.method))
        })?;
        let path = self.template(span, &raw.path, cred_names)?;
        // What the file itself writes must be sendable as it is; what a placeholder brings in
        // is checked again when the request is prepared.
        crate::wire::check_path(&path.skeleton("x"))
            .map_err(|message| self.source.error_near(span, "path", message))?;
        if raw.headers.len() > 32 {
            return Err(self.source.error_at(span, "at most 32 headers per request"));
        }
        let mut headers = Vec::new();
        for (name, value) in &raw.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                self.source
                    .error_near(span, name, format!("invalid header name `{name}`"))
            })?;
            headers.push((name, self.template(span, value, cred_names)?));
        }
        if let Some(signer) = &raw.signer
            && !signers.contains_key(signer)
        {
            return Err(self.source.error_near(
                span,
                "signer",
                format!("no signer named `{signer}`"),
            ));
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
            path,
            headers,
            body: self.template(span, raw.body.as_deref().unwrap_or(""), cred_names)?,
            signer: raw.signer.clone(),
            sign_overrides,
            expect: raw.expect.clone().unwrap_or_default(),
            capture,
            line: self.source.line_of(span),
        })
    }

    fn op(&self, span: &Span, raw: &RawOp, cred_names: &[&str]) -> Result<OpSpec, RaceError> {
        let value = |value: &Option<String>, value_from: &Option<String>| match (value, value_from)
        {
            (Some(value), None) => Ok(ValueSpec::Template(self.template(span, value, cred_names)?)),
            (None, Some(from)) => Ok(ValueSpec::Response(self.extract(span, from)?)),
            _ => Err(self
                .source
                .error_at(span, "an op takes exactly one of `value` and `value_from`")),
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
        actors: &[ActorSpec],
        cred_names: &[&str],
        signers: &BTreeMap<String, Signer>,
        captured: &BTreeSet<String>,
    ) -> Result<InvariantSpec, RaceError> {
        let select = |names: &Option<Vec<String>>| -> Result<Vec<String>, RaceError> {
            let Some(names) = names else {
                return Ok(actor_names.to_vec());
            };
            for name in names {
                if !actor_names.contains(name) {
                    return Err(self.source.error_near(
                        span,
                        name,
                        format!("no actor named `{name}`"),
                    ));
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
            RawInvariant::AtMostOneSuccess { actors } => InvariantSpec::AtMostOneSuccess {
                actors: select(actors)?,
            },
            RawInvariant::DistinctVersions {
                actors,
                version_from,
            } => InvariantSpec::DistinctVersions {
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
                    return Err(self.source.error_at(
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
                InvariantSpec::Linearizable {
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
                schema,
            } => {
                if revokes.is_some() {
                    return Err(self.source.error_near(
                        span,
                        "revokes",
                        "`revokes` is no longer read: commit_order judges each write with \
                         raceproof's authorization rule (Commit::authorized), which knows what \
                         each action needs",
                    ));
                }
                InvariantSpec::CommitOrder {
                    request: get(None, path.as_deref().unwrap_or("/audit"), Some(signer))?,
                    schema: Box::new(audit_schema(self.source, span, schema.as_deref())?),
                }
            }
            RawInvariant::FinalState {
                method,
                path,
                signer,
                expect,
            } => InvariantSpec::FinalState {
                request: get(method.as_deref(), path, signer.as_ref())?,
                expect: expect
                    .iter()
                    .map(|source| {
                        let expectation = Expectation::parse(source, cred_names)
                            .map_err(|message| self.source.error_near(span, source, message))?;
                        if let Expected::Template(template) = &expectation.value {
                            self.check_template_vars(span, std::iter::once(template), captured)?;
                        }
                        Ok(expectation)
                    })
                    .collect::<Result<_, RaceError>>()?,
            },
        })
    }
}
