#![cfg(not(loom))]
//! `authorized_at_commit` on hand-built histories of audit-log commits: it must *fail* a
//! commit made without the authority it needs at that instant (a demoted admin, revoked
//! credentials, a vanished actor, a user acting on someone else's record) as well as pass
//! an authorized one. A checker that always says "proven" cannot pass these.
//!
//! `cargo test -p raceproof-check --test invariants_authorized_at_commit`

mod common;

use common::*;
use raceproof_check::AuthorizedAtCommit;
use raceproof_check::recorder::{ActorInfo, SETUP};
use raceproof_core::audit::{Action, Commit};
use raceproof_core::store::Role;

fn actors() -> Vec<ActorInfo> {
    vec![actor("T1", Some("admin")), actor("T2", Some("root"))]
}

/// admin promotes alice, admin's role and epochs at commit as given.
fn admin_promotes_alice(seq: u64, role: Option<Role>, epoch_at_commit: u64) -> Commit {
    Commit {
        actor_role_at_commit: role,
        actor_epoch_at_commit: epoch_at_commit,
        ..commit(seq, "admin", promote("alice"))
    }
}

#[test]
fn passes_a_promotion_by_an_admin() {
    let steps = vec![
        note("T1", "admin authenticated as admin"),
        committed("T1", admin_promotes_alice(1, Some(Role::Admin), 0)),
    ];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(steps, actors())),
        Ok(())
    );
}

#[test]
fn fails_a_promotion_that_commits_after_the_actor_was_demoted() {
    let steps = vec![
        note("T1", "admin checked: admin is an admin"),
        committed("T2", commit(1, "root", demote("admin"))),
        committed("T1", admin_promotes_alice(2, Some(Role::User), 0)),
    ];
    let breach = check(&AuthorizedAtCommit, &recording(steps, actors()))
        .expect_err("a demoted admin's commit must break it");
    assert_eq!(breach.step, Some(2), "the breach is T1's commit");
    assert!(
        breach.why.starts_with("admin"),
        "why names the actor: {breach:?}"
    );
    assert!(breach.why.contains("not an admin"), "{breach:?}");
}

#[test]
fn fails_a_promotion_that_commits_after_the_actors_password_changed() {
    let steps = vec![
        note("T1", "admin authenticated"),
        committed("T2", commit(1, "root", change_password("admin"))),
        note("T1", "still promoting"),
        // Still an admin, but with credentials one epoch newer than those it logged in with.
        committed("T1", admin_promotes_alice(2, Some(Role::Admin), 1)),
    ];
    let breach = check(&AuthorizedAtCommit, &recording(steps, actors()))
        .expect_err("a revoked credential's commit must break it");
    assert_eq!(breach.step, Some(3));
    assert!(breach.why.starts_with("admin"), "{breach:?}");
    assert!(breach.why.contains("password"), "{breach:?}");
}

#[test]
fn passes_a_commit_after_another_users_password_change() {
    let steps = vec![
        committed("T2", commit(1, "root", change_password("root"))),
        committed("T1", admin_promotes_alice(2, Some(Role::Admin), 0)),
    ];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(steps, actors())),
        Ok(())
    );
}

#[test]
fn fails_a_commit_whose_actor_no_longer_exists() {
    let steps = vec![committed("T1", admin_promotes_alice(1, None, 0))];
    let breach = check(&AuthorizedAtCommit, &recording(steps, actors())).expect_err("actor gone");
    assert_eq!(breach.step, Some(0));
    assert!(breach.why.starts_with("admin"), "{breach:?}");
    assert!(breach.why.contains("no longer exists"), "{breach:?}");
}

#[test]
fn fails_an_actor_that_never_was_an_admin() {
    let steps = vec![
        note("T1", "alice authenticated"),
        committed("T1", commit_as(1, "alice", Role::User, promote("alice"))),
    ];
    let breach = check(
        &AuthorizedAtCommit,
        &recording(steps, vec![actor("T1", Some("alice"))]),
    )
    .expect_err("alice is a user");
    assert_eq!(breach.step, Some(1));
    assert!(breach.why.starts_with("alice"), "{breach:?}");
    assert!(breach.why.contains("not an admin"), "{breach:?}");
}

#[test]
fn demotions_need_an_admin_too() {
    let steps = vec![committed(
        "T1",
        commit_as(1, "alice", Role::User, demote("bob")),
    )];
    let breach = check(&AuthorizedAtCommit, &recording(steps, actors())).expect_err("not admin");
    assert!(breach.why.contains("not an admin"), "{breach:?}");
}

#[test]
fn a_user_may_write_their_own_record_but_not_anothers() {
    let own = vec![
        committed(
            "T1",
            commit_as(1, "alice", Role::User, change_password("alice")),
        ),
        email_set("T1", 2, "alice", "a1@example.com", 3),
    ];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(own, two_writers())),
        Ok(())
    );

    for action in [
        change_password("bob"),
        Action::UpdateEmail {
            user: "bob".to_owned(),
            email: "b1@example.com".to_owned(),
            version: 2,
        },
    ] {
        let steps = vec![committed("T1", commit_as(1, "alice", Role::User, action))];
        let breach = check(&AuthorizedAtCommit, &recording(steps, two_writers()))
            .expect_err("a user writing bob's record");
        assert_eq!(breach.step, Some(0));
        assert!(breach.why.contains("not an admin"), "{breach:?}");
    }
    // An admin may write anyone's.
    let steps = vec![committed("T1", commit(1, "root", change_password("bob")))];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(steps, actors())),
        Ok(())
    );
}

#[test]
fn ignores_revocations_after_the_commit() {
    let steps = vec![
        committed("T1", admin_promotes_alice(1, Some(Role::Admin), 0)),
        committed("T2", commit(2, "root", demote("admin"))),
        committed("T2", commit(3, "root", change_password("admin"))),
    ];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(steps, actors())),
        Ok(())
    );
}

#[test]
fn judges_commits_by_their_own_authority_not_by_the_thread_or_its_actor() {
    // A commit carries who made it and with what authority: whichever thread recorded it
    // (an actor's or setup's) and whoever that thread acts as, the same rule judges it.
    let unauthorized = admin_promotes_alice(1, Some(Role::User), 0);
    for thread in ["T1", "T2", SETUP] {
        let steps = vec![
            note("T1", "narration"),
            committed(thread, unauthorized.clone()),
        ];
        let breach = check(&AuthorizedAtCommit, &recording(steps, actors()))
            .expect_err("the commit is unauthorized wherever it was recorded");
        assert_eq!(breach.step, Some(1), "{thread}");
    }
    // Notes, effects and client calls are not commits: nothing to judge.
    let steps = vec![
        note("T1", "admin is not an admin any more"),
        processed("T1", "r1/refund"),
        call("T2", 1, update("alice", Some(1), "a1")),
        ret("T2", 1, updated(2)),
    ];
    assert_eq!(
        check(&AuthorizedAtCommit, &recording(steps, Vec::new())),
        Ok(())
    );
}
