//! Building histories by hand, for the harness's own tests: each test binary (one per
//! invariant, plus traces, the recorder and the stress runner) uses a subset of these.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use raceproof_check::event::commit_text;
use raceproof_check::recorder::ActorInfo;
use raceproof_check::{Breach, Call, Event, Fact, Invariant, Recording, Ret, Step};
use raceproof_core::audit::{Action, Commit};
use raceproof_core::store::Role;

pub fn step(thread: &str, text: &str, fact: Fact) -> Step {
    Step {
        thread: thread.to_owned(),
        event: Event::new(text, fact),
    }
}

pub fn actor(label: &str, acts_as: Option<&str>) -> ActorInfo {
    ActorInfo {
        label: label.to_owned(),
        acts_as: acts_as.map(str::to_owned),
    }
}

pub fn recording(steps: Vec<Step>, actors: Vec<ActorInfo>) -> Recording {
    Recording { steps, actors }
}

/// Checks a state-agnostic invariant (`AuthorizedAtCommit`, `ExactlyOnce`, `Linearizable`).
pub fn check(inv: &impl Invariant<()>, h: &Recording) -> Result<(), Breach> {
    Invariant::check(inv, &(), h)
}

pub fn note(thread: &str, text: &str) -> Step {
    step(thread, text, Fact::Note)
}

pub fn two_writers() -> Vec<ActorInfo> {
    vec![actor("T1", Some("alice")), actor("T2", Some("alice"))]
}

// Commits, as an audit log's listener reports them.

/// A commit by `actor`, an admin whose credentials did not change since it authenticated:
/// authorized for any action. Tests take the authority away field by field.
pub fn commit(seq: u64, actor: &str, action: Action) -> Commit {
    Commit {
        seq,
        actor: actor.to_owned(),
        action,
        actor_role_at_commit: Some(Role::Admin),
        actor_epoch_at_commit: 0,
        authenticated_epoch: 0,
    }
}

/// `commit` by an actor whose role at commit was `role`.
pub fn commit_as(seq: u64, actor: &str, role: Role, action: Action) -> Commit {
    Commit {
        actor_role_at_commit: Some(role),
        ..commit(seq, actor, action)
    }
}

/// The step an audit log's listener records for `commit`.
pub fn committed(thread: &str, commit: Commit) -> Step {
    step(thread, &commit_text(&commit), Fact::Commit(commit))
}

pub fn promote(target: &str) -> Action {
    Action::Promote {
        target: target.to_owned(),
    }
}

pub fn demote(target: &str) -> Action {
    Action::Demote {
        target: target.to_owned(),
    }
}

pub fn change_password(user: &str) -> Action {
    Action::ChangePassword {
        user: user.to_owned(),
    }
}

/// `user`'s email set to `email`, leaving the record at `version`.
pub fn email_set(thread: &str, seq: u64, user: &str, email: &str, version: u64) -> Step {
    let action = Action::UpdateEmail {
        user: user.to_owned(),
        email: email.to_owned(),
        version,
    };
    committed(thread, commit_as(seq, user, Role::User, action))
}

// Effects a flow records.

pub fn processed(thread: &str, message: &str) -> Step {
    step(
        thread,
        &format!("processed {message}"),
        Fact::Effect {
            kind: "processed".to_owned(),
            subject: message.to_owned(),
        },
    )
}

// Client-side calls and returns.

pub fn call(thread: &str, op: u64, call: Call) -> Step {
    step(thread, &format!("call #{op}"), Fact::Call { op, call })
}

pub fn ret(thread: &str, op: u64, ret: Ret) -> Step {
    step(thread, &format!("return #{op}"), Fact::Return { op, ret })
}

pub fn update(user: &str, expected_version: Option<u64>, email: &str) -> Call {
    Call::UpdateEmail {
        user: user.to_owned(),
        expected_version,
        email: email.to_owned(),
    }
}

pub fn read(user: &str) -> Call {
    Call::ReadEmail {
        user: user.to_owned(),
    }
}

pub fn updated(version: u64) -> Ret {
    Ret::Updated { version }
}

pub fn read_ret(email: &str, version: u64) -> Ret {
    Ret::Read {
        email: email.to_owned(),
        version,
    }
}
