//! The async example (`examples/async_handler.rs`) gets the verdicts it claims under loom,
//! and runs unchanged on real tokio in a normal build.

#[path = "../examples/async_handler.rs"]
#[allow(dead_code)]
mod example;

use example::{Handler, scenario};

#[cfg(loom)]
#[test]
fn each_handler_gets_its_verdict_on_each_deployment() {
    use example::{DEPLOYMENTS, expected};
    use raceproof::check::{Deployment, Verdict};
    for handler in [Handler::Racy, Handler::Locked, Handler::Claimed] {
        for deployment in DEPLOYMENTS {
            let verdict = scenario(handler, deployment).check();
            let want = expected(handler, deployment);
            assert!(
                verdict.meets(&want),
                "{} on {deployment}: expected {want}, got {verdict}",
                handler.name()
            );
            let Verdict::Violated { trace, .. } = &verdict else {
                continue;
            };
            let trace = trace.to_string();
            assert!(trace.contains("credited twice"), "{trace}");
            assert!(trace.contains("awaits `db.is_redeemed`"), "{trace}");
            if let Deployment::Workers { .. } = deployment {
                assert!(
                    trace.contains("(worker 0)") && trace.contains("(worker 1)"),
                    "{trace}"
                );
            }
        }
    }
}

/// On one real event loop the racy handler's two checks both run before either write
/// (each database call waits at its await), in every run; the fixes never pay twice in any
/// run. Real runs prove nothing: the loom test above is the proof.
#[cfg(not(loom))]
#[test]
fn the_same_example_runs_on_real_tokio() {
    use raceproof::check::Deployment;
    let racy = scenario(Handler::Racy, Deployment::EventLoop).stress(5);
    assert_eq!(racy.violations, 5, "{racy:?}");
    let (_, trace) = racy.first.expect("a violation");
    assert!(trace.to_string().contains("credited twice"), "{trace}");
    for handler in [Handler::Locked, Handler::Claimed] {
        for deployment in [Deployment::EventLoop, Deployment::ThreadPool] {
            let outcome = scenario(handler, deployment).stress(20);
            assert_eq!(outcome.violations, 0, "{} on {deployment}", handler.name());
        }
    }
    let claimed = scenario(Handler::Claimed, Deployment::workers(2)).stress(20);
    assert_eq!(claimed.violations, 0, "{claimed:?}");
}
