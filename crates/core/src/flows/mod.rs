//! The seeds' endpoints, ported statement by statement, each in its variants:
//!
//! - `seed_vulnerable`: the racy code the seeds describe;
//! - `seed_fix`: the fix exactly as the seed wrote it, in a multi-threaded service (FastAPI
//!   runs plain `def` endpoints on a thread pool, and any server with several workers races);
//! - `proven_fix`: ours, built on the core's atomic operations.
//!
//! Every statement of the seeds that touches shared state is one critical section here, and
//! the gaps between them, where other requests run, are marked `RACE WINDOW`.
//! [`crate::observe::Probe`] events narrate each step for the model checker's traces.

pub mod demote;
pub mod operate;
pub mod promote;
pub mod update_email;

use crate::auth::{Argon2Hasher, Credentials, PasswordHasher, verify_or_dummy};
use crate::observe::{Call, Event, Fact, NoProbe, Probe, Ret};
use crate::store::{Principal, StoreError, User, UserStore};
use crate::table::{GlobalMutex, Table};

/// The shared state of the Basic-auth endpoints: the user store and the password hasher.
pub struct Accounts<T = GlobalMutex<User>, P = NoProbe, H = Argon2Hasher> {
    pub store: UserStore<T, P>,
    pub hasher: H,
}

impl<T: Table<User>, P: Probe, H: PasswordHasher> Accounts<T, P, H> {
    pub fn new(store: UserStore<T, P>, hasher: H) -> Self {
        Self { store, hasher }
    }

    /// The seed's `get_current_user` dependency:
    ///
    /// ```python
    /// user = USERS.get(credentials.username)
    /// if user is None or not secrets.compare_digest(user["password"], credentials.password):
    ///     raise HTTPException(401)
    /// ```
    ///
    /// One read of the record, then the comparison (slow hash, outside any lock).
    fn seed_authenticate(&self, credentials: &Credentials) -> Result<User, StoreError> {
        let user_id = credentials.user_id();
        let user = self.store.get(user_id);
        let ok = verify_or_dummy(
            &self.hasher,
            credentials.password(),
            user.as_ref().map(|u| &u.password),
        );
        self.store.probe().record(|| match (&user, ok) {
            (Some(u), true) => Event::note(format!(
                "get_current_user {user_id}: ok (snapshot role {})",
                u.role
            )),
            _ => Event::note(format!("get_current_user {user_id}: 401")),
        });
        user.filter(|_| ok).ok_or(StoreError::InvalidCredentials)
    }

    /// The production dependency: one snapshot, one slow verification, and a principal
    /// whose authority the atomic operations re-check at commit.
    fn authenticate(&self, credentials: &Credentials) -> Result<Principal, StoreError> {
        self.store.authenticate(&self.hasher, credentials)
    }

    /// Narrates a refusal of the atomic operation `what` on `target`, then passes it on.
    fn narrate_refusal<R>(
        &self,
        what: &str,
        target: &str,
        result: Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if let Err(e) = &result {
            self.store
                .probe()
                .record(|| Event::note(format!("{what} {target} refused: {e}")));
        }
        result
    }

    fn call(&self, op: u64, call: Call) {
        self.store.probe().record(|| {
            let text = match &call {
                Call::UpdateEmail {
                    user,
                    expected_version,
                    email,
                } => match expected_version {
                    Some(v) => {
                        format!("request update_email({user}, expected_version={v}, email={email})")
                    }
                    None => format!("request update_email({user}, email={email})"),
                },
                Call::ReadEmail { user } => format!("request read_email({user})"),
            };
            Event::new(text, Fact::Call { op, call })
        });
    }

    fn ret(&self, op: u64, ret: Ret) {
        self.store.probe().record(|| {
            let text = match &ret {
                Ret::Updated { version } => format!("respond 200 (version {version})"),
                Ret::Conflict => "respond 409 (resource changed)".to_owned(),
                Ret::Read { email, version } => format!("respond 200 ({email}, version {version})"),
                Ret::Refused => "respond refused".to_owned(),
            };
            Event::new(text, Fact::Return { op, ret })
        });
    }
}
