//! Command line, users file and webhook secret.

use crate::cache_settings::{CredentialCacheFile, Switch};
use crate::runtime::RuntimeKind;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, ValueEnum};
use raceproof_core::auth::{Argon2Hasher, CacheConfig, PasswordHash, PasswordHasher};
use raceproof_core::store::Role;
use raceproof_flows::{UserSpec, Variant};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// raceproof's HTTP service: the proven endpoints, or the seeds' racy ones for the race
/// tester.
#[derive(Debug, Clone, Parser)]
#[command(name = "raceproof-server", version, about)]
pub struct Cli {
    /// Address to listen on (HTTP/1.1 and cleartext HTTP/2 on the same port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The accounts, as TOML (see users.example.toml).
    #[arg(long)]
    pub users: PathBuf,

    /// Implementation of every endpoint: seed_vulnerable and seed_fix are racy on purpose.
    #[arg(long, default_value = "proven_fix", value_parser = parse_variant)]
    pub variant: Variant,

    /// HMAC secret for /operate, `whsec_` + base64 (else RACEPROOF_WEBHOOK_SECRET, else
    /// `webhook_secret` in the users file). Never logged.
    #[arg(long, env = "RACEPROOF_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Refuse /update-email without a precondition (428).
    #[arg(long)]
    pub require_if_match: bool,

    /// Password hasher: owasp (Argon2id 19 MiB, 2 passes) or fast (the cheapest legal
    /// Argon2id: tests and benches only).
    #[arg(long, value_enum, default_value_t = HasherKind::Owasp)]
    pub hasher: HasherKind,

    /// Add `x-raceproof-handler-start-ns` (ns since the Unix epoch, once the request's body
    /// has arrived).
    #[arg(long)]
    pub expose_timing: bool,

    /// Password verifications running at once (default: the number of CPUs).
    #[arg(long)]
    pub hash_concurrency: Option<usize>,

    /// How long a request waits for a password-verification slot before a 503, in ms.
    #[arg(long, default_value_t = 2000)]
    pub hash_wait_ms: u64,

    /// Largest request body, in bytes (413 beyond).
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds to receive a request body (408 beyond) and to handle a request (503 beyond).
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,

    /// Accepted distance between a webhook-timestamp and the server's clock, in seconds.
    #[arg(long, default_value_t = raceproof_core::replay::DEFAULT_TOLERANCE_SECS)]
    pub timestamp_tolerance_secs: i64,

    /// Where /operate remembers admitted messages: `redis://HOST:PORT[/DB]`, shared by
    /// every instance given the same URL and prefix (default: this process's memory, so
    /// a message admitted by one instance, or before a restart, is admitted again). Never
    /// logged (it may hold a password).
    #[arg(long, env = "RACEPROOF_REPLAY_STORE", hide_env_values = true)]
    pub replay_store: Option<String>,

    /// Namespace of the replay store's keys (`PREFIX:replay:<tag>`): instances that must
    /// refuse each other's replays share it.
    #[arg(long, default_value = "raceproof")]
    pub replay_prefix: String,

    /// Where the Basic-auth endpoints keep their users and audit log:
    /// `postgres://USER@HOST:PORT/DB`, shared by every instance given the same URL and
    /// schema (proven_fix only; default: this process's memory). At start-up the schema is
    /// migrated and the users file adds the users the database lacks; users it already has
    /// are kept as they are. Never logged (it may hold a password).
    #[arg(long, env = "RACEPROOF_USERS_DB", hide_env_values = true)]
    pub users_db: Option<String>,

    /// PostgreSQL schema of `--users-db` (1-63 lowercase letters, digits or '_').
    #[arg(long, default_value = "raceproof")]
    pub users_schema: String,

    /// Connection lifetimes, caps and login throttling (`limits.rs`).
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Remember verified Basic credentials so that repeated logins skip Argon2id (default
    /// on; else `[credential_cache] enabled` in the users file). A password change or a
    /// demotion still counts from the next request: see crates/server/README.md.
    #[arg(long, value_enum)]
    pub credential_cache: Option<Switch>,

    /// Entries the credential cache keeps (default 10000, else the users file's
    /// `capacity`); the oldest verification is evicted first.
    #[arg(long)]
    pub credential_cache_capacity: Option<usize>,

    /// Seconds an entry lives from its verification (default 60, else the users file's
    /// `lifetime_secs`; at most 3600).
    #[arg(long)]
    pub credential_cache_lifetime_secs: Option<i64>,

    /// How requests run: `multi-thread` (tokio's work-stealing pool, a thread per core) or
    /// `current-thread` (one event loop, as one uvicorn worker runs FastAPI's `async def`
    /// routes). Several processes are several instances.
    #[arg(long, value_enum, default_value_t = RuntimeKind::MultiThread)]
    pub runtime: RuntimeKind,

    /// Simulated latency of each storage call of the seed's `/operate`, in milliseconds
    /// (seed variants only; default none): an awaited call waits, a plain call blocks its
    /// worker, so the race windows the models find are reachable from outside.
    #[arg(long, default_value_t = 0)]
    pub io_latency_ms: u64,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse::<Variant>().map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HasherKind {
    Owasp,
    Fast,
}

impl HasherKind {
    pub fn name(self) -> &'static str {
        match self {
            HasherKind::Owasp => "owasp",
            HasherKind::Fast => "fast",
        }
    }

    /// The hasher (it fails only when the OS random source does).
    pub fn build(self) -> Result<Argon2Hasher, ConfigError> {
        match self {
            HasherKind::Owasp => Argon2Hasher::owasp(),
            HasherKind::Fast => Argon2Hasher::insecure_fast(),
        }
        .map_err(|e| ConfigError::Hasher(e.to_string()))
    }
}

/// Start-up errors. None carries a secret or a password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the users file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("user {user}: {problem}")]
    User { user: String, problem: String },
    #[error(
        "no webhook secret: pass --webhook-secret, set RACEPROOF_WEBHOOK_SECRET or add \
         webhook_secret to the users file"
    )]
    NoSecret,
    #[error("--io-latency-ms slows down the seed variants' storage calls; proven_fix has none")]
    IoLatency,
    #[error("the webhook secret must be `whsec_` followed by non-empty base64")]
    BadSecret,
    #[error("password hashing failed: {0}")]
    Hasher(String),
    #[error("--replay-store: {0}")]
    ReplayStore(String),
    #[error("--users-db: {0}")]
    UsersDb(String),
    #[error("credential cache: {0}")]
    CredentialCache(raceproof_core::auth::CacheError),
}

/// The users file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// `whsec_` + base64, used when neither the flag nor the environment gives one.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// The credential cache's settings, under the command line's flags.
    #[serde(default)]
    pub credential_cache: CredentialCacheFile,
    pub users: Vec<UserEntry>,
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEntry")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// One account, with exactly one of `password` (a demo plaintext, hashed at start-up with
/// the chosen hasher) and `password_hash` (an Argon2id PHC string, used as it is).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub id: String,
    pub role: RoleName,
    pub email: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    User,
    Admin,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::User => Role::User,
            RoleName::Admin => Role::Admin,
        }
    }
}

impl UsersFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses the TOML text. The error names the place, never the value (a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = text.get(..s.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            format!("{}{at}", e.message())
        })
    }

    /// The users, each plaintext password hashed with `hasher`, each PHC hash parsed. A
    /// weaker stored hash is upgraded to `hasher`'s cost at the user's next login.
    pub fn specs(&self, hasher: &Argon2Hasher) -> Result<Vec<UserSpec>, ConfigError> {
        self.users
            .iter()
            .map(|u| {
                let problem = |problem: String| ConfigError::User {
                    user: u.id.clone(),
                    problem,
                };
                let password = match (&u.password, &u.password_hash) {
                    (Some(plain), None) => hasher.hash(plain).map_err(|e| problem(e.to_string())),
                    (None, Some(phc)) => PasswordHash::from_phc(phc).map_err(|_| {
                        problem(
                            "password_hash is not an Argon2id PHC string \
                             ($argon2id$v=19$m=..,t=..,p=..$<16-byte salt>$<32-byte digest>)"
                                .into(),
                        )
                    }),
                    _ => Err(problem(
                        "give exactly one of password and password_hash".into(),
                    )),
                }?;
                Ok(UserSpec {
                    id: u.id.clone(),
                    password,
                    role: u.role.into(),
                    email: u.email.clone(),
                })
            })
            .collect()
    }
}

/// The webhook secret's key bytes: `whsec_` + standard base64, as Standard Webhooks
/// libraries print it.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let encoded = text
            .trim()
            .strip_prefix("whsec_")
            .ok_or(ConfigError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| ConfigError::BadSecret)?;
        if bytes.is_empty() {
            return Err(ConfigError::BadSecret);
        }
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.is_empty() {
            return Err(ConfigError::BadSecret);
        }
        Ok(Self(bytes.to_vec()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The flag (or environment), else the users file.
    pub fn choose(flag: Option<&str>, file: Option<&str>) -> Result<Self, ConfigError> {
        Self::parse(flag.or(file).ok_or(ConfigError::NoSecret)?)
    }
}

/// Limits and switches of a running server, taken from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub variant: Variant,
    pub require_if_match: bool,
    pub expose_timing: bool,
    pub hash_concurrency: usize,
    pub hash_wait: Duration,
    pub max_body_bytes: usize,
    pub timeout: Duration,
    pub timestamp_tolerance_secs: i64,
    /// Connection lifetimes, caps and login throttling.
    pub limits: crate::limits::Limits,
    /// The verified-credential cache of the Basic-auth endpoints (`proven_fix` only).
    pub credential_cache: CacheConfig,
    /// Simulated latency of the seed `/operate`'s storage calls (seed variants only).
    pub io_latency: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            variant: Variant::ProvenFix,
            require_if_match: false,
            expose_timing: false,
            hash_concurrency: default_hash_concurrency(),
            hash_wait: Duration::from_secs(2),
            max_body_bytes: 16 * 1024,
            timeout: Duration::from_secs(10),
            timestamp_tolerance_secs: raceproof_core::replay::DEFAULT_TOLERANCE_SECS,
            limits: crate::limits::Limits::default(),
            credential_cache: CacheConfig::default(),
            io_latency: Duration::ZERO,
        }
    }
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Cli {
    /// The credential cache: each flag, else the users file's key, else the default.
    pub fn credential_cache(&self, file: &CredentialCacheFile) -> Result<CacheConfig, ConfigError> {
        crate::cache_settings::resolve(
            self.credential_cache,
            self.credential_cache_capacity,
            self.credential_cache_lifetime_secs,
            file,
        )
        .map_err(ConfigError::CredentialCache)
    }

    /// The running server's settings; the credential cache is `credential_cache`'s.
    pub fn settings(&self) -> Settings {
        Settings {
            variant: self.variant,
            require_if_match: self.require_if_match,
            expose_timing: self.expose_timing,
            hash_concurrency: self
                .hash_concurrency
                .unwrap_or_else(default_hash_concurrency)
                .max(1),
            hash_wait: Duration::from_millis(self.hash_wait_ms),
            max_body_bytes: self.max_body_bytes,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            timestamp_tolerance_secs: self.timestamp_tolerance_secs.max(0),
            limits: self.limits.limits(),
            credential_cache: CacheConfig::default(),
            // At most a minute: a latency is a test device, not a way to hang the server.
            io_latency: Duration::from_millis(self.io_latency_ms.min(60_000)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn users_file_errors_name_the_line_never_the_value() {
        let text = "[[users]]\nid = \"a\"\nrole = \"admin\"\nemail = \"a@x\"\npassword = \"t0p-s3cret\"\npasword = \"t0p-s3cret\"\n";
        let err = UsersFile::parse(text).unwrap_err();
        assert!(err.contains("line 6"), "{err}");
        assert!(!err.contains("t0p-s3cret"), "{err}");
        let text =
            "[[users]]\nid = \"a\"\nrole = \"root\"\nemail = \"a@x\"\npassword = \"t0p-s3cret\"\n";
        assert!(!UsersFile::parse(text).unwrap_err().contains("t0p-s3cret"));
    }

    fn user(fields: &str) -> String {
        format!("[[users]]\nid = \"ann\"\nrole = \"user\"\nemail = \"a@x\"\n{fields}\n")
    }

    #[test]
    fn a_users_file_takes_a_plaintext_or_a_phc_hash_and_never_both() {
        let hasher = Argon2Hasher::insecure_fast().unwrap();
        let phc = hasher.hash("s3cr3t").unwrap().to_phc().unwrap();
        let file = UsersFile::parse(&user(&format!("password_hash = \"{phc}\""))).unwrap();
        let spec = &file.specs(&hasher).unwrap()[0];
        assert!(hasher.verify("s3cr3t", &spec.password));
        assert!(!hasher.verify("other", &spec.password));
        assert!(format!("{file:?}").contains("<redacted>"));
        assert!(!format!("{file:?}").contains(&phc));

        let plain = UsersFile::parse(&user("password = \"s3cr3t\"")).unwrap();
        assert!(hasher.verify("s3cr3t", &plain.specs(&hasher).unwrap()[0].password));

        for fields in [
            format!("password = \"x\"\npassword_hash = \"{phc}\""),
            String::new(),
            "password_hash = \"$argon2id$v=19$m=8,t=1,p=1$c2VjcmV0LXNhbHQ$bm90LWEtZGlnZXN0\""
                .to_owned(),
        ] {
            let err = UsersFile::parse(&user(&fields))
                .unwrap()
                .specs(&hasher)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("user ann: "), "{err}");
            assert!(!err.contains("c2VjcmV0") && !err.contains(&phc), "{err}");
        }
    }

    #[test]
    fn secrets_need_the_prefix_and_base64_and_never_print() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        assert!(matches!(
            WebhookSecret::choose(None, None),
            Err(ConfigError::NoSecret)
        ));
    }
}
