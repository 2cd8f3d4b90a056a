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
use serde_json::Value;
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
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    let ctx = testkit::integration(sim.info(), Configurator::Gui, true, o).expect("integration");
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    enforce::apply(&ctx).await.expect("enforce");
    (sim, ctx)
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
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = temp(&format!("watch-stderr-{n}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
        .args(args)
        .args(["--interval", "1s", "--listen", "127.0.0.1:0"])
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
        .to_owned();
    Running { child, base, log }
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

    // A node's Admin certificate renewed in ISE: registered, then the old key removed
    // only once verification passed.
    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    let keys = || async {
        graph
            .application(app.object_id.clone())
            .key_credentials()
            .await
            .expect("keys")
            .iter()
            .filter_map(graph_client::KeyCredential::thumbprint_hex)
            .collect::<Vec<String>>()
    };
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
        .expect("a headless Chromium (apt-get install chromium; .ci/run installs it)")
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
    let shot = temp("status.png");
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

    let graph = ctx.graph();
    let app = intune_integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("app");
    let keys = || async {
        graph
            .application(app.object_id.clone())
            .key_credentials()
            .await
            .expect("keys")
            .iter()
            .filter_map(graph_client::KeyCredential::thumbprint_hex)
            .collect::<Vec<String>>()
    };
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
