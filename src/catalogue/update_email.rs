//! `update_email` (seed 000): alice sends two (or more) updates, all expecting version 1.
//! Each actor records its call and what came back, as a client would see them; the
//! invariants judge that history and the final record (every worker's copy of it).
//!
//! `/update-email` is a `def` route, a blocking flow that FastAPI runs on a thread pool:
//! `update_email` is judged on each deployment.

use super::{AccountsModel, Fixture, Implementation, judged};
use raceproof_check::{AnyScenario, Call, Expected, Linearizable, NoLostUpdate, Ret, Scenario};
use raceproof_core::backend::BackendError;
use raceproof_core::store::{Role, StoreError};
use raceproof_flows::Variant;

/// What a client sees of an update's result.
pub fn to_ret(result: &Result<u64, BackendError>) -> Ret {
    match result {
        Ok(version) => Ret::Updated { version: *version },
        Err(BackendError::Store(StoreError::PreconditionFailed { .. })) => Ret::Conflict,
        Err(_) => Ret::Refused,
    }
}

/// `writers` concurrent updates of alice's email, each expecting version 1 (or, for an
/// endpoint that takes no version, stating none).
pub fn update_email(imp: Implementation, writers: usize) -> Scenario<AccountsModel> {
    let fx = Fixture::new(&[("alice", "s3cr3t", Role::User)]);
    let alice = fx.credentials("alice");
    let flow = if writers == 2 {
        "update_email".to_owned()
    } else {
        format!("update_email_{writers}_writers")
    };
    let expected = imp.takes_version.then_some(1);
    let mut scenario = {
        let imp = imp.clone();
        Scenario::new(&flow, &imp.name.clone(), move |rec| imp.accounts(&fx, rec))
    };
    for n in 1..=writers {
        let (alice, email) = (alice.clone(), format!("alice{n}@example.com"));
        let op = n as u64;
        scenario = scenario.actor(
            Some("alice"),
            &match expected {
                Some(v) => format!("alice sets {email}, expecting version {v}"),
                None => format!("alice sets {email}"),
            },
            move |app| {
                app.rec.call(
                    op,
                    Call::UpdateEmail {
                        user: "alice".to_owned(),
                        expected_version: expected,
                        email: email.clone(),
                    },
                );
                let result = app.accounts.update_email(&alice, expected, &email);
                app.rec.ret(op, to_ret(&result));
            },
        );
    }
    let scenario = scenario
        .invariant(NoLostUpdate::new("alice", 1, |app: &AccountsModel| {
            app.user("alice").map(|u| (u.email, u.version))
        }))
        .invariant(Linearizable::new([("alice", "alice@example.com", 1)]));
    imp.covering(scenario, "raceproof_core::service::Accounts::update_email")
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    let violated = || Expected::Violated("no_lost_update".to_owned());
    let mut models: Vec<Box<dyn AnyScenario>> = Vec::new();
    // `/update-email` is a `def` route: FastAPI runs it on a thread pool, so the seed's
    // compare and write interleave on every deployment. The proven fix compares and writes
    // in one critical section of one store; two processes hold two stores, and both accept
    // version 1.
    for variant in Variant::ALL {
        let expected = if variant.is_seed() {
            [violated(), violated(), violated()]
        } else {
            [Expected::Proven, Expected::Proven, violated()]
        };
        models.extend(judged(
            update_email(Implementation::of(variant), 2),
            expected,
        ));
    }
    models.push(Box::new(
        update_email(Implementation::of(Variant::ProvenFix), 3).expect_proven(),
    ));
    models
}
