//! A recorded model history as a linearizability history: the calls and returns the actors
//! recorded become raceproof-history's [`Operation`]s on one versioned email register per
//! user, which `raceproof_history::check` searches (the one checker the race tester uses too).
//!
//! An operation's interval runs from its `Call` step to its `Return` step (times are step
//! indices). A refusal (authentication, validation) is `fail`: it did not touch the register.
//! A call that never returned is `info`: it may or may not have taken effect.

use crate::event::{Call, Fact, Ret};
use crate::recorder::Recording;
use raceproof_history::models::{Keyed, VersionedCall, VersionedRegister, VersionedRet};
use raceproof_history::{Completion, Operation};
use std::collections::{BTreeMap, HashMap};

/// Each user's email record: a versioned register per user name.
pub type EmailRecords = Keyed<String, VersionedRegister<String>>;

/// One email operation of a model history (`None` result: no such user).
pub type EmailOperation = Operation<(String, VersionedCall<String>), Option<VersionedRet<String>>>;

/// The registers `initial` describes: user, email, version.
pub fn email_records<'a>(
    initial: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) -> EmailRecords {
    Keyed(
        initial
            .into_iter()
            .map(|(user, email, version)| {
                (
                    user.to_owned(),
                    VersionedRegister {
                        value: email.to_owned(),
                        version,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The operations `history` recorded, in the order they were called.
pub fn operations(history: &Recording) -> Vec<EmailOperation> {
    let mut ops: Vec<EmailOperation> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (i, step) in history.steps.iter().enumerate() {
        match step.fact() {
            Fact::Call { op, call } => {
                open.insert(*op, ops.len());
                ops.push(Operation::new(
                    step.thread.clone(),
                    email_call(call),
                    i as u64,
                    Completion::Info,
                ));
            }
            Fact::Return { op, ret } => {
                if let Some(index) = open.remove(op) {
                    ops[index].completion = completion(ret, i as u64);
                }
            }
            _ => {}
        }
    }
    ops
}

fn email_call(call: &Call) -> (String, VersionedCall<String>) {
    match call {
        Call::UpdateEmail {
            user,
            expected_version,
            email,
        } => (
            user.clone(),
            VersionedCall::Update {
                expected_version: *expected_version,
                value: email.clone(),
            },
        ),
        Call::ReadEmail { user } => (user.clone(), VersionedCall::Read),
    }
}

fn completion(ret: &Ret, at: u64) -> Completion<Option<VersionedRet<String>>> {
    let ret = match ret {
        Ret::Refused => return Completion::Fail { at },
        Ret::Updated { version } => VersionedRet::Updated { version: *version },
        Ret::Conflict => VersionedRet::Conflict,
        Ret::Read { email, version } => VersionedRet::Read {
            value: email.clone(),
            version: *version,
        },
    };
    Completion::Ok { at, ret: Some(ret) }
}
