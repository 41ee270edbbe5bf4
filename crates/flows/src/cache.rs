//! A verified-credential cache as it is often written, racy on purpose: the catalogue's
//! `credential_cache` models put it behind the same `Accounts::authenticate` as
//! production's [`raceproof_core::auth::VerifiedCache`] and catch what goes wrong.
//!
//! [`InvalidatedCache`] remembers, per user and password, the standing a login yielded, and
//! trusts it on a hit; a password change or a demotion drops the user's entries through
//! [`CredentialCache::forget`]. Request by request it is right. Concurrently, a
//! verification that read the record before a password change finishes after the change
//! dropped the entries and fills the old password back in, for good: the fill does not
//! re-check the epoch it verified under against the record, and the hit never looks at it.

use crate::Narrator;
use raceproof_core::auth::{CredentialCache, PasswordHash};
use raceproof_core::authority::Standing;
use raceproof_core::sync::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// (user, SHA-256 of the password) -> the standing its login yielded.
type Entries = HashMap<(String, [u8; 32]), Standing>;

/// Entries keyed by user and password, trusted on a hit, dropped on a change: racy.
pub struct InvalidatedCache {
    entries: Mutex<Entries>,
    log: Narrator,
}

impl InvalidatedCache {
    pub fn new(log: Narrator) -> Self {
        Self {
            entries: Mutex::named("invalidated_cache", Entries::new()),
            log,
        }
    }

    fn key(user_id: &str, password: &str) -> (String, [u8; 32]) {
        (
            user_id.to_owned(),
            Sha256::digest(password.as_bytes()).into(),
        )
    }
}

impl CredentialCache for InvalidatedCache {
    fn lookup(
        &self,
        user_id: &str,
        password: &str,
        _stored: &PasswordHash,
        _current: Standing,
    ) -> Option<Standing> {
        let entries = self.entries.lock();
        let hit = entries.get(&Self::key(user_id, password)).copied();
        self.log.note(|| match hit {
            // The remembered standing, whatever the record says now.
            Some(s) => format!(
                "cache hit {user_id}: {} at epoch {}",
                s.role, s.credential_epoch
            ),
            None => format!("cache miss {user_id}"),
        });
        hit
    }

    fn remember(&self, user_id: &str, password: &str, _stored: &PasswordHash, verified: Standing) {
        // RACE WINDOW: the verification ran outside any lock; a password change may have
        // committed and forgotten this user since the record was read. Filled regardless.
        let mut entries = self.entries.lock();
        entries.insert(Self::key(user_id, password), verified);
        self.log.note(|| {
            format!(
                "cache fill {user_id} ({} at epoch {})",
                verified.role, verified.credential_epoch
            )
        });
    }

    fn forget(&self, user_id: &str) {
        let mut entries = self.entries.lock();
        entries.retain(|(user, _), _| user != user_id);
        self.log.note(|| format!("cache forget {user_id}"));
    }
}
