#![cfg(not(loom))]
//! One authorization rule: on one table of committed writes, the race tester's
//! `commit_order` (an audit entry as raceproof's server lists it, over JSON) and the
//! catalogue's `authorized_at_commit` (the commit as a model's recorder sees it) agree entry
//! by entry, and on why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use raceproof_check::{AuthorizedAtCommit, Event, Fact, Invariant, Recording, Step};
use raceproof_core::audit::{Action, Commit, Unauthorized};
use raceproof_core::store::Role;
use raceproof_race::audit::{AuditEntry, EntryProblem, commit_order};
use raceproof_race::wire::Response;
use serde_json::json;

/// A commit by `actor` with its role at commit (`None`: gone) and epochs (at commit, at login).
fn commit(actor: &str, action: Action, role: Option<Role>, epochs: (u64, u64)) -> Commit {
    Commit {
        seq: 0,
        actor: actor.to_owned(),
        action,
        actor_role_at_commit: role,
        actor_epoch_at_commit: epochs.0,
        authenticated_epoch: epochs.1,
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

fn password(user: &str) -> Action {
    Action::ChangePassword {
        user: user.to_owned(),
    }
}

/// The table: each write, and what raceproof's rule says of it.
fn table() -> Vec<(&'static str, Commit, Result<(), Unauthorized>)> {
    use Role::{Admin, User};
    use Unauthorized::{ActorGone, CredentialsRevoked, NotAdmin};
    vec![
        (
            "an admin changes another user's email",
            commit("admin", email("alice"), Some(Admin), (0, 0)),
            Ok(()),
        ),
        (
            "a plain user changes another user's email",
            commit("bob", email("alice"), Some(User), (0, 0)),
            Err(NotAdmin),
        ),
        (
            "a plain user changes their own email",
            commit("alice", email("alice"), Some(User), (0, 0)),
            Ok(()),
        ),
        (
            "an admin promotes",
            commit("admin", promote("alice"), Some(Admin), (0, 0)),
            Ok(()),
        ),
        (
            "a demoted actor promotes",
            commit("admin", promote("alice"), Some(User), (0, 0)),
            Err(NotAdmin),
        ),
        (
            "a demoted actor changes their own password",
            commit("admin", password("admin"), Some(User), (0, 0)),
            Ok(()),
        ),
        (
            "a plain user changes another user's password",
            commit("bob", password("alice"), Some(User), (0, 0)),
            Err(NotAdmin),
        ),
        (
            "an admin whose password changed since login promotes",
            commit("admin", promote("alice"), Some(Admin), (1, 0)),
            Err(CredentialsRevoked),
        ),
        (
            "a user whose password changed since login changes their own email",
            commit("alice", email("alice"), Some(User), (3, 2)),
            Err(CredentialsRevoked),
        ),
        (
            "an actor that is gone changes their own email",
            commit("carol", email("carol"), None, (0, 0)),
            Err(ActorGone),
        ),
        (
            "an actor that is gone promotes",
            commit("carol", promote("alice"), None, (0, 0)),
            Err(ActorGone),
        ),
    ]
}

/// The commit as raceproof's server lists it in `GET /audit`.
fn served(commit: &Commit) -> serde_json::Value {
    let mut entry = json!({
        "seq": commit.seq,
        "actor": commit.actor,
        "action": commit.action.name(),
        "target": commit.action.subject(),
        "actor_role_at_commit": commit.actor_role_at_commit.map(|role| role.to_string()),
        "actor_epoch_at_commit": commit.actor_epoch_at_commit,
        "authenticated_epoch": commit.authenticated_epoch,
    });
    if let Action::UpdateEmail { email, version, .. } = &commit.action {
        entry["email"] = json!(email);
        entry["version"] = json!(version);
    }
    entry
}

/// The catalogue's verdict: `authorized_at_commit` on a history holding this one commit.
fn catalogue(commit: &Commit) -> Result<(), String> {
    let history = Recording {
        steps: vec![Step {
            thread: "T1".to_owned(),
            event: Event::new("commit", Fact::Commit(commit.clone())),
        }],
        actors: Vec::new(),
    };
    Invariant::<()>::check(&AuthorizedAtCommit, &(), &history).map_err(|breach| breach.why)
}

#[test]
fn commit_order_and_authorized_at_commit_agree_entry_by_entry() {
    for (what, commit, rule) in table() {
        let entry: AuditEntry = serde_json::from_value(served(&commit)).unwrap();
        assert_eq!(entry.commit().as_ref(), Ok(&commit), "{what}: the mapping");
        let tester = entry.authorized();
        let model = catalogue(&commit);
        assert_eq!(
            tester,
            rule.map_err(EntryProblem::Unauthorized),
            "{what}: the tester"
        );
        match (&tester, &model) {
            (Ok(()), Ok(())) => {}
            (Err(problem), Err(why)) => assert!(
                why.ends_with(&problem.to_string()),
                "{what}: the tester says `{problem}`, the catalogue `{why}`"
            ),
            _ => panic!("{what}: the tester says {tester:?}, the catalogue {model:?}"),
        }
    }
}

#[test]
fn commit_order_over_the_whole_table_flags_exactly_the_unauthorized_writes() {
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    for (seq, (_, mut commit, rule)) in (1..).zip(table()) {
        commit.seq = seq;
        entries.push(served(&commit));
        if rule.is_err() {
            refused.push(seq);
        }
    }
    let response = Response {
        status: 200,
        headers: Vec::new(),
        body: json!({ "entries": entries }).to_string().into(),
    };
    let detail = commit_order(0, &Ok(response)).expect("some writes are unauthorized");
    let flagged: Vec<u64> = detail
        .split("; ")
        .map(|problem| {
            let seq = problem
                .split("(seq ")
                .nth(1)
                .and_then(|rest| rest.split(')').next());
            seq.and_then(|seq| seq.parse().ok()).expect(problem)
        })
        .collect();
    assert_eq!(flagged, refused, "{detail}");
}
