//! The model catalogue: every flow, in every variant, with the concurrent actors that
//! matter, its invariants, and the verdict each entry is expected to get.
//!
//! `tests/catalogue.rs` asserts those verdicts under loom, `cargo xtask verify` prints and
//! reports them, and `cargo xtask stress` runs the vulnerable ones on real threads.

use raceproof_check::{
    AuthorizedAtCommit, ExactlyOnce, FinalState, Linearizable, Model, NoLostUpdate, Recorder,
    Scenario,
};
use raceproof_core::auth::{Argon2Hasher, Credentials, PasswordHash, PasswordHasher};
use raceproof_core::flows::Accounts;
use raceproof_core::flows::operate::{Operations, SeedPayload};
use raceproof_core::replay::{HmacKey, ManualClock, ReplayGuard, ReplaySet, SignedFields};
use raceproof_core::store::{Role, StoreError, User, UserStore};
use raceproof_core::table::GlobalMutex;

/// The Basic-auth endpoints' state as the models build it: default strategy, recorded.
pub type ModelAccounts = Accounts<GlobalMutex<User>, Recorder, Argon2Hasher>;
/// `/operate`'s state as the models build it.
pub type ModelOperations = Operations<ManualClock, Recorder>;

/// The seed's key, and the time at which the models run.
const SECRET: &[u8] = b"super-secret-key";
const NOW: i64 = 1_700_000_000;

/// Users of the seed (`alice`, `admin`) plus a second admin, `root`; passwords are hashed
/// once, up front, with the cheapest Argon2id (hashing is not what is being checked).
#[derive(Clone)]
pub struct Fixture {
    hasher: Argon2Hasher,
    users: Vec<(&'static str, &'static str, Role, PasswordHash)>,
    new_password: PasswordHash,
}

impl Fixture {
    pub fn new(users: &[(&'static str, &'static str, Role)]) -> Self {
        let hasher = Argon2Hasher::insecure_fast();
        let hash = |pw: &str| hasher.hash(pw).expect("fixture passwords are valid");
        Self {
            users: users
                .iter()
                .map(|&(user, pw, role)| (user, pw, role, hash(pw)))
                .collect(),
            new_password: hash("n3w-pa55word"),
            hasher,
        }
    }

    /// Fresh accounts for one execution, reporting to `recorder`.
    pub fn accounts(&self, recorder: &Recorder) -> ModelAccounts {
        let store = UserStore::with(GlobalMutex::default(), recorder.clone());
        for (user, _, role, hash) in &self.users {
            store
                .insert(user, hash.clone(), *role, &format!("{user}@example.com"))
                .expect("fixture users are valid");
        }
        Accounts::new(store, self.hasher.clone())
    }

    /// The Basic credentials a user sends.
    pub fn credentials(&self, user: &str) -> Credentials {
        let (_, pw, _, _) = self
            .users
            .iter()
            .find(|(u, ..)| *u == user)
            .expect("fixture user exists");
        Credentials::new(user, pw).expect("fixture credentials are valid")
    }

    /// A new password's hash, for password-change actors.
    pub fn new_password(&self) -> PasswordHash {
        self.new_password.clone()
    }
}

fn promote_fixture() -> Fixture {
    Fixture::new(&[
        ("alice", "s3cr3t", Role::User),
        ("admin", "adm1n", Role::Admin),
        ("root", "r00t", Role::Admin),
    ])
}

type PromoteFn = fn(&ModelAccounts, &Credentials, &str) -> Result<(), StoreError>;

/// `promote`: admin promotes alice while root demotes admin.
fn promote(variant: &str, flow_fn: PromoteFn) -> Scenario<ModelAccounts> {
    let fx = promote_fixture();
    let (admin, root) = (fx.credentials("admin"), fx.credentials("root"));
    let hasher = fx.hasher.clone();
    Scenario::new("promote", variant, move |rec| fx.accounts(rec))
        .actor(Some("admin"), "admin promotes alice", move |app| {
            let _ = flow_fn(app, &admin, "alice");
        })
        .actor(Some("root"), "root demotes admin", move |app| {
            if let Ok(root) = app.store.authenticate(&hasher, &root) {
                let _ = app.store.demote(&root, "admin");
            }
        })
        .invariant(AuthorizedAtCommit)
}

/// `promote`, while admin's password is changed (say, after a leak).
fn promote_vs_password_change(variant: &str, flow_fn: PromoteFn) -> Scenario<ModelAccounts> {
    let fx = promote_fixture();
    let admin = fx.credentials("admin");
    let admin_again = admin.clone();
    let new_password = fx.new_password();
    let hasher = fx.hasher.clone();
    Scenario::new("promote_vs_password_change", variant, move |rec| {
        fx.accounts(rec)
    })
    .actor(Some("admin"), "admin promotes alice", move |app| {
        let _ = flow_fn(app, &admin, "alice");
    })
    .actor(Some("admin"), "admin changes its password", move |app| {
        if let Ok(me) = app.store.authenticate(&hasher, &admin_again) {
            let _ = app
                .store
                .change_password(&me, "admin", new_password.clone());
        }
    })
    .invariant(AuthorizedAtCommit)
}

type UpdateFn = fn(&ModelAccounts, u64, &Credentials, u64, &str) -> Result<u64, StoreError>;

/// `update_email`: alice sends two updates, both expecting version 1.
fn update_email(variant: &str, writers: usize, flow_fn: UpdateFn) -> Scenario<ModelAccounts> {
    let fx = Fixture::new(&[("alice", "s3cr3t", Role::User)]);
    let alice = fx.credentials("alice");
    let flow = if writers == 2 {
        "update_email".to_owned()
    } else {
        format!("update_email_{writers}_writers")
    };
    let mut scenario = Scenario::new(&flow, variant, move |rec| fx.accounts(rec));
    for n in 1..=writers {
        let (alice, email) = (alice.clone(), format!("alice{n}@example.com"));
        scenario = scenario.actor(
            Some("alice"),
            &format!("alice sets {email}, expecting version 1"),
            move |app| {
                let _ = flow_fn(app, n as u64, &alice, 1, &email);
            },
        );
    }
    scenario
        .invariant(NoLostUpdate::new("alice", 1, |app: &ModelAccounts| {
            app.store.get("alice").map(|u| (u.email, u.version))
        }))
        .invariant(Linearizable::new([("alice", "alice@example.com", 1)]))
}

/// The vulnerable endpoint takes no version: the client's expectation is simply ignored.
fn update_email_vulnerable(
    app: &ModelAccounts,
    op: u64,
    c: &Credentials,
    _expected: u64,
    e: &str,
) -> Result<u64, StoreError> {
    app.update_email_seed_vulnerable(op, c, e)
}

fn update_email_proven(
    app: &ModelAccounts,
    op: u64,
    c: &Credentials,
    v: u64,
    e: &str,
) -> Result<u64, StoreError> {
    app.update_email_proven_fix(op, c, Some(v), e)
}

fn operations(rec: &Recorder) -> ModelOperations {
    let key = HmacKey::new(SECRET).expect("the seed's key is not empty");
    let guard = ReplayGuard::with(
        key.clone(),
        ManualClock::new(NOW),
        ReplaySet::with_probe(64, rec.clone()),
    );
    Operations::new(key, guard)
}

fn key() -> HmacKey {
    HmacKey::new(SECRET).expect("the seed's key is not empty")
}

type SeedOperateFn =
    fn(&ModelOperations, &SeedPayload) -> Result<(), raceproof_core::flows::operate::OperateError>;

/// `operate` (seed variants): the same signed request submitted twice.
fn operate_seed(variant: &str, flow_fn: SeedOperateFn) -> Scenario<ModelOperations> {
    let payload = SeedPayload::sign(&key(), "r1", "refund", &NOW.to_string());
    let (first, second) = (payload.clone(), payload.clone());
    Scenario::new("operate", variant, operations)
        .actor(None, "submits the signed refund of r1", move |ops| {
            let _ = flow_fn(ops, &first);
        })
        .actor(None, "submits the same request again", move |ops| {
            let _ = flow_fn(ops, &second);
        })
        .invariant(ExactlyOnce::new([payload.message()]))
}

/// `operate_splice` (seed variants): a genuine ("ab", "c") request, and an attacker who
/// moves the field boundary and replays its signature as ("a", "bc").
fn operate_splice_seed(variant: &str, flow_fn: SeedOperateFn) -> Scenario<ModelOperations> {
    let genuine = SeedPayload::sign(&key(), "ab", "c", &NOW.to_string());
    let spliced = SeedPayload {
        resource_id: "a".to_owned(),
        action: "bc".to_owned(),
        ..genuine.clone()
    };
    let authentic = genuine.message();
    Scenario::new("operate_splice", variant, operations)
        .actor(None, "submits the signed (ab, c)", move |ops| {
            let _ = flow_fn(ops, &genuine);
        })
        .actor(
            None,
            "submits (a, bc) with the same signature",
            move |ops| {
                let _ = flow_fn(ops, &spliced);
            },
        )
        .invariant(ExactlyOnce::new([authentic]))
}

fn signed(resource_id: &str, action: &str) -> SignedFields {
    SignedFields {
        request_id: "req-1".to_owned(),
        resource_id: resource_id.to_owned(),
        action: action.to_owned(),
        timestamp: NOW,
    }
}

/// `operate` (ours): the same signed request twice, through the replay guard.
fn operate_proven(submissions: usize) -> Scenario<ModelOperations> {
    let fields = signed("r1", "refund");
    let tag = key().sign(&fields).expect("fields are valid").to_hex();
    let flow = if submissions == 2 {
        "operate".to_owned()
    } else {
        format!("operate_{submissions}_submissions")
    };
    let mut scenario = Scenario::new(&flow, "proven_fix", operations);
    for n in 1..=submissions {
        let (fields, tag) = (fields.clone(), tag.clone());
        let what = if n == 1 {
            "submits the signed refund of r1".to_owned()
        } else {
            "submits the same request again".to_owned()
        };
        scenario = scenario.actor(None, &what, move |ops| {
            let _ = ops.operate_proven_fix(&fields, &tag);
        });
    }
    scenario.invariant(ExactlyOnce::new(["r1/refund@1700000000"]))
}

/// `operate_splice` (ours): the field boundary is part of what is signed.
fn operate_splice_proven() -> Scenario<ModelOperations> {
    let genuine = signed("ab", "c");
    let tag = key().sign(&genuine).expect("fields are valid").to_hex();
    let spliced = signed("a", "bc");
    let tag2 = tag.clone();
    Scenario::new("operate_splice", "proven_fix", operations)
        .actor(None, "submits the signed (ab, c)", move |ops| {
            let _ = ops.operate_proven_fix(&genuine, &tag);
        })
        .actor(
            None,
            "submits (a, bc) with the same signature",
            move |ops| {
                let _ = ops.operate_proven_fix(&spliced, &tag2);
            },
        )
        .invariant(ExactlyOnce::new(["ab/c@1700000000"]))
}

type DemoteFn = fn(&ModelAccounts, &Credentials, &str) -> Result<(), StoreError>;

/// `demote_each_other`: two admins demote each other at once (write skew).
fn demote_each_other(variant: &str, flow_fn: DemoteFn) -> Scenario<ModelAccounts> {
    let fx = Fixture::new(&[
        ("alice", "s3cr3t", Role::Admin),
        ("bob", "b0bpass", Role::Admin),
    ]);
    let (alice, bob) = (fx.credentials("alice"), fx.credentials("bob"));
    Scenario::new("demote_each_other", variant, move |rec| fx.accounts(rec))
        .actor(Some("alice"), "alice demotes bob", move |app| {
            let _ = flow_fn(app, &alice, "bob");
        })
        .actor(Some("bob"), "bob demotes alice", move |app| {
            let _ = flow_fn(app, &bob, "alice");
        })
        .invariant(FinalState::new("admin_remains", |app: &ModelAccounts| {
            let admins = ["alice", "bob"]
                .iter()
                .filter(|u| app.store.get(u).is_some_and(|r| r.role == Role::Admin))
                .count();
            if admins == 0 {
                Err("no admin is left".to_owned())
            } else {
                Ok(())
            }
        }))
        .invariant(AuthorizedAtCommit)
}

/// Every catalogue entry, in the order the report lists them.
pub fn catalogue() -> Vec<Box<dyn Model>> {
    vec![
        Box::new(
            promote("seed_vulnerable", ModelAccounts::promote_seed_vulnerable)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote("seed_fix", ModelAccounts::promote_seed_fix)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(promote("proven_fix", ModelAccounts::promote_proven_fix).expect_proven()),
        Box::new(
            promote_vs_password_change("seed_fix", ModelAccounts::promote_seed_fix)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote_vs_password_change("proven_fix", ModelAccounts::promote_proven_fix)
                .expect_proven(),
        ),
        Box::new(
            update_email("seed_vulnerable", 2, update_email_vulnerable)
                .expect_violated("no_lost_update"),
        ),
        Box::new(
            update_email("seed_fix", 2, ModelAccounts::update_email_seed_fix)
                .expect_violated("no_lost_update"),
        ),
        Box::new(update_email("proven_fix", 2, update_email_proven).expect_proven()),
        Box::new(
            update_email("proven_fix", 3, update_email_proven)
                .preemption_bound(2)
                .expect_proven(),
        ),
        Box::new(
            operate_seed("seed_vulnerable", ModelOperations::operate_seed_vulnerable)
                .expect_violated("exactly_once"),
        ),
        Box::new(
            operate_seed("seed_fix", ModelOperations::operate_seed_fix)
                .expect_violated("exactly_once"),
        ),
        Box::new(operate_proven(2).expect_proven()),
        Box::new(operate_proven(3).preemption_bound(2).expect_proven()),
        Box::new(
            operate_splice_seed("seed_vulnerable", ModelOperations::operate_seed_vulnerable)
                .expect_violated("exactly_once"),
        ),
        Box::new(
            operate_splice_seed("seed_fix", ModelOperations::operate_seed_fix)
                .expect_violated("exactly_once"),
        ),
        Box::new(operate_splice_proven().expect_proven()),
        Box::new(
            demote_each_other("vulnerable", ModelAccounts::demote_vulnerable)
                .expect_violated("admin_remains"),
        ),
        Box::new(demote_each_other("proven_fix", ModelAccounts::demote_proven_fix).expect_proven()),
    ]
}
