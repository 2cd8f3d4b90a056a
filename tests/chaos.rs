//! Seeded chaos (see `ise_intune_testkit::chaos`): every seed converges in one clean
//! re-run, the next run writes nothing, and every invariant holds. `CHAOS_SEEDS`
//! sets how many seeds (default 30); the `chaos` example runs hundreds.

use ise_intune_testkit::chaos::{ChaosSettings, run_seed, table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_converges_with_every_invariant_held() {
    let seeds: u64 = std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let mut results = Vec::new();
    for seed in 0..seeds {
        results.push(
            run_seed(seed, ChaosSettings::default())
                .await
                .expect("the seed runs"),
        );
    }
    let printed = table(&results);
    println!("{printed}");
    for r in &results {
        assert_eq!(
            r.reruns, 1,
            "seed {} needed {} re-runs\n{printed}",
            r.seed, r.reruns
        );
        assert_eq!(r.writes_after, 0, "seed {} kept writing\n{printed}", r.seed);
        assert!(
            r.violations.is_empty(),
            "seed {}: {:?}\n{printed}",
            r.seed,
            r.violations
        );
    }
    // The campaign exercised what it claims: concurrency and name clashes.
    assert!(results.iter().any(|r| r.concurrent >= 2));
    assert!(seeds < 5 || results.iter().any(|r| r.name_clash));
}

/// Every request the simulator served, as (service, method, path, status, fault),
/// sorted: concurrent requests arrive in any order, their fates do not depend on it.
async fn faulted_log(seed: u64) -> Vec<(String, String, String, u16, Option<String>)> {
    use std::time::Duration;

    use ise_intune_simulator::{Faults, Simulator};
    use ise_intune_testkit::Configurator;
    use ise_intune_testkit::chaos::fast_settings;

    let faults = Faults {
        error_rate: 0.15,
        error_status: 503,
        retry_after_secs: Some(0),
        drop_rate: 0.05,
        lost_response_rate: 0.05,
        ..Faults::default()
    };
    let sim = ise_intune_testkit::chaos::with_faults_everywhere(
        Simulator::builder()
            .seed(seed)
            .replication_lag(Duration::ZERO),
        &faults,
    )
    .start()
    .await
    .expect("simulator");
    let onboarding = ise_intune_testkit::onboarding_with(
        sim.info(),
        Configurator::Gui,
        true,
        Default::default(),
        Some(fast_settings()),
    )
    .expect("pipeline");
    // The run itself may fail under faults; the log is what is compared.
    let _ = onboarding.apply().await;
    let mut log: Vec<_> = sim
        .request_log()
        .into_iter()
        .map(|r| {
            (
                r.service.to_owned(),
                r.method,
                r.path,
                r.status,
                r.fault.map(str::to_owned),
            )
        })
        .collect();
    log.sort();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_replays_its_request_log_under_concurrency() {
    for seed in [7, 11] {
        let first = faulted_log(seed).await;
        let second = faulted_log(seed).await;
        assert!(
            first.iter().any(|r| r.4.is_some()),
            "seed {seed} injected no fault"
        );
        assert_eq!(first, second, "seed {seed} did not replay");
    }
}
