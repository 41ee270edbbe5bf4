//! Reading a scenario: a built-in by name or a file by path, parsed as TOML and compiled.

use std::path::Path;

use crate::error::RaceError;
use crate::limits::MAX_SCENARIO_BYTES;

use super::compile::compile;
use super::raw::RawScenario;
use super::source::Source;
use super::spec::RaceScenario;

/// The scenarios shipped with the tester, for raceproof's own server.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "promote-vs-demote",
        include_str!("../../scenarios/promote-vs-demote.toml"),
    ),
    (
        "promote-vs-password",
        include_str!("../../scenarios/promote-vs-password.toml"),
    ),
    (
        "update-email-same-version",
        include_str!("../../scenarios/update-email-same-version.toml"),
    ),
    (
        "operate-replay",
        include_str!("../../scenarios/operate-replay.toml"),
    ),
    (
        "operate-replay-webhooks",
        include_str!("../../scenarios/operate-replay-webhooks.toml"),
    ),
    (
        "operate-splice",
        include_str!("../../scenarios/operate-splice.toml"),
    ),
];

impl RaceScenario {
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
        if source.len() > MAX_SCENARIO_BYTES {
            return Err(RaceError::Limit(format!(
                "scenario {origin} exceeds {MAX_SCENARIO_BYTES} bytes"
            )));
        }
        let source = Source {
            origin,
            text: source,
        };
        let raw: RawScenario = toml::from_str(source.text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            source.error_offset(offset, error.message().to_owned())
        })?;
        compile(&source, raw)
    }
}
