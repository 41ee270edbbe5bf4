//! The user records in PostgreSQL, each write one transaction under READ COMMITTED.
//!
//! - Compare-and-set is one conditional `UPDATE ... WHERE id = $1 AND credential_epoch =
//!   $2 AND version = $3`: PostgreSQL re-checks the condition on the row's latest version
//!   after waiting for its lock, so zero rows means a conflict (or revoked credentials),
//!   never a lost update.
//! - Authorize-and-act reads the actor's row `FOR SHARE` (`FOR UPDATE` when it writes that
//!   row too) in the writing transaction: under READ COMMITTED a condition on *another*
//!   row, e.g. `UPDATE users SET role = 'admin' WHERE id = $t AND EXISTS (SELECT 1 FROM
//!   users WHERE id = $a AND role = 'admin')`, is read from the statement's snapshot and not
//!   re-checked when that row changes, so a demotion committed meanwhile goes unseen. The
//!   lock makes a concurrent demotion of the actor wait for this commit (or this write wait
//!   for the demotion, and then see it).
//! - Demotion locks the actor and every admin `FOR UPDATE` (in id order), so that the admin
//!   count it checks cannot change before it commits: two admins demoting each other
//!   cannot both succeed.
//! - Each write's [`Commit`](raceproof_core::audit::Commit) is inserted in the same
//!   transaction, numbered from a one-row counter locked last, so sequence numbers are
//!   gapless and in commit order.
//!
//! Deadlocks and serialization failures are retried a few times; timeouts, lost
//! connections and anything unexpected are [`BackendError::Unavailable`] and the
//! transaction is rolled back. (A connection lost *during* `COMMIT` leaves the outcome
//! unknown, as with any database: the answer is still 503, and the audit log tells.)
//!
//! `mod.rs`: the pool, transactions, migrations and conversions; `repository.rs`: the
//! [`UserRepository`](raceproof_core::backend::UserRepository) operations.

mod repository;

use crate::PoolConfig;
use postgres::error::SqlState;
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use raceproof_core::backend::{BackendError, password_from_parts};
use raceproof_core::store::{MAX_EMAIL_LEN, MAX_USER_ID_LEN, Role, StoreError, check_text};

/// The migrations shipped with the crate, in order: (version, SQL).
pub const MIGRATIONS: &[(i32, &str)] =
    &[(1, include_str!("../../migrations/0001_users_and_audit.sql"))];
/// The default schema.
pub const DEFAULT_SCHEMA: &str = "raceproof";
/// Longest schema name accepted (PostgreSQL's identifier limit).
pub const MAX_SCHEMA_LEN: usize = 63;
/// Attempts of a transaction that hit a deadlock or a serialization failure.
pub const MAX_ATTEMPTS: usize = 5;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Why a repository could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    #[error("the PostgreSQL URL is invalid")]
    InvalidUrl,
    #[error(
        "the schema name must be 1-63 lowercase letters, digits or '_', not starting with a digit"
    )]
    InvalidSchema,
}

/// A `UserRepository` in PostgreSQL, shared by every process using the same database and
/// schema.
pub struct PgUserRepository {
    pool: OwnThreadDrop,
    schema: String,
    require_precondition: bool,
}

impl std::fmt::Debug for PgUserRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUserRepository")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The pool, closed on a thread of its own. Each `postgres::Client` drives a private tokio
/// runtime and blocks on it when dropped (to say goodbye to the server), which panics on a
/// thread that is running another runtime: an async server dropping its state at shutdown
/// would abort.
struct OwnThreadDrop(Option<Pool>);

impl Drop for OwnThreadDrop {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            // A connection that fails to close is no reason to abort the process.
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// A PostgreSQL failure as a 503, naming the kind of failure (and SQLSTATE) only.
fn unavailable(e: &postgres::Error) -> BackendError {
    match e.code() {
        Some(code) if *code == SqlState::QUERY_CANCELED => {
            BackendError::unavailable("postgres: statement timed out")
        }
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => {
            BackendError::unavailable("postgres: lock wait timed out")
        }
        Some(code) => BackendError::unavailable(format!("postgres: error {}", code.code())),
        None if e.is_closed() => BackendError::unavailable("postgres: connection lost"),
        None => BackendError::unavailable("postgres: connection failed"),
    }
}

fn retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Admin => "admin",
    }
}

fn parse_role(name: &str) -> Result<Role, BackendError> {
    match name {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        _ => Err(BackendError::unavailable("postgres: unknown role stored")),
    }
}

/// A hash's costs as INTEGER columns.
fn to_columns(costs: (u32, u32, u32)) -> Result<(i32, i32, i32), BackendError> {
    let column = |c: u32| {
        i32::try_from(c).map_err(|_| BackendError::unavailable("postgres: hash cost out of range"))
    };
    Ok((column(costs.0)?, column(costs.1)?, column(costs.2)?))
}

/// The hash in columns 0..5 of `row`: m_cost, t_cost, p_cost, salt, digest.
fn stored_password(
    row: &::postgres::Row,
) -> Result<raceproof_core::auth::PasswordHash, BackendError> {
    let cost = |i: usize| {
        u32::try_from(row.get::<_, i32>(i))
            .map_err(|_| BackendError::unavailable("postgres: hash cost out of range"))
    };
    password_from_parts((cost(0)?, cost(1)?, cost(2)?), row.get(3), row.get(4))
}

fn to_u64(v: i64) -> Result<u64, BackendError> {
    u64::try_from(v).map_err(|_| BackendError::unavailable("postgres: counter out of range"))
}

fn to_i64(v: u64) -> Result<i64, BackendError> {
    i64::try_from(v).map_err(|_| BackendError::unavailable("postgres: counter out of range"))
}

/// A transaction's outcome: a database error (rolled back, maybe retried) or the store's
/// answer (committed if `Ok`, rolled back if `Err`).
type TxResult<T> = Result<Result<T, BackendError>, postgres::Error>;

fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_LEN
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
}

impl PgUserRepository {
    /// A repository on `url` using [`DEFAULT_SCHEMA`]. No connection is made yet: a process
    /// may start while PostgreSQL is down and answers 503 until it is up. Call
    /// [`Self::migrate`] before use (it is idempotent).
    pub fn connect(url: &str, config: PoolConfig) -> Result<Self, PgSetupError> {
        Self::with_schema(url, DEFAULT_SCHEMA, config)
    }

    /// Connects to `url`, keeping the tables in `schema` (tests give each run its own).
    pub fn with_schema(url: &str, schema: &str, config: PoolConfig) -> Result<Self, PgSetupError> {
        if !valid_schema(schema) {
            return Err(PgSetupError::InvalidSchema);
        }
        let mut pg: postgres::Config = url.parse().map_err(|_| PgSetupError::InvalidUrl)?;
        let ms = config.command_timeout.as_millis();
        // The schema name is validated above, so it needs no quoting.
        pg.connect_timeout(config.connect_timeout).options(&format!(
            "-c search_path={schema} -c statement_timeout={ms} -c lock_timeout={ms} \
             -c idle_in_transaction_session_timeout={ms}"
        ));
        let pool = crate::pool(PostgresConnectionManager::new(pg, NoTls), config);
        Ok(Self {
            pool: OwnThreadDrop(Some(pool)),
            schema: schema.to_owned(),
            require_precondition: false,
        })
    }

    /// Whether PostgreSQL answers now.
    pub fn ping(&self) -> Result<(), BackendError> {
        self.read(|client| client.simple_query("SELECT 1").map(|_| ()))
    }

    /// Refuse email updates without an expected version (428).
    pub fn require_precondition(mut self, required: bool) -> Self {
        self.require_precondition = required;
        self
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, BackendError> {
        self.pool
            .0
            .as_ref()
            .ok_or_else(|| BackendError::unavailable("postgres: the pool is closed"))?
            .get()
            .map_err(|_| BackendError::unavailable("postgres: no connection available in time"))
    }

    /// Runs `body` in a READ COMMITTED transaction: commits if it answers `Ok`, rolls back
    /// otherwise; retries deadlocks and serialization failures.
    ///
    /// A pooled connection found closed (PostgreSQL restarted since it was opened) is
    /// replaced, provided `COMMIT` was not sent: the server rolls back a transaction whose
    /// connection is gone, so running it again cannot apply it twice. A connection lost
    /// during `COMMIT` leaves the outcome unknown and is never retried.
    fn transact<T>(
        &self,
        mut body: impl FnMut(&mut Transaction<'_>) -> TxResult<T>,
    ) -> Result<T, BackendError> {
        let (mut attempt, mut closed) = (0, 0);
        loop {
            attempt += 1;
            let mut client = self.client()?;
            let mut committing = false;
            let outcome = (|| {
                let mut tx = client.transaction()?;
                match body(&mut tx)? {
                    Ok(value) => {
                        committing = true;
                        tx.commit()?;
                        Ok(Ok(value))
                    }
                    Err(refusal) => {
                        tx.rollback()?;
                        Ok(Err(refusal))
                    }
                }
            })();
            match outcome {
                Ok(answer) => return answer,
                Err(e) if retryable(&e) && attempt < MAX_ATTEMPTS => continue,
                Err(e) if e.is_closed() && !committing && closed < self.idle_connections() => {
                    closed += 1;
                }
                Err(e) => return Err(unavailable(&e)),
            }
        }
    }

    /// Runs one read on a pooled connection, replacing a connection found closed (a read
    /// has no effect to repeat). The pool drops the closed one when it comes back.
    fn read<T>(
        &self,
        mut query: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, BackendError> {
        let mut closed = 0;
        loop {
            let mut client = self.client()?;
            match query(&mut client) {
                Ok(value) => return Ok(value),
                Err(e) if e.is_closed() && closed < self.idle_connections() => closed += 1,
                Err(e) => return Err(unavailable(&e)),
            }
        }
    }

    /// How many closed connections one call may meet and replace: after a restart every
    /// idle connection in the pool is closed, and each is dropped when it comes back, so
    /// after at most this many a fresh one is opened (replacing just one answered 503 when
    /// the pool held several, seen under load).
    fn idle_connections(&self) -> u32 {
        self.pool.0.as_ref().map_or(0, |pool| pool.max_size())
    }

    /// Creates the schema and applies the shipped [`MIGRATIONS`] not yet applied, under an
    /// advisory lock, so that processes starting together migrate once.
    pub fn migrate(&self) -> Result<(), BackendError> {
        let schema = self.schema.clone();
        self.transact(|tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('raceproof-migrate:' || $1))",
                &[&schema],
            )?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; \
                 CREATE TABLE IF NOT EXISTS {schema}.schema_migrations \
                 (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ))?;
            for (version, sql) in MIGRATIONS {
                let done = tx
                    .query_opt(
                        &format!("SELECT 1 FROM {schema}.schema_migrations WHERE version = $1"),
                        &[version],
                    )?
                    .is_some();
                if !done {
                    tx.batch_execute(&format!("SET LOCAL search_path = {schema}"))?;
                    tx.batch_execute(sql)?;
                    tx.execute(
                        &format!("INSERT INTO {schema}.schema_migrations (version) VALUES ($1)"),
                        &[version],
                    )?;
                }
            }
            Ok(Ok(()))
        })
    }

    /// The migration versions applied, in order.
    pub fn applied_migrations(&self) -> Result<Vec<i32>, BackendError> {
        let sql = format!(
            "SELECT version FROM {}.schema_migrations ORDER BY version",
            self.schema
        );
        let rows = self.read(|client| client.query(&sql, &[]))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Adds a user from a stored hash's salt and digest made by a hasher other than Argon2id
    /// (costs 0; e.g. imported from another store).
    pub fn insert_parts(
        &self,
        user_id: &str,
        salt: &[u8],
        digest: &[u8],
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        self.insert_hash(user_id, (0, 0, 0), salt, digest, role, email)
    }

    fn insert_hash(
        &self,
        user_id: &str,
        costs: (u32, u32, u32),
        salt: &[u8],
        digest: &[u8],
        role: Role,
        email: &str,
    ) -> Result<(), BackendError> {
        check_text("user-id", user_id, MAX_USER_ID_LEN)?;
        check_text("email", email, MAX_EMAIL_LEN)?;
        // Refuse what could not be read back.
        password_from_parts(costs, salt, digest)?;
        let (m, t, p) = to_columns(costs)?;
        self.transact(|tx| {
            let n = tx.execute(
                "INSERT INTO users \
                 (id, m_cost, t_cost, p_cost, salt, digest, role, email, version, credential_epoch) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0) ON CONFLICT (id) DO NOTHING",
                &[&user_id, &m, &t, &p, &salt, &digest, &role_name(role), &email],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(StoreError::AlreadyExists.into())
            })
        })
    }
}
