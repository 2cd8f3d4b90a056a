//! Doctor, the device queries and fleets at the speed of their dependency chains, and a
//! watch's memory over many cycles.
//!
//! `cargo bench --bench doctor` prints, in one run, at 100 ms per request
//! (`DOCTOR_BENCH_LATENCY_MS` to change it), release build:
//! - round trips (wall time ÷ latency) of `doctor` on an integrated pair (its
//!   automating identity granted the optional evidence reads), of the
//!   device and non-compliant queries as the automating identity, as a node with its
//!   key exported, and as a node with its key supplied;
//! - `fleet doctor` of `DOCTOR_BENCH_PAIRS` pairs (100) with the default concurrency,
//!   as a ratio of one pair;
//! - the resident memory of a watch's state (alerts and last diagnoses) for 1,000 pairs
//!   over 1,000 cycles: growth after the first 100 cycles, in percent;
//!
//! then criterion timings of doctor at 0 ms latency.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ise_intune::integration::compliance;
use ise_intune::integration::doctor::{self, Finding, Severity};
use ise_intune::integration::fleet::{self, Pair};
use ise_intune::integration::keys::AdminKey;
use ise_intune::integration::watch::Alerts;
use ise_intune::integration::{Integration, context::Options, enforce, onboard};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

fn latency() -> Duration {
    let ms = std::env::var("DOCTOR_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ms)
}

fn pipeline(s: &Simulator, key: AdminKey) -> Integration {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(30);
    o.admin_key = key;
    sim::integration(s.info(), Configurator::Gui, true, o)
        .unwrap_or_else(|e| panic!("pipeline: {e}"))
}

/// An integrated pair (onboarded and enforcing), then the latency switched on.
async fn integrated(latency: Duration) -> Simulator {
    // With the optional evidence grants: doctor also reads Intune's profiles and
    // settings and the application's sign-ins.
    let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.extend([
        "DeviceManagementConfiguration.Read.All",
        "AuditLog.Read.All",
    ]);
    let s = Simulator::builder()
        .automation_roles(roles)
        .replication_lag(Duration::ZERO)
        .start()
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let ctx = pipeline(&s, AdminKey::None);
    let report = onboard::apply(&ctx).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.complete);
    enforce::apply(&ctx).await.unwrap_or_else(|e| panic!("{e}"));
    let mut faults = ise_intune_simulator::Faults::default();
    let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
    let _ = faults.set("latency_ms", f64::from(ms));
    for service in [
        ise_intune_simulator::Service::Ise,
        ise_intune_simulator::Service::Login,
        ise_intune_simulator::Service::Graph,
        ise_intune_simulator::Service::Intune,
    ] {
        s.set_faults(service, faults.clone());
    }
    s
}

/// Wall time of `f` in round trips of `latency`.
async fn round_trips<F: std::future::Future<Output = ()>>(latency: Duration, f: F) -> f64 {
    let t = Instant::now();
    f.await;
    t.elapsed().as_secs_f64() / latency.as_secs_f64()
}

/// ise-psn's certificate and key, as an operator supplies them (taken from an export
/// here, before the clock starts).
async fn supplied_key(s: &Simulator) -> AdminKey {
    use base64::Engine as _;
    use ise_intune::integration::keys::{KeyExport, export};
    let ctx = pipeline(s, AdminKey::ExportFromIse);
    let exported = export(ctx.ise(), KeyExport::PolicyServiceKeys)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let m = exported
        .into_iter()
        .find(|m| m.admin.node.hostname == "ise-psn")
        .unwrap_or_else(|| panic!("ise-psn"));
    let key = m.key_pkcs8().unwrap_or_else(|| panic!("a key"));
    let body = base64::engine::general_purpose::STANDARD.encode(key);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    AdminKey::Supplied {
        cert_pem: m.admin.certificate.to_pem(),
        key_pem: format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
        .into(),
    }
}

fn report(c: &mut Criterion) {
    let rt = runtime();
    let latency = latency();
    let pairs: usize = std::env::var("DOCTOR_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    rt.block_on(async {
        let s = integrated(latency).await;
        let (guid, _, _, _) = s
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("a device"));
        let ctx = pipeline(&s, AdminKey::None);
        let doctor_rt = round_trips(latency, async {
            let d = doctor::diagnose(&ctx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!d.has_errors(), "{d:#?}");
        })
        .await;
        println!("doctor: {doctor_rt:.1} round trips");
        for (label, key) in [
            ("as the automating identity", AdminKey::None),
            ("as a node, key exported", AdminKey::ExportFromIse),
            ("as a node, key supplied", supplied_key(&s).await),
        ] {
            let ctx = pipeline(&s, key);
            let device = round_trips(latency, async {
                let c = compliance::client(&ctx, None)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                c.device_by_guid(&guid)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            })
            .await;
            let ctx = pipeline(&s, ctx.options().admin_key.clone());
            let noncompliant = round_trips(latency, async {
                let c = compliance::client(&ctx, None)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                c.noncompliant().await.unwrap_or_else(|e| panic!("{e}"));
            })
            .await;
            println!("device {label}: {device:.1} round trips; noncompliant: {noncompliant:.1}");
        }

        // A fleet of the same pair many times over, the default concurrency.
        let info =
            std::env::temp_dir().join(format!("doctor-bench-info-{}.json", std::process::id()));
        s.write_info_file(&info).unwrap_or_else(|e| panic!("{e}"));
        let inventory: String = (0..pairs)
            .map(|i| {
                format!(
                    "[[pair]]\nname = \"p{i}\"\nsim_info = {:?}\n",
                    info.display().to_string()
                )
            })
            .collect();
        let inv = fleet::Inventory::parse(&inventory, std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        let sim_info = s.info().clone();
        let run = |list: Vec<Pair>| {
            let sim_info = sim_info.clone();
            async move {
                let results = fleet::run_all(&list, fleet::DEFAULT_CONCURRENCY, |_pair| {
                    let ctx =
                        sim::integration(&sim_info, Configurator::Gui, true, Options::default());
                    async move { doctor::diagnose(&ctx?).await }
                })
                .await;
                assert!(
                    results
                        .iter()
                        .all(|r| matches!(r.result, fleet::PairOutcome::Ok(_)))
                );
            }
        };
        let one = round_trips(latency, run(inv.pairs[..1].to_vec())).await;
        let many = round_trips(latency, run(inv.pairs.clone())).await;
        println!(
            "fleet doctor: {pairs} pairs {many:.1} round trips, one pair {one:.1}: {:.2}x",
            many / one
        );
    });

    // A watch's state over 1,000 cycles of 1,000 pairs.
    let findings: Vec<Finding> = (0..8)
        .map(|i| {
            Finding::new(
                format!("node.id_{i}"),
                if i % 2 == 0 {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                Some("ise-psn"),
                format!("finding {i} expires in 30 days"),
                "evidence",
                "remediation",
            )
        })
        .collect();
    let mut alerts = Alerts::default();
    let mut last: std::collections::BTreeMap<String, Vec<Finding>> = Default::default();
    let mut rss_at_100 = 0;
    let start = time::OffsetDateTime::UNIX_EPOCH;
    for cycle in 0..1000u32 {
        let now = start + time::Duration::seconds(i64::from(cycle) * 30);
        for p in 0..1000 {
            // Half the pairs flap one finding every other cycle.
            let n = if p % 2 == 0 && cycle % 2 == 1 { 7 } else { 8 };
            let name = format!("pair-{p}");
            let _ = alerts.update(&name, &findings[..n], now);
            last.insert(name, findings[..n].to_vec());
        }
        if cycle == 100 {
            rss_at_100 = rss_kib();
        }
    }
    let growth = (rss_kib() as f64 - rss_at_100 as f64) / rss_at_100.max(1) as f64 * 100.0;
    println!(
        "watch state, 1000 pairs x 1000 cycles: resident memory grew {growth:.1}% after cycle 100"
    );

    c.bench_function("doctor, integrated pair, 0 ms", |b| {
        let s = rt.block_on(integrated(Duration::ZERO));
        let ctx = pipeline(&s, AdminKey::None);
        b.to_async(&rt).iter(|| async {
            doctor::diagnose(&ctx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
    });
}

/// Resident memory of this process (KiB), from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = report
}
criterion_main!(benches);
