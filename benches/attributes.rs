//! The attribute bridge at the scale of a large tenant.
//!
//! `cargo bench --bench attributes` builds the simulator and the command (release),
//! starts the simulator as a process of its own with `ATTRIBUTES_BENCH_DEVICES`
//! managed devices (default 100,000) and 50 ms per request
//! (`ATTRIBUTES_BENCH_LATENCY_MS`), and prints, measured in one run:
//! - round trips (wall time ÷ latency) of a first sync, a re-sync with nothing
//!   changed, and a re-sync after 1 % of the devices changed (`POST /devices/mutate`),
//!   run by the library in this process;
//! - the command's peak memory (VmHWM) during a first sync of its own, against a
//!   second simulator of the same seed;
//! - Graph requests per 1,000 devices read;
//! - a naive sync (one request per device, one at a time) timed on 200 devices and
//!   scaled to the tenant, as a ratio;
//!
//! then criterion timings of a first sync of 2,000 devices at 0 ms.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ise_intune::integration::attributes::AttributeSettings;
use ise_intune::integration::attributes::sync::{self, SyncOptions};
use ise_intune::integration::{Integration, context::Options};
use ise_intune::ise_client::EndpointAttributes;
use ise_intune_simulator::ControlClient;
use ise_intune_simulator::{DEFAULT_AUTOMATION_ROLES, SimInfo};
use ise_intune_testkit::{self as sim, Configurator};
use tokio::runtime::Runtime;

/// The automating identity's roles, with the managed-device read, as the simulator's
/// command line takes them.
fn roles() -> String {
    let mut roles = DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push(sim::attributes::MANAGED_DEVICES_READ);
    roles.join(",")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// The release binaries, built once.
fn binaries() -> (PathBuf, PathBuf) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "ise-intune-simulator",
            "--bin",
            "ise-intune-sim",
            "-p",
            "ise-intune-cli",
            "--bin",
            "ise-intune",
        ])
        .status()
        .unwrap_or_else(|e| panic!("cargo build: {e}"));
    assert!(status.success(), "building the binaries failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    (
        target.join("release/ise-intune-sim"),
        target.join("release/ise-intune"),
    )
}

/// A simulator process; stopped when dropped.
struct SimProcess {
    child: Child,
    info_file: PathBuf,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", ".clock", ".attributes.redb"] {
            let mut name = self.info_file.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}

fn start_sim(bin: &Path, name: &str, devices: u64, latency_ms: u64) -> SimProcess {
    let info_file = std::env::temp_dir().join(format!(
        "ise-intune-bench-{}-{name}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&info_file);
    let child = Command::new(bin)
        .arg("--info-file")
        .arg(&info_file)
        .args(["--managed-devices", &devices.to_string()])
        .args(["--latency-ms", &latency_ms.to_string()])
        .arg("--automation-roles")
        .arg(roles())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let started = Instant::now();
    while !info_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "simulator did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    SimProcess { child, info_file }
}

fn info_of(p: &SimProcess) -> SimInfo {
    let text = std::fs::read_to_string(&p.info_file).unwrap_or_else(|e| panic!("info: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("info: {e}"))
}

fn pipeline(info: &SimInfo) -> Integration {
    sim::integration(info, Configurator::Gui, true, Options::default())
        .unwrap_or_else(|e| panic!("pipeline: {e}"))
}

fn store(name: &str) -> AttributeSettings {
    sim::attributes::settings(&format!("bench-{name}"))
}

/// The command's peak resident memory (VmHWM, kB) over a run: read from /proc while
/// it runs (the high-water mark only grows).
fn peak_kb_of(mut child: Child) -> (u64, bool) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        match child.try_wait() {
            Ok(Some(status)) => return (peak, status.success()),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait: {e}"),
        }
    }
}

fn table() {
    let devices = env_u64("ATTRIBUTES_BENCH_DEVICES", 100_000);
    let latency_ms = env_u64("ATTRIBUTES_BENCH_LATENCY_MS", 50);
    let latency = Duration::from_millis(latency_ms);
    let (sim_bin, cli_bin) = binaries();
    let rt = runtime();
    let rts = |d: Duration| d.as_secs_f64() / latency.as_secs_f64();

    // The library in this process.
    let p = start_sim(&sim_bin, "lib", devices, latency_ms);
    let info = info_of(&p);
    let ctx = pipeline(&info);
    let settings = store("lib");
    let control = ControlClient::new(&info).unwrap_or_else(|e| panic!("control: {e}"));
    // A token first, as a running service holds one.
    rt.block_on(ctx.graph().organization())
        .unwrap_or_else(|e| panic!("token: {e}"));
    let timed = |what: &str| {
        let t = Instant::now();
        let r = rt
            .block_on(sync::apply(&ctx, &settings, &SyncOptions::default()))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        (t.elapsed(), r)
    };
    let (first, r1) = timed("first sync");
    let (nothing, r3) = timed("unchanged re-sync");
    rt.block_on(control.mutate_devices(devices / 100, 1))
        .unwrap_or_else(|e| panic!("mutate: {e}"));
    let (one_percent, r2) = timed("1 % re-sync");

    // A naive sync: one request per device, one at a time, on 200 devices.
    let sample = 200usize;
    let endpoints = ctx.ise().endpoints();
    let t = Instant::now();
    for i in 0..sample {
        let item = EndpointAttributes {
            mac: format!("00:00:AA:00:00:0{}", 1 + i % 3),
            custom_attributes: [("AssetTag".to_owned(), format!("PRN-{i:04}"))].into(),
        };
        rt.block_on(endpoints.bulk_update(&[item]))
            .unwrap_or_else(|e| panic!("naive: {e}"));
    }
    let naive_per_device = t.elapsed() / u32::try_from(sample).unwrap_or(1);
    let naive_total = naive_per_device.mul_f64(r1.devices_read as f64);
    drop(p);

    // The command, for its memory.
    let q = start_sim(&sim_bin, "cli", devices, latency_ms);
    let child = Command::new(&cli_bin)
        .arg("--sim-info")
        .arg(&q.info_file)
        .args(["attributes", "sync", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("command: {e}"));
    let (peak_kb, ok) = peak_kb_of(child);
    assert!(ok, "the command's sync failed");
    drop(q);

    let per_1000 = r1.graph_requests as f64 * 1000.0 / r1.devices_read.max(1) as f64;
    println!("attribute sync, {devices} managed devices, {latency_ms} ms a request");
    println!(
        "  first sync        {:>8.2} s  {:>6.0} round trips  ({} endpoints written in {} bulk requests, {} Graph pages)",
        first.as_secs_f64(),
        rts(first),
        r1.endpoints_written,
        r1.bulk_requests,
        r1.graph_requests
    );
    println!(
        "  1 % changed       {:>8.2} s  {:>6.0} round trips  ({} written, {} devices read)",
        one_percent.as_secs_f64(),
        rts(one_percent),
        r2.endpoints_written,
        r2.devices_read
    );
    println!(
        "  nothing changed   {:>8.2} s  {:>6.0} round trips  ({} written, {} devices read)",
        nothing.as_secs_f64(),
        rts(nothing),
        r3.endpoints_written,
        r3.devices_read
    );
    println!("  Graph requests per 1,000 devices read: {per_1000:.2}");
    println!(
        "  command's peak memory during a first sync: {:.1} MB",
        peak_kb as f64 / 1024.0
    );
    println!(
        "  naive (one request per device): {:.1} ms a device, {:.0} s for the tenant: {:.0}x the first sync",
        naive_per_device.as_secs_f64() * 1000.0,
        naive_total.as_secs_f64(),
        naive_total.as_secs_f64() / first.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    table();
    let rt = runtime();
    let mut group = c.benchmark_group("attributes");
    group.sample_size(10);
    group.bench_function("first sync, 2,000 devices, 0 ms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = rt
                    .block_on(sim::attributes::simulator(0, 2_000).start())
                    .unwrap_or_else(|e| panic!("simulator: {e}"));
                let ctx = pipeline(s.info());
                let settings = store("criterion");
                let t = Instant::now();
                rt.block_on(sync::apply(&ctx, &settings, &SyncOptions::default()))
                    .unwrap_or_else(|e| panic!("sync: {e}"));
                total += t.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
