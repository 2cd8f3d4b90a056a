//! The hostile-input suite: the smallest input for each way a hostile server or a
//! careless operator could hurt the tool, each ending in a typed error or a bounded
//! result — no panic, no abort, bounded memory and time, no secret or control
//! character in what is printed, nothing written remotely.
//!
//! Servers here are on loopback only: plain HTTP for what an operator configures, TLS
//! with a throwaway certificate for what a server's answer names (Intune's endpoint),
//! which must be https.

use ise_intune::integration::{onboard, rotate, trust_sync};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ise_intune::graph_client::{self, Credentials, GraphClient, TokenAudience};
use ise_intune::integration::Error;
use ise_intune::integration::anchors::TrustAnchorSet;
use ise_intune::integration::compliance::ClientError;
use ise_intune::integration::compliance::{ComplianceClient, MAX_LISTING_BYTES};
use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::fleet::Inventory;
use ise_intune::integration::mdm::ManualChecklist;
use ise_intune::integration::{Integration, context::Options};
use ise_intune::ise_client::{self, IseClient, TlsPolicy};
use ise_intune_http::retry::RetryPolicy;
use ise_intune_http::{BodyLimits, HttpSettings};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Every probe must finish well within this.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// What the server answers to a request line: status, body, content type.
type Handler = Arc<dyn Fn(&str) -> (u16, Arc<Vec<u8>>, &'static str) + Send + Sync>;

struct Server {
    url: String,
    /// The TLS certificate (PEM) when the server speaks TLS.
    ca_pem: Option<String>,
    /// Requests served, and of them the ones that were not GET.
    requests: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

impl Server {
    async fn plain(handler: Handler) -> Self {
        Self::start(handler, false).await
    }

    async fn tls(handler: Handler) -> Self {
        Self::start(handler, true).await
    }

    async fn start(handler: Handler, tls: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (requests, writes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (r, w) = (requests.clone(), writes.clone());
        let (acceptor, ca_pem) = if tls {
            let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
                .expect("certificate");
            let pem = key.cert.pem();
            let der = key.cert.der().clone();
            let pkcs8 =
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der());
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der], pkcs8.into())
            .expect("server config");
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
                Some(pem),
            )
        } else {
            (None, None)
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, r, w, acceptor) =
                    (handler.clone(), r.clone(), w.clone(), acceptor.clone());
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(stream).await {
                                serve(s, handler, r, w).await;
                            }
                        }
                        None => serve(stream, handler, r, w).await,
                    }
                });
            }
        });
        let scheme = if tls { "https" } else { "http" };
        Self {
            url: format!("{scheme}://127.0.0.1:{port}"),
            ca_pem,
            requests,
            writes,
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: Handler,
    requests: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) if head.len() < 64 * 1024 => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0)
            .min(1024 * 1024);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let line = head.lines().next().unwrap_or_default().to_owned();
        requests.fetch_add(1, Ordering::Relaxed);
        if !line.starts_with("GET ") && !line.contains("/oauth2/") {
            writes.fetch_add(1, Ordering::Relaxed);
        }
        let (status, answer, content_type) = handler(&line);
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&answer).await.is_err()
        {
            return;
        }
    }
}

fn body(text: impl Into<String>) -> Arc<Vec<u8>> {
    Arc::new(text.into().into_bytes())
}

const TOKEN: &str =
    r#"{"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.signature"}"#;
const SECRET: &str = "never-shown-secret-4711";
const PASSWORD: &str = "neverShownPassword4711";

fn settings() -> HttpSettings {
    HttpSettings::default()
        .with_retry(RetryPolicy::new(
            2,
            Duration::from_secs(2),
            Duration::from_millis(10),
            Duration::from_millis(10),
        ))
        .with_timeouts(
            Duration::from_secs(2),
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
        .with_limits(BodyLimits::all(8 * 1024 * 1024))
}

/// A Graph client whose login and Graph are `server`, trusting `extra_ca` (a TLS
/// server's certificate) for the hosts answers name.
fn graph_at(server: &Server, extra_ca: Option<&str>) -> GraphClient {
    let mut b = GraphClient::builder()
        .tenant_id("contoso.example")
        .credentials(Credentials::client_secret("app", SECRET))
        .login_authority(server.url.clone())
        .graph_base(format!("{}/v1.0", server.url))
        .http_settings(settings());
    if let Some(pem) = extra_ca {
        b = b.add_root_certificates_pem(pem).expect("root");
    }
    b.build().expect("graph client")
}

fn ise_at(server: &Server) -> IseClient {
    IseClient::builder()
        .base_url(server.url.clone())
        .credentials("admin", PASSWORD.to_owned().into())
        .tls(TlsPolicy::System)
        .http_settings(settings())
        .build()
        .expect("ise client")
}

/// Peak resident memory of this test process, in bytes (Linux).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// What every probe must hold of the text it ends with.
fn assert_printable(text: &str) {
    for secret in [SECRET, PASSWORD, "bmV2ZXJTaG93blBhc3N3b3Jk"] {
        assert!(!text.contains(secret), "a secret in: {text}");
    }
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in: {text:?}"
    );
    assert!(text.len() < 4096, "{} bytes: {}", text.len(), &text[..200]);
}

/// Probes run one at a time, so that the process's peak memory is one probe's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs a probe within [`PROBE_LIMIT`], alone, and checks the process's peak memory
/// during it (the peak is reset first through `/proc/self/clear_refs`).
async fn probe<T>(name: &str, work: impl std::future::Future<Output = T>) -> T {
    let _alone = ONE_AT_A_TIME.lock().await;
    // "5" resets the peak resident set size (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let out = tokio::time::timeout(PROBE_LIMIT, work)
        .await
        .unwrap_or_else(|_| panic!("{name}: not finished within {PROBE_LIMIT:?}"));
    let rss = peak_rss();
    assert!(rss < 256 * 1024 * 1024, "{name}: peak RSS {rss} bytes");
    eprintln!(
        "probe {name}: {:?}, peak RSS {} MiB",
        started.elapsed(),
        rss / (1024 * 1024)
    );
    out
}

/// An Intune stand-in (TLS) answering device queries with `xml`, and a Graph
/// stand-in (plain, configured) whose discovery names it.
async fn intune_answering(xml: Handler) -> (Server, Server) {
    let intune = Server::tls(xml).await;
    let uri = format!(
        "{}/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService",
        intune.url
    );
    let discovery =
        format!(r#"{{"value":[{{"providerName":"ComplianceRetrievalService","uri":"{uri}"}}]}}"#);
    (intune, graph_answering(body(discovery)).await)
}

/// A Graph stand-in (plain, configured): a token for token requests, `answer` (JSON)
/// for everything else.
async fn graph_answering(answer: Arc<Vec<u8>>) -> Server {
    Server::plain(Arc::new(move |line: &str| {
        if line.contains("/oauth2/") {
            (200, body(TOKEN), "application/json")
        } else {
            (200, answer.clone(), "application/json")
        }
    }))
    .await
}

async fn compliance(intune: &Server, graph: &Server) -> ComplianceClient {
    ise_intune::integration::compliance::discover(
        graph_at(graph, intune.ca_pem.as_deref()),
        TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()),
    )
    .await
    .expect("discovery")
}

fn fixed_xml(xml: String) -> Handler {
    let xml = body(xml);
    Arc::new(move |_: &str| (200, xml.clone(), "application/xml"))
}

#[tokio::test]
async fn probe_01_deep_xml_nesting_is_refused() {
    let deep = format!("<ise_api>{}", "<a>".repeat(100_000));
    let (intune, graph) = intune_answering(fixed_xml(deep)).await;
    let client = compliance(&intune, &graph).await;
    let err = probe("deep nesting", client.device_by_mac("00:50:56:ab:cd:ef"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ClientError::Compliance { what } if what.contains("nested deeper than 64")),
        "{err:?}"
    );
    assert_printable(&err.to_string());
}

#[tokio::test]
async fn probe_02_an_attribute_flood_is_refused() {
    let attrs: String = (0..300_000).map(|i| format!(" a{i}=\"\"")).collect();
    let (intune, graph) = intune_answering(fixed_xml(format!("<ise_api{attrs}/>"))).await;
    let client = compliance(&intune, &graph).await;
    let err = probe("attribute flood", client.device_by_mac("005056abcdef"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ClientError::Compliance { what } if what.contains("more than 64 attributes")),
        "{err:?}"
    );
}

#[tokio::test]
async fn probe_03_advancing_pages_stop_at_the_byte_budget() {
    // Every page advances and is 1 MiB: memory would grow without end.
    let filler = "x".repeat(1024 * 1024);
    let (intune, graph) = intune_answering(Arc::new(move |line: &str| {
        let page: u64 = line
            .split("paging=")
            .nth(1)
            .and_then(|r| r.split('&').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let xml = format!(
            "<ise_api><paging_info>{}</paging_info><!-- {filler} --></ise_api>",
            page + 1
        );
        (200, body(xml), "application/xml")
    }))
    .await;
    let client = compliance(&intune, &graph).await;
    let err = probe("advancing pages", client.noncompliant())
        .await
        .expect_err("budget");
    assert!(
        matches!(&err, ClientError::Compliance { what } if what.contains(&MAX_LISTING_BYTES.to_string())),
        "{err:?}"
    );
    let pages = intune.requests.load(Ordering::Relaxed);
    assert!(pages <= 70, "{pages} pages read");
}

#[tokio::test]
async fn probe_04_a_self_referencing_next_link_is_refused() {
    let server_url = Arc::new(std::sync::OnceLock::<String>::new());
    let url = server_url.clone();
    let graph = Server::plain(Arc::new(move |line: &str| {
        if line.contains("/oauth2/") {
            return (200, body(TOKEN), "application/json");
        }
        let base = url.get().cloned().unwrap_or_default();
        let page = format!(
            r#"{{"value":[{{"id":"1","appId":"a","displayName":"x"}}],"@odata.nextLink":"{base}/v1.0/applications?$skiptoken=same"}}"#
        );
        (200, body(page), "application/json")
    }))
    .await;
    let _ = server_url.set(graph.url.clone());
    let err = probe(
        "self-referencing nextLink",
        graph_at(&graph, None)
            .applications()
            .find_by_display_name("x"),
    )
    .await
    .expect_err("loop");
    assert!(
        matches!(&err, graph_client::Error::InvalidInput { what } if what.contains("repeats an earlier page")),
        "{err:?}"
    );
    // The first page, the second (which names itself again), and the token.
    assert!(graph.requests.load(Ordering::Relaxed) <= 4);
}

/// An ISE stand-in whose trusted store is empty and whose nodes are `nodes`.
async fn ise_with_nodes(nodes: usize) -> Server {
    let list: Vec<String> = (0..nodes)
        .map(|i| {
            format!(
                r#"{{"hostname":"n{i}","fqdn":"n{i}.example","ipAddress":"10.0.0.1","roles":["{}"],"services":["Session"]}}"#,
                if i == 0 { "PrimaryAdmin" } else { "None" }
            )
        })
        .collect();
    let nodes = body(format!(r#"{{"response":[{}]}}"#, list.join(",")));
    Server::plain(Arc::new(move |line: &str| {
        if line.contains("/deployment/node") {
            (200, nodes.clone(), "application/json")
        } else {
            (200, body(r#"{"response":[]}"#), "application/json")
        }
    }))
    .await
}

#[tokio::test]
async fn probe_05_many_discovered_endpoints_are_probed_a_few_at_once() {
    // Discovery names 40 hosts (loopback addresses where nothing listens).
    let endpoints: Vec<String> = (2..42)
        .map(|i| format!(r#"{{"providerName":"P{i}","uri":"https://127.0.0.{i}:9/x"}}"#))
        .collect();
    let graph = graph_answering(body(format!(r#"{{"value":[{}]}}"#, endpoints.join(",")))).await;
    let ise_server = ise_with_nodes(1).await;
    let ise = ise_at(&ise_server);
    let onboarding = Integration::builder(ise.clone(), graph_at(&graph, None))
        .anchors(TrustAnchorSet::builtin())
        .configurator(Arc::new(ManualChecklist::new(ise)))
        .options(Options::default())
        .build();
    let sync = probe("40 discovered hosts", trust_sync::plan(&onboarding))
        .await
        .expect("a bounded result");
    assert!(!sync.ok());
    // login, Graph and at most four discovered hosts, plus the note that others were cut.
    let probed = sync
        .hosts
        .iter()
        .filter(|h| !h.host.contains("discovery"))
        .count();
    assert!(
        probed <= ise_intune::integration::trust_sync::MAX_PROBED_HOSTS,
        "{probed}"
    );
    assert!(
        sync.hosts
            .iter()
            .any(|h| h.detail.contains("were not probed"))
    );
    assert_eq!(ise_server.writes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn probe_06_a_20k_node_list_exports_nothing() {
    let ise_server = ise_with_nodes(20_000).await;
    let err = probe(
        "20k nodes",
        ise_intune::integration::keys::admin_certificates(&ise_at(&ise_server)),
    )
    .await
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains("more than a deployment can have (64)"),
        "{err}"
    );
    // The node list only: no export was sent.
    assert_eq!(ise_server.requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn probe_07_devices_and_fifos_as_files_are_refused_at_once() {
    let fifo = std::env::temp_dir().join(format!("ise-intune-fifo-{}", std::process::id()));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec![std::path::PathBuf::from("/dev/zero")];
    if made {
        paths.push(fifo.clone());
    }
    for path in &paths {
        for result in [
            IntegrationConfig::load(path).map(|_| ()),
            Inventory::load(path).map(|_| ()),
            ise_intune::integration::keys::AdminKey::from_file(path, None).map(|_| ()),
        ] {
            let err = probe("device or FIFO", async { result })
                .await
                .expect_err("refused");
            assert!(
                matches!(&err, Error::ReadFile { source, .. } if source.to_string().contains("not a regular file")),
                "{}: {err:?}",
                path.display()
            );
        }
    }
    let _ = std::fs::remove_file(&fifo);
}

#[tokio::test]
async fn probe_09_large_inventories_are_checked_in_linear_time_or_refused() {
    use ise_intune::integration::fleet::MAX_PAIRS;
    let pairs = |n: usize| -> String {
        (0..n)
            .map(|i| format!("[[pair]]\nname = \"p{i}\"\nsim_info = \"{i}.json\"\n"))
            .collect()
    };
    // The largest inventory taken, with a duplicate at its end.
    let text = format!(
        "{}[[pair]]\nname = \"p7\"\nsim_info = \"x.json\"\n",
        pairs(MAX_PAIRS - 1)
    );
    let err = probe("10k pairs", async {
        Inventory::parse(&text, std::path::Path::new("."))
    })
    .await
    .expect_err("duplicate");
    assert!(
        matches!(&err, Error::Config { what } if what.contains("`p7` is used twice")),
        "{err:?}"
    );
    // 200k pairs: refused by size before any parsing.
    let huge = pairs(200_000);
    let err = probe("200k pairs", async {
        Inventory::parse(&huge, std::path::Path::new("."))
    })
    .await
    .expect_err("too large");
    assert!(
        matches!(&err, Error::Config { what } if what.contains("bytes, more than")),
        "{err:?}"
    );
}

#[tokio::test]
async fn probe_11_credentials_in_a_configured_url_are_refused_unechoed() {
    let toml = format!(
        "[ise]\nurl = \"https://admin:{PASSWORD}@ise.example\"\nusername = \"admin\"\n\
         tls_pin_sha256 = \"{}\"\n[entra]\ntenant_id = \"t\"\nclient_id = \"c\"\n",
        "AB".repeat(32)
    );
    let mut config = IntegrationConfig::from_toml(&toml).expect("parses");
    config.apply_env(|k| match k {
        "ISE_INTUNE_ISE_PASSWORD" => Some("p".into()),
        "ISE_INTUNE_CLIENT_SECRET" => Some("s".into()),
        _ => None,
    });
    let err = config.validate().expect_err("refused");
    assert!(
        matches!(&err, Error::Config { what } if what.contains("`ise.url` carries credentials")),
        "{err:?}"
    );
    assert_printable(&err.to_string());
}

#[tokio::test]
async fn probe_12_server_texts_that_echo_the_request_are_scrubbed() {
    // ISE echoes the Basic credentials and the export password, with terminal escapes.
    let ise_server = Server::plain(Arc::new(|_: &str| {
        let echo = format!(
            r#"{{"message":"denied: Authorization: Basic YWRtaW46{}= password={PASSWORD} \u001b[2J\u001b]0;owned\u0007","status":"Fail"}}"#,
            "bmV2ZXJTaG93blBhc3N3b3JkNDcxMQ"
        );
        (401, body(echo), "application/json")
    }))
    .await;
    let err = probe("ISE echo", ise_at(&ise_server).nodes())
        .await
        .expect_err("401");
    assert!(
        matches!(err, ise_client::Error::Api { status: 401, .. }),
        "{err:?}"
    );
    assert_printable(&err.to_string());
    // Entra's token endpoint echoes the client secret.
    let graph = Server::plain(Arc::new(|_: &str| {
        let echo = format!(
            r#"{{"error":"invalid_client","error_description":"AADSTS7000215: bad client_secret={SECRET} for\r\napp"}}"#
        );
        (401, body(echo), "application/json")
    }))
    .await;
    let err = probe(
        "Entra echo",
        graph_at(&graph, None)
            .applications()
            .find_by_display_name("x"),
    )
    .await
    .expect_err("401");
    assert!(matches!(err, graph_client::Error::Token { .. }), "{err:?}");
    assert_printable(&err.to_string());
}

#[tokio::test]
async fn probe_14_a_100k_entry_zip_gives_a_short_error() {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..100_000 {
        zip.start_file(format!("entry-{i}.txt"), options)
            .expect("entry");
        zip.write_all(b"x").expect("write");
    }
    let bytes = zip.finish().expect("zip").into_inner();
    let err = probe("100k-entry ZIP", async {
        ise_client::unpack_export(&bytes)
    })
    .await
    .expect_err("refused");
    assert!(matches!(err, ise_client::Error::Export { .. }), "{err:?}");
    assert!(err.to_string().len() < 200, "{err}");
}

#[tokio::test]
async fn probe_15_an_http_discovery_url_is_not_followed() {
    let intune = Server::plain(Arc::new(|_: &str| {
        (200, body("<ise_api/>"), "application/xml")
    }))
    .await;
    let discovery = format!(
        r#"{{"value":[{{"providerName":"ComplianceRetrievalService","uri":"{}/x"}}]}}"#,
        intune.url
    );
    let graph = graph_answering(body(discovery)).await;
    let client = ise_intune::integration::compliance::discover(
        graph_at(&graph, None),
        TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()),
    )
    .await
    .expect("discovered");
    let err = probe("http discovery URL", client.mdm_info())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("is not https"), "{err}");
    assert_eq!(intune.requests.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn probe_10_a_wrong_renewed_certificate_is_refused_before_any_write() {
    use ise_intune::integration::certs::Certificate;
    use ise_intune::integration::rotate::RenewedCertificate;
    use ise_intune_simulator::Simulator;
    use ise_intune_testkit::{self as sim, Configurator};
    let simulator = Simulator::builder()
        .replication_lag(Duration::from_millis(50))
        .start()
        .await
        .expect("simulator");
    let onboarding = sim::integration(
        simulator.info(),
        Configurator::Gui,
        true,
        Options::default(),
    )
    .expect("pipeline");
    assert!(onboard::apply(&onboarding).await.expect("onboard").complete);
    let pem = |p: String| Certificate::from_pem(&p).expect("pem");
    let expired = pem(simulator
        .stage_admin_certificate("ise-psn", -5)
        .expect("stage"));
    let other_host = pem(simulator
        .stage_admin_certificate("ise-san", 365)
        .expect("stage"));
    let good = pem(simulator
        .stage_admin_certificate("ise-psn", 365)
        .expect("stage"));
    let ca = pem(simulator.info().ca_pem.clone());
    let writes = |s: &Simulator| {
        s.request_log()
            .iter()
            .filter(|r| r.service == "graph" && r.method != "GET")
            .count()
    };
    let before = writes(&simulator);
    for (node, cert, why) in [
        ("ise-nowhere", good.clone(), "ISE has no such node"),
        ("ise-psn", ca, "a CA certificate"),
        ("ise-psn", expired, "not valid now"),
        ("ise-psn", other_host, "does not name the node's FQDN"),
    ] {
        let err = probe(
            "renewed certificate",
            rotate::apply(&onboarding, &[RenewedCertificate::new(node, cert)]),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(&err, Error::RenewedCertificateRefused { why: w, .. } if w.contains(why)),
            "{why}: {err:?}"
        );
        assert_printable(&err.to_string());
    }
    assert_eq!(writes(&simulator), before, "nothing written to Entra");
    // The right certificate is taken (then waits for ISE to bind it).
    let r = rotate::apply(&onboarding, &[RenewedCertificate::new("ise-psn", good)])
        .await
        .expect("rotation");
    assert_eq!(r.added.len(), 1);
}

#[tokio::test]
async fn probe_13_the_simulator_info_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let simulator = ise_intune_simulator::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let path = std::env::temp_dir().join(format!("ise-intune-info-{}.json", std::process::id()));
    // A world-readable file left behind is replaced, not reused.
    std::fs::write(&path, "{}").expect("old file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    simulator.write_info_file(&path).expect("write");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(&simulator.info().automation.client_secret));
    let _ = std::fs::remove_file(&path);
}
