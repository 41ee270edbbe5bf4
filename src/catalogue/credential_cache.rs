//! `credential_cache` (issue 19): a cache of verified credentials inside
//! `Accounts::authenticate`, raced by what must revoke them.
//!
//! - `credential_cache`: alice logs in (a miss: verify, then fill) while she changes her
//!   password and then tries the old one again;
//! - `credential_cache_3_actors`: the same, plus a third login with the old password at any
//!   moment (a hit racing the fill and the change), within a preemption bound of 4;
//! - `credential_cache_vs_demote`: admin reads the audit (admins only) while root demotes
//!   admin, who then reads it again.
//!
//! `revoked_stays_revoked` holds when no request sent after the revoking call returned
//! succeeds on the authority it revoked. Variants: `invalidate_on_change`
//! ([`raceproof_flows::InvalidatedCache`]: entries trusted on a hit and dropped when the
//! password or role changes, filled without re-checking the epoch they were verified under)
//! and `proven_fix` (production's [`VerifiedCache`]: entries keyed by the stored hash, a hit
//! needs the epoch just read and answers with the role just read). Both sit behind the same
//! service over the same proven store: only the cache differs.

use super::{Fixture, narrator};
use raceproof_check::{AnyScenario, Breach, Fact, Invariant, Recorder, Recording, Scenario};
use raceproof_core::auth::{CacheConfig, CredentialCache, VerifiedCache};
use raceproof_core::backend::UserRepository;
use raceproof_core::clock::ManualClock;
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, User};
use raceproof_core::table::GlobalMutex;
use raceproof_flows::{InvalidatedCache, proven_store};

/// The effect an actor records once its revoking call (a password change, a demotion) has
/// returned.
const REVOKED: &str = "revoked";
/// Recorded right before a request on the revoked authority is sent.
const SENT: &str = "sent";
/// Recorded once such a request succeeded.
const ACCEPTED: &str = "accepted";

/// `revoked_stays_revoked`: a request on `authority` (say, alice's old password) that was
/// sent after the call revoking it returned never succeeds. Requests sent before may go
/// either way: they raced the revocation. Reads the actors' `revoked`, `sent` and `accepted`
/// effects; steps are recorded after a call returns and before a request is sent, so their
/// order is the real order.
pub struct RevokedStaysRevoked {
    authority: String,
}

impl RevokedStaysRevoked {
    pub fn new(authority: &str) -> Self {
        Self {
            authority: authority.to_owned(),
        }
    }

    /// Each effect on the authority with its step and thread.
    fn effects<'a>(
        &'a self,
        history: &'a Recording,
    ) -> impl Iterator<Item = (usize, &'a str, &'a str)> + 'a {
        history
            .steps
            .iter()
            .enumerate()
            .filter_map(move |(i, step)| match step.fact() {
                Fact::Effect { kind, subject } if *subject == self.authority => {
                    Some((i, kind.as_str(), step.thread.as_str()))
                }
                _ => None,
            })
    }

    /// The step that revoked the authority, if any did.
    fn revoked_at(&self, history: &Recording) -> Option<usize> {
        self.effects(history)
            .find(|(_, kind, _)| *kind == REVOKED)
            .map(|(i, ..)| i)
    }
}

impl<S> Invariant<S> for RevokedStaysRevoked {
    fn name(&self) -> &str {
        "revoked_stays_revoked"
    }

    /// Requests sent after the revocation: the ones this invariant constrains.
    fn observed(&self, _state: &S, history: &Recording) -> usize {
        let Some(revoked) = self.revoked_at(history) else {
            return 0;
        };
        self.effects(history)
            .filter(|(i, kind, _)| *kind == SENT && *i > revoked)
            .count()
    }

    fn needs(&self) -> &str {
        "effects `revoked` (after the revoking call returned), `sent` (before a request on \
         the revoked authority) and `accepted` (after it succeeded), subject the authority"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        let Some(revoked) = self.revoked_at(history) else {
            return Ok(());
        };
        let mut last_sent: Vec<(&str, usize)> = Vec::new();
        for (i, kind, thread) in self.effects(history) {
            match kind {
                SENT => {
                    last_sent.retain(|(t, _)| *t != thread);
                    last_sent.push((thread, i));
                }
                ACCEPTED => {
                    let sent = last_sent.iter().find(|(t, _)| *t == thread).map(|s| s.1);
                    if sent.is_some_and(|sent| sent > revoked) {
                        return Err(Breach::at(
                            i,
                            format!(
                                "{} accepted, sent after its revocation had returned",
                                self.authority
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Which cache sits in `authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheVariant {
    InvalidateOnChange,
    ProvenFix,
}

impl CacheVariant {
    pub const ALL: [CacheVariant; 2] = [CacheVariant::InvalidateOnChange, CacheVariant::ProvenFix];

    pub fn name(self) -> &'static str {
        match self {
            CacheVariant::InvalidateOnChange => "invalidate_on_change",
            CacheVariant::ProvenFix => "proven_fix",
        }
    }
}

/// The service with a cache, over the proven store.
pub struct CachedAccounts {
    pub accounts: Accounts<
        Box<dyn UserRepository>,
        raceproof_core::auth::Argon2Hasher,
        Box<dyn CredentialCache>,
    >,
    pub rec: Recorder,
}

/// Any instant: lifetimes are not what these models race.
const NOW: i64 = 1_700_000_000;

fn fixture() -> Fixture {
    Fixture::new(&[
        ("alice", "s3cr3t", Role::User),
        ("admin", "adm1n", Role::Admin),
        ("root", "r00t", Role::Admin),
    ])
}

fn build(variant: CacheVariant, fx: &Fixture, rec: &Recorder) -> CachedAccounts {
    let log = narrator(rec);
    let store = match proven_store::<GlobalMutex<User>>(&fx.specs(), false, &log) {
        Ok(store) => store,
        Err(e) => panic!("fixture users are valid: {e}"),
    };
    let cache: Box<dyn CredentialCache> = match variant {
        CacheVariant::InvalidateOnChange => Box::new(InvalidatedCache::new(log)),
        CacheVariant::ProvenFix => {
            let config = CacheConfig::new(8, 60).expect("within bounds");
            let clock = Box::new(ManualClock::new(NOW));
            Box::new(VerifiedCache::with_clock(config, clock).expect("the OS random source works"))
        }
    };
    let repo: Box<dyn UserRepository> = Box::new(store);
    CachedAccounts {
        accounts: Accounts::new(repo, fx.hasher()).with_cache(cache),
        rec: rec.clone(),
    }
}

/// A scenario over `variant`'s cache, checked against `authority`.
fn scenario(flow: &str, variant: CacheVariant, authority: &str) -> Scenario<CachedAccounts> {
    let fx = fixture();
    let scenario = Scenario::new(flow, variant.name(), move |rec| build(variant, &fx, rec))
        .invariant(RevokedStaysRevoked::new(authority));
    let scenario = if variant == CacheVariant::ProvenFix {
        scenario.covers("raceproof_core::service::Accounts::authenticate")
    } else {
        scenario
    };
    match variant {
        CacheVariant::InvalidateOnChange => scenario.expect_violated("revoked_stays_revoked"),
        CacheVariant::ProvenFix => scenario.expect_proven(),
    }
}

const OLD_PASSWORD: &str = "alice's old password";

/// alice logs in with `s3cr3t`, recording `sent` and `accepted` around it.
fn old_login(app: &CachedAccounts) {
    app.rec.effect(SENT, OLD_PASSWORD);
    if app.accounts.authenticate(&alice_old()).is_ok() {
        app.rec.effect(ACCEPTED, OLD_PASSWORD);
    }
}

fn alice_old() -> raceproof_core::auth::Credentials {
    raceproof_core::auth::Credentials::new("alice", "s3cr3t").expect("valid credentials")
}

/// alice logs in (fills the cache) while she changes her password and then tries the old
/// one; with `third`, one more login with the old password races both.
pub fn password_change(flow: &str, variant: CacheVariant, third: bool) -> Scenario<CachedAccounts> {
    let mut scenario = scenario(flow, variant, OLD_PASSWORD)
        .actor(Some("alice"), "alice logs in", |app| {
            let _ = app.accounts.authenticate(&alice_old());
        })
        .actor(
            Some("alice"),
            "alice changes her password, then logs in with the old one",
            |app| {
                let changed = app
                    .accounts
                    .change_password(&alice_old(), "alice", "n3w-pa55word");
                if changed.is_ok() {
                    app.rec.effect(REVOKED, OLD_PASSWORD);
                }
                old_login(app);
            },
        );
    if third {
        scenario = scenario.actor(
            Some("alice"),
            "alice logs in with her old password",
            old_login,
        );
    }
    scenario
}

const ADMIN_ROLE: &str = "admin's admin role";

/// admin reads the audit (admins only), recording `sent` and `accepted` around it.
fn admin_reads_audit(app: &CachedAccounts, record: bool) {
    let admin = raceproof_core::auth::Credentials::new("admin", "adm1n").expect("valid");
    if record {
        app.rec.effect(SENT, ADMIN_ROLE);
    }
    if app.accounts.audit(&admin).is_ok() && record {
        app.rec.effect(ACCEPTED, ADMIN_ROLE);
    }
}

/// admin reads the audit while root demotes admin, who then reads it again.
pub fn demotion(variant: CacheVariant) -> Scenario<CachedAccounts> {
    scenario("credential_cache_vs_demote", variant, ADMIN_ROLE)
        .actor(Some("admin"), "admin reads the audit", |app| {
            admin_reads_audit(app, false);
        })
        .actor(
            Some("root"),
            "root demotes admin, then admin reads the audit",
            |app| {
                let root = raceproof_core::auth::Credentials::new("root", "r00t").expect("valid");
                if app.accounts.demote(&root, "admin").is_ok() {
                    app.rec.effect(REVOKED, ADMIN_ROLE);
                }
                admin_reads_audit(app, true);
            },
        )
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    let mut models: Vec<Box<dyn AnyScenario>> = Vec::new();
    for variant in CacheVariant::ALL {
        models.push(Box::new(password_change(
            "credential_cache",
            variant,
            false,
        )));
    }
    // Three actors: about 180,000 executions (a minute on 2 cores) unbounded; 4333 within
    // a preemption bound of 4, the racy fill caught as before.
    for variant in CacheVariant::ALL {
        let three = password_change("credential_cache_3_actors", variant, true);
        models.push(Box::new(three.preemption_bound(4)));
    }
    for variant in CacheVariant::ALL {
        models.push(Box::new(demotion(variant)));
    }
    models
}
