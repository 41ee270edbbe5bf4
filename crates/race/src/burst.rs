//! What one burst leaves behind: each request as recorded, what the invariants observed
//! around it, and what they found.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, AuditMark};
use crate::mode::Outcome;
use crate::wire::{Prepared, Response};

/// One request of a burst, as recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub actor: usize,
    /// `expect` and `value` of the actor's op, expanded when the request was prepared.
    pub op_expect: Option<String>,
    pub op_value: Option<String>,
    pub outcome: Outcome,
}

/// What the invariants need besides the burst itself, per invariant (same index).
#[derive(Debug, Clone, Default)]
pub enum Observation {
    #[default]
    None,
    /// `commit_order`: where the audit stood before the burst, and its entries after.
    Audit {
        before: AuditMark,
        after: Result<Vec<AuditEntry>, String>,
    },
    /// `final_state`: the response to the read after the burst, and the value each expectation
    /// compares with (its placeholders expanded).
    Final {
        response: Result<Response, String>,
        values: Vec<Result<serde_json::Value, String>>,
    },
}

/// What an invariant found in a burst: a violation, or why it could not decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub invariant: String,
    pub detail: String,
}

/// One fired and judged burst.
pub struct Burst {
    pub vars: BTreeMap<String, String>,
    pub prepared: Vec<Prepared>,
    pub records: Vec<Recorded>,
    pub observations: Vec<Observation>,
    /// Invariants that broke.
    pub violations: Vec<Finding>,
    /// Invariants that could not decide (the linearizability search past its limits): not
    /// violations, and not a pass either.
    pub undecided: Vec<Finding>,
    /// Last handler start minus first, when every response carried the server's stamp.
    pub server_spread_ns: Option<u64>,
    /// Last response head minus first, as this client saw them.
    pub client_spread_ns: Option<u64>,
    /// Requests that came back (or whose handler started, by the server's stamp) before the
    /// release: the burst was not synchronized, whatever the invariants say.
    pub early_requests: usize,
}
