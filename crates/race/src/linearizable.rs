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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Outcome;
    use crate::scenario::RaceScenario;

    /// `adds` actors adding 1, 2, 4, ... and one reading `json:/n`, judged as a counter.
    fn counter_scenario(adds: u32) -> RaceScenario {
        let mut toml = String::from("name = \"adds\"\n");
        for i in 0..adds {
            toml.push_str(&format!(
                "[[actors]]\nname = \"add{i}\"\nmethod = \"POST\"\npath = \"/\"\nop = {{ kind = \"add\", delta = {} }}\n",
                1u64 << i
            ));
        }
        toml.push_str("[[actors]]\nname = \"read\"\nmethod = \"GET\"\npath = \"/\"\nop = { kind = \"read\", value_from = \"json:/n\" }\n");
        toml.push_str("[[invariant]]\nkind = \"linearizable\"\nmodel = \"counter\"\n");
        RaceScenario::parse(&toml, "t.toml").expect("the scenario parses")
    }

    fn record(actor: usize, status: u16, body: &str, invoke_ns: u64, complete_ns: u64) -> Recorded {
        Recorded {
            actor,
            op_expect: None,
            op_value: None,
            outcome: Outcome {
                invoke_ns,
                first_byte_ns: Some(complete_ns),
                complete_ns,
                early: false,
                result: Ok(Response {
                    status,
                    headers: Vec::new(),
                    body: body.to_owned().into(),
                }),
            },
        }
    }

    /// Every add overlaps every other; the read comes after all of them and sees `seen`.
    fn burst(adds: u32, seen: i64) -> Vec<Recorded> {
        let mut records: Vec<Recorded> = (0..adds as usize)
            .map(|i| record(i, 200, "{}", 0, 100))
            .collect();
        records.push(record(
            adds as usize,
            200,
            &format!("{{\"n\":{seen}}}"),
            101,
            102,
        ));
        records
    }

    fn searched(adds: u32, records: &[Recorded]) -> Result<Searched, String> {
        let scenario = counter_scenario(adds);
        search(SpecKind::Counter, &[409], &scenario.actors, records, None)
    }

    #[test]
    fn a_burst_becomes_a_history_that_the_shared_search_judges() {
        let ok = searched(3, &burst(3, 7)).expect("a counter history");
        assert_eq!(ok.operations, 4);
        assert!(ok.result.is_linearizable());
        let lost = searched(3, &burst(3, 3)).expect("a counter history");
        assert_eq!(lost.result, Linearizability::NotLinearizable);
        // The add of 4 refused (a fail status): it took no effect, and 3 is right.
        let mut refused = burst(3, 3);
        refused[2] = record(2, 409, "{}", 0, 100);
        let refused = searched(3, &refused).expect("a counter history");
        assert_eq!(refused.operations, 3);
        assert!(refused.result.is_linearizable());
        // A 5xx is info: the add of 4 may or may not have happened, both reads are legal.
        for seen in [3, 7] {
            let mut unknown = burst(3, seen);
            unknown[2] = record(2, 503, "{}", 0, 100);
            assert!(
                searched(3, &unknown)
                    .expect("a history")
                    .result
                    .is_linearizable()
            );
        }
        let mut garbled = burst(3, 0);
        garbled[3] = record(3, 200, r#"{"n":"x"}"#, 101, 102);
        let garbled = searched(3, &garbled);
        assert!(garbled.is_err_and(|why| why.contains("not an integer")));
    }

    #[test]
    fn a_burst_too_hard_to_search_gives_up_instead_of_answering() {
        // 2^20 subsets of adds, each its own counter value: past the search's state limit.
        let hard = searched(20, &burst(20, -1)).expect("a counter history");
        assert!(
            matches!(hard.result, Linearizability::GaveUp(_)),
            "{:?}",
            hard.result
        );
    }
}
