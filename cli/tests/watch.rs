//! `ise-intune watch` against a running simulator: metrics that parse, an alert firing
//! within two intervals of a defect and resolving after the repair, a repair done
//! without a person, the status page, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use intune_integration::context::Options;
use intune_integration::{enforce, onboard};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as testkit, Configurator};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The interval the test runs watch with.
const INTERVAL: Duration = Duration::from_secs(1);

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ise-intune-watch-{}-{name}", std::process::id()))
}

async fn integrated() -> (Simulator, intune_integration::Integration) {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(50))
        .start()
        .await
        .expect("simulator");
    integrated_from(sim).await
}

/// `sim` onboarded and enforced.
async fn integrated_from(sim: Simulator) -> (Simulator, intune_integration::Integration) {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    let ctx = testkit::integration(sim.info(), Configurator::Gui, true, o).expect("integration");
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    enforce::apply(&ctx).await.expect("enforce");
    (sim, ctx)
}

/// The SHA-1 thumbprints of the integration's application keys.
async fn key_thumbprints(ctx: &intune_integration::Integration) -> Vec<String> {
    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    graph
        .application(app.object_id)
        .key_credentials()
        .await
        .expect("keys")
        .iter()
        .filter_map(graph_client::KeyCredential::thumbprint_hex)
        .collect()
}

/// The watch process, the address it serves on and its standard error's file.
struct Running {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Running {
    /// What it wrote on standard error so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start(info: &std::path::Path, extra: &[&str]) -> Running {
    let info = info.display().to_string();
    let mut args = vec!["--sim-info", &info, "watch"];
    args.extend_from_slice(extra);
    start_with(&args)
}

/// `ise-intune ARGS --interval 1s --listen 127.0.0.1:0` (ARGS name the subcommand).
fn start_with(args: &[&str]) -> Running {
    start_env(args, &[])
}

/// [`start_with`] with these variables in its environment.
fn start_env(args: &[&str], env: &[(&str, &str)]) -> Running {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = temp(&format!("watch-stderr-{n}.log"));
    let listen: &[&str] = if args.contains(&"--listen") {
        &[]
    } else {
        &["--listen", "127.0.0.1:0"]
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args(args)
        .args(["--interval", "1s"])
        .args(listen)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).map_or_else(|_| Stdio::null(), Stdio::from))
        .spawn()
        .expect("watch starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the address")
        .trim_end_matches('/')
        .replace("0.0.0.0", "127.0.0.1");
    Running { child, base, log }
}

/// The lines a watch process prints, gathered as they come, and the thread gathering them.
type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn read_lines(child: &mut Child) -> (Lines, std::thread::JoinHandle<()>) {
    let lines = Lines::default();
    let stdout = child.stdout.take().expect("stdout");
    let gathered = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            gathered.lock().expect("lines").push(line);
        }
    });
    (lines, reader)
}

/// SIGTERM: the watch stops with exit 0 and its output is all read.
fn stop(child: &mut Child, reader: std::thread::JoinHandle<()>) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    assert!(child.wait().expect("wait").success());
    reader.join().expect("reader");
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(
    limit: Duration,
    f: F,
) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The value of `family{labels}` in an exposition, which must parse as OpenMetrics.
fn sample(text: &str, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    // An exposition of no sample at all is the end marker alone, which this parser
    // does not take (it is valid OpenMetrics).
    if text.trim() == "# EOF" {
        return None;
    }
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(text).expect("OpenMetrics");
    let family = parsed.families.get(family)?;
    family
        .iter_samples()
        .find(|s| {
            s.get_labelset().is_ok_and(|set| {
                labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(v))
            })
        })
        .and_then(|s| match &s.value {
            openmetrics_parser::OpenMetricsValue::Gauge(n) => Some(n.as_f64()),
            _ => None,
        })
}

async fn alerts(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.body).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_alerts_on_revoked_consent_resolves_after_onboard_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    let info = temp("info.json");
    sim.write_info_file(&info).expect("info");
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    // --timeout bounds each check, not the watch.
    let info_arg = info.display().to_string();
    let started = Instant::now();
    let running = start_with(&[
        "--sim-info",
        &info_arg,
        "--timeout",
        "3",
        "watch",
        "--webhook",
        &hook.uri(),
    ]);
    let base = running.base.clone();
    assert!(
        until(Duration::from_secs(30), || async {
            get(&format!("{base}/readyz")).await.0 == 200
        })
        .await,
        "never ready"
    );
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&text, "ise_intune_up", &[("pair", "default")]),
        Some(1.0),
        "{text}\n{}",
        get(&format!("{base}/")).await.1
    );
    assert_eq!(
        sample(
            &text,
            "ise_intune_findings",
            &[("pair", "default"), ("severity", "error")]
        ),
        Some(0.0)
    );
    assert!(text.contains("ise_intune_certificate_expiry_timestamp_seconds{pair=\"default\",node=\"ise-psn\",kind=\"admin_certificate\"}"), "{text}");
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);

    // Consent for the Intune API revoked through Graph.
    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    let revoked_roles = testkit::revoke_intune_consent(graph, &app.service_principal_id)
        .await
        .expect("revoke");
    assert_eq!(revoked_roles, 1);
    let revoked = Instant::now();
    // Two intervals, plus the check's own time (doctor against the simulator).
    let limit = 2 * INTERVAL + Duration::from_secs(3);
    let fired = until(limit, || async {
        alerts(&hook)
            .await
            .iter()
            .any(|a| a["id"] == "app.consent_missing" && a["state"] == "firing")
    })
    .await;
    assert!(fired, "no firing alert: {:#?}", alerts(&hook).await);
    assert!(revoked.elapsed() <= limit);
    let text = get(&format!("{base}/metrics")).await.1;
    assert!(
        sample(
            &text,
            "ise_intune_findings",
            &[("pair", "default"), ("severity", "error")]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "ise_intune_finding",
            &[
                ("pair", "default"),
                ("id", "app.consent_missing"),
                ("severity", "error")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    let page = get(&format!("{base}/")).await.1;
    assert!(
        page.contains("app.consent_missing") || page.contains("consent"),
        "{page}"
    );

    // Onboard repairs it: a resolved alert follows, and the firing one was sent once.
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    let resolved = until(Duration::from_secs(15), || async {
        alerts(&hook)
            .await
            .iter()
            .any(|a| a["id"] == "app.consent_missing" && a["state"] == "resolved")
    })
    .await;
    assert!(resolved, "no resolved alert: {:#?}", alerts(&hook).await);
    let firing = alerts(&hook)
        .await
        .iter()
        .filter(|a| a["id"] == "app.consent_missing" && a["state"] == "firing")
        .count();
    assert_eq!(firing, 1);

    // Still running past --timeout.
    while started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut running = running;
    assert!(
        running.child.try_wait().expect("wait").is_none(),
        "watch ended with --timeout 3: it must bound each check, not the watch"
    );
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);

    // SIGTERM: exit 0 within 5 s.
    let pid = running.child.id().to_string();
    let stopped = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = loop {
        if let Some(s) = running.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_repairs_a_moved_chain_and_rotates_a_renewed_certificate_when_asked() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    let info = temp("repair-info.json");
    sim.write_info_file(&info).expect("info");
    let next = temp("next-root.pem");
    std::fs::write(&next, &sim.info().next_ca_pem).expect("next root");
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    // Microsoft moved its endpoints to a new root, which a newer anchor set ships;
    // ISE's Test Connection fails until ISE trusts it.
    sim.move_microsoft_chains().expect("move");
    let entry = ctx.options().mdm_server_name.clone();
    assert!(sim.test_connection(&entry).await.is_err());
    let next_arg = next.display().to_string();
    let running = start(
        &info,
        &[
            "--anchor",
            &next_arg,
            "--auto",
            "trust-sync",
            "--auto",
            "rotate",
            "--as-node",
            "--webhook",
            &hook.uri(),
        ],
    );
    let repaired = until(Duration::from_secs(30), || async {
        sim.test_connection(&entry).await.is_ok()
    })
    .await;
    assert!(
        repaired,
        "Test Connection still fails: {:#?}",
        alerts(&hook).await
    );
    assert!(
        until(Duration::from_secs(5), || async {
            alerts(&hook).await.iter().any(|a| a["state"] == "repaired")
        })
        .await,
        "{:#?}",
        alerts(&hook).await
    );
    // The repair is a line at the default verbosity, saying what it did.
    let log = running.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("action=\"trust-sync\"")
                && l.contains("repaired: trusted the roots of")),
        "{log}"
    );

    // A node's Admin certificate renewed in ISE: registered, then the old key removed
    // only once verification passed.
    let keys = || key_thumbprints(&ctx);
    let before = keys().await;
    let renewed = sim.renew_admin_certificate("ise-psn", 730).expect("renew");
    assert!(!before.contains(&renewed));
    let rotated = until(Duration::from_secs(60), || async {
        let now = keys().await;
        now.contains(&renewed) && now.len() == before.len()
    })
    .await;
    assert!(rotated, "keys now {:?}, renewed {renewed}", keys().await);
    assert!(sim.test_connection(&entry).await.is_ok());
    drop(running);
}

/// Debian's Chromium (`.ci/run` installs it).
fn chromium() -> String {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
        .expect("a headless Chromium: apt-get install chromium (bash scripts/test.sh installs it)")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_each_pair_its_findings_and_expiries_in_a_real_browser() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _ctx) = integrated().await;
    // A node's certificate renewed for 30 days and not registered yet: an error with
    // its remediation, and an expiry on the timeline.
    sim.renew_admin_certificate("ise-psn", 30).expect("renew");
    let info = temp("page-info.json");
    sim.write_info_file(&info).expect("info");
    let running = start(&info, &[]);
    let base = running.base.clone();
    assert!(
        until(Duration::from_secs(30), || async {
            get(&format!("{base}/readyz")).await.0 == 200
        })
        .await
    );
    let browser = chromium();
    let profile = temp("chromium-profile");
    // The screenshot stays in the tests' output folder, to be looked at.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let run = |extra: &[&str]| {
        Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("{base}/"))
            .output()
            .expect("chromium runs")
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("<td>default</td>"), "{dom}");
    assert!(dom.contains("<td class=\"error\">error</td>"), "{dom}");
    assert!(
        dom.contains("ise-psn's Admin certificate is not registered") || dom.contains("ise-psn"),
        "{dom}"
    );
    assert!(dom.contains("then run rotate"), "{dom}");
    assert!(dom.contains("<svg"), "{dom}");
    assert!(dom.contains("Expiries within 180 days"), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
    // It reloads itself without a script, says when each pair was last checked (with
    // the time zone) and how long ago, links each finding id to its section of the
    // troubleshooting guide, and shows names as code, not between backticks.
    assert!(
        dom.contains("<meta http-equiv=\"refresh\" content=\"60\">"),
        "{dom}"
    );
    let checked = dom
        .split("<td>")
        .find(|cell| cell.contains(" UTC<br><small>"))
        .unwrap_or_else(|| panic!("no last-check cell: {dom}"));
    assert!(
        checked.contains(" s ago") || checked.contains(" min ago"),
        "{checked}"
    );
    assert!(
        dom.contains(
            "<a href=\"https://example.invalid/ise-intune/blob/main/docs/troubleshooting.md\
             #nodekey_not_registered\"><code>node.key_not_registered</code></a>"
        ),
        "{dom}"
    );
    assert!(!dom.contains('`'), "{dom}");
    let png = run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,900",
    ]);
    assert!(
        png.status.success(),
        "{}",
        String::from_utf8_lossy(&png.stderr)
    );
    let bytes = std::fs::read(&shot).expect("screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
    drop(running);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_is_split_by_shard_and_reloaded_on_sighup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _ctx) = integrated().await;
    let info = temp("fleet-info.json");
    sim.write_info_file(&info).expect("info");
    let inventory = temp("fleet.toml");
    let pairs = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                format!(
                    "[[pair]]\nname = {n:?}\nsim_info = {:?}\n",
                    info.display().to_string()
                )
            })
            .collect::<String>()
    };
    let names = ["east", "west", "north", "south", "lab"];
    std::fs::write(&inventory, pairs(&names[..4])).expect("inventory");
    let inv = inventory.display().to_string();
    let shard = |i: u32| {
        names[..4]
            .iter()
            .filter(|n| intune_integration::watch::shard_of(n, 2) == i)
            .map(|n| (*n).to_owned())
            .collect::<Vec<String>>()
    };
    let watched = |text: &str| {
        let mut pairs: Vec<String> = names
            .iter()
            .filter(|n| sample(text, "ise_intune_up", &[("pair", n)]).is_some())
            .map(|n| (*n).to_owned())
            .collect();
        pairs.sort();
        pairs
    };
    let mut seen = Vec::new();
    for i in 0..2u32 {
        let running = start_with(&["watch", "--inventory", &inv, "--shard", &format!("{i}/2")]);
        let base = running.base.clone();
        assert!(
            until(Duration::from_secs(30), || async {
                get(&format!("{base}/readyz")).await.0 == 200
            })
            .await
        );
        let mut expected = shard(i);
        expected.sort();
        assert_eq!(watched(&get(&format!("{base}/metrics")).await.1), expected);
        seen.extend(expected);
        if i == 1 {
            // SIGHUP: the inventory now also names `lab`; `east` is gone.
            std::fs::write(&inventory, pairs(&names[1..])).expect("inventory");
            let pid = running.child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-HUP", &pid])
                    .status()
                    .expect("kill")
                    .success()
            );
            let mut want: Vec<String> = names[1..]
                .iter()
                .filter(|n| intune_integration::watch::shard_of(n, 2) == 1)
                .map(|n| (*n).to_owned())
                .collect();
            want.sort();
            let reloaded = until(Duration::from_secs(15), || async {
                watched(&get(&format!("{base}/metrics")).await.1) == want
            })
            .await;
            assert!(reloaded, "{}", get(&format!("{base}/metrics")).await.1);

            // An inventory grown past the cap: the reload is refused with its cause,
            // and the pairs watched are kept.
            std::fs::File::create(&inventory)
                .and_then(|f| f.set_len(intune_integration::files::MAX_FILE_BYTES + 1))
                .expect("oversize inventory");
            assert!(
                Command::new("kill")
                    .args(["-HUP", &pid])
                    .status()
                    .expect("kill")
                    .success()
            );
            let logged = until(Duration::from_secs(10), || async {
                running.stderr().contains("reload refused")
            })
            .await;
            let log = running.stderr();
            let line = log
                .lines()
                .find(|l| l.contains("reload refused"))
                .unwrap_or_default();
            assert!(
                logged && line.contains("cannot read") && line.contains("more than the"),
                "{log}"
            );
            assert_eq!(watched(&get(&format!("{base}/metrics")).await.1), want);
        }
    }
    seen.sort();
    let mut all: Vec<String> = names[..4].iter().map(|n| (*n).to_owned()).collect();
    all.sort();
    assert_eq!(
        seen, all,
        "every pair watched exactly once across the shards"
    );
}

/// A TLS proxy in front of the simulated ISE: it passes every request through, but
/// answers the export of `node`'s Admin certificate with `swapped` (PEM) — ISE's API
/// answer altered on its way, while the node itself keeps presenting its own
/// certificate in its TLS handshakes.
struct SwappingProxy {
    /// `https://127.0.0.1:PORT`.
    url: String,
    /// SHA-256 of the proxy's certificate (uppercase hex), to pin.
    sha256: String,
    /// Exports answered with the swapped certificate.
    swaps: std::sync::Arc<std::sync::atomic::AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SwappingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn swapping_proxy(
    info: &ise_intune_simulator::SimInfo,
    node: &'static str,
    swapped: String,
) -> SwappingProxy {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse as _;
    use rustls::pki_types::pem::PemObject as _;
    use std::sync::Arc;

    // Upstream: the simulated ISE, reached by its primary's name with its self-signed
    // certificate as the one root.
    let primary = info.ise.nodes.first().expect("nodes").fqdn.clone();
    let port = url::Url::parse(&info.ise.url)
        .expect("ise url")
        .port()
        .expect("port");
    let admin = rustls::pki_types::CertificateDer::from_pem_file(&info.ise.admin_cert_pem_path)
        .expect("ISE's certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(admin).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let upstream = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve(&primary, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .expect("upstream client");
    let base = format!("https://{primary}:{port}");
    let swaps = Arc::new(std::sync::atomic::AtomicU32::new(0));

    let handler = {
        let swaps = swaps.clone();
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, base, swapped, swaps) = (
                upstream.clone(),
                base.clone(),
                swapped.clone(),
                swaps.clone(),
            );
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
                let swap =
                    path == "/api/v1/certs/system-certificate/export" && asked["hostName"] == node;
                let mut request = upstream.request(method, format!("{base}{path}"));
                for (name, value) in &headers {
                    if name != "host" && name != "content-length" {
                        request = request.header(name, value);
                    }
                }
                match request.body(body).send().await {
                    Ok(answer) => {
                        let status = StatusCode::from_u16(answer.status().as_u16())
                            .unwrap_or(StatusCode::BAD_GATEWAY);
                        let mut out = HeaderMap::new();
                        for (name, value) in answer.headers() {
                            if name != "content-length" && name != "transfer-encoding" {
                                out.insert(name.clone(), value.clone());
                            }
                        }
                        let mut bytes = answer.bytes().await.unwrap_or_default().to_vec();
                        if swap && status == StatusCode::OK {
                            swaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            bytes = with_certificate(&bytes, &swapped);
                        }
                        (status, out, bytes).into_response()
                    }
                    Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        }
    };
    let router = axum::Router::new().fallback(handler);

    // The proxy's own certificate, which the command pins.
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let sha256 = ring::digest::digest(&ring::digest::SHA256, issued.cert.der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![issued.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(issued.signing_key.serialize_der().into()),
        )
        .expect("server TLS");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    SwappingProxy {
        url,
        sha256,
        swaps,
        task,
    }
}

/// ISE's export ZIP with each certificate (`.pem`) replaced by `pem`, other entries
/// (an encrypted key) kept.
fn with_certificate(zip: &[u8], pem: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("ISE's ZIP");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().expect("entry name").to_string();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
        if name.ends_with(".pem") {
            content = pem.as_bytes().to_vec();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        std::io::Write::write_all(&mut out, &content).expect("write");
    }
    out.finish().expect("zip").into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_rotate_behind_a_proxy_that_swaps_a_nodes_certificate_writes_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    // A certificate for ise-psn that ISE never bound, so the node never presents it:
    // valid, naming the node, self-signed like the genuine one.
    let swapped = sim.stage_admin_certificate("ise-psn", 730).expect("stage");
    let proxy = swapping_proxy(sim.info(), "ise-psn", swapped).await;
    let mut info = sim.info().clone();
    info.ise.url = proxy.url.clone();
    info.ise.gui_url = format!("{}{}", proxy.url, ise_intune_simulator::GUI_BASE_PATH);
    info.ise.admin_cert_sha256 = proxy.sha256.clone();
    let path = temp("proxied-info.json");
    std::fs::write(&path, serde_json::to_string(&info).expect("json")).expect("info");

    let keys = || key_thumbprints(&ctx);
    let before = keys().await;

    let running = start(&path, &["--auto", "rotate", "--as-node"]);
    let refused = until(Duration::from_secs(30), || async {
        running.stderr().contains("does not present")
    })
    .await;
    let log = running.stderr();
    assert!(refused, "no refusal logged: {log}");
    assert!(proxy.swaps.load(std::sync::atomic::Ordering::Relaxed) > 0);
    // It says why: the node, where it was asked, and both fingerprints.
    let line = log
        .lines()
        .find(|l| l.contains("does not present"))
        .expect("line");
    assert!(
        line.contains("`ise-psn`") && line.contains("the node presents SHA-1"),
        "{line}"
    );
    // A few more checks and repairs: still nothing written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(keys().await, before, "no key added or removed");
    assert!(
        sim.test_connection(&ctx.options().mdm_server_name)
            .await
            .is_ok()
    );
    drop(running);
    let _ = std::fs::remove_file(path);
}

/// A value no terminal, log or webhook may see raw: a terminal retitle, BEL, CR,
/// backspaces, then 10 KB.
fn hostile_value() -> String {
    format!(
        "AirWatch\u{1b}]0;owned\u{7}\r\u{8}\u{8}{}",
        "v".repeat(10_000)
    )
}

/// A rule of ISE's default policy set naming the MDM server `server`.
async fn foreign_rule(ctx: &intune_integration::Integration, server: &str) {
    let base = "/api/v1/policy/network-access";
    let sets = ctx
        .ise()
        .request(ise_client::Method::GET, &format!("{base}/policy-set"), None)
        .await
        .expect("policy sets");
    let set = sets["response"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "Default"))
        .and_then(|s| s["id"].as_str())
        .expect("the default set")
        .to_owned();
    let body = serde_json::json!({
        "rule": {"name": "Foreign rule", "condition": {
            "conditionType": "ConditionAttributes", "dictionaryName": "MDM",
            "attributeName": "MDMServerName", "operator": "equals", "attributeValue": server}},
        "profile": ["PermitAccess"]
    });
    ctx.ise()
        .request(
            ise_client::Method::POST,
            &format!("{base}/policy-set/{set}/authorization"),
            Some(body),
        )
        .await
        .expect("a foreign rule");
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_server_text_and_webhook_secrets_never_leave_raw() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    foreign_rule(&ctx, &hostile_value()).await;
    let info = temp("hostile-info.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();

    // doctor's text: no control character but line ends, no line past the cap.
    let out = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args(["--sim-info", &info_arg, "doctor"])
        .output()
        .expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("names MDM server `AirWatch ]0;owned"),
        "{text}"
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    // The widest line: a label and a node before text cut at 500 characters.
    assert!(longest <= 560, "a line of {longest} characters");
    assert!(text.contains('…'), "the cut is marked");

    // watch: the same finding reaches a webhook printable and bounded; a webhook
    // whose URL carries credentials, a path secret and a token is never logged whole.
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let secret_hook = format!(
        "http://user:hunter2@127.0.0.1:{}/services/T0/B0/SeCrEt?token=hunter3",
        dead_port()
    );
    let running = start(
        &info,
        &["--webhook", &secret_hook, "--webhook", &hook.uri()],
    );
    let fired = until(Duration::from_secs(20), || async {
        alerts(&hook)
            .await
            .iter()
            .any(|a| a["id"] == "enforce.inactive_mdm_server")
    })
    .await;
    assert!(fired, "{:#?}", alerts(&hook).await);
    let all = alerts(&hook).await;
    let alert = all
        .iter()
        .find(|a| a["id"] == "enforce.inactive_mdm_server")
        .expect("alert");
    for field in ["summary", "remediation"] {
        let t = alert[field].as_str().expect("text");
        assert!(!t.chars().any(char::is_control), "{field}: {t:?}");
        assert!(
            t.chars().count() <= 501,
            "{field}: {} characters",
            t.chars().count()
        );
    }
    // The unreachable webhook's tries are logged, without its secrets.
    let logged = until(Duration::from_secs(10), || async {
        running.stderr().contains("the webhook is unreachable")
    })
    .await;
    let log = running.stderr();
    assert!(logged, "{log}");
    for secret in ["hunter2", "SeCrEt", "hunter3", "services/T0", "user:"] {
        assert!(!log.contains(secret), "`{secret}` logged: {log}");
    }
    assert!(log.contains("webhook=http://127.0.0.1:"), "{log}");
    assert!(!log.chars().any(|c| c.is_control() && c != '\n'), "{log:?}");
    drop(running);
    let _ = std::fs::remove_file(info);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_follow_no_redirect_and_a_hanging_one_delays_no_other() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    let info = temp("hooks-info.json");
    sim.write_info_file(&info).expect("info");
    // A receiver that accepts and never answers, listed first.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hanging_url = format!("http://{}/hook", hanging.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = hanging.accept().await {
            open.push(tcp);
        }
    });
    // A receiver that redirects (307 would re-post the finding) to another.
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let redirecting = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/stolen", elsewhere.uri())),
        )
        .mount(&redirecting)
        .await;
    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&healthy)
        .await;
    let running = start(
        &info,
        &[
            "--webhook",
            &hanging_url,
            "--webhook",
            &redirecting.uri(),
            "--webhook",
            &healthy.uri(),
        ],
    );
    let base = running.base.clone();
    assert!(
        until(Duration::from_secs(30), || async {
            get(&format!("{base}/readyz")).await.0 == 200
        })
        .await
    );
    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    testkit::revoke_intune_consent(graph, &app.service_principal_id)
        .await
        .expect("revoke");
    // Within two intervals and a check, though the first receiver never answers.
    let limit = 2 * INTERVAL + Duration::from_secs(3);
    let fired = until(limit, || async {
        alerts(&healthy)
            .await
            .iter()
            .any(|a| a["id"] == "app.consent_missing" && a["state"] == "firing")
    })
    .await;
    assert!(
        fired,
        "the healthy receiver waited: {:#?}",
        alerts(&healthy).await
    );
    // The redirect was not followed, nor the alert re-posted to the redirect's target.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let redirected = alerts(&redirecting).await;
    assert_eq!(
        redirected.len(),
        alerts(&healthy).await.len(),
        "one try per alert, no retry of a redirect"
    );
    assert!(
        alerts(&elsewhere).await.is_empty(),
        "a redirect was followed"
    );
    assert!(
        running
            .stderr()
            .contains("the webhook answered with a redirect, which is not followed"),
        "{}",
        running.stderr()
    );
    // What the redirecting receiver did not get is counted, by receiver and reason.
    let metrics = get(&format!("{base}/metrics")).await.1;
    let port = redirecting.address().port();
    let counted = metrics.lines().find(|l| {
        l.starts_with(&format!(
            "ise_intune_webhook_dropped_total{{webhook=\"http://127.0.0.1:{port}/#"
        )) && l.contains("reason=\"undelivered\"")
    });
    assert!(
        counted.is_some_and(|l| l.ends_with(&format!(" {}", redirected.len()))),
        "{metrics}"
    );
    drop(running);
    held.abort();
}

/// Sends `request` raw and returns the answer's head (status line and headers).
async fn raw(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether the server closed `tcp` within `limit` (a read ends or fails).
async fn closed_within(tcp: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    while started.elapsed() < limit {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), tcp.read(&mut buf))
            .await
        {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listener_sheds_slow_and_excess_connections_and_guards_beyond_loopback() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _ctx) = integrated().await;
    let info = temp("listener-info.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    let token = "0123456789abcdef0123456789abcdef";

    // Beyond loopback without a token: a warning.
    let open = start_with(&["--sim-info", &info_arg, "watch", "--listen", "0.0.0.0:0"]);
    assert!(
        until(Duration::from_secs(10), || async {
            open.stderr().contains("without a token")
        })
        .await,
        "{}",
        open.stderr()
    );
    drop(open);

    let running = start_env(
        &[
            "--sim-info",
            &info_arg,
            "watch",
            "--listen",
            "0.0.0.0:0",
            "--allowed-host",
            "watch.example",
        ],
        &[("ISE_INTUNE_WATCH_TOKEN", token)],
    );
    assert!(!running.stderr().contains("without a token"));
    let port: u16 = running
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let ask = |path: &str, host: &str, auth: Option<&str>| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n{}Connection: close\r\n\r\n",
            auth.map(|t| format!("Authorization: Bearer {t}\r\n"))
                .unwrap_or_default()
        )
    };
    let here = format!("127.0.0.1:{port}");
    // Probes stay open; the metrics and the page need the token.
    assert!(
        raw(port, &ask("/healthz", &here, None))
            .await
            .starts_with("HTTP/1.1 200")
    );
    let refused = raw(port, &ask("/metrics", &here, None)).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(
        refused
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{refused}"
    );
    assert!(
        raw(
            port,
            &ask("/metrics", &here, Some("wrong-token-wrong-token"))
        )
        .await
        .starts_with("HTTP/1.1 401")
    );
    let page = raw(port, &ask("/", &here, Some(token))).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let head = page.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{page}");
    // A name the listener was not given (DNS rebinding): refused; an allowed one served.
    let rebound = raw(
        port,
        &ask(
            "/metrics",
            &format!("rebind.attacker.example:{port}"),
            Some(token),
        ),
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(
        raw(
            port,
            &ask("/healthz", &format!("watch.example:{port}"), None)
        )
        .await
        .starts_with("HTTP/1.1 200")
    );

    // Slowloris: headers that never end are cut off within the header timeout.
    use tokio::io::AsyncWriteExt as _;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        tcp.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {here}\r\nX-Slow: a").as_bytes())
            .await
            .expect("write");
        slow.push(tcp);
    }
    for tcp in &mut slow {
        assert!(
            closed_within(tcp, Duration::from_secs(8)).await,
            "a slow connection was held"
        );
    }
    // One peer holds at most 16 connections: its 17th is closed at once, and another
    // peer (the scraper) still gets answers. Past 128 in all, any new one is closed.
    let from = |peer: u8| async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, peer], 0)))
            .expect("bind");
        socket
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("connect")
    };
    // (The slow connections' tasks end within a second of their close: wait for them,
    // so that they count no more.)
    drop(slow);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(from(1).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut greedy = from(1).await;
    assert!(
        closed_within(&mut greedy, Duration::from_secs(1)).await,
        "a peer's 17th connection was kept"
    );
    let mut scraper = from(2).await;
    scraper
        .write_all(ask("/healthz", &here, None).as_bytes())
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut scraper, &mut answer),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "another peer was starved"
    );
    for peer in 2..=8 {
        for _ in 0..16 {
            idle.push(from(peer).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = from(9).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(1)).await,
        "the 129th connection was kept"
    );
    drop(idle);
    drop(running);
    let _ = std::fs::remove_file(info);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_that_is_not_http_is_refused_at_start_with_exit_2() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, _ctx) = integrated().await;
    let info = temp("scheme-info.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    for bad in [
        "file:///etc/passwd",
        "ftp://files.example/x",
        "javascript:alert(1)",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
            .args([
                "--sim-info",
                &info_arg,
                "watch",
                "--listen",
                "127.0.0.1:0",
                "--webhook",
                bad,
            ])
            .output()
            .expect("watch");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("only https or http webhooks are allowed"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "nothing served");
    }
    let _ = std::fs::remove_file(info);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_json_prints_one_object_per_event() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (sim, ctx) = integrated().await;
    let info = temp("json-info.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args([
            "--sim-info",
            &info_arg,
            "--json",
            "watch",
            "--interval",
            "1s",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let (lines, reader) = read_lines(&mut child);
    let seen = |pred: &dyn Fn(&Value) -> bool| {
        lines
            .lock()
            .expect("lines")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| pred(&v))
    };
    assert!(
        until(Duration::from_secs(10), || async {
            seen(&|v| {
                v["event"] == "listening"
                    && v["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("http://127.0.0.1:"))
            })
        })
        .await
    );
    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    testkit::revoke_intune_consent(graph, &app.service_principal_id)
        .await
        .expect("revoke");
    assert!(
        until(Duration::from_secs(15), || async {
            seen(&|v| {
                v["event"] == "alert" && v["id"] == "app.consent_missing" && v["state"] == "firing"
            })
        })
        .await,
        "{:#?}",
        lines.lock().expect("lines")
    );
    stop(&mut child, reader);
    let all = lines.lock().expect("lines").clone();
    // Every line is one JSON object with its event and the schema version; the last
    // says the watch stopped.
    for line in &all {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(v["event"].is_string() && v["schema_version"] == 1, "{line}");
    }
    assert_eq!(
        all.last()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["event"].clone()),
        Some(Value::from("stopped"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_rotate_without_write_rights_says_so_at_start() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::builder()
        .automation_roles(["Application.Read.All"])
        .start()
        .await
        .expect("simulator");
    let info = temp("monitor-info.json");
    sim.write_info_file(&info).expect("info");
    let running = start(&info, &["--auto", "rotate"]);
    let warned = until(Duration::from_secs(10), || async {
        running.stderr().contains("--auto rotate cannot write")
    })
    .await;
    let log = running.stderr();
    assert!(
        warned && log.contains("missing Application.ReadWrite.OwnedBy"),
        "{log}"
    );
    drop(running);
    let _ = std::fs::remove_file(info);
}

/// Two simulated hours of `watch` at one check per 30 simulated seconds, with
/// Intune's throttle window kept per tenant (the stricter reading: whatever the tool
/// asks costs ISE's window too): not one unfiltered query, not one throttled answer,
/// tokens renewed as the simulated clock expires them, and not one alert.
#[tokio::test(flavor = "multi_thread")]
async fn two_hours_of_watch_cost_no_unfiltered_query_and_renew_tokens() {
    let _serial = SIMULATED_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(50))
        .intune_throttle_per_tenant(true)
        .start()
        .await
        .expect("simulator");
    let (sim, _ctx) = integrated_from(sim).await;
    let info = temp("two-hours.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    sim.clear_request_log();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args(["--sim-info", &info_arg, "--json", "watch"])
        .args(["--interval", "100ms", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let (lines, reader) = read_lines(&mut child);
    // 240 steps of 30 simulated seconds, a check ended after each: two hours.
    let metrics = metrics_url(&lines).await;
    checks_end(&metrics, 1).await;
    for _ in 0..240 {
        sim.advance_clock(Duration::from_secs(30));
        checks_end(&metrics, 1).await;
    }
    stop(&mut child, reader);
    let snapshot = sim.snapshot();
    assert_eq!(snapshot["clock"]["offset_secs"], 2 * 3600);
    assert_eq!(snapshot["intune"]["unfiltered_queries"], json!({}));
    assert_eq!(snapshot["intune"]["throttled"], json!({}));
    let log = sim.request_log();
    let device_queries = log
        .iter()
        .filter(|r| r.service == "intune" && r.path.ends_with("/cisco/devices/"))
        .count();
    // Each check asks Intune about one device, once.
    assert!(device_queries >= 240, "{device_queries} device queries");
    // Tokens live an hour of simulated time: over two hours each identity got new ones.
    let token_requests = log
        .iter()
        .filter(|r| r.service == "login" && r.method == "POST")
        .count();
    assert!(token_requests >= 3, "{token_requests} token requests");
    let all = lines.lock().expect("lines").clone();
    let alerts: Vec<&String> = all.iter().filter(|l| l.contains("\"alert\"")).collect();
    assert!(alerts.is_empty(), "{alerts:#?}");
}

/// The long simulated-time tests run one at a time: each drives a watch process as fast
/// as it checks, and two at once on two cores would each take twice as long.
static SIMULATED_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// When the (one) pair's last check ended, from a metrics exposition.
fn last_check(text: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with("ise_intune_last_check_timestamp_seconds{"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

/// The `/metrics` address a `--json` watch announced.
async fn metrics_url(lines: &Lines) -> String {
    let listening = || {
        lines
            .lock()
            .expect("lines")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "listening")
            .and_then(|v| v["url"].as_str().map(str::to_owned))
    };
    assert!(until(Duration::from_secs(10), || async { listening().is_some() }).await);
    format!("{}metrics", listening().expect("url"))
}

/// Waits until `n` checks of the pair have ended after this moment.
async fn checks_end(metrics: &str, n: usize) {
    let mut seen = Vec::new();
    if let Some(v) = last_check(&get(metrics).await.1) {
        seen.push(v);
    }
    let start = seen.len();
    let t = Instant::now();
    while seen.len() < start + n && t.elapsed() < Duration::from_secs(30) {
        if let Some(v) = last_check(&get(metrics).await.1)
            && seen.last() != Some(&v)
        {
            seen.push(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.len(), start + n, "the watch stopped checking");
}

/// Ninety simulated days of `watch --as-node --auto rotate --auto trust-sync` on one
/// pair, a day at a time: the nodes' Admin certificates expire on day 60, renewed ones
/// are staged in ISE on day 40 and bound on day 55, Microsoft's chains move on day 30.
/// Each expiry threshold alerts exactly once per certificate and key; the chains and
/// the renewal are repaired unattended; nothing is left firing; tokens are renewed as
/// the clock expires them; not one Intune answer is throttled.
#[tokio::test(flavor = "multi_thread")]
async fn ninety_days_of_watch_alert_once_per_threshold_and_stay_healthy() {
    let _serial = SIMULATED_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(20))
        .intune_throttle_per_tenant(true)
        .start()
        .await
        .expect("simulator");
    let hosts: Vec<String> = sim
        .info()
        .ise
        .nodes
        .iter()
        .map(|n| n.hostname.clone())
        .collect();
    for host in &hosts {
        sim.renew_admin_certificate(host, 60)
            .expect("60-day certificate");
    }
    let (sim, _ctx) = integrated_from(sim).await;
    let info = temp("ninety-days.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    // The root Microsoft moves to on day 30, which a newer anchor set ships.
    let next = temp("ninety-days-next-root.pem");
    std::fs::write(&next, &sim.info().next_ca_pem).expect("next root");
    let next_arg = next.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args([
            "--sim-info",
            &info_arg,
            "--json",
            "--as-node",
            "--anchor",
            &next_arg,
        ])
        .arg("watch")
        .args(["--interval", "100ms", "--listen", "127.0.0.1:0"])
        .args(["--auto", "rotate", "--auto", "trust-sync"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let (lines, reader) = read_lines(&mut child);
    let metrics = metrics_url(&lines).await;
    // Waits for a check to end after this moment (one that began before it carries the
    // day before's findings into this one, which changes no threshold).
    let next_check = || checks_end(&metrics, 1);
    next_check().await;
    let started = Instant::now();
    let mut steady: Option<std::collections::BTreeMap<String, usize>> = None;
    for day in 1..=90 {
        if day == 70 {
            sim.clear_request_log();
        }
        if day == 80 {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for r in sim.request_log() {
                *counts.entry(r.service.to_string()).or_default() += 1;
                if r.service == "ise" && r.path == "/api/v1/deployment/node" {
                    *counts.entry("checks".into()).or_default() += 1;
                }
            }
            steady = Some(counts);
        }
        sim.advance_clock(Duration::from_secs(24 * 3600));
        match day {
            30 => sim.move_microsoft_chains().expect("chains move"),
            40 => {
                for host in &hosts {
                    sim.stage_admin_certificate(host, 365).expect("staged");
                }
            }
            55 => {
                for host in &hosts {
                    sim.activate_staged_certificate(host).expect("bound");
                }
            }
            _ => {}
        }
        // On the days that call for a repair, the clock moves on only once it is done
        // (a day passing in the middle of one would expire its client assertions in
        // flight, which no real clock does).
        let action = match day {
            30 => Some("trust-sync"),
            55 => Some("rotate"),
            _ => None,
        };
        if let Some(action) = action {
            let done = || {
                lines
                    .lock()
                    .expect("lines")
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .any(|v| v["event"] == "repair" && v["action"] == action)
            };
            assert!(
                until(Duration::from_secs(60), || async { done() }).await,
                "day {day}: no {action} repair"
            );
        }
        next_check().await;
    }
    let elapsed = started.elapsed();
    stop(&mut child, reader);
    let events: Vec<Value> = lines
        .lock()
        .expect("lines")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let repairs: Vec<&Value> = events.iter().filter(|v| v["event"] == "repair").collect();
    let alerts: Vec<Value> = events
        .iter()
        .filter(|v| v["event"] == "alert")
        .cloned()
        .collect();
    // Each threshold, once per node certificate and once per application key.
    let mut thresholds: std::collections::BTreeMap<(String, String), Vec<u64>> =
        std::collections::BTreeMap::new();
    for a in alerts.iter().filter(|a| a["state"] == "firing") {
        if let Some(t) = a["threshold_days"].as_u64() {
            let subject = a["node"].as_str().map_or_else(
                || a["summary"].as_str().unwrap_or_default().to_owned(),
                str::to_owned,
            );
            let subject: String = subject.chars().filter(|c| !c.is_ascii_digit()).collect();
            thresholds
                .entry((a["id"].as_str().unwrap_or_default().to_owned(), subject))
                .or_default()
                .push(t);
        }
    }
    let nodes = thresholds
        .keys()
        .filter(|(id, _)| id == "node.certificate_expiring")
        .count();
    assert_eq!(nodes, hosts.len(), "{thresholds:#?}");
    assert!(
        thresholds.keys().any(|(id, _)| id == "app.key_expiring"),
        "{thresholds:#?}"
    );
    for (what, fired) in &thresholds {
        assert_eq!(fired, &[30, 14, 7], "{what:?}: {alerts:#?}");
    }
    // The moved chains and the renewal were repaired unattended, each on the first
    // check that saw it.
    let repaired = |action: &str| {
        repairs
            .iter()
            .filter(|r| r["action"] == action && r["result"] == "repaired")
            .count()
    };
    assert_eq!(repaired("trust-sync"), 1, "{repairs:#?}");
    assert!(repaired("rotate") >= 1, "{repairs:#?}");
    assert!(
        repairs.iter().all(|r| r["result"] == "repaired"),
        "{repairs:#?}"
    );
    // Nothing is left firing: every firing alert was resolved or repaired (an expiry
    // passing its next threshold fires again without resolving in between).
    let mut open: std::collections::BTreeMap<(String, String), bool> = Default::default();
    for a in &alerts {
        let key = (
            a["id"].as_str().unwrap_or_default().to_owned(),
            a["node"].as_str().unwrap_or_default().to_owned()
                + &a["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>(),
        );
        open.insert(key, a["state"] == "firing");
    }
    let left: Vec<_> = open.iter().filter(|(_, firing)| **firing).collect();
    assert!(left.is_empty(), "still firing: {left:#?}\n{alerts:#?}");
    // Intune: not one unfiltered query, not one throttled answer.
    let snapshot = sim.snapshot();
    assert_eq!(snapshot["intune"]["unfiltered_queries"], json!({}));
    assert_eq!(snapshot["intune"]["throttled"], json!({}));
    // Tokens live an hour: each simulated day needed new ones.
    let token_requests = sim
        .request_log()
        .iter()
        .filter(|r| r.service == "login" && r.method == "POST")
        .count();
    assert!(token_requests >= 90, "{token_requests} token requests");
    // The request budget of a healthy pair checked as its nodes, per check (the
    // README's table; measured exactly by tests/maintenance.rs's
    // request_budget_of_one_check), held over days 70 to 80; the automating identity's
    // two tokens (Graph, Intune) are renewed once per simulated day.
    let steady = steady.expect("days 70 to 80");
    let checks = steady.get("checks").copied().unwrap_or(0);
    assert!(checks >= 8, "{steady:?}");
    for (service, per_check, extra) in [
        ("ise", 14, 0),
        ("graph", 10, 0),
        ("intune", 3, 0),
        ("login", 5, 2 * 11),
    ] {
        let n = steady.get(service).copied().unwrap_or(0);
        assert!(
            n >= (checks - 1) * per_check && n <= (checks + 1) * per_check + extra,
            "{service}: {n} requests in {checks} checks: {steady:?}"
        );
    }
    eprintln!("ninety simulated days in {elapsed:?}; days 70-80: {steady:?}");
}

/// A counter's value in an exposition (`family_total{labels}`), read off its line.
/// The metric names (`ise_intune_…`, as sampled: counters with `_total`) the rules and
/// the dashboard of `deploy/monitoring/` use.
fn monitored_metrics() -> std::collections::BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring");
    let mut names = std::collections::BTreeSet::new();
    for file in ["rules.yaml", "dashboard.json"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("monitoring file");
        for (at, _) in text.match_indices("ise_intune_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

fn counter(text: &str, family: &str, pair: &str) -> Option<f64> {
    let prefix = format!("{family}_total{{pair=\"{pair}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_attributes_syncs_each_cycle_and_exports_its_counters() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push("DeviceManagementManagedDevices.Read.All");
    let sim = Simulator::builder()
        .devices(80)
        .automation_roles(roles)
        .replication_lag(Duration::ZERO)
        .start()
        .await
        .expect("simulator");
    let info = temp("attributes-watch-info.json");
    sim.write_info_file(&info).expect("info");
    let store = std::path::PathBuf::from(format!("{}.attributes.redb", info.display()));
    let _ = std::fs::remove_file(&store);
    // A webhook, so that every family the shipped rules use is exported.
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let running = start(&info, &["--auto", "attributes", "--webhook", &hook.uri()]);
    let metrics = format!("{}/metrics", running.base);
    let synced = until(Duration::from_secs(30), || async {
        let (_, text) = get(&metrics).await;
        counter(
            &text,
            "ise_intune_attribute_sync_endpoints_written",
            "default",
        )
        .is_some_and(|n| n > 0.0)
            && sample(
                &text,
                "ise_intune_attribute_sync_last_success_timestamp_seconds",
                &[("pair", "default")],
            )
            .is_some()
    })
    .await;
    assert!(synced, "{}\n{}", get(&metrics).await.1, running.stderr());
    // The endpoints carry the device ids; the next cycles write nothing more.
    let snapshot = sim.snapshot();
    let bridged = snapshot["ise"]["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["customAttributes"]["IntuneDeviceId"].is_string())
        .count();
    assert!(bridged > 50, "{bridged}");
    let (_, text) = get(&metrics).await;
    let written = counter(
        &text,
        "ise_intune_attribute_sync_endpoints_written",
        "default",
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, later) = get(&metrics).await;
    assert_eq!(
        counter(
            &later,
            "ise_intune_attribute_sync_endpoints_written",
            "default"
        ),
        written,
        "a cycle with nothing changed writes nothing"
    );
    assert_eq!(
        counter(&later, "ise_intune_attribute_sync_failures", "default"),
        Some(0.0)
    );
    assert!(
        counter(&later, "ise_intune_attribute_sync_devices_read", "default")
            .is_some_and(|n| n >= 80.0)
    );
    // Every metric the shipped alert rules and dashboard use is one this watch exports.
    let exported: std::collections::BTreeSet<&str> = later
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let used = monitored_metrics();
    assert!(used.len() >= 12, "{used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|m| !exported.contains(m.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{later}");
    drop(running);
    let _ = std::fs::remove_file(&store);
}
