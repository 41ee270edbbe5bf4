//! Model your own flow: a one-time coupon worth 10 credits.
//!
//! `redeem_racy` checks "unused?" and then marks it used, in two critical sections, like
//! most check-then-act endpoints. `redeem_atomic` does both in one. The scenario runs two
//! redemptions at once and states the invariants: the coupon pays out at most once, and
//! the balance ends at 10.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo run --release --example model_your_flow   # every interleaving
//! cargo run --release --example model_your_flow                          # real threads
//! ```
//!
//! The same `main` serves both builds: `Scenario::run` model-checks under loom and stresses on
//! real threads otherwise (which can find the race, but never prove the fix).

use raceproof::check::{ExactlyOnce, FinalState, Recorder, Scenario};
use raceproof::core::sync::Mutex;

/// The shared state: build it from the facade's primitives so loom can see them, and keep
/// the recorder to narrate each step and record each effect.
pub struct Shop {
    coupon_used: Mutex<bool>,
    balance: Mutex<u64>,
    log: Recorder,
}

impl Shop {
    fn new(log: &Recorder) -> Self {
        Self {
            coupon_used: Mutex::named("coupon.used", false),
            balance: Mutex::named("balance", 0),
            log: log.clone(),
        }
    }

    /// The effect that must happen at most once: recorded with `effect`, which
    /// `ExactlyOnce` reads (a `note` would only narrate).
    fn credit(&self, amount: u64) {
        let mut balance = self.balance.lock();
        *balance += amount;
        self.log.effect("paid", "coupon-1");
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

/// Two concurrent redemptions of the same coupon.
pub fn scenario(variant: &str, redeem: fn(&Shop)) -> Scenario<Shop> {
    Scenario::new("redeem_coupon", variant, Shop::new)
        .actor(Some("carol"), "redeems the coupon", move |shop| {
            redeem(shop)
        })
        .actor(Some("carol"), "redeems it again, at once", move |shop| {
            redeem(shop)
        })
        .invariant(ExactlyOnce::new(["coupon-1"]))
        .invariant(FinalState::new("paid_10", |shop: &Shop| {
            match *shop.balance.lock() {
                10 => Ok(()),
                other => Err(format!("balance is {other}, not 10")),
            }
        }))
}

fn main() {
    for model in [
        scenario("racy", redeem_racy),
        scenario("atomic", redeem_atomic),
    ] {
        println!("{} / {}: {}", model.flow, model.variant, model.run());
    }
}
