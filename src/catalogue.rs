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
use raceproof_core::replay::{
    HmacKey, ManualClock, ReplayGuard, ReplaySet, ResourceFlags, SignedFields,
};
use raceproof_core::store::{Role, StoreError, User, UserStore};
use raceproof_core::table::{
    GlobalMutex, GlobalParkingLot, GlobalRwLock, KeyLocks, Sharded, Table,
};

/// The Basic-auth endpoints' state as the models build it: a lock strategy, recorded.
pub type ModelAccounts<T = GlobalMutex<User>> = Accounts<T, Recorder, Argon2Hasher>;
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
        let hasher = Argon2Hasher::insecure_fast().expect("the random source works");
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
    pub fn accounts<T: Table<User> + Default>(&self, recorder: &Recorder) -> ModelAccounts<T> {
        let store = UserStore::with(T::default(), recorder.clone());
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

pub type PromoteFn<T> = fn(&ModelAccounts<T>, &Credentials, &str) -> Result<(), StoreError>;

/// What races the promotion in a `promote` scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rival {
    /// root demotes the acting admin.
    DemoteAdmin,
    /// The acting admin's password is changed (say, after a leak).
    ChangePassword,
}

/// `promote`: admin promotes alice while each rival acts on admin.
pub fn promote_against<T: Table<User> + Default + 'static>(
    flow: &str,
    variant: &str,
    flow_fn: PromoteFn<T>,
    rivals: &[Rival],
) -> Scenario<ModelAccounts<T>> {
    let fx = promote_fixture();
    let admin = fx.credentials("admin");
    let mut scenario = {
        let fx = fx.clone();
        Scenario::new(flow, variant, move |rec| fx.accounts(rec))
    }
    .actor(Some("admin"), "admin promotes alice", move |app| {
        let _ = flow_fn(app, &admin, "alice");
    });
    for rival in rivals {
        let hasher = fx.hasher.clone();
        scenario = match rival {
            Rival::DemoteAdmin => {
                let root = fx.credentials("root");
                scenario.actor(Some("root"), "root demotes admin", move |app| {
                    if let Ok(root) = app.store.authenticate(&hasher, &root) {
                        let _ = app.store.demote(&root, "admin");
                    }
                })
            }
            Rival::ChangePassword => {
                let (admin, new_password) = (fx.credentials("admin"), fx.new_password());
                scenario.actor(Some("admin"), "admin changes its password", move |app| {
                    if let Ok(me) = app.store.authenticate(&hasher, &admin) {
                        let _ = app
                            .store
                            .change_password(&me, "admin", new_password.clone());
                    }
                })
            }
        };
    }
    scenario.invariant(AuthorizedAtCommit)
}

/// `promote`: admin promotes alice while root demotes admin.
pub fn promote<T: Table<User> + Default + 'static>(
    variant: &str,
    flow_fn: PromoteFn<T>,
) -> Scenario<ModelAccounts<T>> {
    promote_against("promote", variant, flow_fn, &[Rival::DemoteAdmin])
}

/// `promote`, while admin's password is changed.
pub fn promote_vs_password_change<T: Table<User> + Default + 'static>(
    variant: &str,
    flow_fn: PromoteFn<T>,
) -> Scenario<ModelAccounts<T>> {
    promote_against(
        "promote_vs_password_change",
        variant,
        flow_fn,
        &[Rival::ChangePassword],
    )
}

pub type UpdateFn<T> =
    fn(&ModelAccounts<T>, u64, &Credentials, u64, &str) -> Result<u64, StoreError>;

/// `update_email`: alice sends two (or more) updates, all expecting version 1.
pub fn update_email<T: Table<User> + Default + 'static>(
    variant: &str,
    writers: usize,
    flow_fn: UpdateFn<T>,
) -> Scenario<ModelAccounts<T>> {
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
        .invariant(NoLostUpdate::new("alice", 1, |app: &ModelAccounts<T>| {
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

pub fn update_email_proven<T: Table<User>>(
    app: &ModelAccounts<T>,
    op: u64,
    c: &Credentials,
    v: u64,
    e: &str,
) -> Result<u64, StoreError> {
    app.update_email_proven_fix(op, c, Some(v), e)
}

/// `/operate`'s state with a replay set of `shards` shards.
fn operations_sharded(rec: &Recorder, shards: usize) -> ModelOperations {
    let key = HmacKey::new(SECRET).expect("the seed's key is not empty");
    let guard = ReplayGuard::with(
        key.clone(),
        ManualClock::new(NOW),
        ReplaySet::sharded(64, shards, rec.clone()),
    );
    Operations::new(key, guard, ResourceFlags::new(["r1", "ab", "a"]))
}

fn operations(rec: &Recorder) -> ModelOperations {
    operations_sharded(rec, 1)
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

type ProvenOperateFn = fn(
    &ModelOperations,
    &SignedFields,
    &str,
) -> Result<(), raceproof_core::flows::operate::OperateError>;

/// `operate` (ours): the same signed request submitted `submissions` times, with a replay
/// set of `shards` shards.
fn operate_proven(
    variant: &str,
    submissions: usize,
    shards: usize,
    flow_fn: ProvenOperateFn,
) -> Scenario<ModelOperations> {
    let fields = signed("r1", "refund");
    let tag = key().sign(&fields).expect("fields are valid").to_hex();
    let flow = if submissions == 2 {
        "operate".to_owned()
    } else {
        format!("operate_{submissions}_submissions")
    };
    let mut scenario = Scenario::new(&flow, variant, move |rec| operations_sharded(rec, shards));
    for n in 1..=submissions {
        let (fields, tag) = (fields.clone(), tag.clone());
        let what = if n == 1 {
            "submits the signed refund of r1".to_owned()
        } else {
            "submits the same request again".to_owned()
        };
        scenario = scenario.actor(None, &what, move |ops| {
            let _ = flow_fn(ops, &fields, &tag);
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

/// `demote_each_other`: two admins demote each other at once (write skew).
pub fn demote_each_other<T: Table<User> + Default + 'static>(
    variant: &str,
    flow_fn: PromoteFn<T>,
) -> Scenario<ModelAccounts<T>> {
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
        .invariant(FinalState::new(
            "admin_remains",
            |app: &ModelAccounts<T>| {
                let admins = ["alice", "bob"]
                    .iter()
                    .filter(|u| app.store.get(u).is_some_and(|r| r.role == Role::Admin))
                    .count();
                if admins == 0 {
                    Err("no admin is left".to_owned())
                } else {
                    Ok(())
                }
            },
        ))
        .invariant(AuthorizedAtCommit)
}

/// The proven fixes of the Basic-auth flows under lock strategy `T`, named `proven_fix/<name>`.
fn strategy_models<T: Table<User> + Default + 'static>(name: &str) -> Vec<Box<dyn Model>> {
    let variant = format!("proven_fix/{name}");
    vec![
        Box::new(promote::<T>(&variant, ModelAccounts::<T>::promote_proven_fix).expect_proven()),
        Box::new(update_email::<T>(&variant, 2, update_email_proven).expect_proven()),
        Box::new(
            demote_each_other::<T>(&variant, ModelAccounts::<T>::demote_proven_fix).expect_proven(),
        ),
    ]
}

/// Every catalogue entry, in the order the report lists them.
pub fn catalogue() -> Vec<Box<dyn Model>> {
    let mut models: Vec<Box<dyn Model>> = vec![
        Box::new(
            promote("seed_vulnerable", <ModelAccounts>::promote_seed_vulnerable)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote("seed_fix", <ModelAccounts>::promote_seed_fix)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(promote("proven_fix", <ModelAccounts>::promote_proven_fix).expect_proven()),
        Box::new(
            promote_vs_password_change("seed_vulnerable", <ModelAccounts>::promote_seed_vulnerable)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote_vs_password_change("seed_fix", <ModelAccounts>::promote_seed_fix)
                .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote_vs_password_change("proven_fix", <ModelAccounts>::promote_proven_fix)
                .expect_proven(),
        ),
        Box::new(
            promote_against(
                "promote_3_actors",
                "seed_fix",
                <ModelAccounts>::promote_seed_fix,
                &[Rival::DemoteAdmin, Rival::ChangePassword],
            )
            .preemption_bound(2)
            .expect_violated("authorized_at_commit"),
        ),
        Box::new(
            promote_against(
                "promote_3_actors",
                "proven_fix",
                <ModelAccounts>::promote_proven_fix,
                &[Rival::DemoteAdmin, Rival::ChangePassword],
            )
            .preemption_bound(2)
            .expect_proven(),
        ),
        Box::new(
            update_email::<GlobalMutex<User>>("seed_vulnerable", 2, update_email_vulnerable)
                .expect_violated("no_lost_update"),
        ),
        Box::new(
            update_email("seed_fix", 2, <ModelAccounts>::update_email_seed_fix)
                .expect_violated("no_lost_update"),
        ),
        Box::new(
            update_email("proven_fix", 2, update_email_proven::<GlobalMutex<User>>).expect_proven(),
        ),
        Box::new(
            update_email("proven_fix", 3, update_email_proven::<GlobalMutex<User>>)
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
        Box::new(
            operate_proven("proven_fix", 2, 1, ModelOperations::operate_proven_fix).expect_proven(),
        ),
        Box::new(
            operate_proven("proven_fix", 3, 1, ModelOperations::operate_proven_fix)
                .preemption_bound(2)
                .expect_proven(),
        ),
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
            demote_each_other("vulnerable", <ModelAccounts>::demote_vulnerable)
                .expect_violated("admin_remains"),
        ),
        Box::new(
            demote_each_other("proven_fix", <ModelAccounts>::demote_proven_fix).expect_proven(),
        ),
    ];
    // Every lock strategy must keep every proven fix proven: fast and wrong is not a
    // strategy. Sharded runs with 2 shards: its lock-ordering argument does not depend on N.
    models.extend(strategy_models::<GlobalParkingLot<User>>("parking_lot"));
    models.extend(strategy_models::<GlobalRwLock<User>>("rwlock"));
    models.extend(strategy_models::<Sharded<User, 2>>("sharded"));
    models.extend(strategy_models::<KeyLocks<User>>("key_locks"));
    models.push(Box::new(
        operate_proven(
            "proven_fix/sharded",
            2,
            2,
            ModelOperations::operate_proven_fix,
        )
        .expect_proven(),
    ));
    models.push(Box::new(
        operate_proven(
            "proven_fix/cas",
            2,
            1,
            ModelOperations::operate_proven_fix_cas,
        )
        .expect_proven(),
    ));
    models
}
