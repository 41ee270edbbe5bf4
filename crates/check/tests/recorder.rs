#![cfg(not(loom))]
//! The recorder: steps labelled by the actor that recorded them, effects and client calls
//! as facts, and commits reported from inside a real store's critical sections through
//! [`Recorder::commit_listener`], in commit order, where the invariants can judge them.
//!
//! `cargo test -p raceproof-check --test recorder`

use raceproof_check::recorder::SETUP;
use raceproof_check::{
    AuthorizedAtCommit, Call, Event, ExactlyOnce, Fact, Invariant, Recorder, Recording, Ret,
};
use raceproof_core::audit::{Action, AuditLog, Pending};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHasher};
use raceproof_core::service::Accounts;
use raceproof_core::store::{Role, UserStore};

fn recording_of(rec: &Recorder) -> Recording {
    Recording {
        steps: rec.steps(),
        actors: Vec::new(),
    }
}

#[test]
fn recorder_labels_steps_by_thread() {
    let rec = Recorder::new();
    rec.note("before any actor");
    let handle = {
        let rec = rec.clone();
        std::thread::spawn(move || {
            rec.enter("T1");
            rec.note("T1's step");
            rec.record(Event::note("T1 reads m"));
            rec.effect("processed", "m");
            rec.call(
                7,
                Call::ReadEmail {
                    user: "alice".to_owned(),
                },
            );
            rec.ret(7, Ret::Refused);
        })
    };
    handle.join().expect("no panic");
    rec.note("after");
    let steps = rec.steps();
    let threads: Vec<_> = steps.iter().map(|s| s.thread.as_str()).collect();
    assert_eq!(threads, vec![SETUP, "T1", "T1", "T1", "T1", "T1", SETUP]);
    assert!(steps[0].is_setup() && !steps[1].is_setup());
    assert_eq!(steps[1].text(), "T1's step");
    assert_eq!(steps[1].fact(), &Fact::Note);
    assert_eq!(steps[2].text(), "T1 reads m");
    assert_eq!(
        steps[3].fact(),
        &Fact::Effect {
            kind: "processed".to_owned(),
            subject: "m".to_owned(),
        }
    );
    assert!(steps[3].text().contains('m'), "{:?}", steps[3]);
    assert!(matches!(
        steps[4].fact(),
        Fact::Call { op: 7, call: Call::ReadEmail { user } } if user == "alice"
    ));
    assert_eq!(
        steps[5].fact(),
        &Fact::Return {
            op: 7,
            ret: Ret::Refused
        }
    );
}

#[test]
fn a_thread_entering_again_is_relabelled() {
    let rec = Recorder::new();
    rec.enter("T1");
    rec.note("first");
    rec.enter("T2");
    rec.note("second");
    let threads: Vec<_> = rec.steps().into_iter().map(|s| s.thread).collect();
    assert_eq!(threads, ["T1", "T2"]);
}

#[test]
fn clones_share_one_log() {
    let rec = Recorder::new();
    let other = rec.clone();
    rec.note("one");
    other.note("two");
    assert_eq!(rec.steps(), other.steps());
    assert_eq!(rec.steps().len(), 2);
}

#[test]
fn only_recorded_effects_reach_exactly_once() {
    // Narrating a processing twice is invisible to the effect invariant; recording it
    // twice as an effect is caught.
    let rec = Recorder::new();
    rec.note("processed m");
    rec.note("processed m");
    assert_eq!(
        ExactlyOnce::new(["m"]).check(&(), &recording_of(&rec)),
        Ok(())
    );
    rec.effect("processed", "m");
    rec.effect("processed", "m");
    let breach = ExactlyOnce::new(["m"])
        .check(&(), &recording_of(&rec))
        .expect_err("two effects");
    assert_eq!(breach.step, Some(3));
}

#[test]
fn commit_listener_records_a_stores_commits_in_commit_order() {
    let rec = Recorder::new();
    let hasher = Argon2Hasher::insecure_fast().expect("the OS random source works");
    let store =
        UserStore::new().audit_log(AuditLog::default().with_listener(rec.commit_listener()));
    for (user, pw, role) in [("root", "r00t", Role::Admin), ("bob", "b0b", Role::User)] {
        let hash = hasher.hash(pw).expect("hashable");
        store
            .insert(user, hash, role, &format!("{user}@example.com"))
            .expect("new user");
    }
    assert!(rec.steps().is_empty(), "inserts are not commits");

    let accounts = Accounts::new(&store, &hasher);
    let login = |user: &str, pw: &str| {
        accounts
            .authenticate(&Credentials::new(user, pw).expect("valid"))
            .expect("right password")
    };
    let (root, bob) = (login("root", "r00t"), login("bob", "b0b"));
    rec.enter("T1");
    store.promote(&root, "bob").expect("root is an admin");
    store
        .update_email(&bob, Some(2), "b1@example.com")
        .expect("at version 2 since the promotion");
    // Refusals commit nothing.
    store
        .update_email(&bob, Some(2), "b2@example.com")
        .expect_err("no longer at version 2");

    let steps = rec.steps();
    let audit = store.audit();
    assert_eq!(audit.len(), 2);
    let recorded: Vec<_> = steps
        .iter()
        .map(|s| match s.fact() {
            Fact::Commit(commit) => commit.clone(),
            other => panic!("only commits were recorded: {other:?}"),
        })
        .collect();
    assert_eq!(recorded, audit, "the listener saw what the log kept");
    assert_eq!(
        audit.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2],
        "gapless, in commit order"
    );
    assert!(matches!(&audit[0].action, Action::Promote { target } if target == "bob"));
    assert!(matches!(
        &audit[1].action,
        Action::UpdateEmail { user, version: 3, .. } if user == "bob"
    ));
    assert!(steps.iter().all(|s| s.thread == "T1"));
    assert!(steps[0].text().contains("#1"), "{:?}", steps[0]);
    assert!(steps[0].text().contains("bob"), "{:?}", steps[0]);
    assert_eq!(
        AuthorizedAtCommit.check(&(), &recording_of(&rec)),
        Ok(()),
        "the store only commits what is authorized"
    );
}

#[test]
fn commit_listener_passes_an_unauthorized_commit_on_to_the_invariant() {
    // A log whose writer did not check: the listener reports the commit as it landed, and
    // `authorized_at_commit` catches it.
    let rec = Recorder::new();
    let log = AuditLog::default().with_listener(rec.commit_listener());
    rec.enter("T1");
    log.append(Pending {
        actor: "admin".to_owned(),
        action: Action::Promote {
            target: "mallory".to_owned(),
        },
        actor_role_at_commit: Some(Role::User),
        actor_epoch_at_commit: 0,
        authenticated_epoch: 0,
    });
    let steps = rec.steps();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].text().contains("user at commit"), "{:?}", steps[0]);
    let breach = AuthorizedAtCommit
        .check(&(), &recording_of(&rec))
        .expect_err("admin was a user when it promoted mallory");
    assert_eq!(breach.step, Some(0));
    assert!(breach.why.contains("not an admin"), "{breach:?}");
}
