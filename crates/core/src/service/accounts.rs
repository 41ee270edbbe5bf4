//! The Basic-auth endpoints: credentials in, one atomic repository operation, a typed
//! result out.

use crate::audit::{AuditPage, AuditQuery, Commit};
use crate::auth::{
    Argon2Hasher, CredentialCache, Credentials, PasswordHasher, VerifiedCache, verify_or_dummy,
};
use crate::authority::{Principal, Role, Standing};
use crate::backend::{BackendError, UserRepository};
use crate::store::{StoreError, User};

/// What an unknown user's cache lookup is made with (its answer is discarded).
const NO_ONE: Standing = Standing {
    role: Role::User,
    credential_epoch: u64::MAX,
};

/// The Basic-auth endpoints over the user records in `R`, verifying passwords with `H` and
/// remembering verified credentials in `C` (off unless [`Self::with_cache`] says otherwise).
///
/// Every operation authenticates first ([`Self::authenticate`], outside any lock or
/// transaction), then makes one call to the repository, which re-checks the actor's
/// authority at the write: the catalogue proves that shape for the in-memory store under
/// every lock strategy and for PostgreSQL's protocol.
#[derive(Debug)]
pub struct Accounts<R, H = Argon2Hasher, C = VerifiedCache> {
    repo: R,
    hasher: H,
    cache: C,
}

impl<R: UserRepository, H: PasswordHasher> Accounts<R, H> {
    /// Every login verifies its password (no cache).
    pub fn new(repo: R, hasher: H) -> Self {
        Self {
            repo,
            hasher,
            cache: VerifiedCache::off(),
        }
    }
}

impl<R: UserRepository, H: PasswordHasher, C: CredentialCache> Accounts<R, H, C> {
    /// The same service, remembering verified credentials in `cache`.
    pub fn with_cache<D: CredentialCache>(self, cache: D) -> Accounts<R, H, D> {
        Accounts {
            repo: self.repo,
            hasher: self.hasher,
            cache,
        }
    }

    pub fn repository(&self) -> &R {
        &self.repo
    }

    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// Checks Basic credentials: one snapshot of the stored hash, then one slow
    /// verification outside any lock or transaction, so an unknown user costs what a wrong
    /// password costs ([`verify_or_dummy`]). The principal's role is the one at this
    /// instant; every write re-checks it.
    ///
    /// Between the two, the cache ([`CredentialCache`]): credentials verified before against
    /// the hash just read, at the epoch just read, skip the verification. Every login looks
    /// up the cache once (an unknown user against the hasher's dummy hash, the answer
    /// discarded) and a failed verification is never remembered, so a wrong password and an
    /// unknown user still cost one lookup and one full verification each.
    ///
    /// A hash below the hasher's current cost is upgraded (the needs-rehash pattern): the
    /// password just verified is hashed again, outside any lock, and stored only if the
    /// record still holds the hash it was verified against, so a password change in
    /// between wins. Same password, so neither the credential epoch nor the version moves.
    /// The upgrade is best effort: a failed hash or backend call leaves the old hash and
    /// does not fail the login, which the snapshot already decided. Until a user logs in
    /// once after a cost upgrade, their old digest stays as crackable offline as its
    /// parameters (`verify_or_dummy` pads such logins' timing to the current cost).
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Principal, BackendError> {
        let user_id = credentials.user_id();
        let password = credentials.password();
        let snapshot = self.repo.credentials(user_id)?;
        let cached = match &snapshot {
            Some(s) => self
                .cache
                .lookup(user_id, password, &s.password, s.standing()),
            None => {
                let _ = self
                    .cache
                    .lookup(user_id, password, self.hasher.dummy(), NO_ONE);
                None
            }
        };
        if let Some(standing) = cached {
            return Ok(Principal::new(user_id, standing));
        }
        let ok = verify_or_dummy(
            &self.hasher,
            password,
            snapshot.as_ref().map(|s| &s.password),
        );
        match snapshot {
            Some(s) if ok => {
                let mut verified = s.password;
                if self.hasher.needs_rehash(&verified)
                    && let Ok(upgraded) = self.hasher.hash(password)
                    && let Ok(true) = self.repo.replace_hash_if_unchanged(
                        user_id,
                        s.credential_epoch,
                        &verified,
                        upgraded.clone(),
                    )
                {
                    // The record now holds the upgrade: remember the hash it holds.
                    verified = upgraded;
                }
                let standing = Standing {
                    role: s.role,
                    credential_epoch: s.credential_epoch,
                };
                self.cache.remember(user_id, password, &verified, standing);
                Ok(Principal::new(user_id, standing))
            }
            _ => Err(StoreError::InvalidCredentials.into()),
        }
    }

    /// `POST /promote`: make `target` an admin.
    pub fn promote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.promote(&actor, target)
    }

    /// `POST /demote`: make `target` a plain user, keeping at least one admin.
    pub fn demote(&self, credentials: &Credentials, target: &str) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.demote(&actor, target)?;
        self.cache.forget(target);
        Ok(())
    }

    /// `POST /password`: replace `user`'s password (one's own, or anyone's as an admin),
    /// revoking every request authenticated with the old one. The new password is hashed
    /// before the repository is touched.
    pub fn change_password(
        &self,
        credentials: &Credentials,
        user: &str,
        new_password: &str,
    ) -> Result<(), BackendError> {
        let actor = self.authenticate(credentials)?;
        let hash = self.hasher.hash(new_password).map_err(StoreError::from)?;
        self.repo.change_password(&actor, user, hash)?;
        self.cache.forget(user);
        Ok(())
    }

    /// `POST /update-email`: compare-and-set of the caller's own email (If-Match). Returns
    /// the record's new version.
    pub fn update_email(
        &self,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, BackendError> {
        let actor = self.authenticate(credentials)?;
        self.repo.update_email(&actor, expected_version, email)
    }

    /// A copy of a user's record, unauthenticated: for code that has already decided who
    /// may see it (tests, models). The server calls [`Self::user_as`].
    pub fn user(&self, user_id: &str) -> Result<Option<User>, BackendError> {
        self.repo.get(user_id)
    }

    /// `GET /users/{id}`: a copy of `user_id`'s record, for that user or an admin. Anyone
    /// else is refused with 403 whether or not the user exists, so the endpoint does not
    /// tell who has an account.
    pub fn user_as(
        &self,
        credentials: &Credentials,
        user_id: &str,
    ) -> Result<Option<User>, BackendError> {
        let reader = self.authenticate(credentials)?;
        if reader.user_id() != user_id {
            reader
                .authorize(Role::Admin, Some(reader.standing()))
                .map_err(StoreError::from)?;
        }
        self.repo.get(user_id)
    }

    /// Authenticates an admin, for reads and operator actions: 401, or 403 for anyone
    /// else. The role is the one read at authentication, so a demoted admin is refused from
    /// its next request on; a read has no commit to re-check it at.
    pub fn admin(&self, credentials: &Credentials) -> Result<Principal, BackendError> {
        let reader = self.authenticate(credentials)?;
        reader
            .authorize(Role::Admin, Some(reader.standing()))
            .map_err(StoreError::from)?;
        Ok(reader)
    }

    /// `GET /audit`: the committed writes kept, in commit order, for admins only.
    pub fn audit(&self, credentials: &Credentials) -> Result<Vec<Commit>, BackendError> {
        self.admin(credentials)?;
        self.repo.audit()
    }

    /// `GET /audit?after=SEQ&limit=N`: one page of the committed writes, for admins only.
    pub fn audit_page(
        &self,
        credentials: &Credentials,
        query: AuditQuery,
    ) -> Result<AuditPage, BackendError> {
        self.admin(credentials)?;
        self.repo.audit_page(query)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::UserStore;

    fn hasher() -> Argon2Hasher {
        Argon2Hasher::insecure_fast().expect("the OS random source works")
    }

    #[test]
    fn a_login_carries_the_current_epoch_and_a_wrong_password_is_refused() {
        let hasher = hasher();
        let store = UserStore::new();
        store
            .insert("ann", hasher.hash("pw").unwrap(), Role::Admin, "a@x")
            .unwrap();
        let accounts = Accounts::new(&store, hasher.clone());
        let creds = Credentials::new("ann", "pw").unwrap();
        accounts.change_password(&creds, "ann", "pw").unwrap();
        let principal = accounts.authenticate(&creds).unwrap();
        assert_eq!(principal.credential_epoch(), 1);
        assert_eq!(principal.role(), Role::Admin);
        for (user, pw) in [("ann", "nope"), ("nobody", "pw")] {
            assert_eq!(
                accounts.authenticate(&Credentials::new(user, pw).unwrap()),
                Err(BackendError::Store(StoreError::InvalidCredentials))
            );
        }
    }

    /// A hash below the current cost is upgraded on login, moving neither epoch nor version,
    /// and a record changed since the snapshot is left alone.
    #[test]
    fn a_login_upgrades_a_weak_hash_unless_the_password_changed() {
        let weak = hasher();
        let current = Argon2Hasher::with_params(
            argon2::Params::new(argon2::Params::MIN_M_COST * 2, 1, 1, None).unwrap(),
        )
        .unwrap();
        let store = UserStore::new();
        let stored = weak.hash("pw").unwrap();
        store
            .insert("ann", stored.clone(), Role::User, "a@x")
            .unwrap();
        let creds = Credentials::new("ann", "pw").unwrap();
        Accounts::new(&store, current.clone())
            .authenticate(&creds)
            .unwrap();
        let after = store.get("ann").unwrap();
        assert_eq!(after.password.params(), current.dummy().params());
        assert!(current.verify("pw", &after.password));
        assert_eq!((after.version, after.credential_epoch), (1, 0));
        assert!(store.audit().is_empty());
        // A snapshot taken before a password change cannot overwrite the new hash.
        assert!(!store.replace_hash_if_unchanged("ann", 0, &stored, weak.hash("pw").unwrap()));
        assert_eq!(store.get("ann").unwrap().password, after.password);
    }

    #[test]
    fn the_audit_is_for_admins_only() {
        let hasher = hasher();
        let store = UserStore::new();
        for (user, role) in [("root", Role::Admin), ("bob", Role::User)] {
            store
                .insert(user, hasher.hash("pw").unwrap(), role, "x@y")
                .unwrap();
        }
        let accounts = Accounts::new(&store, hasher);
        let (root, bob) = (
            Credentials::new("root", "pw").unwrap(),
            Credentials::new("bob", "pw").unwrap(),
        );
        accounts.promote(&root, "bob").unwrap();
        assert_eq!(accounts.audit(&root).unwrap().len(), 1);
        accounts.demote(&root, "bob").unwrap();
        assert_eq!(
            accounts.audit(&bob),
            Err(BackendError::Store(StoreError::Forbidden))
        );
        let wrong = Credentials::new("root", "nope").unwrap();
        assert_eq!(
            accounts.audit(&wrong),
            Err(BackendError::Store(StoreError::InvalidCredentials))
        );
    }
}
