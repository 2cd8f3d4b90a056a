//! Onboarding at the speed of its dependency chain.
//!
//! `cargo bench --bench onboarding` prints, in one run:
//! - round trips (wall time ÷ the simulator's per-request latency) at 50 ms for a first
//!   run, a re-run, and verification alone, next to two sequential baselines against
//!   the default three-node simulator: the same steps awaited one by one (each step
//!   as concurrent inside as the library makes it), and the same pipeline sending one
//!   request at a time (an [`InFlightLimit`] of one shared by both clients; the
//!   simulated ISE's own Test Connection calls are ISE's, not limited);
//! - criterion timings of the same at 0 ms latency;
//! - the per-request overhead of the library's HTTP core against raw reqwest on the same
//!   simulator endpoint: a ratio from 2,000 requests of each, in alternating blocks, then
//!   criterion timings of each.
//!
//! Certificate parse + fingerprint throughput is `cargo bench --bench certs`.
//! `ONBOARDING_BENCH_LATENCY_MS` changes the latency of the round-trip table.

use ise_intune::integration::{onboard, verify};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ise_intune::graph_client::TokenAudience;
use ise_intune::integration::certs::Certificate;
use ise_intune::integration::keys::{AdminKey, KeyExport, distinct_certificates};
use ise_intune::integration::steps;
use ise_intune::integration::verify::{Seen, VerificationReport, VerifyInput, verify_connection};
use ise_intune::integration::{Integration, context::Options};
use ise_intune_http::InFlightLimit;
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator, SimGuiConfigurator};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

async fn simulator(latency: Duration) -> Simulator {
    Simulator::builder()
        .latency(latency)
        .replication_lag(Duration::ZERO)
        .start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"))
}

fn options() -> Options {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(30);
    o
}

fn pipeline(s: &Simulator) -> Integration {
    sim::integration(s.info(), Configurator::Gui, true, options())
        .unwrap_or_else(|e| panic!("pipeline: {e}"))
}

/// The same pipeline sending one request at a time (both clients share one place):
/// the same requests awaited one after another.
fn one_at_a_time(s: &Simulator) -> Integration {
    let tuning = sim::Tuning {
        settings: None,
        in_flight: Some(InFlightLimit::new(1)),
    };
    sim::integration_with(s.info(), Configurator::Gui, true, options(), tuning)
        .unwrap_or_else(|e| panic!("pipeline: {e}"))
}

/// The same steps awaited one by one: the baseline the pipeline is compared with.
async fn sequential(s: &Simulator) {
    let (ise, graph) = sim::clients(s.info()).unwrap_or_else(|e| panic!("clients: {e}"));
    let anchors = sim::anchors(s.info(), true);
    let version = ise.version().await.unwrap_or_else(|e| panic!("{e}"));
    let app = register(&graph).await;
    let admins: Vec<_> = steps::export_admin_certificates(&ise, KeyExport::CertificatesOnly)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .value
        .into_iter()
        .map(|m| m.admin)
        .collect();
    steps::upload_certificates(&graph, &app, &distinct_certificates(&admins))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let targets = ise_intune::integration::observe::permission_targets(&graph)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    steps::grant_permissions(&graph, &app, &targets)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = ise_intune::integration::observe::trusted_store(&ise)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    steps::import_trust_anchors(&ise, &anchors, &store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let details = steps::app_details(&graph, &app);
    let settings = ise_intune::integration::mdm::MdmServerSettings::for_release(
        &version,
        "Intune",
        details.client_id.clone(),
        details.token_endpoint,
        details.auto_discovery_url,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    use ise_intune::integration::mdm::MdmServerConfigurator as _;
    SimGuiConfigurator::new(ise.clone())
        .apply(&settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = read_and_verify(VerifyInput {
        ise: &ise,
        graph: &graph,
        client_id: &details.client_id,
        version,
        admin_key: AdminKey::ExportFromIse,
        anchors: &anchors,
        propagation_wait: Duration::from_secs(30),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.ok, "{report:#?}");
}

async fn verify_only(onboarding: Integration) {
    let report = verify::verify(&onboarding)
        .await
        .unwrap_or_else(|e| panic!("verify: {e}"));
    assert!(report.ok, "{report:#?}");
}

struct RoundTrips {
    first: f64,
    rerun: f64,
    verify: f64,
    sequential_first: f64,
    sequential_verify: f64,
    one_first: f64,
    one_rerun: f64,
    one_verify: f64,
}

async fn round_trips(latency: Duration) -> RoundTrips {
    let rt = |d: Duration| d.as_secs_f64() / latency.as_secs_f64();
    let s = simulator(latency).await;
    let p = pipeline(&s);
    let t = Instant::now();
    let first = onboard::apply(&p)
        .await
        .unwrap_or_else(|e| panic!("first run: {e}"));
    let first_t = t.elapsed();
    assert!(first.complete, "{first:#?}");
    println!("\nfirst run, step by step (steps overlap; round trips each):");
    for step in &first.steps {
        println!(
            "  {:<26} {:>5.1}",
            step.name.as_str(),
            step.elapsed_ms as f64 / latency.as_millis() as f64
        );
    }
    let t = Instant::now();
    let again = onboard::apply(&p)
        .await
        .unwrap_or_else(|e| panic!("re-run: {e}"));
    let rerun_t = t.elapsed();
    assert!(again.complete && again.requests.writes == 0);
    let t = Instant::now();
    verify_only(pipeline(&s)).await;
    let verify_t = t.elapsed();

    let base = simulator(latency).await;
    let t = Instant::now();
    sequential(&base).await;
    let seq_t = t.elapsed();
    let (ise, graph) = sim::clients(base.info()).unwrap_or_else(|e| panic!("{e}"));
    let app = register(&graph).await;
    let anchors = sim::anchors(base.info(), true);
    let t = Instant::now();
    let report = read_and_verify(VerifyInput {
        ise: &ise,
        graph: &graph,
        client_id: &app.client_id,
        version: ise.version().await.unwrap_or_else(|e| panic!("{e}")),
        admin_key: AdminKey::ExportFromIse,
        anchors: &anchors,
        propagation_wait: Duration::from_secs(30),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let seq_verify_t = t.elapsed();
    assert!(report.ok);

    let one = simulator(latency).await;
    let p = one_at_a_time(&one);
    let t = Instant::now();
    assert!(
        onboard::apply(&p)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .complete
    );
    let one_first = t.elapsed();
    let t = Instant::now();
    assert_eq!(
        onboard::apply(&p)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .requests
            .writes,
        0
    );
    let one_rerun = t.elapsed();
    let t = Instant::now();
    verify_only(one_at_a_time(&one)).await;
    let one_verify = t.elapsed();
    RoundTrips {
        one_first: rt(one_first),
        one_rerun: rt(one_rerun),
        one_verify: rt(one_verify),
        first: rt(first_t),
        rerun: rt(rerun_t),
        verify: rt(verify_t),
        sequential_first: rt(seq_t),
        sequential_verify: rt(seq_verify_t),
    }
}

fn report_round_trips(_c: &mut Criterion) {
    let ms: u64 = std::env::var("ONBOARDING_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let latency = Duration::from_millis(ms);
    let r = runtime().block_on(round_trips(latency));
    println!("\nround trips at {ms} ms per request (three-node simulator):");
    println!(
        "  {:<14}{:>6}   {:>22}   {:>22}",
        "", "", "steps one by one", "one request at a time"
    );
    let row = |name: &str, ours: f64, steps: Option<f64>, one: f64| {
        let steps = steps.map_or_else(String::new, |b| format!("{b:.1} ({:.2}x)", b / ours));
        println!(
            "  {name:<14}{ours:>6.1}   {steps:>22}   {:>22}",
            format!("{one:.1} ({:.2}x)", one / ours)
        );
    };
    row("first run", r.first, Some(r.sequential_first), r.one_first);
    row("re-run", r.rerun, None, r.one_rerun);
    row(
        "verification",
        r.verify,
        Some(r.sequential_verify),
        r.one_verify,
    );
}

fn at_zero_latency(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("onboarding@0ms");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("first run", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = simulator(Duration::ZERO).await;
                let p = pipeline(&s);
                let t = Instant::now();
                let r = onboard::apply(&p).await.unwrap_or_else(|e| panic!("{e}"));
                total += t.elapsed();
                assert!(r.complete);
            }
            total
        })
    });
    let s = rt.block_on(simulator(Duration::ZERO));
    let p = pipeline(&s);
    rt.block_on(async {
        assert!(
            onboard::apply(&p)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .complete
        );
    });
    group.bench_function("re-run", |b| {
        b.to_async(&rt).iter(|| async {
            let r = onboard::apply(&p).await.unwrap_or_else(|e| panic!("{e}"));
            assert!(r.requests.writes == 0);
        })
    });
    group.bench_function("verification", |b| {
        b.to_async(&rt).iter(|| verify_only(pipeline(&s)))
    });
    group.finish();
}

/// One Graph GET through the library's HTTP core against the same GET by raw reqwest.
fn client_overhead(c: &mut Criterion) {
    let rt = runtime();
    let s = rt.block_on(simulator(Duration::ZERO));
    let info = s.info().clone();
    let root = Certificate::from_pem(&info.ca_pem).unwrap_or_else(|e| panic!("{e}"));
    let (_, graph) = sim::clients(&info).unwrap_or_else(|e| panic!("{e}"));
    let scope = TokenAudience::Scope(ise_intune::graph_client::DEFAULT_GRAPH_SCOPE.into());
    let token = rt
        .block_on(graph.access_token(&scope))
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}/organization", info.graph_url);
    let raw = {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(root.der().to_vec()))
            .unwrap_or_else(|e| panic!("{e}"));
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let bearer = token.secret().to_owned();
    let core_get = || async {
        let (status, _) = graph
            .get_with_token(&url, &token, "application/json")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200);
    };
    let raw_get = || async {
        let r = raw
            .get(&url)
            .bearer_auth(&bearer)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    };
    // The ratio in one run: blocks of the two kinds of request alternate, so that a
    // change in the machine's load touches both alike.
    let (core_t, raw_t) = rt.block_on(async {
        let (mut core_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..40 {
            let t = Instant::now();
            for _ in 0..50 {
                core_get().await;
            }
            core_t += t.elapsed();
            let t = Instant::now();
            for _ in 0..50 {
                raw_get().await;
            }
            raw_t += t.elapsed();
        }
        (core_t, raw_t)
    });
    println!(
        "\none Graph GET, 2,000 each, interleaved: HTTP core {:.0} µs, raw reqwest {:.0} µs ({:.2}x)",
        core_t.as_secs_f64() / 2000.0 * 1e6,
        raw_t.as_secs_f64() / 2000.0 * 1e6,
        core_t.as_secs_f64() / raw_t.as_secs_f64()
    );
    let mut group = c.benchmark_group("one Graph GET");
    group.bench_function("ise-intune HTTP core", |b| b.to_async(&rt).iter(core_get));
    group.bench_function("raw reqwest", |b| b.to_async(&rt).iter(raw_get));
    group.finish();
}

criterion_group!(
    benches,
    report_round_trips,
    at_zero_latency,
    client_overhead
);
criterion_main!(benches);

/// Verification of `input` on what [`Seen::read`] reads for it.
async fn read_and_verify(
    input: VerifyInput<'_>,
) -> Result<VerificationReport, ise_intune::integration::Error> {
    let seen = Seen::read(&input).await?;
    verify_connection(input, &seen).await
}

/// Step 1 for the bench's application, from what `observe::app` reads.
async fn register(graph: &ise_intune::graph_client::GraphClient) -> steps::RegisteredApp {
    let identity = "Cisco ISE Intune integration".into();
    let seen = ise_intune::integration::observe::app(graph, &identity)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    steps::register_app(graph, &identity, &seen)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .value
}
