//! Fixtures shared by the wall-clock benches (`strategies.rs`) and the instruction-count
//! benches (`instructions.rs`), so that both measure exactly the same operations.
// Each bench uses its own subset of these.
#![allow(dead_code)]

use raceproof_core::auth::{Credentials, DIGEST_LEN, PasswordHash, PasswordHasher, SALT_LEN};
use raceproof_core::replay::{
    DEFAULT_CAPACITY, HmacKey, ManualClock, ReplaySet, SignedFields, Tag,
};
use raceproof_core::service::{Accounts, Operations};
use raceproof_core::store::{Role, User, UserStore};
use raceproof_core::table::Table;
use raceproof_flows::{
    Narrator, OperateError, OperateRequest, SeedOperate, SeedRoute, SeedUsers, UserSpec,
};
use sha2::{Digest, Sha256};

pub const SECRET: &[u8] = b"super-secret-key";
pub const NOW: i64 = 1_700_000_000;
pub const EMAIL: &str = "alice@example.com";

/// The default strategy's name in `for_each_strategy`: where the seed's variants, which
/// have one table of their own, are reported.
pub fn default_strategy() -> &'static str {
    raceproof::strategies::default_name()
}

/// Bench-only stand-in for a password hash: SHA-256(salt || password), compared in
/// constant time. Not for storing passwords: it is fast on purpose, so that the flows
/// benches show the store's cost rather than Argon2id's (which `password_verify` shows).
pub struct BenchHasher {
    dummy: PasswordHash,
}

impl BenchHasher {
    pub fn new() -> Self {
        Self {
            dummy: Self::digest_of("dummy", [7; SALT_LEN]),
        }
    }

    fn raw(password: &str, salt: &[u8; SALT_LEN]) -> [u8; DIGEST_LEN] {
        Sha256::new()
            .chain_update(salt)
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    fn digest_of(password: &str, salt: [u8; SALT_LEN]) -> PasswordHash {
        PasswordHash::from_parts(salt, Self::raw(password, &salt))
    }
}

impl PasswordHasher for BenchHasher {
    fn hash(&self, password: &str) -> Result<PasswordHash, raceproof_core::auth::PasswordError> {
        Ok(Self::digest_of(password, [1; SALT_LEN]))
    }

    fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        stored.digest_matches(&Self::raw(password, stored.salt()))
    }

    fn dummy(&self) -> &PasswordHash {
        &self.dummy
    }
}

/// The users of every accounts bench: alice (user), admin (admin), and `extra` more
/// users `user-N`, each with password `<id>-pw`.
pub fn users(extra: usize) -> Vec<(String, Role)> {
    [("alice", Role::User), ("admin", Role::Admin)]
        .into_iter()
        .map(|(u, r)| (u.to_owned(), r))
        .chain((0..extra).map(|i| (format!("user-{i}"), Role::User)))
        .collect()
}

/// The proven fix's accounts (the service over the store) under strategy `T`, over
/// `users(extra)`, with the stand-in hasher.
pub fn accounts<T: Table<User> + Default>(extra: usize) -> Accounts<UserStore<T>, BenchHasher> {
    let hasher = BenchHasher::new();
    let store = UserStore::with_table(T::default());
    for (user, role) in users(extra) {
        let hash = hasher.hash(&format!("{user}-pw")).expect("bench hash");
        store.insert(&user, hash, role, EMAIL).expect("valid user");
    }
    Accounts::new(store, hasher)
}

/// The seed's accounts (`fixed`: its fix): the service over the seed's dict, over
/// `users(0)`, with the stand-in hasher.
pub fn seed_accounts(fixed: bool) -> Accounts<SeedUsers, BenchHasher> {
    let hasher = BenchHasher::new();
    let specs: Vec<UserSpec> = users(0)
        .into_iter()
        .map(|(id, role)| UserSpec {
            password: hasher.hash(&format!("{id}-pw")).expect("bench hash"),
            id,
            role,
            email: EMAIL.to_owned(),
        })
        .collect();
    Accounts::new(SeedUsers::new(fixed, &specs, Narrator::silent()), hasher)
}

pub fn credentials(user: &str) -> Credentials {
    Credentials::new(user, &format!("{user}-pw")).expect("valid credentials")
}

/// `n` distinct, realistic signed requests: a 22-character request id (16 random bytes in
/// base64url), an order number, an action.
pub fn requests(n: u64) -> Vec<SignedFields> {
    (0..n)
        .map(|i| SignedFields {
            request_id: format!("{i:0>22}"),
            resource_id: format!("order-{i:0>6}"),
            action: "refund".to_owned(),
            timestamp: NOW,
        })
        .collect()
}

pub fn key() -> HmacKey {
    HmacKey::new(SECRET).expect("key")
}

/// Each request with its hex signature.
pub fn signed(key: &HmacKey, fields: &[SignedFields]) -> Vec<(SignedFields, String)> {
    fields
        .iter()
        .map(|f| (f.clone(), key.sign(f).expect("valid").to_hex()))
        .collect()
}

/// The admission service at the benches' time, its replay set in `shards` shards,
/// unbounded.
pub fn operations(shards: usize) -> Operations<ReplaySet, ManualClock> {
    Operations::with_clock(
        ReplaySet::sharded(usize::MAX, shards),
        ManualClock::new(NOW),
    )
}

/// The admission service at the benches' time over `set`.
pub fn operations_over(set: ReplaySet) -> Operations<ReplaySet, ManualClock> {
    Operations::with_clock(set, ManualClock::new(NOW))
}

/// The seed's `/operate` (`fixed`: its hardened route).
pub fn seed_operate(fixed: bool) -> SeedBench {
    let route = if fixed {
        SeedRoute::Hardened
    } else {
        SeedRoute::Vulnerable
    };
    SeedBench(SeedOperate::new(route, key(), Narrator::silent()))
}

/// The seed's async `/operate`, driven to completion in one poll: with no latency set,
/// none of its awaits is pending (in-process storage, an uncontended lock), so the benches
/// measure the route's own work and no executor.
pub struct SeedBench(SeedOperate);

impl SeedBench {
    pub fn operate(&self, request: &OperateRequest) -> Result<(), OperateError> {
        use std::future::Future as _;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(self.0.operate(request)).poll(&mut cx) {
            std::task::Poll::Ready(answer) => answer,
            std::task::Poll::Pending => panic!("a seed route with no latency never waits"),
        }
    }
}

/// Entries already held in the `_held` benches' replay sets: a set larger than the caches,
/// at its steady size, as a long-running server's is (a fresh set only grows).
pub const HELD: u64 = 200_000;

/// The default replay set holding `HELD` distinct tags, spread like HMAC outputs
/// (splitmix64), none of them a request's.
pub fn held_set() -> ReplaySet {
    let set = ReplaySet::new(DEFAULT_CAPACITY);
    for i in 0..HELD {
        let mut tag = [0; 32];
        for (w, chunk) in (0u64..).zip(tag.chunks_exact_mut(8)) {
            let mut z = (i * 4 + w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        set.insert_if_absent(Tag(tag), NOW + 300, NOW)
            .expect("distinct tags");
    }
    set
}
