//! A burst as a linearizability history (raceproof-history's format), searched with the one
//! checker the model harness uses too.
//!
//! A 2xx is `ok`, a status in the invariant's `fail_statuses` is `fail` (it did not happen:
//! left out), anything else (another status, a timeout, a reset) is `info`: it may or may not
//! have happened. A read whose result is unknown constrains nothing and is left out; so is a
//! write whose value was to come from a response that never came.

use raceproof_history::models::{
    Counter, CounterCall, CounterRet, Register, RegisterCall, RegisterRet,
};
use raceproof_history::{Completion, Linearizability, Operation, SequentialSpec};

use crate::burst::Recorded;
use crate::scenario::{ActorSpec, OpSpec, SpecKind, ValueSpec};
use crate::wire::Response;

/// The search's answer, with how many operations it searched.
#[derive(Debug)]
pub struct Searched {
    pub operations: usize,
    pub result: Linearizability,
}

/// Searches the burst's history for a legal order of `model`, starting at `initial`. `Err`:
/// the history does not fit the model (an op for the other model, a counter read that is not
/// an integer).
pub fn search(
    model: SpecKind,
    fail_statuses: &[u16],
    actors: &[ActorSpec],
    records: &[Recorded],
    initial: Option<&str>,
) -> Result<Searched, String> {
    match model {
        SpecKind::Register => {
            let history = history(fail_statuses, actors, records, register_call)?;
            Ok(searched(&Register(initial.map(str::to_owned)), &history))
        }
        SpecKind::Counter => {
            let start = initial
                .map_or(Ok(0), |text| text.trim().parse::<i64>())
                .map_err(|_| "counter initial value is not an integer".to_owned())?;
            let history = history(fail_statuses, actors, records, counter_call)?;
            Ok(searched(&Counter(start), &history))
        }
    }
}

fn searched<S: SequentialSpec>(initial: &S, history: &[Operation<S::Call, S::Ret>]) -> Searched {
    Searched {
        operations: history.len(),
        result: raceproof_history::check(initial, history),
    }
}

/// One request seen as an operation of the model: the call, and the result an `ok` response
/// observed. `Ok(None)`: the request says nothing about the model.
type Convert<C, R> =
    fn(&OpSpec, &Recorded, Option<&Response>) -> Result<Option<(C, Option<R>)>, String>;

/// The history of the burst's requests; `fail` ones are left out.
fn history<C, R>(
    fail_statuses: &[u16],
    actors: &[ActorSpec],
    records: &[Recorded],
    convert: Convert<C, R>,
) -> Result<Vec<Operation<C, R>>, String> {
    let mut history = Vec::new();
    for record in records {
        let Some(actor) = actors.get(record.actor) else {
            continue;
        };
        let Some(op) = actor.op.as_ref() else {
            continue;
        };
        let outcome = &record.outcome;
        let ok = match &outcome.result {
            Ok(response) if response.is_success() => Some(response),
            Ok(response) if fail_statuses.contains(&response.status) => continue,
            _ => None,
        };
        let Some((call, ret)) = convert(op, record, ok)? else {
            continue;
        };
        let completion = match ret {
            Some(ret) => Completion::Ok {
                at: outcome.complete_ns,
                ret,
            },
            None => Completion::Info,
        };
        history.push(Operation::new(
            actor.name.clone(),
            call,
            outcome.invoke_ns,
            completion,
        ));
    }
    Ok(history)
}

/// The value an op writes: the template's expansion, or what the response says.
fn value(spec: &ValueSpec, record: &Recorded, ok: Option<&Response>) -> Option<String> {
    match spec {
        ValueSpec::Template(_) => record.op_value.clone(),
        ValueSpec::Response(extract) => ok.and_then(|response| extract.apply(response)),
    }
}

type RegisterOp = (RegisterCall<String>, Option<RegisterRet<String>>);

fn register_call(
    op: &OpSpec,
    record: &Recorded,
    ok: Option<&Response>,
) -> Result<Option<RegisterOp>, String> {
    // `ok` is Some exactly when the response is a 2xx: the result is known.
    let done = |ret: RegisterRet<String>| ok.map(|_| ret);
    Ok(match op {
        OpSpec::Read { value_from } => ok.map(|response| {
            (
                RegisterCall::Read,
                Some(RegisterRet::Read(value_from.apply(response))),
            )
        }),
        OpSpec::Write { value: spec } => value(spec, record, ok)
            .map(|value| (RegisterCall::Write(value), done(RegisterRet::Written))),
        OpSpec::Cas { value: spec, .. } => {
            match (record.op_expect.clone(), value(spec, record, ok)) {
                (Some(expect), Some(new)) => Some((
                    RegisterCall::Cas { expect, new },
                    done(RegisterRet::Swapped),
                )),
                _ => None,
            }
        }
        OpSpec::Add { .. } => return Err(format!("op {op:?} does not apply to a register")),
    })
}

type CounterOp = (CounterCall, Option<CounterRet>);

fn counter_call(
    op: &OpSpec,
    _record: &Recorded,
    ok: Option<&Response>,
) -> Result<Option<CounterOp>, String> {
    Ok(match op {
        OpSpec::Add { delta } => Some((CounterCall::Add(*delta), ok.map(|_| CounterRet::Added))),
        OpSpec::Read { value_from } => match ok.and_then(|response| value_from.apply(response)) {
            Some(seen) => {
                let seen = seen
                    .trim()
                    .parse()
                    .map_err(|_| format!("counter read `{seen}` is not an integer"))?;
                Some((CounterCall::Read, Some(CounterRet::Read(seen))))
            }
            None => None,
        },
        OpSpec::Write { .. } | OpSpec::Cas { .. } => {
            return Err(format!("op {op:?} does not apply to a counter"));
        }
    })
}
