//! `demote_each_other`: two admins demote each other at once (write skew). Not in the
//! seeds, but the same family: both see "another admin remains", and both writes land.

use super::{AccountsModel, Fixture, Implementation};
use raceproof_check::{AnyScenario, AuthorizedAtCommit, FinalState, Scenario};
use raceproof_core::store::Role;
use raceproof_flows::Variant;

pub fn demote_each_other(imp: Implementation) -> Scenario<AccountsModel> {
    let fx = Fixture::new(&[
        ("alice", "s3cr3t", Role::Admin),
        ("bob", "b0bpass", Role::Admin),
    ]);
    let (alice, bob) = (fx.credentials("alice"), fx.credentials("bob"));
    let scenario = {
        let imp = imp.clone();
        Scenario::new("demote_each_other", &imp.name.clone(), move |rec| {
            imp.accounts(&fx, rec)
        })
    }
    .actor(Some("alice"), "alice demotes bob", move |app| {
        let _ = app.accounts.demote(&alice, "bob");
    })
    .actor(Some("bob"), "bob demotes alice", move |app| {
        let _ = app.accounts.demote(&bob, "alice");
    })
    .invariant(FinalState::new("admin_remains", |app: &AccountsModel| {
        let admins = ["alice", "bob"]
            .iter()
            .filter(|u| app.user(u).is_some_and(|r| r.role == Role::Admin))
            .count();
        if admins == 0 {
            Err("no admin is left".to_owned())
        } else {
            Ok(())
        }
    }))
    .invariant(AuthorizedAtCommit);
    imp.covering(scenario, "raceproof_core::service::Accounts::demote")
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    // The seed has no demote; its style (check, count, write) is the same in both seed
    // variants, so one of them is enough.
    vec![
        Box::new(
            demote_each_other(Implementation::of(Variant::SeedVulnerable))
                .expect_violated("admin_remains"),
        ),
        Box::new(demote_each_other(Implementation::of(Variant::ProvenFix)).expect_proven()),
    ]
}
