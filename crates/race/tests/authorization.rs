#![cfg(not(loom))]
//! One authorization rule: on one table of committed writes, the race tester's
//! `commit_order` (an audit entry as raceproof's server lists it, over JSON) and the
//! catalogue's `authorized_at_commit` (the commit as a model's recorder sees it) agree entry
//! by entry, and on why; and so does `commit_order` reading a foreign service's audit through
//! a configured schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use raceproof_check::{AuthorizedAtCommit, Event, Fact, Invariant, Recording, Step};
use raceproof_core::audit::{Action, Commit, Unauthorized};
use raceproof_core::store::Role;
use raceproof_race::audit::{AuditMark, AuditSchema, EntryProblem, commit_order};
use raceproof_race::judged::Judged;
use raceproof_race::scenario::{InvariantSpec, RaceScenario};
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

fn listing(entries: Vec<serde_json::Value>, under: &str) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body: json!({ under: entries }).to_string().into(),
    }
}

#[test]
fn commit_order_and_authorized_at_commit_agree_entry_by_entry() {
    let schema = AuditSchema::default();
    for (what, commit, rule) in table() {
        let entry = schema
            .parse(&listing(vec![served(&commit)], "entries"))
            .unwrap()
            .remove(0);
        assert_eq!(
            entry.commit(&schema).as_ref(),
            Ok(&commit),
            "{what}: the mapping"
        );
        let tester = entry.authorized(&schema);
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

/// The seqs `commit_order` flags in a listing of the whole table, read with `schema`.
fn flagged(schema: &AuditSchema, response: &Response) -> Vec<u64> {
    let entries = schema.parse(response);
    let Judged::Broken(detail) = commit_order(schema, &AuditMark::default(), &entries) else {
        panic!("some writes are unauthorized: {entries:?}");
    };
    detail
        .split("; ")
        .map(|problem| {
            let seq = problem
                .split("(seq ")
                .nth(1)
                .and_then(|rest| rest.split(')').next());
            seq.and_then(|seq| seq.parse().ok()).expect(problem)
        })
        .collect()
}

/// The whole table as listed, with seqs 1.., and the seqs the rule refuses.
fn whole_table(list: impl Fn(&Commit) -> serde_json::Value) -> (Vec<serde_json::Value>, Vec<u64>) {
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    for (seq, (_, mut commit, rule)) in (1..).zip(table()) {
        commit.seq = seq;
        entries.push(list(&commit));
        if rule.is_err() {
            refused.push(seq);
        }
    }
    (entries, refused)
}

#[test]
fn commit_order_over_the_whole_table_flags_exactly_the_unauthorized_writes() {
    let (entries, refused) = whole_table(served);
    let schema = AuditSchema::default();
    assert_eq!(flagged(&schema, &listing(entries, "entries")), refused);
}

/// The same commits as a foreign service might log them: its own field names, nesting, action
/// and role names.
fn foreign(commit: &Commit) -> serde_json::Value {
    let served = served(commit);
    let action = match commit.action.name() {
        "promote" => "grant_admin",
        "demote" => "revoke_admin",
        "change_password" => "set_password",
        _ => "set_email",
    };
    let role = match served["actor_role_at_commit"].as_str() {
        Some("admin") => json!("superuser"),
        Some(_) => json!("member"),
        None => json!(null),
    };
    json!({
        "id": served["seq"], "op": action, "by": { "name": served["actor"], "role": role },
        "on": served["target"],
        "epochs": { "now": served["actor_epoch_at_commit"], "login": served["authenticated_epoch"] },
    })
}

#[test]
fn a_configured_schema_judges_a_foreign_audit_with_the_same_rule() {
    let source = r#"
name = "foreign"
[credentials]
auditor = { user = "auditor", password = "pw" }
[signers]
auditor = { kind = "basic", credential = "auditor" }
[[actors]]
name = "a"
method = "POST"
path = "/x"
[[invariant]]
kind = "commit_order"
path = "/log?limit=1000"
signer = "auditor"
[invariant.schema]
entries = "/items"
seq = "/id"
actor = "/by/name"
action = "/op"
target = "/on"
role = "/by/role"
actor_epoch = "/epochs/now"
authenticated_epoch = "/epochs/login"
actions = { grant_admin = "promote", revoke_admin = "demote", set_password = "change_password", set_email = "update_email" }
roles = { superuser = "admin", member = "user" }
"#;
    let scenario = RaceScenario::parse(source, "foreign.toml").unwrap();
    let Some(InvariantSpec::CommitOrder { schema, request }) = scenario.invariants.first() else {
        panic!("a commit_order invariant");
    };
    assert_eq!(request.path.skeleton(""), "/log?limit=1000");
    let (entries, refused) = whole_table(foreign);
    assert_eq!(flagged(schema, &listing(entries, "items")), refused);

    // A name the mapping does not cover cannot be judged, and says so; unless ignored.
    let login = json!({"items": [{"id": 1, "op": "login", "by": {"name": "a", "role": "member"},
        "on": "a", "epochs": {"now": 0, "login": 0}}]});
    let response = Response {
        status: 200,
        headers: Vec::new(),
        body: login.to_string().into(),
    };
    let judged = commit_order(schema, &AuditMark::default(), &schema.parse(&response));
    assert!(
        matches!(&judged, Judged::Broken(why) if why.contains("cannot be judged: unknown action `login`")),
        "{judged:?}"
    );
    let ignoring = RaceScenario::parse(
        &source.replace(
            "[invariant.schema]",
            "[invariant.schema]\nignore = [\"login\"]",
        ),
        "foreign.toml",
    )
    .unwrap();
    let Some(InvariantSpec::CommitOrder { schema, .. }) = ignoring.invariants.first() else {
        panic!("a commit_order invariant");
    };
    let judged = commit_order(schema, &AuditMark::default(), &schema.parse(&response));
    assert_eq!(judged, Judged::Held);

    // A mapping onto a name the rule does not know is refused when the file is read.
    let unknown = source.replace("= \"demote\"", "= \"fire\"");
    assert!(
        RaceScenario::parse(&unknown, "foreign.toml").is_err_and(|error| error
            .to_string()
            .contains("`fire`, which the rule does not know"))
    );
}
