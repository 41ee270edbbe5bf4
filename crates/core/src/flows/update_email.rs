//! `POST /update-email`: a user changes their email under optimistic concurrency (seed 000).
//!
//! The race: the version is compared, then the email written, then the version bumped, as
//! three statements; two requests with the same expected version both pass the comparison.

use super::Accounts;
use crate::auth::{Credentials, PasswordHasher};
use crate::observe::{Call, Probe, Ret};
use crate::store::{StoreError, User};
use crate::table::Table;

impl<T: Table<User>, P: Probe, H: PasswordHasher> Accounts<T, P, H> {
    /// Read-modify-write of the whole record with no version at all: the classic lost
    /// update. `op` names the request in the trace.
    pub fn update_email_seed_vulnerable(
        &self,
        op: u64,
        credentials: &Credentials,
        email: &str,
    ) -> Result<u64, StoreError> {
        let user = credentials.user_id();
        self.call(op, update_call(user, None, email));
        let result = (|| {
            self.seed_authenticate(credentials)?;
            let mut record = self
                .store
                .unguarded()
                .get(user)
                .ok_or(StoreError::NotFound)?;
            // RACE WINDOW: another update can read the same record here.
            record.email = email.to_owned();
            record.version += 1;
            let version = record.version;
            self.store.unguarded().put(user, record, user)?;
            Ok(version)
        })();
        self.ret(op, to_ret(&result));
        result
    }

    /// The seed's fix, statement by statement:
    ///
    /// ```python
    /// stored = USERS_WITH_VERSION.get(current_user["username"])
    /// if not stored: raise HTTPException(404)
    /// if stored["_v"] != expected_version: raise HTTPException(409)
    /// stored["email"] = new_email
    /// stored["_v"] += 1
    /// return {"email": stored["email"], "version": stored["_v"]}
    /// ```
    pub fn update_email_seed_fix(
        &self,
        op: u64,
        credentials: &Credentials,
        expected_version: u64,
        email: &str,
    ) -> Result<u64, StoreError> {
        let user = credentials.user_id();
        self.call(op, update_call(user, Some(expected_version), email));
        let result = (|| {
            self.seed_authenticate(credentials)?;
            let unguarded = self.store.unguarded();
            if !unguarded.exists(user) {
                return Err(StoreError::NotFound);
            }
            let current = unguarded.version(user).ok_or(StoreError::NotFound)?;
            if current != expected_version {
                return Err(StoreError::PreconditionFailed { current });
            }
            // RACE WINDOW: a second request with the same expected version passes too.
            unguarded.set_email(user, email)?;
            // RACE WINDOW
            unguarded.increment_version(user)?;
            // RACE WINDOW: the response reads the record again.
            let version = unguarded.version(user).ok_or(StoreError::NotFound)?;
            Ok(version)
        })();
        self.ret(op, to_ret(&result));
        result
    }

    /// Ours: compare-and-set in one critical section (If-Match semantics).
    pub fn update_email_proven_fix(
        &self,
        op: u64,
        credentials: &Credentials,
        expected_version: Option<u64>,
        email: &str,
    ) -> Result<u64, StoreError> {
        let user = credentials.user_id();
        self.call(op, update_call(user, expected_version, email));
        let result = self
            .authenticate(credentials)
            .and_then(|actor| self.store.update_email(&actor, expected_version, email));
        self.ret(op, to_ret(&result));
        result
    }
}

fn update_call(user: &str, expected_version: Option<u64>, email: &str) -> Call {
    Call::UpdateEmail {
        user: user.to_owned(),
        expected_version,
        email: email.to_owned(),
    }
}

fn to_ret(result: &Result<u64, StoreError>) -> Ret {
    match result {
        Ok(version) => Ret::Updated { version: *version },
        Err(StoreError::PreconditionFailed { .. }) => Ret::Conflict,
        Err(_) => Ret::Refused,
    }
}
