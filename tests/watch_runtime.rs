//! The watch loop as a library (`watch::runtime`), against the simulator: a pair is
//! checked and its status kept; a trust-sync repair it is allowed runs when Microsoft
//! moves to a root ISE does not trust, and reports what it did; a pair that cannot be
//! built is watched as failing; a pair reconciled away is forgotten; stopping ends the
//! pairs' tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ise_intune::integration::context::Options;
use ise_intune::integration::doctor::Severity;
use ise_intune::integration::watch::runtime::{
    PairStatus, RepairResult, Reporter, Runtime, Schedule,
};
use ise_intune::integration::watch::{Alert, AlertState, Repair};
use ise_intune::integration::{Error, onboard};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};

/// Everything the runtime reported, in order.
#[derive(Default)]
struct Recorded {
    alerts: Mutex<Vec<Alert>>,
    repairs: Mutex<Vec<(String, String, RepairResult, String)>>,
    forgotten: Mutex<Vec<String>>,
}

impl Reporter for Recorded {
    fn alerts(&self, alerts: Vec<Alert>) {
        self.alerts.lock().expect("alerts").extend(alerts);
    }
    fn repair(&self, pair: &str, action: &str, result: RepairResult, detail: &str) {
        self.repairs.lock().expect("repairs").push((
            pair.to_owned(),
            action.to_owned(),
            result,
            detail.to_owned(),
        ));
    }
    fn forgotten(&self, pair: &str) {
        self.forgotten
            .lock()
            .expect("forgotten")
            .push(pair.to_owned());
    }
}

/// Waits until `ready` holds of the pair's status (checks are seconds apart at most).
async fn until(runtime: &Runtime, pair: &str, ready: impl Fn(&PairStatus) -> bool) -> PairStatus {
    for _ in 0..600 {
        if let Some(s) = runtime.statuses().lock().get(pair).filter(|s| ready(s)) {
            return s.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{pair} never reached the state awaited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_checks_repairs_what_it_may_and_forgets_what_it_no_longer_watches() {
    let s = Simulator::builder()
        .replication_lag(Duration::from_millis(50))
        .start()
        .await
        .expect("simulator");
    let ctx =
        sim::integration(s.info(), Configurator::Gui, true, Options::default()).expect("pipeline");
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    // Microsoft moves its endpoints to a root ISE does not trust yet; the pair's
    // anchors know it (a newer anchor set).
    s.move_microsoft_chains().expect("move");
    let ctx = ctx.with_anchor(sim::next_root_anchor(s.info()).expect("anchor"));

    let recorded = Arc::new(Recorded::default());
    let mut schedule = Schedule::new(Duration::from_millis(200), Duration::from_secs(60), 2);
    schedule.repairs = vec![Repair::TrustSync];
    let mut runtime = Runtime::new(schedule, recorded.clone());
    runtime.reconcile(vec![
        ("east".to_owned(), Ok(ctx)),
        (
            "broken".to_owned(),
            Err(Error::Config {
                what: "pair `broken`: no such file".into(),
            }),
        ),
    ]);

    // The pair that cannot be built is a failing check at once.
    let broken = runtime
        .statuses()
        .lock()
        .get("broken")
        .cloned()
        .expect("broken");
    assert_eq!(
        broken
            .result
            .as_ref()
            .and_then(|r| r.as_ref().err())
            .map(String::as_str),
        Some("configuration: pair `broken`: no such file")
    );
    assert!(!broken.up());

    // The trust-sync repair runs, says what it imported, and a later check is healthy
    // of the moved chain.
    let repaired = || {
        recorded
            .repairs
            .lock()
            .expect("repairs")
            .iter()
            .any(|r| r.2 == RepairResult::Repaired)
    };
    let east = until(&runtime, "east", |p| {
        repaired()
            && p.findings()
                .iter()
                .all(|f| !(f.id.starts_with("connection.tls") && f.severity == Severity::Error))
    })
    .await;
    assert!(east.up(), "{east:#?}");
    let repairs = recorded.repairs.lock().expect("repairs").clone();
    let (pair, action, result, detail) = repairs
        .iter()
        .find(|r| r.2 == RepairResult::Repaired)
        .expect("a repair that repaired");
    assert_eq!((pair.as_str(), action.as_str()), ("east", "trust-sync"));
    assert_eq!(*result, RepairResult::Repaired);
    assert!(!detail.is_empty());
    // The alerts: the broken pair fired; east's finding was repaired.
    let alerts = recorded.alerts.lock().expect("alerts").clone();
    assert!(
        alerts
            .iter()
            .any(|a| a.pair == "broken" && a.state == AlertState::Firing),
        "{alerts:#?}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a.pair == "east" && a.state == AlertState::Repaired),
        "{alerts:#?}"
    );

    // Reconciled to east alone: broken is forgotten, east keeps running.
    let ctx =
        sim::integration(s.info(), Configurator::Gui, true, Options::default()).expect("pipeline");
    runtime.reconcile(vec![("east".to_owned(), Ok(ctx))]);
    assert_eq!(
        *recorded.forgotten.lock().expect("forgotten"),
        ["broken".to_owned()]
    );
    assert!(runtime.statuses().lock().get("broken").is_none());
    assert!(runtime.statuses().lock().contains_key("east"));
    runtime.stop(Duration::from_secs(3)).await;
}
