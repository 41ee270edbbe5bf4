//! The PostgreSQL user repository against a real PostgreSQL (`DATABASE_URL`). Opt in with
//! `RACEPROOF_BACKEND_TESTS=1`; each test migrates and drops its own schema.
#![cfg(not(loom))]
#![allow(clippy::unwrap_used)]

mod common;

use common::{Sha256Hasher, TEST_SALT, backend_up, database_url, digest, opted_in, unique};
use raceproof_backends::PoolConfig;
use raceproof_backends::postgres::PgUserRepository;
use raceproof_core::audit::{Action, AuditQuery, Dropped};
use raceproof_core::auth::{Credentials, PasswordHasher as _};
use raceproof_core::backend::{BackendError, UserRepository};
use raceproof_core::service::Accounts;
use raceproof_core::store::{Principal, Role, StoreError};
use std::sync::Barrier;
use std::time::Duration;

/// A migrated repository in a fresh schema, dropped on drop.
struct Fixture {
    repo: PgUserRepository,
    admin: postgres::Client,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let schema = self.repo.schema().to_owned();
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

impl Fixture {
    fn new(test: &str) -> Option<Self> {
        if !opted_in(test) {
            return None;
        }
        let schema = unique("rp_test");
        let repo =
            PgUserRepository::with_schema(&database_url(), &schema, PoolConfig::default()).unwrap();
        if !backend_up(test, "postgres", repo.ping().is_ok()) {
            return None;
        }
        repo.migrate().unwrap();
        let admin = postgres::Client::connect(&database_url(), postgres::NoTls).unwrap();
        Some(Self { repo, admin })
    }

    fn add(&self, user: &str, role: Role) {
        self.repo
            .insert_parts(
                user,
                &TEST_SALT,
                &digest(&TEST_SALT, "pw"),
                role,
                &format!("{user}@example.com"),
            )
            .unwrap();
    }

    fn login(&self, user: &str) -> Principal {
        let creds = Credentials::new(user, "pw").unwrap();
        Accounts::new(&self.repo, Sha256Hasher::default())
            .authenticate(&creds)
            .unwrap()
    }

    /// Sets a role directly (setup between rounds; not audited).
    fn set_role(&mut self, user: &str, role: &str) {
        let schema = self.repo.schema().to_owned();
        self.admin
            .execute(
                &format!("UPDATE {schema}.users SET role = $2 WHERE id = $1"),
                &[&user, &role],
            )
            .unwrap();
    }
}

#[test]
fn migrations_are_idempotent_and_race_free() {
    let Some(fx) = Fixture::new("migrations_are_idempotent_and_race_free") else {
        return;
    };
    fx.repo.migrate().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| fx.repo.migrate().unwrap());
        }
    });
    assert_eq!(fx.repo.applied_migrations().unwrap(), vec![1]);
}

#[test]
fn authentication_reads_the_stored_hash() {
    let Some(fx) = Fixture::new("authentication_reads_the_stored_hash") else {
        return;
    };
    fx.add("ann", Role::Admin);
    let p = fx.login("ann");
    assert_eq!(
        (p.user_id(), p.role(), p.credential_epoch()),
        ("ann", Role::Admin, 0)
    );
    let hasher = Sha256Hasher::default();
    for (user, pw) in [("ann", "wrong"), ("nobody", "pw")] {
        let creds = Credentials::new(user, pw).unwrap();
        assert_eq!(
            Accounts::new(&fx.repo, &hasher).authenticate(&creds),
            Err(BackendError::Store(StoreError::InvalidCredentials))
        );
    }
    assert_eq!(
        fx.repo
            .insert_parts("ann", &TEST_SALT, &[0; 32], Role::User, "a@b"),
        Err(BackendError::Store(StoreError::AlreadyExists))
    );
}

#[test]
fn refusals_match_the_in_memory_store() {
    let Some(mut fx) = Fixture::new("refusals_match_the_in_memory_store") else {
        return;
    };
    fx.add("root", Role::Admin);
    fx.add("bob", Role::User);
    let root = fx.login("root");
    let bob = fx.login("bob");
    fn store<T>(e: StoreError) -> Result<T, BackendError> {
        Err(BackendError::Store(e))
    }
    assert_eq!(fx.repo.promote(&bob, "bob"), store(StoreError::Forbidden));
    assert_eq!(fx.repo.promote(&root, "ghost"), store(StoreError::NotFound));
    assert_eq!(fx.repo.demote(&root, "root"), store(StoreError::LastAdmin));
    assert_eq!(fx.repo.update_email(&bob, Some(1), "b2@x"), Ok(2));
    assert_eq!(
        fx.repo.update_email(&bob, Some(1), "b3@x"),
        store(StoreError::PreconditionFailed { current: 2 })
    );
    assert_eq!(fx.repo.update_email(&bob, None, "b4@x"), Ok(3));
    // A password change elsewhere (epoch bump) revokes bob's principal.
    let schema = fx.repo.schema().to_owned();
    fx.admin
        .execute(
            &format!("UPDATE {schema}.users SET credential_epoch = 1 WHERE id = 'bob'"),
            &[],
        )
        .unwrap();
    assert_eq!(
        fx.repo.update_email(&bob, Some(3), "b5@x"),
        store(StoreError::CredentialsRevoked)
    );
    fx.set_role("root", "admin");
    fx.repo.promote(&root, "bob").unwrap();
    fx.repo.demote(&root, "root").unwrap();
    let user = fx.repo.get("bob").unwrap().unwrap();
    assert_eq!((user.role, user.email.as_str()), (Role::Admin, "b4@x"));
    let audit = fx.repo.audit().unwrap();
    let seqs: Vec<u64> = audit.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert!(audit.iter().all(|c| c.authorized().is_ok()));
    assert_eq!(
        audit[0].action,
        Action::UpdateEmail {
            user: "bob".into(),
            email: "b2@x".into(),
            version: 2
        }
    );
}

#[test]
fn compare_and_set_from_eight_threads_succeeds_once_per_version() {
    let Some(fx) = Fixture::new("compare_and_set_from_eight_threads_succeeds_once_per_version")
    else {
        return;
    };
    fx.add("alice", Role::User);
    let alice = fx.login("alice");
    for version in 1..=10u64 {
        let barrier = Barrier::new(8);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|n| {
                    let (alice, barrier, repo) = (&alice, &barrier, &fx.repo);
                    s.spawn(move || {
                        barrier.wait();
                        repo.update_email(alice, Some(version), &format!("a{version}.{n}@x"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(ok, vec![&Ok(version + 1)], "version {version}: {results:?}");
        for r in &results {
            assert!(
                matches!(
                    r,
                    Ok(_) | Err(BackendError::Store(StoreError::PreconditionFailed { .. }))
                ),
                "{r:?}"
            );
        }
    }
    let user = fx.repo.get("alice").unwrap().unwrap();
    assert_eq!(user.version, 11);
    // The audit holds exactly one write per version, and the last one is the record.
    let audit = fx.repo.audit().unwrap();
    assert_eq!(audit.len(), 10);
    match &audit[9].action {
        Action::UpdateEmail { email, version, .. } => {
            assert_eq!((email.as_str(), *version), (user.email.as_str(), 11));
        }
        other => panic!("{other:?}"),
    }
}

/// PostgreSQL keeps every entry: pages seek by sequence number, past the in-memory log's
/// budget, and report nothing dropped.
#[test]
fn audit_pages_go_by_sequence_number_and_drop_nothing() {
    let Some(fx) = Fixture::new("audit_pages_go_by_sequence_number_and_drop_nothing") else {
        return;
    };
    fx.add("alice", Role::User);
    let alice = fx.login("alice");
    for n in 0..12 {
        fx.repo
            .update_email(&alice, None, &format!("a{n}@x"))
            .unwrap();
    }
    let first = fx.repo.audit_page(AuditQuery::after(0, 5)).unwrap();
    let seqs = |page: &raceproof_core::audit::AuditPage| {
        page.entries.iter().map(|c| c.seq).collect::<Vec<_>>()
    };
    assert_eq!(seqs(&first), [1, 2, 3, 4, 5]);
    assert!(first.more);
    assert_eq!(first.last_seq, 12);
    assert_eq!(first.dropped, Dropped::default());
    let last = fx.repo.audit_page(AuditQuery::after(10, 5)).unwrap();
    assert_eq!(seqs(&last), [11, 12]);
    assert!(!last.more);
    let newest = fx.repo.audit_page(AuditQuery::newest(3)).unwrap();
    assert_eq!(seqs(&newest), [10, 11, 12]);
}

#[test]
fn promote_racing_demote_never_commits_an_unauthorized_promotion() {
    let Some(mut fx) =
        Fixture::new("promote_racing_demote_never_commits_an_unauthorized_promotion")
    else {
        return;
    };
    fx.add("root", Role::Admin);
    fx.add("mallory", Role::Admin);
    fx.add("eve", Role::User);
    let root = fx.login("root");
    let mallory = fx.login("mallory");
    let mut outcomes = [0usize; 2];
    // The audit's length when each round starts.
    let mut round_starts = Vec::new();
    for _ in 0..40 {
        round_starts.push(fx.repo.audit().unwrap().len());
        fx.set_role("mallory", "admin");
        fx.set_role("eve", "user");
        let barrier = Barrier::new(2);
        let (promoted, demoted) = std::thread::scope(|s| {
            let (repo, barrier, root, mallory) = (&fx.repo, &barrier, &root, &mallory);
            let p = s.spawn(move || {
                barrier.wait();
                repo.promote(mallory, "eve")
            });
            let d = s.spawn(move || {
                barrier.wait();
                repo.demote(root, "mallory")
            });
            (p.join().unwrap(), d.join().unwrap())
        });
        demoted.unwrap();
        match promoted {
            Ok(()) => outcomes[0] += 1,
            Err(BackendError::Store(StoreError::Forbidden)) => outcomes[1] += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let audit = fx.repo.audit().unwrap();
    for commit in &audit {
        assert_eq!(commit.authorized(), Ok(()), "{commit:?}");
    }
    let seqs: Vec<u64> = audit.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=audit.len() as u64).collect::<Vec<_>>());
    // Independently of the roles the repository recorded: sequence numbers are the commit
    // order, so within a round (each starts with mallory re-made an admin) a promotion by
    // mallory must never commit after mallory's demotion.
    round_starts.push(audit.len());
    for (n, bounds) in round_starts.windows(2).enumerate() {
        let round = &audit[bounds[0]..bounds[1]];
        let demotion = round.iter().position(|c| c.action.name() == "demote");
        let promotion = round.iter().position(|c| c.actor == "mallory");
        if let (Some(d), Some(p)) = (demotion, promotion) {
            assert!(
                p < d,
                "round {n}: promotion committed after its actor's demotion: {round:?}"
            );
        }
    }
    eprintln!(
        "promotions committed before the demotion: {}, refused after it: {}",
        outcomes[0], outcomes[1]
    );
}

#[test]
fn postgres_down_is_unavailable() {
    if !opted_in("postgres_down_is_unavailable") {
        return;
    }
    let config = PoolConfig {
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        max_connections: 2,
    };
    let repo =
        PgUserRepository::connect("postgres://postgres:secret@127.0.0.1:1/test", config).unwrap();
    let err = repo.migrate().unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let creds = Credentials::new("ann", "pw").unwrap();
    let err = Accounts::new(&repo, &Sha256Hasher::default())
        .authenticate(&creds)
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let text = err.to_string();
    assert!(
        !text.contains("secret") && !text.contains("127.0.0.1"),
        "{text}"
    );
}

/// The statement semantics the loom models (`promote_sql/*`) assume, checked on the real
/// database, step by step on two connections: the one-statement promotion's subquery is not
/// re-checked (a demotion commits in between and the promotion still lands), while a `FOR
/// SHARE` read of the actor's row makes the demotion wait for the promotion's commit.
#[test]
fn unlocked_subquery_lets_a_demotion_through_and_for_share_does_not() {
    let Some(mut fx) =
        Fixture::new("unlocked_subquery_lets_a_demotion_through_and_for_share_does_not")
    else {
        return;
    };
    fx.add("admin", Role::Admin);
    fx.add("alice", Role::User);
    fx.add("root", Role::Admin);
    let s = fx.repo.schema().to_owned();
    let mut promoter = postgres::Client::connect(&database_url(), postgres::NoTls).unwrap();
    let mut demoter = postgres::Client::connect(&database_url(), postgres::NoTls).unwrap();
    let demote = format!("UPDATE {s}.users SET role = 'user' WHERE id = 'admin'");

    // Broken: the promotion's condition on admin's row is read once and never locked.
    let mut tx = promoter.transaction().unwrap();
    let n = tx
        .execute(
            &format!(
                "UPDATE {s}.users SET role = 'admin' WHERE id = 'alice' AND EXISTS \
                 (SELECT 1 FROM {s}.users WHERE id = 'admin' AND role = 'admin')"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(n, 1);
    // The demotion does not wait: it commits while the promotion is still open...
    demoter.batch_execute("SET lock_timeout = '2s'").unwrap();
    assert_eq!(demoter.execute(&demote, &[]).unwrap(), 1);
    // ...and the promotion commits after admin lost the role.
    tx.commit().unwrap();
    assert_eq!(fx.repo.get("admin").unwrap().unwrap().role, Role::User);
    assert_eq!(fx.repo.get("alice").unwrap().unwrap().role, Role::Admin);

    // Fixed: admin's row read FOR SHARE in the promoting transaction.
    fx.set_role("admin", "admin");
    fx.set_role("alice", "user");
    let mut tx = promoter.transaction().unwrap();
    let role: String = tx
        .query_one(
            &format!("SELECT role FROM {s}.users WHERE id = 'admin' FOR SHARE"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(role, "admin");
    demoter.batch_execute("SET lock_timeout = '200ms'").unwrap();
    let blocked = demoter.execute(&demote, &[]).unwrap_err();
    assert_eq!(
        blocked.code(),
        Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE),
        "the demotion must wait for the promotion's commit"
    );
    tx.execute(
        &format!("UPDATE {s}.users SET role = 'admin' WHERE id = 'alice'"),
        &[],
    )
    .unwrap();
    tx.commit().unwrap();
    // Now the demotion can run: it lands after the promotion, which was authorized.
    assert_eq!(demoter.execute(&demote, &[]).unwrap(), 1);
}

/// A real Argon2id hash goes in through the trait and comes back with its costs: the user
/// logs in, changes the password (through the trait too) and logs in with the new one.
#[test]
fn argon2id_hashes_survive_the_database() {
    use raceproof_core::auth::{Argon2Hasher, PasswordHasher};
    let Some(fx) = Fixture::new("argon2id_hashes_survive_the_database") else {
        return;
    };
    let hasher = Argon2Hasher::insecure_fast().unwrap();
    fx.repo
        .insert(
            "ann",
            hasher.hash("pw").unwrap(),
            Role::User,
            "ann@example.com",
        )
        .unwrap();
    let creds = Credentials::new("ann", "pw").unwrap();
    let ann = Accounts::new(&fx.repo, &hasher)
        .authenticate(&creds)
        .unwrap();
    fx.repo
        .change_password(&ann, "ann", hasher.hash("pw2").unwrap())
        .unwrap();
    assert!(
        Accounts::new(&fx.repo, &hasher)
            .authenticate(&creds)
            .is_err()
    );
    let again = Credentials::new("ann", "pw2").unwrap();
    assert_eq!(
        Accounts::new(&fx.repo, &hasher)
            .authenticate(&again)
            .unwrap()
            .credential_epoch(),
        1
    );
}

/// A server drops its state on its async runtime at shutdown: the repository's pooled
/// connections (blocking clients, each with a private runtime) must close without a panic
/// there, or the process aborts instead of exiting cleanly.
#[test]
fn a_repository_with_open_connections_can_be_dropped_on_an_async_runtime() {
    let test = "a_repository_with_open_connections_can_be_dropped_on_an_async_runtime";
    let Some(fixture) = Fixture::new(test) else {
        return;
    };
    let repo = PgUserRepository::with_schema(
        &database_url(),
        fixture.repo.schema(),
        PoolConfig::default(),
    )
    .unwrap();
    // The pool keeps this connection open after the ping.
    repo.ping().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move { drop(repo) });
}

/// Login upgrades a hash below the hasher's current cost in the database, as the in-memory
/// store does; neither epoch nor version moves, nothing is audited, and a snapshot from
/// before a password change cannot overwrite the new hash.
#[test]
fn login_upgrades_a_weak_stored_hash_unless_the_password_changed() {
    let test = "login_upgrades_a_weak_stored_hash_unless_the_password_changed";
    let Some(fixture) = Fixture::new(test) else {
        return;
    };
    let (weak, current) = (
        raceproof_core::auth::Argon2Hasher::insecure_fast().unwrap(),
        raceproof_core::auth::Argon2Hasher::owasp().unwrap(),
    );
    let stored = weak.hash("pw").unwrap();
    let repo = &fixture.repo;
    repo.insert("ann", stored.clone(), Role::User, "ann@example.com")
        .unwrap();
    let creds = Credentials::new("ann", "pw").unwrap();
    Accounts::new(&repo, &current).authenticate(&creds).unwrap();
    let after = repo.get("ann").unwrap().unwrap();
    assert_eq!(after.password.params(), current.dummy().params());
    assert!(current.verify("pw", &after.password));
    assert_eq!((after.version, after.credential_epoch), (1, 0));
    assert!(repo.audit().unwrap().is_empty());
    // The second login finds nothing to upgrade and still succeeds.
    Accounts::new(&repo, &current).authenticate(&creds).unwrap();
    assert_eq!(repo.get("ann").unwrap().unwrap().password, after.password);
    assert_eq!(
        repo.replace_hash_if_unchanged("ann", 0, &stored, weak.hash("pw").unwrap()),
        Ok(false)
    );
    assert_eq!(repo.get("ann").unwrap().unwrap().password, after.password);
}
