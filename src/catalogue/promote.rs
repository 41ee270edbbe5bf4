//! `promote` (seed 000): admin promotes alice while root demotes admin, or while admin's
//! password is changed. `authorized_at_commit` reads the store's audit log: the promotion
//! must commit while admin is still an admin, with the credentials it logged in with.

use super::{AccountsModel, Fixture, Implementation};
use raceproof_check::{AnyScenario, AuthorizedAtCommit, Scenario};
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
    for (flow, rivals) in [
        ("promote", &[Rival::DemoteAdmin][..]),
        ("promote_vs_password_change", &[Rival::ChangePassword][..]),
    ] {
        for variant in Variant::ALL {
            let scenario = promote_against(flow, Implementation::of(variant), rivals);
            models.push(Box::new(expect(scenario, variant)));
        }
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

fn expect(scenario: Scenario<AccountsModel>, variant: Variant) -> Scenario<AccountsModel> {
    if variant.is_seed() {
        scenario.expect_violated("authorized_at_commit")
    } else {
        scenario.expect_proven()
    }
}
