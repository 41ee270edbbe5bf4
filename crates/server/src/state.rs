//! The state the handlers share: the service layer over the backends chosen at start-up,
//! and the limits on how much blocking work runs at once.
//!
//! Every variant's account endpoints are [`Accounts`] (the seeds' racy ports are
//! repositories behind the same service), and `proven_fix`'s `/operate` is
//! [`Operations::admit`]: the functions the model catalogue checks. The handlers reach the
//! backends only through these (a repository's writes take a `Principal`, which only
//! `Accounts::authenticate` makes); `tests/service_layer.rs` injects spy backends to show it.

use crate::config::{Settings, WebhookSecret};
use crate::problem::{PreconditionSource, Problem, login_problem, throttled_problem};
use crate::webhook::WebhookKey;
use raceproof_core::auth::{Argon2Hasher, CacheConfig, CacheError, Credentials, VerifiedCache};
use raceproof_core::backend::{BackendError, ReplayStore, UserRepository};
use raceproof_core::replay::{Clock, DEFAULT_CAPACITY, HmacKey, ReplaySet, SystemClock};
use raceproof_core::service::{Accounts, LoginThrottle, Operations};
use raceproof_core::store::StoreError;
use raceproof_core::throttle::{AttemptLimiter, ClientId, LoginLimiter};
use raceproof_flows::{
    Narrator, ReadThenIncrement, SeedOperate, SeedRoute, UserSpec, Variant, users_repository,
};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The account service as the server holds it: any repository, chosen at start-up, and
/// this process's cache of verified credentials.
pub type AccountService = Accounts<Arc<dyn UserRepository>, Argon2Hasher, Arc<VerifiedCache>>;

/// The login throttle as the server holds it: any limiter (the seed variants serve a racy
/// one, for the race tester), the system clock.
pub type LoginService = LoginThrottle<Arc<dyn AttemptLimiter>>;

/// The admission service as the server holds it: any replay store, any clock.
pub type OperateService = Operations<Arc<dyn ReplayStore>, Arc<dyn Clock>>;

/// `/operate`'s implementation.
pub enum Operate {
    /// Standard Webhooks signatures (the format's adapter), admitted by the service
    /// (`proven_fix`). `blocking`: the store does network I/O, so admissions run on a
    /// blocking thread.
    Admit {
        webhooks: WebhookKey,
        service: OperateService,
        blocking: bool,
    },
    /// The seed's JSON body and concatenation signature (seed variants), served by the
    /// seed's `async def` route ported: awaited as FastAPI awaits it.
    Seed(SeedOperate),
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create the users: {0}")]
    Users(StoreError),
    #[error("the webhook secret is not a usable HMAC key")]
    Key,
    #[error("cannot make the credential cache: {0}")]
    Cache(CacheError),
}

/// Everything the handlers share.
pub struct AppState {
    accounts: AccountService,
    /// Whether the repository does network I/O, so that plain reads leave the runtime too.
    users_block: bool,
    operate: Operate,
    logins: LoginService,
    settings: Settings,
    /// Slots for password verification off the runtime.
    hash_slots: Arc<Semaphore>,
}

impl AppState {
    /// The state of `settings.variant` over `users`, with the system clock.
    pub fn new(
        users: &[UserSpec],
        hasher: Argon2Hasher,
        secret: &WebhookSecret,
        settings: Settings,
    ) -> Result<Self, BuildError> {
        Self::with_clock(users, hasher, secret, settings, Arc::new(SystemClock))
    }

    /// [`AppState::new`] with the clock `/operate` checks timestamps against.
    pub fn with_clock(
        users: &[UserSpec],
        hasher: Argon2Hasher,
        secret: &WebhookSecret,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        let silent = Narrator::silent();
        let variant = settings.variant;
        let repository = users_repository(variant, users, settings.require_if_match, &silent)
            .map_err(BuildError::Users)?;
        let operate = match variant {
            Variant::ProvenFix => {
                // Sharded by tag so that concurrent deliveries rarely share a lock.
                let set: Arc<dyn ReplayStore> = Arc::new(ReplaySet::sharded(DEFAULT_CAPACITY, 16));
                Operate::Admit {
                    webhooks: WebhookKey::new(secret).map_err(|_| BuildError::Key)?,
                    service: Operations::with_clock(set, clock)
                        .tolerance(settings.timestamp_tolerance_secs),
                    blocking: false,
                }
            }
            seed => {
                let key = HmacKey::new(secret.bytes()).map_err(|_| BuildError::Key)?;
                let route = if seed == Variant::SeedFix {
                    SeedRoute::Hardened
                } else {
                    SeedRoute::Vulnerable
                };
                Operate::Seed(
                    SeedOperate::new(route, key, silent).with_io_latency(settings.io_latency),
                )
            }
        };
        let policy = settings.limits.login;
        let limiter: Arc<dyn AttemptLimiter> = if variant.is_seed() {
            Arc::new(ReadThenIncrement::new(policy, Narrator::silent()))
        } else {
            Arc::new(LoginLimiter::new(policy))
        };
        // The seeds authenticate as their ports do, with no cache of ours.
        let cache = match variant {
            Variant::ProvenFix => settings.credential_cache,
            _ => CacheConfig::OFF,
        };
        let cache = Arc::new(VerifiedCache::new(cache).map_err(BuildError::Cache)?);
        Ok(Self {
            accounts: Accounts::new(Arc::from(repository), hasher).with_cache(cache),
            users_block: false,
            operate,
            logins: LoginThrottle::new(limiter),
            hash_slots: Arc::new(Semaphore::new(settings.hash_concurrency.max(1))),
            settings,
        })
    }

    /// Admits `/operate`'s messages through `store` (proven_fix only; the seeds keep their
    /// own racy check), with the same clock and tolerance. `blocking`: the store does
    /// network I/O (Redis), so admissions run on a blocking thread.
    pub fn with_replay_store(mut self, store: Arc<dyn ReplayStore>, blocking: bool) -> Self {
        if let Operate::Admit {
            webhooks, service, ..
        } = self.operate
        {
            self.operate = Operate::Admit {
                webhooks,
                service: service.with_store(store),
                blocking,
            };
        }
        self
    }

    /// Keeps the users in `repository` instead (`--users-db`, or in tests one that panics,
    /// is down, or spies), behind the same service and hasher. `blocking`: it does network
    /// I/O, so that plain reads leave the runtime too.
    pub fn with_users(mut self, repository: Arc<dyn UserRepository>, blocking: bool) -> Self {
        let cache = Arc::clone(self.accounts.cache());
        self.accounts = Accounts::new(repository, self.accounts.hasher().clone()).with_cache(cache);
        self.users_block = blocking;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn accounts(&self) -> &AccountService {
        &self.accounts
    }

    /// Whether a plain read of the users blocks on I/O.
    pub fn users_block(&self) -> bool {
        self.users_block
    }

    pub fn operate(&self) -> &Operate {
        &self.operate
    }

    pub fn logins(&self) -> &LoginService {
        &self.logins
    }

    /// Runs `work`, an account operation that authenticates `credentials` first, under the
    /// login throttle: refused at once with 429 when the throttle would refuse (before
    /// waiting for a password-check slot), then [`LoginThrottle::guard`] around it off the
    /// runtime. Errors become problems, a stale version as `source` says.
    pub async fn login<T: Send + 'static>(
        self: &Arc<Self>,
        credentials: Credentials,
        client: ClientId,
        source: PreconditionSource,
        work: impl FnOnce(&AccountService, &Credentials) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, Problem> {
        self.logins
            .precheck(credentials.user_id(), client)
            .map_err(|refused| throttled_problem(&refused))?;
        let state = Arc::clone(self);
        self.off_runtime(move || {
            state.logins.guard(credentials.user_id(), client, || {
                work(state.accounts(), &credentials)
            })
        })
        .await?
        .map_err(|e| login_problem(&e, source))
    }

    /// Runs password work (hash verification) off the async runtime, at most
    /// `hash_concurrency` at once; waits `hash_wait` for a slot, then answers 503.
    pub async fn off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Problem> {
        let slots = Arc::clone(&self.hash_slots);
        let permit =
            match tokio::time::timeout(self.settings.hash_wait, slots.acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => return Err(Problem::internal()),
                Err(_elapsed) => {
                    return Err(Problem::unavailable(
                        "too many password checks in progress; retry shortly",
                    ));
                }
            };
        blocking(move || {
            let _slot = permit;
            work()
        })
        .await
    }
}

/// Logs the credential cache's counts at debug level every `every`, when they changed
/// (nothing is formatted unless debug logging is on).
pub async fn log_credential_cache(state: Arc<AppState>, every: std::time::Duration) {
    let mut last = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !tracing::enabled!(tracing::Level::DEBUG) {
            continue;
        }
        let stats = state.accounts().cache().stats();
        if last != Some(stats) {
            tracing::debug!(
                hits = stats.hits,
                misses = stats.misses,
                fills = stats.fills,
                evictions = stats.evictions,
                expirations = stats.expirations,
                entries = stats.entries,
                "credential cache"
            );
            last = Some(stats);
        }
    }
}

/// Runs `work` on a blocking thread (network I/O to a backend); a panic is re-raised here.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        // Re-raised here so that the panic layer answers and logs it like any other.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Problem::internal()),
    }
}
