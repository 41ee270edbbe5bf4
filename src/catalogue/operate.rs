//! `operate` (seed 002): the same signed request submitted twice (or more), and a spliced
//! signature. The flows record each processing as an effect; `exactly_once` reads them.

use super::narrator;
use raceproof_check::{AnyScenario, ExactlyOnce, Recorder, Scenario};
use raceproof_core::replay::{HmacKey, ManualClock, ReplaySet, ResourceFlags, SignedFields};
use raceproof_core::service::Operations;
use raceproof_flows::{
    OperateFlow, OperateRequest, ProvenOperate, ProvenOperateCas, SeedOperate, SeedPayload, Variant,
};

/// What the proven `/operate` entries check: the service's admission (the server's too).
const ADMIT: &str = "raceproof_core::service::Operations::admit";
/// What the splice entry checks: the field encoding's verification, before admission.
const VERIFY: &str = "raceproof_core::replay::HmacKey::verify_request";

/// The seed's key, and the time at which the models run.
const SECRET: &[u8] = b"super-secret-key";
const NOW: i64 = 1_700_000_000;

/// `/operate`'s state in one execution.
pub struct OperateModel {
    pub flows: Box<dyn OperateFlow>,
}

fn key() -> HmacKey {
    HmacKey::new(SECRET).expect("the seed's key is not empty")
}

/// Which `/operate` runs: a seed variant, or ours with a replay set of `shards` shards, or
/// ours with compare-and-swap flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperateImpl {
    Seed { fixed: bool },
    Proven { shards: usize },
    ProvenCas,
}

impl OperateImpl {
    pub fn of(variant: Variant) -> Self {
        match variant {
            Variant::SeedVulnerable => OperateImpl::Seed { fixed: false },
            Variant::SeedFix => OperateImpl::Seed { fixed: true },
            Variant::ProvenFix => OperateImpl::Proven { shards: 1 },
        }
    }

    pub fn name(self) -> String {
        match self {
            OperateImpl::Seed { fixed: false } => "seed_vulnerable".to_owned(),
            OperateImpl::Seed { fixed: true } => "seed_fix".to_owned(),
            OperateImpl::Proven { shards: 1 } => "proven_fix".to_owned(),
            OperateImpl::Proven { .. } => "proven_fix/sharded".to_owned(),
            OperateImpl::ProvenCas => "proven_fix/cas".to_owned(),
        }
    }

    fn build(self, rec: &Recorder) -> OperateModel {
        let log = narrator(rec);
        let flows: Box<dyn OperateFlow> = match self {
            OperateImpl::Seed { fixed } => Box::new(SeedOperate::new(fixed, key(), log)),
            OperateImpl::Proven { shards } => {
                let set = ReplaySet::sharded(64, shards);
                let operations = Operations::with_clock(set, ManualClock::new(NOW));
                Box::new(ProvenOperate::new(key(), operations, log))
            }
            OperateImpl::ProvenCas => Box::new(ProvenOperateCas::new(
                key(),
                ResourceFlags::new(["r1", "ab", "a"]),
                ManualClock::new(NOW),
                log,
            )),
        };
        OperateModel { flows }
    }

    /// Names `function` as what `scenario` checks, for our variants.
    fn covering(self, scenario: Scenario<OperateModel>, function: &str) -> Scenario<OperateModel> {
        match self {
            OperateImpl::Seed { .. } => scenario,
            OperateImpl::Proven { .. } | OperateImpl::ProvenCas => scenario.covers(function),
        }
    }

    /// The request the key holder signs for `(resource, action)`, in this variant's scheme.
    fn signed(self, resource_id: &str, action: &str) -> OperateRequest {
        match self {
            OperateImpl::Seed { .. } => OperateRequest::Seed(SeedPayload::sign(
                &key(),
                resource_id,
                action,
                &NOW.to_string(),
            )),
            OperateImpl::Proven { .. } | OperateImpl::ProvenCas => {
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

/// The same signed request submitted `submissions` times.
pub fn operate(imp: OperateImpl, submissions: usize) -> Scenario<OperateModel> {
    let request = imp.signed("r1", "refund");
    let flow = if submissions == 2 {
        "operate".to_owned()
    } else {
        format!("operate_{submissions}_submissions")
    };
    let mut scenario = Scenario::new(&flow, &imp.name(), move |rec| imp.build(rec));
    for n in 1..=submissions {
        let request = request.clone();
        let what = if n == 1 {
            "submits the signed refund of r1"
        } else {
            "submits the same request again"
        };
        scenario = scenario.actor(None, what, move |ops| {
            let _ = ops.flows.operate(&request);
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
    let scenario = Scenario::new("operate_splice", &imp.name(), move |rec| imp.build(rec))
        .actor(None, "submits the signed (ab, c)", move |ops| {
            let _ = ops.flows.operate(&genuine);
        })
        .actor(
            None,
            "submits (a, bc) with the same signature",
            move |ops| {
                let _ = ops.flows.operate(&spliced);
            },
        )
        .invariant(ExactlyOnce::new([message("ab", "c")]))
        // A fix rejects the forged signature before it touches shared state.
        .allow_idle("T2");
    imp.covering(scenario, VERIFY)
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    let mut models: Vec<Box<dyn AnyScenario>> = Vec::new();
    for variant in Variant::ALL {
        let imp = OperateImpl::of(variant);
        let (twice, splice) = (operate(imp, 2), operate_splice(imp));
        if variant.is_seed() {
            models.push(Box::new(twice.expect_violated("exactly_once")));
            models.push(Box::new(splice.expect_violated("exactly_once")));
        } else {
            models.push(Box::new(twice.expect_proven()));
            models.push(Box::new(splice.expect_proven()));
            models.push(Box::new(operate(imp, 3).expect_proven()));
        }
    }
    models
}

/// The proven fix with a sharded replay set, and the lock-free variant.
pub fn strategy_models() -> Vec<Box<dyn AnyScenario>> {
    vec![
        Box::new(operate(OperateImpl::Proven { shards: 2 }, 2).expect_proven()),
        Box::new(operate(OperateImpl::ProvenCas, 2).expect_proven()),
    ]
}
