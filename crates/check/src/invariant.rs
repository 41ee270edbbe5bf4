//! Invariants: what must hold at the end of every execution, judged from the final state and
//! the recorded history.
//!
//! The built-ins cover the seeds' families of race: [`AuthorizedAtCommit`] (stale
//! authorization), [`NoLostUpdate`] (read-modify-write), [`ExactlyOnce`] (replay) and
//! [`Linearizable`] (a history of store operations against its sequential specification).
//! [`FinalState`] turns any predicate on the state into an invariant.

use crate::event::{Call, Fact, Ret};
use crate::linearizability::{self, EmailRecords};
use crate::recorder::Recording;
use raceproof_core::audit::Action;
use raceproof_history::{Kind, Linearizability};
use std::collections::HashMap;

/// Where and why an invariant broke, or why it could not tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// Index into [`Recording::steps`] of the step that broke it; `None` when only the final
    /// state shows it.
    pub step: Option<usize>,
    /// Short, in the flow's words: it is printed after the step as `<- why`.
    pub why: String,
    /// The invariant could not decide (its checker hit a limit): the verdict is
    /// inconclusive, never violated.
    pub undecided: bool,
}

impl Breach {
    pub fn at(step: usize, why: impl Into<String>) -> Self {
        Self {
            step: Some(step),
            why: why.into(),
            undecided: false,
        }
    }

    pub fn at_end(why: impl Into<String>) -> Self {
        Self {
            step: None,
            why: why.into(),
            undecided: false,
        }
    }

    /// The invariant could not decide this execution, for `why`.
    pub fn undecided(why: impl Into<String>) -> Self {
        Self {
            step: None,
            why: why.into(),
            undecided: true,
        }
    }
}

/// A property checked after each execution of a scenario with state `S`.
pub trait Invariant<S>: Send + Sync {
    fn name(&self) -> &str;
    fn check(&self, state: &S, history: &Recording) -> Result<(), Breach>;

    /// How many events relevant to this invariant the execution recorded. An invariant
    /// whose count stays 0 over every execution has checked nothing, and the verdict is
    /// *inconclusive* rather than proven. The default (1) suits predicates on the final
    /// state, which always have a state to look at.
    fn observed(&self, _state: &S, _history: &Recording) -> usize {
        1
    }

    /// What a flow must record for this invariant to see anything (shown when it saw
    /// nothing).
    fn needs(&self) -> &str {
        "nothing: it reads the final state"
    }
}

/// Steps of `history` (actors' and setup's alike) whose fact `relevant` accepts.
fn count(history: &Recording, relevant: impl Fn(&Fact) -> bool) -> usize {
    history.steps.iter().filter(|s| relevant(s.fact())).count()
}

/// `authorized_at_commit`: every write commits while its actor holds the authority it needs
/// *at that instant* (the role, and the credentials it authenticated with), judged by
/// [`raceproof_core::audit::Commit::authorized`] over the commits an audit log reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizedAtCommit;

impl<S> Invariant<S> for AuthorizedAtCommit {
    fn name(&self) -> &str {
        "authorized_at_commit"
    }

    fn observed(&self, _state: &S, history: &Recording) -> usize {
        count(history, |f| matches!(f, Fact::Commit(_)))
    }

    fn needs(&self) -> &str {
        "commits: build the store with `AuditLog::with_listener(recorder.commit_listener())`, \
         or record them with `Recorder::commit`"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        for (i, step) in history.steps.iter().enumerate() {
            if let Fact::Commit(commit) = step.fact()
                && let Err(why) = commit.authorized()
            {
                return Err(Breach::at(i, format!("{}: {why}", commit.actor)));
            }
        }
        Ok(())
    }
}

/// `no_lost_update`: for one user's record, at most one update succeeds per expected
/// version, no write lands on a version another write already produced, and the final
/// record is what applying the successful updates one after another would give.
type ReadRecord<S> = Box<dyn Fn(&S) -> Option<(String, u64)> + Send + Sync>;

pub struct NoLostUpdate<S> {
    user: String,
    initial_version: u64,
    read_final: ReadRecord<S>,
}

impl<S> NoLostUpdate<S> {
    /// `read_final` returns the record's final `(email, version)`.
    pub fn new(
        user: &str,
        initial_version: u64,
        read_final: impl Fn(&S) -> Option<(String, u64)> + Send + Sync + 'static,
    ) -> Self {
        Self {
            user: user.to_owned(),
            initial_version,
            read_final: Box::new(read_final),
        }
    }
}

impl<S> Invariant<S> for NoLostUpdate<S> {
    fn name(&self) -> &str {
        "no_lost_update"
    }

    fn observed(&self, _state: &S, history: &Recording) -> usize {
        count(history, |f| match f {
            Fact::Commit(c) => c.action.subject() == self.user,
            Fact::Return { .. } => true,
            _ => false,
        })
    }

    fn needs(&self) -> &str {
        "update calls and returns (`Recorder::call`/`Recorder::ret`) and commits"
    }

    fn check(&self, state: &S, history: &Recording) -> Result<(), Breach> {
        let mut written: HashMap<u64, &str> = HashMap::new();
        let mut calls: HashMap<u64, (Option<u64>, &str)> = HashMap::new();
        let mut accepted: HashMap<u64, &str> = HashMap::new();
        let mut last_success: Option<(u64, &str)> = None;
        let mut successes = 0u64;
        for (i, step) in history.steps.iter().enumerate() {
            match step.fact() {
                Fact::Commit(commit)
                    if let Action::UpdateEmail { user, version, .. } = &commit.action
                        && *user == self.user =>
                {
                    if let Some(first) = written.insert(*version, &step.thread) {
                        return Err(Breach::at(
                            i,
                            format!("lost update: overwrites {first}'s write at version {version}"),
                        ));
                    }
                }
                Fact::Call {
                    op,
                    call:
                        Call::UpdateEmail {
                            user,
                            expected_version,
                            email,
                        },
                } if *user == self.user => {
                    calls.insert(*op, (*expected_version, email));
                }
                Fact::Return {
                    op,
                    ret: Ret::Updated { version },
                } => {
                    let Some(&(expected, email)) = calls.get(op) else {
                        continue;
                    };
                    if let Some(expected) = expected
                        && let Some(first) = accepted.insert(expected, &step.thread)
                    {
                        return Err(Breach::at(
                            i,
                            format!(
                                "lost update: {first} already succeeded with expected version {expected}"
                            ),
                        ));
                    }
                    successes += 1;
                    if last_success.is_none_or(|(v, _)| *version > v) {
                        last_success = Some((*version, email));
                    }
                }
                _ => {}
            }
        }
        let Some((email, version)) = (self.read_final)(state) else {
            return Err(Breach::at_end(format!("{} vanished", self.user)));
        };
        let want_version = self.initial_version + successes;
        if version != want_version {
            return Err(Breach::at_end(format!(
                "final version {version}, but {successes} successful update(s) from {} give {want_version}",
                self.initial_version
            )));
        }
        if let Some((_, want_email)) = last_success
            && want_email != email
        {
            return Err(Breach::at_end(format!(
                "final email {email} is not the last successful update's ({want_email})"
            )));
        }
        Ok(())
    }
}

/// `exactly_once`: each authentic signed message is processed at most once, and nothing
/// else is ever processed (per kind of effect: `paid` and `shipped` once each). It reads
/// the effects flows record with
/// [`crate::Recorder::effect`].
#[derive(Debug, Clone)]
pub struct ExactlyOnce {
    authentic: Vec<String>,
}

impl ExactlyOnce {
    /// `authentic`: the messages the key holder really signed.
    pub fn new<I: IntoIterator<Item = impl Into<String>>>(authentic: I) -> Self {
        Self {
            authentic: authentic.into_iter().map(Into::into).collect(),
        }
    }
}

impl<S> Invariant<S> for ExactlyOnce {
    fn name(&self) -> &str {
        "exactly_once"
    }

    fn observed(&self, _state: &S, history: &Recording) -> usize {
        count(history, |f| matches!(f, Fact::Effect { .. }))
    }

    fn needs(&self) -> &str {
        "effects: call `Recorder::effect(\"processed\", message)` where the flow performs \
         the effect (a `note` is narration only)"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        let mut done: HashMap<(&String, &String), &str> = HashMap::new();
        for (i, step) in history.steps.iter().enumerate() {
            if let Fact::Effect { kind, subject } = step.fact() {
                if !self.authentic.iter().any(|m| m == subject) {
                    return Err(Breach::at(i, format!("forged message {kind}")));
                }
                if let Some(first) = done.insert((kind, subject), &step.thread) {
                    return Err(Breach::at(i, format!("{kind} twice (already by {first})")));
                }
            }
        }
        Ok(())
    }
}

/// `linearizable`: the store operations recorded (calls and returns) have a sequential order
/// that respects real time and that the store's specification (a versioned email register
/// per user) would produce, as raceproof-history's search finds it.
#[derive(Debug, Clone)]
pub struct Linearizable {
    initial: EmailRecords,
}

impl Linearizable {
    /// Registers start from `initial`: user, email, version.
    pub fn new<'a>(initial: impl IntoIterator<Item = (&'a str, &'a str, u64)>) -> Self {
        Self {
            initial: linearizability::email_records(initial),
        }
    }
}

impl<S> Invariant<S> for Linearizable {
    fn name(&self) -> &str {
        "linearizable"
    }

    /// The operations that returned (refused ones included).
    fn observed(&self, _state: &S, history: &Recording) -> usize {
        linearizability::operations(history)
            .iter()
            .filter(|op| op.kind() != Kind::Info)
            .count()
    }

    fn needs(&self) -> &str {
        "operations: `Recorder::call` before and `Recorder::ret` after each one"
    }

    fn check(&self, _state: &S, history: &Recording) -> Result<(), Breach> {
        let ops = linearizability::operations(history);
        match raceproof_history::check(&self.initial, &ops) {
            Linearizability::Linearizable { .. } => Ok(()),
            Linearizability::NotLinearizable => {
                let last_return = ops
                    .iter()
                    .filter_map(|op| op.completion.at())
                    .max()
                    .unwrap_or(0);
                Err(Breach::at(
                    usize::try_from(last_return).unwrap_or(usize::MAX),
                    "no sequential order of these operations explains their results",
                ))
            }
            Linearizability::GaveUp(why) => Err(Breach::undecided(why.to_string())),
        }
    }
}

type Predicate<S> = Box<dyn Fn(&S) -> Result<(), String> + Send + Sync>;

/// Any named predicate on the final state.
pub struct FinalState<S> {
    name: String,
    predicate: Predicate<S>,
}

impl<S> FinalState<S> {
    /// `predicate` returns `Err(why)` when the state is wrong.
    pub fn new(
        name: &str,
        predicate: impl Fn(&S) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            predicate: Box::new(predicate),
        }
    }
}

impl<S> Invariant<S> for FinalState<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, state: &S, _history: &Recording) -> Result<(), Breach> {
        (self.predicate)(state).map_err(Breach::at_end)
    }
}

/// `no_deadlock` alone: asks only that every execution finishes (no deadlock, no panic,
/// which the checker reports whatever the invariants), for a model with nothing else to
/// check. Without any invariant a model is *inconclusive*: it stated nothing to prove.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDeadlock;

impl<S> Invariant<S> for NoDeadlock {
    fn name(&self) -> &str {
        "no_deadlock"
    }

    fn check(&self, _state: &S, _history: &Recording) -> Result<(), Breach> {
        Ok(())
    }

    fn needs(&self) -> &str {
        "nothing: every execution that finishes is one more that did not deadlock"
    }
}
