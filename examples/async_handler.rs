//! Model your own async handler: a gift code worth 10 credits, redeemed through an
//! axum-style handler that awaits its database.
//!
//! - `redeem_racy` awaits "already redeemed?", then awaits "mark redeemed": another request
//!   runs at the first await, even on one event loop;
//! - `redeem_locked` holds an async lock across the check and the mark: right in one process,
//!   wrong in two (the lock is in each process's memory, the database is shared);
//! - `redeem_claimed` asks the database to check and mark in one statement: right anywhere.
//!
//! Each is judged on one event loop, a thread pool and two workers. The same `main` serves
//! both builds, with no `cfg` in this file: `Scenario::run` model-checks under loom, and runs
//! the requests on real tokio runtimes otherwise (which can show a race, never prove a fix).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo run --release --example async_handler   # every interleaving
//! cargo run --release --example async_handler                          # real tokio
//! ```

use raceproof::check::{Deployment, ExactlyOnce, Expected, FinalState, Recorder, Scenario};
use raceproof::core::sync::Mutex;
use raceproof::core::sync::tokio::sync::Mutex as AsyncMutex;
use raceproof::core::sync::tokio::{io, time};
use std::collections::HashSet;
use std::time::Duration;

/// How long the database takes to answer (the model ignores it; real tokio waits for it).
const LATENCY: Duration = Duration::from_millis(1);

/// The database: each call is an await on I/O, marked with `io` so the model sees it. It is
/// shared by every worker of a deployment (`Worker::shared`), and narrates what it reads and
/// writes into the model's trace.
pub struct Db {
    redeemed: Mutex<HashSet<String>>,
    log: Recorder,
}

impl Db {
    fn new(log: &Recorder) -> Self {
        Self {
            redeemed: Mutex::named("db.redeemed", HashSet::new()),
            log: log.clone(),
        }
    }

    /// `SELECT redeemed FROM codes WHERE code = $1`
    async fn is_redeemed(&self, code: &str) -> bool {
        io("db.is_redeemed", async {
            let redeemed = self.redeemed.lock().contains(code);
            self.log.note(format!("db: {code} redeemed = {redeemed}"));
            time::sleep(LATENCY).await;
            redeemed
        })
        .await
    }

    /// `UPDATE codes SET redeemed = true WHERE code = $1`
    async fn mark_redeemed(&self, code: &str) {
        io("db.mark_redeemed", async {
            self.redeemed.lock().insert(code.to_owned());
            self.log.note(format!("db: {code} redeemed := true"));
            time::sleep(LATENCY).await;
        })
        .await;
    }

    /// `UPDATE codes SET redeemed = true WHERE code = $1 AND NOT redeemed`: whether this
    /// call is the one that redeemed it.
    async fn claim(&self, code: &str) -> bool {
        io("db.claim", async {
            let claimed = self.redeemed.lock().insert(code.to_owned());
            self.log.note(format!(
                "db: claim {code} -> {}",
                if claimed { 1 } else { 0 }
            ));
            time::sleep(LATENCY).await;
            claimed
        })
        .await
    }
}

/// What an axum handler gets as `State<Arc<App>>`: the shared database, this process's
/// own lock, and the recorder the credit is recorded in (models only need it).
pub struct App {
    db: raceproof::core::sync::Arc<Db>,
    redeeming: AsyncMutex<()>,
    log: Recorder,
}

impl App {
    /// The effect that must happen once per code: `ExactlyOnce` reads it.
    fn credit(&self, code: &str) {
        self.log.effect("credited", code);
    }
}

#[derive(Debug)]
pub struct AlreadyRedeemed;

/// Check, await, act: the other request's check runs at the first await.
pub async fn redeem_racy(app: &App, code: &str) -> Result<(), AlreadyRedeemed> {
    if app.db.is_redeemed(code).await {
        return Err(AlreadyRedeemed);
    }
    // RACE WINDOW: the other request reads `false` at the await above.
    app.db.mark_redeemed(code).await;
    app.credit(code);
    Ok(())
}

/// The same under an async lock held across both awaits: one process at a time.
pub async fn redeem_locked(app: &App, code: &str) -> Result<(), AlreadyRedeemed> {
    let _one_at_a_time = app.redeeming.lock().await;
    redeem_racy(app, code).await
}

/// Check and act in one database statement.
pub async fn redeem_claimed(app: &App, code: &str) -> Result<(), AlreadyRedeemed> {
    if !app.db.claim(code).await {
        return Err(AlreadyRedeemed);
    }
    app.credit(code);
    Ok(())
}

/// One handler of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Racy,
    Locked,
    Claimed,
}

impl Handler {
    pub async fn redeem(self, app: &App, code: &str) -> Result<(), AlreadyRedeemed> {
        match self {
            Handler::Racy => redeem_racy(app, code).await,
            Handler::Locked => redeem_locked(app, code).await,
            Handler::Claimed => redeem_claimed(app, code).await,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Handler::Racy => "racy",
            Handler::Locked => "locked",
            Handler::Claimed => "claimed",
        }
    }
}

/// Two requests redeem the same code at once, on `deployment`.
pub fn scenario(handler: Handler, deployment: Deployment) -> Scenario<App> {
    let redeem = async move |app: &App| {
        let _ = handler.redeem(app, "GIFT-10").await;
    };
    Scenario::per_worker("redeem_gift", handler.name(), |worker| App {
        db: worker.shared("db", Db::new),
        redeeming: AsyncMutex::named("redeeming", ()),
        log: worker.recorder().clone(),
    })
    .task(None, "redeems GIFT-10", redeem)
    .task(None, "redeems GIFT-10 again, at once", redeem)
    .invariant(ExactlyOnce::new(["GIFT-10"]))
    .invariant(FinalState::new("redeemed", |app: &App| {
        if app.db.redeemed.lock().contains("GIFT-10") {
            Ok(())
        } else {
            Err("GIFT-10 is not marked redeemed".to_owned())
        }
    }))
    .deployment(deployment)
}

/// The verdict each handler must get on each deployment, and why.
pub fn expected(handler: Handler, deployment: Deployment) -> Expected {
    let violated = Expected::Violated("exactly_once".to_owned());
    match (handler, deployment) {
        // An await between the check and the write: violated even on one event loop.
        (Handler::Racy, _) => violated,
        // The lock is per process; a second worker has a lock of its own.
        (Handler::Locked, Deployment::Workers { .. }) => violated,
        (Handler::Locked, _) | (Handler::Claimed, _) => Expected::Proven,
    }
}

pub const DEPLOYMENTS: [Deployment; 3] = [
    Deployment::EventLoop,
    Deployment::ThreadPool,
    Deployment::workers(2),
];

fn main() {
    for handler in [Handler::Racy, Handler::Locked, Handler::Claimed] {
        for deployment in DEPLOYMENTS {
            let model = scenario(handler, deployment);
            println!(
                "{} / {} on {deployment} (expected {}): {}",
                model.flow,
                model.variant,
                expected(handler, deployment),
                model.run()
            );
        }
    }
}
