//! The credential cache's settings: each `--credential-cache*` flag, else the users file's
//! `[credential_cache]` key, else the core's default (on, 10000 entries, 60 s).

use clap::ValueEnum;
use raceproof_core::auth::{CacheConfig, CacheError};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// The users file's `[credential_cache]` table: any key left out keeps its default.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialCacheFile {
    pub enabled: Option<bool>,
    pub capacity: Option<usize>,
    pub lifetime_secs: Option<i64>,
}

/// The credential cache from the flags (`switch`, `capacity`, `lifetime_secs`) over the
/// users file's keys over the defaults.
pub fn resolve(
    switch: Option<Switch>,
    capacity: Option<usize>,
    lifetime_secs: Option<i64>,
    file: &CredentialCacheFile,
) -> Result<CacheConfig, CacheError> {
    let default = CacheConfig::default();
    let enabled = match switch {
        Some(switch) => switch == Switch::On,
        None => file.enabled.unwrap_or(true),
    };
    if !enabled {
        return Ok(CacheConfig::OFF);
    }
    let capacity = capacity.or(file.capacity).unwrap_or(default.capacity());
    let lifetime = lifetime_secs
        .or(file.lifetime_secs)
        .unwrap_or(default.lifetime_secs());
    CacheConfig::new(capacity, lifetime)
}
