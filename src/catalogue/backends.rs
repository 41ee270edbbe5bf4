//! The shared backends' protocols (issue 11), statement by statement: `raceproof-backends`'
//! Redis and SQL shapes proven, and the broken shapes a port is tempted to write caught.
//!
//! - `replay_store`: two server processes share one Redis; a signed request is sent to one
//!   and replayed to the other. `SET NX PXAT` admits it once; `GET` then `SET` twice.
//! - `email_cas`: two compare-and-sets expecting version 1. One conditional `UPDATE` lets
//!   one win; `SELECT` then `UPDATE` loses an update.
//! - `promote_sql`: admin promotes alice while root demotes admin. Locking admin's row
//!   `FOR SHARE` in the promoting transaction makes the demotion wait; the one-statement
//!   `UPDATE ... WHERE EXISTS (admin is admin)` commits after admin lost the role.

use super::narrator;
use raceproof_check::{
    AnyScenario, AuthorizedAtCommit, Call, ExactlyOnce, Linearizable, NoLostUpdate, Ret, Scenario,
};
use raceproof_core::replay::{HmacKey, ManualClock, SignedFields};
use raceproof_core::store::{Role, StoreError};
use raceproof_core::sync::Arc;
use raceproof_flows::backends::{
    EmailSql, PromoteSql, RedisProtocol, RedisServer, SharedOperate, SqlAccounts,
};

const NOW: i64 = 1_700_000_000;

/// `/operate` on several processes sharing one Redis.
pub struct ReplayModel {
    pub ops: SharedOperate<ManualClock>,
}

fn key() -> HmacKey {
    HmacKey::new(b"super-secret-key").expect("the key is not empty")
}

/// One signed request submitted `submissions` times, alternately to two instances.
pub fn replay_store(protocol: RedisProtocol, submissions: usize) -> Scenario<ReplayModel> {
    let fields = SignedFields {
        request_id: "req-1".to_owned(),
        resource_id: "r1".to_owned(),
        action: "refund".to_owned(),
        timestamp: NOW,
    };
    let signature = key().sign(&fields).expect("fields are valid").to_hex();
    let message = raceproof_flows::message_name("r1", "refund", &NOW.to_string());
    let flow = if submissions == 2 {
        "replay_store".to_owned()
    } else {
        format!("replay_store_{submissions}_submissions")
    };
    let mut scenario = Scenario::new(&flow, protocol.name(), move |rec| {
        let log = narrator(rec);
        let redis = Arc::new(RedisServer::new(log.clone()));
        let clocks = vec![ManualClock::new(NOW), ManualClock::new(NOW)];
        ReplayModel {
            ops: SharedOperate::new(&key(), clocks, &redis, protocol, log),
        }
    });
    for n in 0..submissions {
        let (fields, signature) = (fields.clone(), signature.clone());
        let instance = n % 2;
        let what = if n == 0 {
            format!("submits the signed refund of r1 to instance {instance}")
        } else {
            format!("replays it to instance {instance}")
        };
        scenario = scenario.actor(None, &what, move |model| {
            let _ = model.ops.operate(instance, &fields, &signature);
        });
    }
    let scenario = scenario.invariant(ExactlyOnce::new([message]));
    match protocol {
        // The service's admission, over the model of `RedisReplayStore`'s one command.
        RedisProtocol::SetNx => scenario.covers("raceproof_core::service::Operations::admit"),
        RedisProtocol::GetThenSet => scenario,
    }
}

/// The user rows and the recorder, in one execution.
pub struct SqlModel {
    pub accounts: SqlAccounts,
    pub rec: raceproof_check::Recorder,
}

fn sql_model(rec: &raceproof_check::Recorder, users: &[(&str, Role)]) -> SqlModel {
    SqlModel {
        accounts: SqlAccounts::new(users, narrator(rec)),
        rec: rec.clone(),
    }
}

/// Two compare-and-sets of alice's email, both expecting version 1.
pub fn email_cas(protocol: EmailSql) -> Scenario<SqlModel> {
    let mut scenario = Scenario::new("email_cas", protocol.name(), |rec| {
        sql_model(rec, &[("alice", Role::User)])
    });
    for n in 1..=2u64 {
        let email = format!("alice{n}@example.com");
        scenario = scenario.actor(
            Some("alice"),
            &format!("alice sets {email}, expecting version 1"),
            move |model| {
                model.rec.call(
                    n,
                    Call::UpdateEmail {
                        user: "alice".to_owned(),
                        expected_version: Some(1),
                        email: email.clone(),
                    },
                );
                let result = model.accounts.update_email(protocol, "alice", 0, 1, &email);
                let ret = match result {
                    Ok(version) => Ret::Updated { version },
                    Err(StoreError::PreconditionFailed { .. }) => Ret::Conflict,
                    Err(_) => Ret::Refused,
                };
                model.rec.ret(n, ret);
            },
        );
    }
    let scenario = scenario
        .invariant(NoLostUpdate::new("alice", 1, |model: &SqlModel| {
            model
                .accounts
                .db
                .get("alice")
                .map(|row| (row.email, row.version))
        }))
        .invariant(Linearizable::new([("alice", "alice@example.com", 1)]));
    match protocol {
        // The statements `Accounts::update_email` runs on PostgreSQL, modelled.
        EmailSql::ConditionalUpdate => {
            scenario.covers("raceproof_backends::postgres::PgUserRepository::update_email")
        }
        EmailSql::CheckThenUpdate => scenario,
    }
}

/// admin promotes alice while root demotes admin.
pub fn promote_sql(protocol: PromoteSql) -> Scenario<SqlModel> {
    let scenario = Scenario::new("promote_sql", protocol.name(), |rec| {
        sql_model(
            rec,
            &[
                ("admin", Role::Admin),
                ("alice", Role::User),
                ("root", Role::Admin),
            ],
        )
    })
    .actor(Some("admin"), "admin promotes alice", move |model| {
        let _ = model.accounts.promote(protocol, "admin", 0, "alice");
    })
    .actor(Some("root"), "root demotes admin", |model| {
        let _ = model.accounts.demote("root", 0, "admin");
    })
    .invariant(AuthorizedAtCommit);
    match protocol {
        // The transaction `Accounts::promote` runs on PostgreSQL, modelled.
        PromoteSql::ForShare => {
            scenario.covers("raceproof_backends::postgres::PgUserRepository::promote")
        }
        PromoteSql::UnlockedSubquery => scenario,
    }
}

pub fn models() -> Vec<Box<dyn AnyScenario>> {
    vec![
        Box::new(replay_store(RedisProtocol::SetNx, 2).expect_proven()),
        Box::new(replay_store(RedisProtocol::SetNx, 3).expect_proven()),
        Box::new(replay_store(RedisProtocol::GetThenSet, 2).expect_violated("exactly_once")),
        Box::new(email_cas(EmailSql::ConditionalUpdate).expect_proven()),
        Box::new(email_cas(EmailSql::CheckThenUpdate).expect_violated("no_lost_update")),
        Box::new(promote_sql(PromoteSql::ForShare).expect_proven()),
        Box::new(promote_sql(PromoteSql::UnlockedSubquery).expect_violated("authorized_at_commit")),
    ]
}
