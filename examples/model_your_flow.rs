//! Model your own flow: a one-time coupon worth 10 credits.
//!
//! `redeem_racy` checks "unused?" and then marks it used, in two critical sections, like
//! most check-then-act endpoints. `redeem_atomic` does both in one. The scenario runs two
//! redemptions at once and states the invariant: the coupon pays out at most once.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo run --release --example model_your_flow   # every interleaving
//! cargo run --release --example model_your_flow                          # real threads
//! ```

use raceproof::check::{FinalState, Model, Recorder, Scenario};
use raceproof::core::sync::Mutex;

/// The shared state: build it from the facade's primitives so loom can see them, and keep
/// the recorder to narrate each step.
pub struct Shop {
    coupon_used: Mutex<bool>,
    balance: Mutex<u64>,
    log: Recorder,
}

impl Shop {
    fn new(log: &Recorder) -> Self {
        Self {
            coupon_used: Mutex::new(false),
            balance: Mutex::new(0),
            log: log.clone(),
        }
    }

    fn credit(&self, amount: u64) {
        let mut balance = self.balance.lock();
        *balance += amount;
        self.log.note(format!("write balance = {}", *balance));
    }
}

/// Check, then act: two critical sections.
pub fn redeem_racy(shop: &Shop) {
    let used = *shop.coupon_used.lock();
    shop.log.note(format!("read coupon.used = {used}"));
    if used {
        return;
    }
    // RACE WINDOW: the other request reads `false` too.
    *shop.coupon_used.lock() = true;
    shop.log.note("write coupon.used = true");
    shop.credit(10);
}

/// Check and act in one critical section.
pub fn redeem_atomic(shop: &Shop) {
    let first = {
        let mut used = shop.coupon_used.lock();
        let first = !*used;
        *used = true;
        shop.log.note(format!("swap coupon.used: was {}", !first));
        first
    };
    if first {
        shop.credit(10);
    }
}

/// Two concurrent redemptions of the same coupon; the balance must be 10.
pub fn scenario(variant: &str, redeem: fn(&Shop)) -> Scenario<Shop> {
    Scenario::new("redeem_coupon", variant, Shop::new)
        .actor(Some("carol"), "redeems the coupon", move |shop| {
            redeem(shop)
        })
        .actor(Some("carol"), "redeems it again, at once", move |shop| {
            redeem(shop)
        })
        .invariant(FinalState::new("paid_once", |shop: &Shop| {
            match *shop.balance.lock() {
                10 => Ok(()),
                other => Err(format!("balance is {other}, not 10")),
            }
        }))
}

fn main() {
    for model in [
        scenario("racy", redeem_racy).expect_violated("paid_once"),
        scenario("atomic", redeem_atomic).expect_proven(),
    ] {
        #[cfg(loom)]
        {
            let verdict = model.check();
            println!(
                "{} / {}: {}",
                model.flow(),
                model.variant(),
                verdict.label()
            );
            if let raceproof::check::Verdict::Violated { trace, .. } = verdict {
                println!("{trace}");
            }
        }
        #[cfg(not(loom))]
        {
            let outcome = model.stress(10_000);
            println!(
                "{} / {}: violated in {} of {} runs on real threads",
                model.flow(),
                model.variant(),
                outcome.violations,
                outcome.runs
            );
        }
    }
}
