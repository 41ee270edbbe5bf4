#![cfg(not(loom))]
//! raceproof's HTTP service: the Basic-auth endpoints of seed 000 and the signed `/operate`
//! of seed 002, each in the variant chosen at start-up (`proven_fix`, or the seeds' racy
//! `seed_vulnerable` and `seed_fix`, which exist to be caught by the race tester).
//!
//! Under `--cfg loom` this crate is empty: it has nothing to model-check, and loom builds
//! should not compile a web stack.

pub mod app;
pub mod cache_settings;
pub mod config;
pub mod connections;
pub mod extract;
pub mod handlers;
pub mod handshake;
pub mod limits;
pub mod middleware;
pub mod problem;
pub mod request_id;
pub mod runtime;
pub mod serve;
pub mod state;
pub mod webhook;

pub use app::router;
pub use config::{Cli, HasherKind, Settings, UsersFile, WebhookSecret};
pub use runtime::RuntimeKind;
pub use state::AppState;

use raceproof_backends::postgres::PgUserRepository;
use raceproof_core::backend::{BackendError, UserRepository as _};
use raceproof_core::store::StoreError;
use std::sync::Arc;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Build(#[from] state::BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// The Redis replay store of `--replay-store` (proven_fix only), keys under
/// `--replay-prefix`. An unreachable Redis is logged, not fatal: `/operate` answers 503
/// until it answers (fail closed).
async fn redis_replay_store(
    cli: &Cli,
    url: &str,
) -> Result<raceproof_backends::redis::RedisReplayStore, config::ConfigError> {
    use config::ConfigError::ReplayStore;
    if cli.variant.is_seed() {
        return Err(ReplayStore(
            "only proven_fix admits through a replay store; the seed variants keep their own \
             racy check"
                .into(),
        ));
    }
    if !url.starts_with("redis://") {
        return Err(ReplayStore("expected a redis:// URL".into()));
    }
    let prefix = format!("{}:replay:", cli.replay_prefix);
    let store = raceproof_backends::redis::RedisReplayStore::with_prefix(
        url,
        &prefix,
        raceproof_backends::PoolConfig::default(),
    )
    .map_err(|e| ReplayStore(e.to_string()))?;
    let (store, ping) = tokio::task::spawn_blocking(move || {
        let ping = store.ping();
        (store, ping)
    })
    .await
    .map_err(|_| ReplayStore("the start-up check failed".into()))?;
    match ping {
        Ok(()) => tracing::info!(prefix = %prefix, "replay store: redis answers"),
        Err(e) => tracing::warn!(
            error = %e,
            "replay store: redis does not answer yet; /operate answers 503 until it does"
        ),
    }
    Ok(store)
}

/// The PostgreSQL users of `--users-db` (proven_fix only): the schema migrated and the
/// users of the file that the database lacks added. Unlike Redis for `/operate`, the
/// database must answer at start-up: the migration and the seeding need it.
async fn postgres_users(
    cli: &Cli,
    url: &str,
    users: Vec<raceproof_flows::UserSpec>,
) -> Result<PgUserRepository, config::ConfigError> {
    use config::ConfigError::UsersDb;
    if cli.variant.is_seed() {
        return Err(UsersDb(
            "only proven_fix keeps its users in a database; the seed variants port the \
             seed's in-memory dict"
                .into(),
        ));
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(UsersDb("expected a postgres:// URL".into()));
    }
    let repo = PgUserRepository::with_schema(
        url,
        &cli.users_schema,
        raceproof_backends::PoolConfig::default(),
    )
    .map_err(|e| UsersDb(e.to_string()))?
    .require_precondition(cli.require_if_match);
    let schema = cli.users_schema.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        repo.migrate()?;
        let (mut added, mut kept) = (0, 0);
        for user in users {
            match repo.insert(&user.id, user.password, user.role, &user.email) {
                Ok(()) => added += 1,
                Err(BackendError::Store(StoreError::AlreadyExists)) => kept += 1,
                Err(e) => return Err(e),
            }
        }
        Ok((repo, added, kept))
    })
    .await
    .map_err(|_| UsersDb("the start-up task failed".into()))?;
    let (repo, added, kept) = prepared.map_err(|e| UsersDb(format!("cannot prepare: {e}")))?;
    tracing::info!(
        schema = %schema,
        added,
        kept,
        "users: postgres migrated; users from the file added, those already stored kept"
    );
    Ok(repo)
}

/// The credential cache as the start-up line tells it.
fn cache_summary(config: raceproof_core::auth::CacheConfig) -> String {
    if config.is_off() {
        "off".to_owned()
    } else {
        format!(
            "on ({} entries, {} s)",
            config.capacity(),
            config.lifetime_secs()
        )
    }
}

/// Starts the server the command line describes and serves until Ctrl-C or SIGTERM.
pub async fn run(cli: Cli) -> Result<(), StartError> {
    let mut settings = cli.settings();
    if !settings.io_latency.is_zero() {
        if settings.variant.is_seed() {
            tracing::warn!(
                latency_ms = u64::try_from(settings.io_latency.as_millis()).unwrap_or(u64::MAX),
                "--io-latency-ms: every storage call of the seed's /operate is slowed down \
                 on purpose, to widen its race windows"
            );
        } else {
            return Err(StartError::Config(config::ConfigError::IoLatency));
        }
    }
    if settings.variant.is_seed() {
        tracing::warn!(
            variant = %settings.variant,
            "VULNERABLE ON PURPOSE: this variant ports the seed's racy endpoints to \
             demonstrate the race tester; never expose it"
        );
    }
    let file = UsersFile::load(&cli.users)?;
    settings.credential_cache = if settings.variant.is_seed() {
        raceproof_core::auth::CacheConfig::OFF
    } else {
        cli.credential_cache(&file.credential_cache)?
    };
    let secret = WebhookSecret::choose(
        cli.webhook_secret.as_deref(),
        file.webhook_secret.as_deref(),
    )?;
    if cli.hasher == HasherKind::Fast {
        tracing::warn!(
            "--hasher fast: the cheapest legal Argon2id, for tests and benches only; \
             passwords are easy to brute-force from a leaked hash"
        );
    }
    let hasher = cli.hasher.build()?;
    let specs = tokio::task::spawn_blocking({
        let hasher = hasher.clone();
        move || file.specs(&hasher)
    })
    .await
    .map_err(|_| config::ConfigError::Hasher("the hashing task failed".into()))??;
    let users = specs.len();
    let mut state = AppState::new(&specs, hasher.clone(), &secret, settings.clone())?;
    let users_store = match cli.users_db.as_deref() {
        None => "memory",
        Some(url) => {
            let repo = postgres_users(&cli, url, specs).await?;
            state = state.with_users(Arc::new(repo), true);
            "postgres"
        }
    };
    let replay_store = match cli.replay_store.as_deref() {
        None => "memory",
        Some(url) => {
            state = state.with_replay_store(Arc::new(redis_replay_store(&cli, url).await?), true);
            "redis"
        }
    };
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: cli.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: cli.listen,
        source,
    })?;
    tracing::info!(
        %addr,
        runtime = cli.runtime.name(),
        variant = %settings.variant,
        hasher = cli.hasher.name(),
        users,
        require_if_match = settings.require_if_match,
        expose_timing = settings.expose_timing,
        replay_store,
        users_store,
        credential_cache = %cache_summary(settings.credential_cache),
        "listening (HTTP/1.1 and h2c)"
    );
    let mut limits = settings.limits.clone();
    limits.max_connections = limits::fit_connections(limits.max_connections);
    tracing::info!(
        max_connections = limits.max_connections,
        max_in_flight = limits.max_in_flight,
        handshake_timeout = ?limits.handshake_timeout,
        idle_timeout = ?limits.idle_timeout,
        "connection limits"
    );
    let state = Arc::new(state);
    tokio::spawn(state::log_credential_cache(
        Arc::clone(&state),
        std::time::Duration::from_secs(10),
    ));
    serve::serve_with(listener, router(state), limits, serve::shutdown_signal()).await;
    Ok(())
}
