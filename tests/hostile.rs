//! Both clients and the pipeline against hostile servers on loopback: endless bodies,
//! an absurd token lifetime, a server that accepts and never answers. Each ends in a
//! typed error naming the cause, with bounded bytes read and no panic.

use ise_intune::integration::onboard;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ise_intune::graph_client::{self, Credentials, GraphClient};
use ise_intune::integration::anchors::TrustAnchorSet;
use ise_intune::integration::mdm::ManualChecklist;
use ise_intune::integration::{Integration, context::Options};
use ise_intune::ise_client::{self, IseClient, TlsPolicy};
use ise_intune_http::retry::RetryPolicy;
use ise_intune_http::{BodyKind, BodyLimits, HttpSettings, TransportError, TransportErrorKind};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The cap the clients are given in these tests.
const CAP: u64 = 256 * 1024;
/// The most an endless server may get written before the client hangs up: the cap
/// plus what loopback socket buffers hold.
const MAX_WRITTEN: u64 = 16 * 1024 * 1024;
/// The most an endless server writes before it stops by itself.
const SERVER_BOUND: u64 = 512 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// A complete answer.
    Answer(u16, &'static str),
    /// Headers, then a chunked body that never ends.
    Endless(u16),
    /// Accepts the connection, reads the request, never answers.
    Silent,
}

/// A loopback HTTP/1.1 server choosing a behaviour per request line.
struct Hostile {
    url: String,
    written: Arc<AtomicU64>,
}

impl Hostile {
    /// A Graph stand-in: `token` for token requests, `api` for everything else.
    async fn graph(token: &'static str, api: Behaviour) -> Self {
        Self::start(Arc::new(move |line: &str| {
            if line.contains("/oauth2/") {
                Behaviour::Answer(200, token)
            } else {
                api
            }
        }))
        .await
    }

    /// The same behaviour for every request.
    async fn always(behaviour: Behaviour) -> Self {
        Self::start(Arc::new(move |_: &str| behaviour)).await
    }

    async fn start(choose: Chooser) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, choose.clone(), counter.clone()));
            }
        });
        Self { url, written }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// Picks the behaviour for a request line.
type Chooser = Arc<dyn Fn(&str) -> Behaviour + Send + Sync>;

async fn serve(mut stream: TcpStream, choose: Chooser, written: Arc<AtomicU64>) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
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
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        match choose(&request_line) {
            Behaviour::Answer(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
            Behaviour::Endless(status) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
                while written.load(Ordering::Relaxed) < SERVER_BOUND {
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    written.fetch_add(64 * 1024, Ordering::Relaxed);
                }
                return;
            }
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                return;
            }
        }
    }
}

const TOKEN: &str =
    r#"{"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.signature"}"#;
const HUGE_EXPIRY_TOKEN: &str = r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"header.payload.signature"}"#;

/// Two attempts, sub-second attempts, a 3 s overall bound and small caps.
fn tight() -> HttpSettings {
    HttpSettings::default()
        .with_retry(RetryPolicy::new(
            2,
            Duration::from_secs(5),
            Duration::from_millis(10),
            Duration::from_millis(10),
        ))
        .with_timeouts(
            Duration::from_millis(800),
            Duration::from_millis(800),
            Duration::from_secs(3),
        )
        .with_limits(BodyLimits::all(CAP))
}

fn graph(server: &Hostile) -> GraphClient {
    GraphClient::builder()
        .tenant_id("contoso.example")
        .credentials(Credentials::client_secret("app", "never-shown-secret"))
        .login_authority(server.url.clone())
        .graph_base(format!("{}/v1.0", server.url))
        .http_settings(tight())
        .build()
        .expect("graph client")
}

fn ise(server: &Hostile) -> IseClient {
    IseClient::builder()
        .base_url(server.url.clone())
        .credentials("admin", "never-shown-password".to_owned().into())
        .tls(TlsPolicy::System)
        .http_settings(tight())
        .build()
        .expect("ise client")
}

fn transport_kind_graph(e: &graph_client::Error) -> TransportErrorKind {
    match e {
        graph_client::Error::Transport(TransportError { kind, .. }) => *kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

fn transport_kind_ise(e: &ise_client::Error) -> TransportErrorKind {
    match e {
        ise_client::Error::Transport(TransportError { kind, .. }) => *kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn graph_endless_success_body_stops_at_the_cap() {
    let server = Hostile::graph(TOKEN, Behaviour::Endless(200)).await;
    let err = graph(&server)
        .applications()
        .find_by_display_name("x")
        .await
        .expect_err("capped");
    assert_eq!(
        transport_kind_graph(&err),
        TransportErrorKind::BodyTooLarge {
            kind: BodyKind::Json,
            limit: CAP
        }
    );
    assert!(err.to_string().contains("262144 bytes"), "{err}");
    assert!(server.written() < MAX_WRITTEN, "{} bytes", server.written());
}

#[tokio::test]
async fn graph_endless_error_body_is_cut_and_the_status_reported() {
    let server = Hostile::graph(TOKEN, Behaviour::Endless(500)).await;
    let err = graph(&server)
        .applications()
        .find_by_display_name("x")
        .await
        .expect_err("500");
    match &err {
        graph_client::Error::Api {
            status, attempts, ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(
                *attempts, 2,
                "a 500 on a read is retried once by this policy"
            );
        }
        other => panic!("expected the 500, got {other:?}"),
    }
    assert!(
        server.written() < 2 * MAX_WRITTEN,
        "{} bytes",
        server.written()
    );
}

#[tokio::test]
async fn graph_absurd_token_lifetime_is_clamped_not_a_panic() {
    let server = Hostile::graph(HUGE_EXPIRY_TOKEN, Behaviour::Answer(200, r#"{"value":[]}"#)).await;
    let g = graph(&server);
    let apps = g
        .applications()
        .find_by_display_name("x")
        .await
        .expect("a huge expires_in is clamped");
    assert!(apps.is_empty());
    let token = g
        .access_token(&graph_client::TokenAudience::Scope(
            graph_client::DEFAULT_GRAPH_SCOPE.into(),
        ))
        .await
        .expect("cached");
    let left = token.expires_at().saturating_duration_since(Instant::now());
    assert!(left <= Duration::from_secs(24 * 3600), "{left:?}");
    assert!(left > Duration::from_secs(23 * 3600), "{left:?}");
}

#[tokio::test]
async fn graph_silent_server_is_abandoned_within_the_overall_timeout() {
    let server = Hostile::always(Behaviour::Silent).await;
    let started = Instant::now();
    let err = graph(&server)
        .applications()
        .find_by_display_name("x")
        .await
        .expect_err("silent");
    let kind = transport_kind_graph(&err);
    assert!(
        matches!(
            kind,
            TransportErrorKind::Timeout { .. } | TransportErrorKind::OverallTimeout { .. }
        ),
        "{kind:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ise_endless_success_body_stops_at_the_cap() {
    let server = Hostile::always(Behaviour::Endless(200)).await;
    let err = ise(&server).nodes().await.expect_err("capped");
    assert_eq!(
        transport_kind_ise(&err),
        TransportErrorKind::BodyTooLarge {
            kind: BodyKind::Json,
            limit: CAP
        }
    );
    assert!(server.written() < MAX_WRITTEN, "{} bytes", server.written());
}

#[tokio::test]
async fn ise_endless_export_stops_at_the_archive_cap() {
    let server = Hostile::always(Behaviour::Endless(200)).await;
    let err = ise(&server)
        .system_certificates("ise-pan")
        .export("id-1", &ise_client::ExportKind::CertificateOnly)
        .await
        .expect_err("capped");
    assert_eq!(
        transport_kind_ise(&err),
        TransportErrorKind::BodyTooLarge {
            kind: BodyKind::Archive,
            limit: CAP
        }
    );
    assert!(server.written() < MAX_WRITTEN, "{} bytes", server.written());
}

#[tokio::test]
async fn ise_endless_error_body_is_cut() {
    let server = Hostile::always(Behaviour::Endless(500)).await;
    let err = ise(&server).nodes().await.expect_err("500");
    assert!(
        matches!(err, ise_client::Error::Api { status: 500, .. }),
        "{err:?}"
    );
    assert!(
        server.written() < 2 * MAX_WRITTEN,
        "{} bytes",
        server.written()
    );
}

#[tokio::test]
async fn ise_silent_server_is_abandoned_within_the_overall_timeout() {
    let server = Hostile::always(Behaviour::Silent).await;
    let started = Instant::now();
    let err = ise(&server).nodes().await.expect_err("silent");
    assert!(
        matches!(
            transport_kind_ise(&err),
            TransportErrorKind::Timeout { .. } | TransportErrorKind::OverallTimeout { .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("never-shown"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

fn onboarding(ise_server: &Hostile, graph_server: &Hostile) -> Integration {
    let ise = ise(ise_server);
    Integration::builder(ise.clone(), graph(graph_server))
        .anchors(TrustAnchorSet::builtin())
        .configurator(Arc::new(ManualChecklist::new(ise)))
        .options(Options::default())
        .build()
}

#[tokio::test]
async fn plan_against_an_endless_ise_ends_in_a_typed_error() {
    let ise_server = Hostile::always(Behaviour::Endless(200)).await;
    let graph_server = Hostile::graph(HUGE_EXPIRY_TOKEN, Behaviour::Endless(200)).await;
    let err = onboard::plan(&onboarding(&ise_server, &graph_server))
        .await
        .expect_err("hostile");
    let text = err.to_string();
    assert!(
        text.contains("larger than the cap of 262144 bytes"),
        "{text}"
    );
    // The plan's one read asks ISE for its release, its nodes and its trusted store at
    // once (and the release's fallback): each connection is hung up at its cap.
    const ISE_READS_AT_ONCE: u64 = 4;
    assert!(
        ise_server.written() < ISE_READS_AT_ONCE * MAX_WRITTEN,
        "{} bytes",
        ise_server.written()
    );
    assert!(graph_server.written() < MAX_WRITTEN);
}

#[tokio::test]
async fn plan_against_silent_servers_ends_within_the_timeouts() {
    let ise_server = Hostile::always(Behaviour::Silent).await;
    let graph_server = Hostile::always(Behaviour::Silent).await;
    let started = Instant::now();
    let err = onboard::plan(&onboarding(&ise_server, &graph_server))
        .await
        .expect_err("silent");
    let text = err.to_string();
    assert!(
        text.contains("no complete answer in time") || text.contains("overall timeout"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn tls_chain_probe_of_a_silent_server_gives_up_in_time() {
    let server = Hostile::always(Behaviour::Silent).await;
    let url = url::Url::parse(&server.url.replace("http://", "https://")).expect("url");
    let started = Instant::now();
    let err = ise_intune::integration::tls_probe::presented_chain_within(
        &url,
        Duration::from_millis(300),
    )
    .await
    .expect_err("silent");
    assert!(
        matches!(
            &err,
            ise_intune::integration::Error::Unreachable { what, .. } if what.contains("no TLS handshake within")
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// An unknown CA on the login endpoint (a TLS-inspecting proxy, a wrong host) is a
/// certificate problem, named as one with the setting that adds a root — not "could
/// not connect".
#[tokio::test]
async fn an_unknown_ca_on_the_login_endpoint_is_reported_as_a_certificate_problem() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = ise_intune_simulator::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let info = sim.info();
    // The system's roots only: the simulator's public root is unknown to them.
    let graph = GraphClient::builder()
        .tenant_id(info.tenant_id.clone())
        .credentials(Credentials::client_secret(
            info.automation.client_id.clone(),
            info.automation.client_secret.clone(),
        ))
        .login_authority(info.login_url.clone())
        .graph_base(info.graph_url.clone())
        .http_settings(tight())
        .build()
        .expect("graph client");
    let e = graph
        .applications()
        .find_by_display_name("x")
        .await
        .expect_err("untrusted");
    assert_eq!(
        transport_kind_graph(&e),
        TransportErrorKind::UntrustedCertificate
    );
    let message = e.to_string();
    assert!(
        message.contains("TLS certificate is not trusted")
            && message.contains("entra.extra_ca_file")
            && !message.contains("could not connect"),
        "{message}"
    );
    assert_eq!(
        ise_intune::integration::Error::Graph(e).kind(),
        ise_intune::integration::ErrorKind::Certificate
    );
}
