//! `promote` (seed 000): admin promotes alice while root demotes admin, or while admin's
//! password is changed. `authorized_at_commit` reads the store's audit log: the promotion
//! must commit while admin is still an admin, with the credentials it logged in with (and,
//! across workers, after no other process's commit demoted admin).
//!
//! `/promote` is a `def` route, a blocking flow: `promote` is judged on each deployment,
//! and one event loop changes nothing for it (FastAPI runs `def` routes on its thread
//! pool). The password rival is judged on one process only: the cross-process check follows
//! roles, not credential epochs.

use super::{AccountsModel, Fixture, Implementation, judged};
use raceproof_check::{AnyScenario, AuthorizedAtCommit, Expected, Scenario};
use raceproof_core::store::Role;
use raceproof_flows::Variant;

/// What races the promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rival {
    /// root demotes the acting admin.
    DemoteAdmin,
    /// The acting admin's password is changed (say, after a leak).
    ChangePassword,
}

fn fixture() -> Fixture {
    Fixture::new(&[
        ("alice", "s3cr3t", Role::User),
        ("admin", "adm1n", Role::Admin),
        ("root", "r00t", Role::Admin),
    ])
}

/// admin promotes alice while each rival acts on admin.
pub fn promote_against(
    flow: &str,
    imp: Implementation,
    rivals: &[Rival],
) -> Scenario<AccountsModel> {
    let fx = fixture();
    let admin = fx.credentials("admin");
    let mut scenario = {
        let (fx, imp) = (fx.clone(), imp.clone());
        Scenario::new(flow, &imp.name.clone(), move |rec| imp.accounts(&fx, rec))
    }
    .actor(Some("admin"), "admin promotes alice", move |app| {
        let _ = app.accounts.promote(&admin, "alice");
    });
    for rival in rivals {
        scenario = match rival {
            Rival::DemoteAdmin => {
                let root = fx.credentials("root");
                scenario.actor(Some("root"), "root demotes admin", move |app| {
                    let _ = app.accounts.demote(&root, "admin");
                })
            }
            Rival::ChangePassword => {
                let admin = fx.credentials("admin");
                scenario.actor(Some("admin"), "admin changes its password", move |app| {
                    let _ = app
                        .accounts
                        .change_password(&admin, "admin", "n3w-pa55word");
                })
            }
        };
    }
    imp.covering(
        scenario.invariant(AuthorizedAtCommit),
        "raceproof_core::service::Accounts::promote",
    )
}

/// admin promotes alice while root demotes admin.
pub fn promote(imp: Implementation) -> Scenario<AccountsModel> {
    promote_against("promote", imp, &[Rival::DemoteAdmin])
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    let mut models: Vec<Box<dyn AnyScenario>> = Vec::new();
    // `/promote` is a `def` route: FastAPI runs it on a thread pool even with one event
    // loop, so the seed's races stay on `EventLoop`. The proven fix holds in one process
    // (its role check and write are one critical section) and fails across two: a
    // demotion committed by one process is not in the other's copy of the users.
    for variant in Variant::ALL {
        let scenario = promote(Implementation::of(variant));
        let expected = if variant.is_seed() {
            [violated(), violated(), violated()]
        } else {
            [Expected::Proven, Expected::Proven, violated()]
        };
        models.extend(judged(scenario, expected));
    }
    for variant in Variant::ALL {
        let scenario = promote_against(
            "promote_vs_password_change",
            Implementation::of(variant),
            &[Rival::ChangePassword],
        );
        models.push(Box::new(expect(scenario, variant)));
    }
    // Three actors, explored exhaustively: a few thousand executions, seconds on 2 cores.
    for variant in [Variant::SeedFix, Variant::ProvenFix] {
        let scenario = promote_against(
            "promote_3_actors",
            Implementation::of(variant),
            &[Rival::DemoteAdmin, Rival::ChangePassword],
        );
        models.push(Box::new(expect(scenario, variant)));
    }
    models
}

fn violated() -> Expected {
    Expected::Violated("authorized_at_commit".to_owned())
}

fn expect(scenario: Scenario<AccountsModel>, variant: Variant) -> Scenario<AccountsModel> {
    if variant.is_seed() {
        scenario.expect_violated("authorized_at_commit")
    } else {
        scenario.expect_proven()
    }
}
