//! The scenario file as written: TOML shapes, before any check. Spans locate errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::spec::{Place, SecretEncoding, SpecKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) credentials: BTreeMap<String, Spanned<RawCredential>>,
    #[serde(default)]
    pub(super) signers: BTreeMap<String, Spanned<RawSigner>>,
    #[serde(default)]
    pub(super) setup: Vec<Spanned<RawRequest>>,
    pub(super) actors: Vec<Spanned<RawRequest>>,
    #[serde(default, rename = "invariant")]
    pub(super) invariants: Vec<Spanned<RawInvariant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    pub(super) user: String,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(super) enum RawSigner {
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
        /// Where `fields` and `into` are unless they say (`query:name`...); JSON by default.
        location: Option<Place>,
        fields: Vec<String>,
        into: String,
    },
}

/// One request, as an actor or as a setup step (some keys only make sense for one of them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    pub(super) name: Option<String>,
    pub(super) count: Option<usize>,
    pub(super) method: String,
    pub(super) path: String,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Option<String>,
    pub(super) signer: Option<String>,
    #[serde(default)]
    pub(super) sign_overrides: BTreeMap<String, String>,
    pub(super) expect: Option<Vec<u16>>,
    #[serde(default)]
    pub(super) capture: BTreeMap<String, String>,
    pub(super) op: Option<RawOp>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawOp {
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
pub(super) enum RawInvariant {
    AtMostOneSuccess {
        actors: Option<Vec<String>>,
    },
    DistinctVersions {
        actors: Option<Vec<String>>,
        version_from: Option<String>,
    },
    Linearizable {
        model: SpecKind,
        initial: Option<String>,
        fail_statuses: Option<Vec<u16>>,
    },
    CommitOrder {
        path: Option<String>,
        signer: String,
        /// Read before `commit_order` used the core's rule; refused with a clear error.
        revokes: Option<Vec<String>>,
        schema: Option<Box<RawAuditSchema>>,
    },
    FinalState {
        method: Option<String>,
        path: String,
        signer: Option<String>,
        expect: Vec<String>,
    },
}

/// `commit_order`'s `schema`: every key optional, raceproof's own audit by default.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuditSchema {
    pub(super) entries: Option<String>,
    pub(super) seq: Option<String>,
    pub(super) actor: Option<String>,
    pub(super) action: Option<String>,
    pub(super) target: Option<String>,
    pub(super) role: Option<String>,
    pub(super) actor_epoch: Option<String>,
    pub(super) authenticated_epoch: Option<String>,
    /// `false`: the service keeps no credential epochs.
    pub(super) epochs: Option<bool>,
    pub(super) actions: Option<BTreeMap<String, String>>,
    pub(super) roles: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) ignore: Vec<String>,
}
