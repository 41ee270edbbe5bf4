//! `login_limit` (issue 21): password guesses that arrive together, against the login
//! throttle around the service's authentication. A limiter is a check-then-act on shared
//! counters: checked before the slow password check, counted after it fails.
//!
//! - `login_limit`: two guesses at alice's password from one client, with one failure
//!   allowed per (user, client) per window. Reading the counter, verifying, then counting
//!   (`read_then_increment`, two critical sections) lets both guesses run; reserving the
//!   failure in the same critical section as the check (`proven_fix`) lets one.
//! - `login_limit_vs_owner`: two guesses from two clients, one failure allowed per user from
//!   unknown clients, while alice logs in from the machine she used before: the attacker
//!   gets one guess in all, and alice is never refused.
//!
//! Each verification that rejects a password is an effect (`failed_login` on `user from
//! client`); the invariants count them per window (the models run inside one window).

use super::{AccountsModel, Fixture, Implementation};
use raceproof_check::{AnyScenario, Breach, Fact, Invariant, Recording, Scenario};
use raceproof_core::auth::Credentials;
use raceproof_core::backend::BackendError;
use raceproof_core::clock::ManualClock;
use raceproof_core::service::LoginThrottle;
use raceproof_core::store::{Role, StoreError};
use raceproof_core::throttle::{AttemptLimiter, ClientId, LimitPolicy, LoginLimiter};
use raceproof_flows::{ReadThenIncrement, Variant};
use std::collections::BTreeMap;

/// What the models check: the throttle's guard around authentication.
const GUARD: &str = "raceproof_core::service::LoginThrottle::guard";
const NOW: i64 = 1_700_000_000;
/// The effect of a rejected password.
const FAILED: &str = "failed_login";
/// The effect of alice's successful login.
const SIGNED_IN: &str = "signed_in";

/// Which limiter the throttle runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    /// Check, verify, then count: racy.
    ReadThenIncrement,
    /// The core's [`LoginLimiter`]: check and reserve in one step.
    Proven,
}

impl Limiter {
    fn name(self) -> &'static str {
        match self {
            Limiter::ReadThenIncrement => "read_then_increment",
            Limiter::Proven => "proven_fix",
        }
    }

    fn build(
        self,
        policy: LimitPolicy,
        rec: &raceproof_check::Recorder,
    ) -> Box<dyn AttemptLimiter> {
        match self {
            Limiter::ReadThenIncrement => {
                Box::new(ReadThenIncrement::new(policy, super::narrator(rec)))
            }
            Limiter::Proven => Box::new(LoginLimiter::new(policy)),
        }
    }
}

/// The service, the throttle around it, and the recorder, in one execution.
pub struct LoginModel {
    pub app: AccountsModel,
    pub throttle: LoginThrottle<Box<dyn AttemptLimiter>, ManualClock>,
}

impl LoginModel {
    /// `credentials` try to log in from `client`; a rejected password and a success are
    /// recorded as effects where the verification decided them.
    fn login(&self, credentials: &Credentials, client: ClientId, from: &str) {
        let user = credentials.user_id();
        let _ = self.throttle.guard(user, client, || {
            let result = self.app.accounts.authenticate(credentials);
            match &result {
                Ok(_) => self
                    .app
                    .rec
                    .effect(SIGNED_IN, format!("{user} from {from}")),
                Err(BackendError::Store(StoreError::InvalidCredentials)) => {
                    self.app.rec.effect(FAILED, format!("{user} from {from}"));
                }
                Err(_) => {}
            }
            result
        });
    }
}

fn client(ip: &str) -> ClientId {
    ClientId::of(ip.parse().expect("model addresses parse"))
}

/// `failed_login` effects per key (the subject, or the user alone) never exceed `limit`.
pub struct AtMostFailures {
    name: String,
    limit: usize,
    per_user: bool,
}

impl AtMostFailures {
    /// At most `limit` rejected passwords per (user, client) per window.
    pub fn per_pair(limit: usize) -> Self {
        Self {
            name: format!("at_most_{limit}_failure_per_client_per_window"),
            limit,
            per_user: false,
        }
    }

    /// At most `limit` rejected passwords per user per window, over every client.
    pub fn per_user(limit: usize) -> Self {
        Self {
            name: format!("at_most_{limit}_failure_per_user_per_window"),
            limit,
            per_user: true,
        }
    }
}

impl<S> Invariant<S> for AtMostFailures {
    fn name(&self) -> &str {
        &self.name
    }

    fn observed(&self, _state: &S, history: &Recording) -> usize {
        history
            .steps
            .iter()
            .filter(|s| matches!(s.fact(), Fact::Effect { kind, .. } if kind == FAILED))
            .count()
    }

    fn needs(&self) -> &str {
        "effects: `Recorder::effect(\"failed_login\", \"<user> from <client>\")` where a \
         password is rejected"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, step) in history.steps.iter().enumerate() {
            let Fact::Effect { kind, subject } = step.fact() else {
                continue;
            };
            if kind != FAILED {
                continue;
            }
            let key = if self.per_user {
                subject.split(" from ").next().unwrap_or(subject)
            } else {
                subject.as_str()
            };
            let count = seen.entry(key).or_default();
            *count += 1;
            if *count > self.limit {
                return Err(Breach::at(
                    i,
                    format!(
                        "{count} passwords checked for {key}; the limit is {}",
                        self.limit
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// alice's own login from her known machine succeeded.
pub struct OwnerSignsIn;

impl<S> Invariant<S> for OwnerSignsIn {
    fn name(&self) -> &str {
        "owner_not_locked_out"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        let signed_in = history.steps.iter().any(|s| {
            !s.is_setup() && matches!(s.fact(), Fact::Effect { kind, .. } if kind == SIGNED_IN)
        });
        if signed_in {
            Ok(())
        } else {
            Err(Breach::at_end(
                "alice's login from her own machine was refused",
            ))
        }
    }
}

fn fixture() -> Fixture {
    Fixture::new(&[("alice", "s3cr3t", Role::User)])
}

fn model(
    fx: &Fixture,
    limiter: Limiter,
    policy: LimitPolicy,
    rec: &raceproof_check::Recorder,
) -> LoginModel {
    LoginModel {
        app: Implementation::of(Variant::ProvenFix).accounts(fx, rec),
        throttle: LoginThrottle::with_clock(limiter.build(policy, rec), ManualClock::new(NOW)),
    }
}

fn policy(per_pair: u32, per_user: u32) -> LimitPolicy {
    LimitPolicy {
        window_secs: 300,
        per_pair,
        per_user,
        per_client: 10,
        ..LimitPolicy::default()
    }
}

/// Two guesses at alice's password from one client; one failure allowed per window.
pub fn login_limit(limiter: Limiter) -> Scenario<LoginModel> {
    let fx = fixture();
    let setup_fx = fx.clone();
    let mut scenario = Scenario::new("login_limit", limiter.name(), move |rec| {
        model(&setup_fx, limiter, policy(1, 10), rec)
    });
    for guess in ["guess-1", "guess-2"] {
        let wrong = Credentials::new("alice", guess).expect("valid credentials");
        scenario = scenario.actor(
            None,
            &format!("attacker at 203.0.113.7 tries alice:{guess}"),
            move |m| m.login(&wrong, client("203.0.113.7"), "203.0.113.7"),
        );
    }
    let scenario = scenario.invariant(AtMostFailures::per_pair(1));
    match limiter {
        Limiter::Proven => scenario.covers(GUARD),
        Limiter::ReadThenIncrement => scenario,
    }
}

/// Two guesses from two clients, one failure allowed per user from unknown clients, while
/// alice logs in from the machine she logged in from before.
pub fn login_limit_vs_owner(limiter: Limiter) -> Scenario<LoginModel> {
    let fx = fixture();
    let setup_fx = fx.clone();
    let alice = fx.credentials("alice");
    let scenario = Scenario::new("login_limit_vs_owner", limiter.name(), move |rec| {
        let m = model(&setup_fx, limiter, policy(1, 1), rec);
        // Earlier, alice logged in from home: that client is known for her.
        m.login(
            &setup_fx.credentials("alice"),
            client("198.51.100.2"),
            "home",
        );
        m
    });
    let mut scenario = scenario.actor(Some("alice"), "alice logs in from home", move |m| {
        m.login(&alice, client("198.51.100.2"), "home");
    });
    for (ip, guess) in [("203.0.113.7", "guess-1"), ("203.0.113.8", "guess-2")] {
        let wrong = Credentials::new("alice", guess).expect("valid credentials");
        scenario = scenario.actor(
            None,
            &format!("attacker at {ip} tries alice:{guess}"),
            move |m| m.login(&wrong, client(ip), ip),
        );
    }
    let scenario = scenario
        .invariant(AtMostFailures::per_user(1))
        .invariant(OwnerSignsIn);
    match limiter {
        Limiter::Proven => scenario.covers(GUARD),
        Limiter::ReadThenIncrement => scenario,
    }
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    // The owner's model runs the fix only: the racy limiter has no known clients, so it may
    // refuse alice as well as admit two guesses, and which breach loom finds first varies.
    vec![
        Box::new(
            login_limit(Limiter::ReadThenIncrement)
                .expect_violated("at_most_1_failure_per_client_per_window"),
        ),
        Box::new(login_limit(Limiter::Proven).expect_proven()),
        Box::new(login_limit_vs_owner(Limiter::Proven).expect_proven()),
    ]
}
