//! The audit log's retention (issue 21): classes, a user's flood against an admin's entry,
//! who gives way when a budget is full, and pages by sequence number.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

use raceproof_core::audit::{
    Action, AuditLimits, AuditLog, AuditPage, AuditQuery, Commit, Dropped, Pending, Retention,
};
use raceproof_core::store::Role;

fn pending(actor: &str, role: Role, action: Action) -> Pending {
    Pending {
        actor: actor.to_owned(),
        action,
        actor_role_at_commit: Some(role),
        actor_epoch_at_commit: 0,
        authenticated_epoch: 0,
    }
}

fn email(user: &str) -> Action {
    Action::UpdateEmail {
        user: user.to_owned(),
        email: format!("{user}@example.com"),
        version: 2,
    }
}

fn promote(target: &str) -> Action {
    Action::Promote {
        target: target.to_owned(),
    }
}

#[test]
fn classes_follow_the_authority_a_commit_touches() {
    let log = AuditLog::new(8);
    log.append(pending("alice", Role::User, email("alice")));
    log.append(pending("root", Role::Admin, email("root")));
    log.append(pending("root", Role::Admin, promote("alice")));
    log.append(pending(
        "bob",
        Role::User,
        Action::ChangePassword { user: "bob".into() },
    ));
    let classes: Vec<Retention> = log.entries().iter().map(Commit::retention).collect();
    use Retention::*;
    assert_eq!(classes, [Ordinary, Protected, Protected, Protected]);
}

#[test]
fn a_user_flood_never_pushes_out_an_admin_promotion() {
    let log = AuditLog::with_limits(AuditLimits {
        ordinary: 4,
        protected: 4,
    });
    log.append(pending("root", Role::Admin, promote("admin")));
    log.append(pending("bob", Role::User, email("bob")));
    for _ in 0..1000 {
        log.append(pending("alice", Role::User, email("alice")));
        log.append(pending(
            "alice",
            Role::User,
            Action::ChangePassword {
                user: "alice".into(),
            },
        ));
    }
    let kept = log.entries();
    assert!(
        kept.iter()
            .any(|c| c.seq == 1 && c.action == promote("admin"))
    );
    // bob's one email stays too: alice's flood drops alice's own entries.
    assert!(kept.iter().any(|c| c.actor == "bob"));
    let page = log.page(AuditQuery::newest(100));
    assert_eq!(page.last_seq, 2002);
    assert_eq!(
        page.dropped,
        Dropped {
            ordinary: 997,
            protected: 997
        }
    );
    assert_eq!(page.entries.len(), 8);
}

#[test]
fn a_writer_with_nothing_kept_takes_the_largest_holders_oldest() {
    let log = AuditLog::with_limits(AuditLimits {
        ordinary: 4,
        protected: 2,
    });
    log.append(pending("root", Role::Admin, promote("a")));
    log.append(pending("root", Role::Admin, promote("b")));
    log.append(pending("admin", Role::Admin, promote("c")));
    let actors: Vec<(String, u64)> = log
        .entries()
        .into_iter()
        .map(|c| (c.actor, c.seq))
        .collect();
    assert_eq!(actors, [("root".to_owned(), 2), ("admin".to_owned(), 3)]);
}

#[test]
fn pages_go_by_sequence_number() {
    let log = AuditLog::new(100);
    for _ in 0..10 {
        log.append(pending("alice", Role::User, email("alice")));
    }
    let first = log.page(AuditQuery::after(0, 4));
    assert_eq!(
        first.entries.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(first.more);
    let last = log.page(AuditQuery::after(8, 4));
    assert_eq!(
        last.entries.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [9, 10]
    );
    assert!(!last.more);
    let newest = log.page(AuditQuery::newest(3));
    assert_eq!(
        newest.entries.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [8, 9, 10]
    );
    // A page built from a full listing (a backend that keeps everything) agrees.
    let rebuilt = AuditPage::from_entries(log.entries(), AuditQuery::after(0, 4));
    assert_eq!(rebuilt.entries, first.entries);
    assert!(rebuilt.more);
}
