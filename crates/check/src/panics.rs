//! How an execution stops early, and how the harness tells why: a panic of the code under
//! test (caught per actor, with its message and source line), the harness's own markers
//! (a violation found, the budget spent), or loom's reasons (deadlock, limits, leaks).

use crate::ghost;
use crate::recorder::Recorder;
use crate::scenario::Actor;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// What a panicking actor left behind: the panic hook's message and location.
#[derive(Debug, Clone)]
pub(crate) struct Panicked {
    pub label: String,
    pub message: String,
    pub location: String,
}

impl Panicked {
    /// The trace's last line: who panicked, where, and why.
    pub(crate) fn ending(self) -> (String, String) {
        (
            self.label,
            format!("panicked at {}: {}", self.location, self.message),
        )
    }
}

thread_local! {
    /// The last panic's message and location, as the panic hook saw it (this OS thread).
    static LAST_PANIC: std::cell::RefCell<Option<(String, String)>> =
        const { std::cell::RefCell::new(None) };
    /// Keeps the default hook quiet while this OS thread runs a model: violations are
    /// verdicts, and loom's own failures are reported as verdicts too.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marker payloads: a model stops exploring by panicking with one of these.
#[cfg(any(loom, shuttle))]
pub(crate) struct ViolationFound;
#[cfg(any(loom, shuttle))]
pub(crate) struct BudgetExhausted;

/// Whether `payload` is one of the harness's own markers rather than a real panic.
fn is_marker(payload: &(dyn std::any::Any + Send)) -> bool {
    #[cfg(any(loom, shuttle))]
    {
        payload.is::<ViolationFound>() || payload.is::<BudgetExhausted>()
    }
    #[cfg(not(any(loom, shuttle)))]
    {
        let _ = payload;
        false
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// Records every panic's message and location for this OS thread, and silences the
/// default hook while a model runs.
pub(crate) fn install_panic_hook() {
    static HOOK: ghost::Once = ghost::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let marker = is_marker(payload);
            // loom gave up on the execution with no thread active: guards that unwinding
            // drops from now on must not call back into loom (see the facade's guards).
            #[cfg(loom)]
            if loom_stop(&panic_message(payload)) == Some(LoomStop::Deadlock) {
                raceproof_core::sync::model::tear_down();
            }
            if !marker {
                let location = info
                    .location()
                    .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
                let message = panic_message(payload);
                // try_with: a panic while the thread-local is torn down is not ours to record.
                let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some((message, location)));
            }
            let quiet = QUIET.try_with(std::cell::Cell::get).unwrap_or(false) || marker;
            if !quiet {
                default(info);
            }
        }));
    });
}

/// Runs `f` with the default panic hook silenced on this OS thread.
#[cfg(any(loom, shuttle))]
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> T {
    QUIET.with(|q| q.set(true));
    let out = f();
    QUIET.with(|q| q.set(false));
    out
}

/// loom's own reasons to stop an execution (as opposed to a panic in the code under test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoomStop {
    Deadlock,
    BranchLimit,
    ThreadLimit,
    Leak,
}

pub(crate) fn loom_stop(message: &str) -> Option<LoomStop> {
    if message.starts_with("deadlock; threads") {
        Some(LoomStop::Deadlock)
    } else if message.contains("maximum number of branches") {
        Some(LoomStop::BranchLimit)
    } else if message.contains("threads.len() < self.max") {
        Some(LoomStop::ThreadLimit)
    } else if message.contains("leaked") {
        Some(LoomStop::Leak)
    } else {
        None
    }
}

/// Runs one actor's body on the calling thread; a panic of the code under test is
/// recorded (actor, message, location) in `panicked` before it unwinds on.
pub(crate) fn run_actor<S>(
    actor: &Actor<S>,
    state: &S,
    recorder: &Recorder,
    panicked: &ghost::Mutex<Option<Panicked>>,
) {
    recorder.enter(&actor.label);
    #[cfg(loom)]
    raceproof_core::sync::model::running();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (actor.body)(state))) {
        let message = panic_message(payload.as_ref());
        if loom_stop(&message).is_none() {
            let location = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .map_or_else(String::new, |(_, location)| location);
            let mut slot = ghost::lock(panicked);
            slot.get_or_insert(Panicked {
                label: actor.label.clone(),
                message,
                location,
            });
        }
        resume_unwind(payload);
    }
}
