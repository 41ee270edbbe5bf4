//! Login throttling around authentication: a separate layer, checked before the slow
//! password verification and counting its failures after.

use crate::backend::BackendError;
use crate::clock::{Clock, SystemClock};
use crate::store::StoreError;
use crate::throttle::{AttemptLimiter, ClientId, LoginLimiter, Outcome, Throttled, UserLimits};

/// Why a guarded attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Refused before any password was checked (429).
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The attempt ran and failed as the service says.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Failed logins limited per (user, client), per user and per client (see
/// [`crate::throttle`] for the policy), over any [`AttemptLimiter`], reading time from `C`.
#[derive(Debug)]
pub struct LoginThrottle<L = LoginLimiter, C = SystemClock> {
    limiter: L,
    clock: C,
}

impl<L: AttemptLimiter> LoginThrottle<L> {
    /// The system clock.
    pub fn new(limiter: L) -> Self {
        Self::with_clock(limiter, SystemClock)
    }
}

impl<L: AttemptLimiter, C: Clock> LoginThrottle<L, C> {
    pub fn with_clock(limiter: L, clock: C) -> Self {
        Self { limiter, clock }
    }

    pub fn limiter(&self) -> &L {
        &self.limiter
    }

    /// Runs `attempt`, a service call whose first step is authenticating `user` (an
    /// [`crate::service::Accounts`] operation), if the limiter admits it: the admission
    /// and the reservation of a failure are one step ([`AttemptLimiter::begin`]), so at
    /// most the policy's number of failures run per window however many guesses arrive at
    /// once. Its result settles the reservation: a wrong password keeps it; a right one
    /// (whatever the operation then answered) gives it back and makes `client` known for
    /// `user`; an answer that says nothing about the password (backend down, credentials
    /// revoked in flight, an internal error) gives it back.
    pub fn guard<T>(
        &self,
        user: &str,
        client: ClientId,
        attempt: impl FnOnce() -> Result<T, BackendError>,
    ) -> Result<T, LoginError> {
        let ticket = self.limiter.begin(user, client, self.clock.now())?;
        let result = attempt();
        self.limiter.end(ticket, outcome(&result), self.clock.now());
        Ok(result?)
    }

    /// Refuses early, without reserving, when [`Self::guard`] would refuse now: lets a
    /// server answer 429 before queueing for a password-check slot. Advisory only:
    /// `guard` decides.
    pub fn precheck(&self, user: &str, client: ClientId) -> Result<(), Throttled> {
        match self.limiter.would_refuse(user, client, self.clock.now()) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// `user`'s counters now.
    pub fn limits(&self, user: &str) -> UserLimits {
        self.limiter.limits(user, self.clock.now())
    }

    /// Forgets `user`'s failures.
    pub fn clear(&self, user: &str) {
        self.limiter.clear(user);
    }
}

/// What an attempt's result says about the password.
fn outcome<T>(result: &Result<T, BackendError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Succeeded,
        Err(BackendError::Store(StoreError::InvalidCredentials)) => Outcome::Failed,
        Err(BackendError::Store(StoreError::CredentialsRevoked | StoreError::Internal))
        | Err(BackendError::Unavailable(_) | BackendError::Replay(_)) => Outcome::Undecided,
        // Authenticated, then refused by the operation (403, 404, 409, 412, ...).
        Err(BackendError::Store(_)) => Outcome::Succeeded,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::ManualClock;
    use crate::throttle::{LimitPolicy, Scope};

    #[test]
    fn guessing_past_the_limit_is_refused_without_running_the_attempt() {
        let policy = LimitPolicy {
            per_pair: 2,
            ..LimitPolicy::default()
        };
        let throttle =
            LoginThrottle::with_clock(LoginLimiter::new(policy), ManualClock::new(1_000));
        let client = ClientId::unknown();
        let mut runs = 0;
        let mut guess = || {
            throttle.guard("alice", client, || {
                runs += 1;
                Err::<(), _>(StoreError::InvalidCredentials.into())
            })
        };
        for _ in 0..2 {
            assert!(matches!(guess(), Err(LoginError::Backend(_))));
        }
        match guess() {
            Err(LoginError::Throttled(t)) => assert_eq!(t.scope, Scope::Pair),
            other => panic!("{other:?}"),
        }
        assert_eq!(runs, 2);
        assert!(throttle.precheck("alice", client).is_err());
        assert!(!throttle.limits("alice").over_limit());
    }

    #[test]
    fn a_refusal_after_authentication_counts_as_a_right_password() {
        let throttle = LoginThrottle::new(LoginLimiter::default());
        let client = ClientId::unknown();
        let forbidden: Result<(), LoginError> =
            throttle.guard("bob", client, || Err(StoreError::Forbidden.into()));
        assert!(matches!(forbidden, Err(LoginError::Backend(_))));
        let limits = throttle.limits("bob");
        assert_eq!(limits.failures, 0);
        assert!(limits.clients.is_empty());
    }
}
