//! Seeded chaos (see `ise_intune_testkit::chaos`): every seed converges in one clean
//! re-run, the next run writes nothing, and every invariant holds. `CHAOS_SEEDS`
//! sets how many seeds (default 30); the `chaos` example runs hundreds.

use ise_intune_testkit::chaos::{ChaosSettings, run_offboard_seed, run_seed, table};

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

/// Offboarding under faults ends done or resumable on every seed: what a faulted run
/// leaves never has an External MDM entry referring to a removed application or a rule
/// granting a removed profile; one clean run then completes and the next writes
/// nothing. `CHAOS_SEEDS` sets how many seeds (default 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_under_faults_ends_done_or_resumable() {
    let seeds: u64 = std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut stopped = 0;
    for seed in 0..seeds {
        let r = run_offboard_seed(seed, ChaosSettings::default())
            .await
            .expect("the seed runs");
        assert!(r.violations.is_empty(), "{r:?}");
        assert_eq!(r.reruns, 1, "{r:?}");
        assert_eq!(r.writes_after, 0, "{r:?}");
        stopped += u32::from(!r.faulted_complete);
    }
    // The faults did cut runs short: resumption was exercised.
    assert!(seeds < 5 || stopped > 0, "no faulted run stopped");
}

/// Every request the simulator served, as (service, method, path, status, fault),
/// sorted: concurrent requests arrive in any order, their fates do not depend on it.
///
/// The load is fixed: several paths of ISE and Graph at once, each asked five times in
/// a row (with the clients' retries). The pipeline itself is not the load: its
/// concurrent branches react to faults with timing-dependent amounts of work (a
/// branch that fails early stops sending), which is the client's business, not the
/// simulator's determinism.
async fn faulted_log(seed: u64) -> Vec<(String, String, String, u16, Option<String>)> {
    use std::time::Duration;

    use ise_intune::graph_client::TokenAudience;
    use ise_intune::ise_client::Method;
    use ise_intune_simulator::{Faults, Simulator};
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
    let (ise, graph) =
        ise_intune_testkit::clients_with(sim.info(), fast_settings()).expect("clients");
    // The token first, so that no two calls race for it.
    let _ = graph
        .access_token(&TokenAudience::Scope(
            ise_intune::graph_client::DEFAULT_GRAPH_SCOPE.into(),
        ))
        .await;
    let ise_paths = [
        "/ers/config/deploymentinfo/getAllInfo",
        "/api/v1/deployment/node",
        "/api/v1/certs/trusted-certificate",
        "/api/v1/certs/system-certificate/ise-psn",
    ];
    let graph_paths = ["/organization", "/applications", "/servicePrincipals"];
    let mut load = tokio::task::JoinSet::new();
    for p in ise_paths {
        let ise = ise.clone();
        load.spawn(async move {
            for _ in 0..5 {
                let _ = ise.request(Method::GET, p, None).await;
            }
        });
    }
    for p in graph_paths {
        let graph = graph.clone();
        let url = format!("{}{p}", sim.info().graph_url);
        load.spawn(async move {
            let scope = TokenAudience::Scope(ise_intune::graph_client::DEFAULT_GRAPH_SCOPE.into());
            for _ in 0..5 {
                if let Ok(token) = graph.access_token(&scope).await {
                    let _ = graph.get_with_token(&url, &token, "application/json").await;
                }
            }
        });
    }
    while load.join_next().await.is_some() {}
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
        let only = |a: &Vec<_>, b: &Vec<_>| -> Vec<_> {
            let mut b = b.clone();
            a.iter()
                .filter(|x| match b.iter().position(|y| &y == x) {
                    Some(i) => {
                        b.remove(i);
                        false
                    }
                    None => true,
                })
                .cloned()
                .collect()
        };
        assert!(
            first == second,
            "seed {seed} did not replay: only in the first {:#?}, only in the second {:#?}",
            only(&first, &second),
            only(&second, &first)
        );
    }
}
