//! `operate` (seed 002): the same signed request submitted twice (or more), and a spliced
//! signature. The flows record each processing as an effect; `exactly_once` reads them.
//!
//! Both of the seed's `/operate` routes are `async def`, so every request here is an async
//! task, and `operate` is judged under each deployment. Expected, from first principles:
//!
//! | variant | EventLoop | ThreadPool | Workers(2) |
//! |---|---|---|---|
//! | `seed_vulnerable` | proven: no await between the check and the write, so on one loop the two requests run one after the other | violated: the check and the write are two statements, and the other thread runs between them | violated: each process has its own `processed_set` and processes the message once |
//! | `seed_vulnerable/awaited_storage` | violated: the other request runs at the await on the storage check | violated | violated |
//! | `seed_fix` | proven: `get_lock` has no await in it, so both requests get the same `asyncio.Lock`, and the check and the mark are under it | violated: two threads each install a lock of their own in `get_lock` | violated: each process has its own lock map and set |
//! | `proven_fix` | proven | proven: one atomic insert-if-absent | violated: each process has its own replay set |
//! | `proven_fix/redis` | proven | proven | proven: both processes insert into one Redis with `SET NX` |

use super::{judged, narrator};
use raceproof_check::{AnyScenario, ExactlyOnce, Expected, Recorder, Scenario, Worker};
use raceproof_core::replay::{HmacKey, ManualClock, ReplaySet, ResourceFlags, SignedFields};
use raceproof_core::service::Operations;
use raceproof_core::sync::Arc;
use raceproof_core::sync::tokio::task::spawn_blocking;
use raceproof_flows::backends::{ModelReplayStore, RedisProtocol, RedisServer};
use raceproof_flows::{
    OperateError, OperateFlow, OperateRequest, ProvenOperate, ProvenOperateCas, SeedOperate,
    SeedPayload, SeedRoute,
};

/// What the proven `/operate` entries check: the service's admission (the server's too).
const ADMIT: &str = "raceproof_core::service::Operations::admit";
/// What the splice entry checks: the field encoding's verification, before admission.
const VERIFY: &str = "raceproof_core::replay::HmacKey::verify_request";

/// The seed's key, and the time at which the models run.
const SECRET: &[u8] = b"super-secret-key";
const NOW: i64 = 1_700_000_000;

/// `/operate` as one worker's async handler calls it.
pub enum OperateModel {
    /// The seed's `async def` route, ported.
    Seed(Box<SeedOperate>),
    /// The service's admission over in-process state: called without an await.
    InMemory(Box<dyn OperateFlow>),
    /// The service's admission over a shared store: from a blocking task the handler
    /// awaits, as raceproof-server runs it.
    Shared(Arc<ProvenOperate<ModelReplayStore, ManualClock>>),
}

impl OperateModel {
    /// One request, as the handler serves it.
    pub async fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        match self {
            OperateModel::Seed(seed) => seed.operate(request).await,
            OperateModel::InMemory(flow) => flow.operate(request),
            OperateModel::Shared(flow) => {
                let (flow, request) = (flow.clone(), request.clone());
                match spawn_blocking(move || flow.operate(&request)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(OperateError::Unavailable("blocking task failed".into())),
                }
            }
        }
    }
}

fn key() -> HmacKey {
    HmacKey::new(SECRET).expect("the seed's key is not empty")
}

/// Which `/operate` runs: a seed route, or ours with a replay set of `shards` shards, with
/// compare-and-swap flags, or over a Redis every worker shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperateImpl {
    Seed(SeedRoute),
    Proven { shards: usize },
    ProvenCas,
    ProvenRedis,
}

impl OperateImpl {
    pub fn name(self) -> String {
        match self {
            OperateImpl::Seed(SeedRoute::Vulnerable) => "seed_vulnerable".to_owned(),
            OperateImpl::Seed(SeedRoute::VulnerableAwaitingStorage) => {
                "seed_vulnerable/awaited_storage".to_owned()
            }
            OperateImpl::Seed(SeedRoute::Hardened) => "seed_fix".to_owned(),
            OperateImpl::Proven { shards: 1 } => "proven_fix".to_owned(),
            OperateImpl::Proven { .. } => "proven_fix/sharded".to_owned(),
            OperateImpl::ProvenCas => "proven_fix/cas".to_owned(),
            OperateImpl::ProvenRedis => "proven_fix/redis".to_owned(),
        }
    }

    /// One worker's `/operate`: its own state, and the Redis every worker shares.
    fn build(self, worker: &Worker<'_>) -> OperateModel {
        let rec = worker.recorder();
        let log = narrator(rec);
        let clock = || ManualClock::new(NOW);
        match self {
            OperateImpl::Seed(route) => {
                OperateModel::Seed(Box::new(SeedOperate::new(route, key(), log)))
            }
            OperateImpl::Proven { shards } => {
                let set = ReplaySet::sharded(64, shards);
                let operations = Operations::with_clock(set, clock());
                OperateModel::InMemory(Box::new(ProvenOperate::new(key(), operations, log)))
            }
            OperateImpl::ProvenCas => OperateModel::InMemory(Box::new(ProvenOperateCas::new(
                key(),
                ResourceFlags::new(["r1", "ab", "a"]),
                clock(),
                log,
            ))),
            OperateImpl::ProvenRedis => {
                let redis =
                    worker.shared("redis", |rec: &Recorder| RedisServer::new(narrator(rec)));
                let store = ModelReplayStore::new(redis, RedisProtocol::SetNx);
                let operations = Operations::with_clock(store, clock());
                OperateModel::Shared(Arc::new(ProvenOperate::new(key(), operations, log)))
            }
        }
    }

    /// Names `function` as what `scenario` checks, for our variants.
    fn covering(self, scenario: Scenario<OperateModel>, function: &str) -> Scenario<OperateModel> {
        match self {
            OperateImpl::Seed(_) => scenario,
            _ => scenario.covers(function),
        }
    }

    /// The request the key holder signs for `(resource, action)`, in this variant's scheme.
    fn signed(self, resource_id: &str, action: &str) -> OperateRequest {
        match self {
            OperateImpl::Seed(_) => OperateRequest::Seed(SeedPayload::sign(
                &key(),
                resource_id,
                action,
                &NOW.to_string(),
            )),
            _ => {
                let fields = SignedFields {
                    request_id: "req-1".to_owned(),
                    resource_id: resource_id.to_owned(),
                    action: action.to_owned(),
                    timestamp: NOW,
                };
                let signature = key().sign(&fields).expect("fields are valid").to_hex();
                OperateRequest::Signed { fields, signature }
            }
        }
    }
}

/// The message name of `(resource, action)` at the models' time.
fn message(resource_id: &str, action: &str) -> String {
    raceproof_flows::message_name(resource_id, action, &NOW.to_string())
}

/// The same signed request submitted `submissions` times, each an async request.
pub fn operate(imp: OperateImpl, submissions: usize) -> Scenario<OperateModel> {
    let request = imp.signed("r1", "refund");
    let flow = if submissions == 2 {
        "operate".to_owned()
    } else {
        format!("operate_{submissions}_submissions")
    };
    let mut scenario = Scenario::per_worker(&flow, &imp.name(), move |w| imp.build(w));
    for n in 1..=submissions {
        let request = request.clone();
        let what = if n == 1 {
            "submits the signed refund of r1"
        } else {
            "submits the same request again"
        };
        scenario = scenario.task(None, what, async move |ops: &OperateModel| {
            let _ = ops.operate(&request).await;
        });
    }
    imp.covering(
        scenario.invariant(ExactlyOnce::new([message("r1", "refund")])),
        ADMIT,
    )
}

/// A genuine ("ab", "c") request, and an attacker who moves the field boundary and replays
/// its signature as ("a", "bc").
pub fn operate_splice(imp: OperateImpl) -> Scenario<OperateModel> {
    let genuine = imp.signed("ab", "c");
    let spliced = match genuine.clone() {
        OperateRequest::Seed(payload) => OperateRequest::Seed(SeedPayload {
            resource_id: "a".to_owned(),
            action: "bc".to_owned(),
            ..payload
        }),
        OperateRequest::Signed { fields, signature } => OperateRequest::Signed {
            fields: SignedFields {
                resource_id: "a".to_owned(),
                action: "bc".to_owned(),
                ..fields
            },
            signature,
        },
    };
    let scenario = Scenario::per_worker("operate_splice", &imp.name(), move |w| imp.build(w))
        .task(
            None,
            "submits the signed (ab, c)",
            async move |ops: &OperateModel| {
                let _ = ops.operate(&genuine).await;
            },
        )
        .task(
            None,
            "submits (a, bc) with the same signature",
            async move |ops: &OperateModel| {
                let _ = ops.operate(&spliced).await;
            },
        )
        .invariant(ExactlyOnce::new([message("ab", "c")]))
        // A fix rejects the forged signature before it touches shared state.
        .allow_idle("T2");
    imp.covering(scenario, VERIFY)
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    let violated = || Expected::Violated("exactly_once".to_owned());
    let mut models: Vec<Box<dyn AnyScenario>> = Vec::new();
    // The verdicts by deployment, and why: see the table at the top of this file.
    for (imp, expected) in [
        (
            OperateImpl::Seed(SeedRoute::Vulnerable),
            [Expected::Proven, violated(), violated()],
        ),
        (
            OperateImpl::Seed(SeedRoute::VulnerableAwaitingStorage),
            [violated(), violated(), violated()],
        ),
        (
            OperateImpl::Seed(SeedRoute::Hardened),
            [Expected::Proven, violated(), violated()],
        ),
        (
            OperateImpl::Proven { shards: 1 },
            [Expected::Proven, Expected::Proven, violated()],
        ),
        (
            OperateImpl::ProvenRedis,
            [Expected::Proven, Expected::Proven, Expected::Proven],
        ),
    ] {
        models.extend(judged(operate(imp, 2), expected));
    }
    // A forged signature is accepted on any deployment: judged on one.
    for imp in [
        OperateImpl::Seed(SeedRoute::Vulnerable),
        OperateImpl::Seed(SeedRoute::Hardened),
    ] {
        models.push(Box::new(
            operate_splice(imp).expect_violated("exactly_once"),
        ));
    }
    let proven = OperateImpl::Proven { shards: 1 };
    models.push(Box::new(operate_splice(proven).expect_proven()));
    // Three requests. Ours, exhaustively on every deployment. The seed's route does three
    // I/O awaits and takes two locks per request: three of them are past the exploration
    // budget (200,000 executions, inconclusive), so they are judged within a stated bound
    // of two preemptions, which covers the races above (each needs one).
    models.extend(judged(
        operate(proven, 3),
        [Expected::Proven, Expected::Proven, violated()],
    ));
    models.extend(judged(
        operate(OperateImpl::Seed(SeedRoute::Hardened), 3).preemption_bound(2),
        [Expected::Proven, violated(), violated()],
    ));
    models
}

/// The proven fix with a sharded replay set, and the lock-free variant.
pub fn strategy_models() -> Vec<Box<dyn AnyScenario>> {
    vec![
        Box::new(operate(OperateImpl::Proven { shards: 2 }, 2).expect_proven()),
        Box::new(operate(OperateImpl::ProvenCas, 2).expect_proven()),
    ]
}
