//! The one send loop both clients use: attempts, `Retry-After`, backoff with jitter,
//! request counting, streamed and bounded bodies, per-attempt and overall timeouts, and
//! one `tracing` span per request.
//!
//! A client describes a request once ([`RequestMeta`]), builds the `reqwest` request for
//! each attempt (its closure may fetch a token), and classifies error answers
//! ([`Classify`]). The loop returns the final answer — a success, or the error answer it
//! gave up on, which the client turns into its own typed error — or a [`TransportError`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use tracing::Instrument as _;

use crate::retry::{Attempt, Decision, RetryPolicy, StatusClass, parse_retry_after};

/// What kind of answer a body is, each with its own size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// A JSON document.
    Json,
    /// A binary archive (ISE's certificate export ZIP).
    Archive,
    /// Text or XML from a service found through discovery.
    Text,
    /// An OAuth token answer.
    Token,
}

impl fmt::Display for BodyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::Archive => "archive",
            Self::Text => "text",
            Self::Token => "token",
        })
    }
}

/// Caps on the bytes read from one answer. A success body over its cap is a
/// [`TransportErrorKind::BodyTooLarge`] error; an error body is cut at `error` bytes
/// (the status is what matters, the start of the body is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyLimits {
    /// JSON answers (default 16 MiB: a page of trusted certificates is well under 1 MiB).
    pub json: u64,
    /// Archives (default 16 MiB: an export ZIP holds a few PEM files).
    pub archive: u64,
    /// Text/XML answers (default 4 MiB).
    pub text: u64,
    /// Token answers (default 64 KiB).
    pub token: u64,
    /// Error answers (default 64 KiB, kept truncated).
    pub error: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            json: 16 * 1024 * 1024,
            archive: 16 * 1024 * 1024,
            text: 4 * 1024 * 1024,
            token: 64 * 1024,
            error: 64 * 1024,
        }
    }
}

impl BodyLimits {
    /// The cap for a kind of successful answer.
    pub fn cap(&self, kind: BodyKind) -> u64 {
        match kind {
            BodyKind::Json => self.json,
            BodyKind::Archive => self.archive,
            BodyKind::Text => self.text,
            BodyKind::Token => self.token,
        }
    }

    /// The same caps, every one set to `bytes` (tests, constrained embedders).
    pub fn all(bytes: u64) -> Self {
        Self {
            json: bytes,
            archive: bytes,
            text: bytes,
            token: bytes,
            error: bytes,
        }
    }
}

/// Timeouts, retries and body caps of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Time to establish a connection, TLS handshake included (default 5 s).
    pub connect_timeout: Duration,
    /// Time for one attempt, from connecting until the body is read (default 30 s).
    pub request_timeout: Duration,
    /// Time for one call, every attempt and wait included (default 90 s).
    pub overall_timeout: Duration,
    /// When to send again.
    pub retry: RetryPolicy,
    /// Caps on bodies.
    pub limits: BodyLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            overall_timeout: Duration::from_secs(90),
            retry: RetryPolicy::default(),
            limits: BodyLimits::default(),
        }
    }
}

impl HttpSettings {
    /// These settings with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// These settings with other timeouts: connect, per attempt, per call.
    pub fn with_timeouts(
        mut self,
        connect: Duration,
        request: Duration,
        overall: Duration,
    ) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self.overall_timeout = overall;
        self
    }

    /// These settings with other body caps.
    pub fn with_limits(mut self, limits: BodyLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What a request does to the remote state, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Changes nothing (GET, and POSTs such as ISE's certificate export).
    Read,
    /// May change something.
    Write,
    /// An OAuth token request.
    Token,
}

/// Counts of HTTP requests sent (every attempt counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Requests that change nothing.
    pub reads: u64,
    /// Requests that may change something.
    pub writes: u64,
    /// Token requests.
    pub tokens: u64,
}

impl RequestCounts {
    /// Counts with these values.
    pub const fn new(reads: u64, writes: u64, tokens: u64) -> Self {
        Self {
            reads,
            writes,
            tokens,
        }
    }
}

#[derive(Default, Debug)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    tokens: AtomicU64,
}

/// One request as the loop sees it.
#[derive(Debug, Clone)]
pub struct RequestMeta<'a> {
    /// Which service, for spans and errors (`ISE`, `Graph`, `Entra ID`, `Intune`).
    pub service: &'static str,
    /// HTTP method.
    pub method: Method,
    /// The host, for spans.
    pub host: &'a str,
    /// The path or path template (no query, never a secret), for spans and errors.
    pub path: &'a str,
    /// Counted as.
    pub class: RequestClass,
    /// Whether sending it twice has the effect of sending it once.
    pub idempotent: bool,
    /// What kind of body a success carries.
    pub body: BodyKind,
}

impl<'a> RequestMeta<'a> {
    /// A request to `url`: idempotent unless it is a POST (see
    /// [`Self::with_idempotent`] for POSTs that are, such as exports and token requests).
    pub fn new(
        service: &'static str,
        method: Method,
        url: &'a url::Url,
        class: RequestClass,
        body: BodyKind,
    ) -> Self {
        Self {
            service,
            idempotent: method != Method::POST,
            method,
            host: url.host_str().unwrap_or_default(),
            path: url.path(),
            class,
            body,
        }
    }

    /// The same request, declared idempotent or not.
    pub fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// The answer the loop stopped on: a success, or the error answer it gave up on.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body (an error body may be cut at the error cap).
    pub body: Vec<u8>,
    /// Attempts made.
    pub attempts: u32,
}

impl Answer {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the vendor reads its error answers.
pub trait Classify: Sync {
    /// Whether an error answer may be retried.
    fn status(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> StatusClass;

    /// Whether a transport failure is final whatever the policy says (a TLS refusal:
    /// retrying cannot change the certificate).
    fn transport_is_final(&self) -> bool {
        false
    }
}

/// The default classification ([`crate::retry::classify_status`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassify;

/// What kind of connection failure `e` is: a name that does not resolve, a refused
/// connection, or any other (read from the error's chain of sources).
fn connect_failure(e: &reqwest::Error) -> TransportErrorKind {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return TransportErrorKind::Refused;
        }
        if rustls_error(err).is_some_and(|tls| {
            matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        }) {
            return TransportErrorKind::UntrustedCertificate;
        }
        let text = err.to_string();
        if text.contains("dns error")
            || text.contains("failed to lookup address")
            || text.contains("Name or service not known")
            || text.contains("No address associated")
        {
            return TransportErrorKind::NameNotResolved;
        }
        source = err.source();
    }
    TransportErrorKind::Connect
}

/// The TLS error `err` is or wraps: rustls's error reaches reqwest inside I/O errors
/// (nested, up to a few levels), whose `source()` skips the error they wrap.
fn rustls_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current: &(dyn std::error::Error + 'static) = err;
    for _ in 0..8 {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
}

impl Classify for DefaultClassify {
    fn status(&self, status: StatusCode, _: &HeaderMap, _: &[u8]) -> StatusClass {
        crate::retry::classify_status(status.as_u16())
    }
}

/// Why no answer was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (unreachable, TLS handshake failed, no connection
    /// within the connect timeout).
    Connect,
    /// The host name does not resolve.
    NameNotResolved,
    /// The server's TLS certificate was not trusted (an unknown issuer — a
    /// TLS-inspecting proxy's, say —, expired, or for another name): nothing was sent.
    UntrustedCertificate,
    /// The host refused the connection (nothing listens on the port).
    Refused,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
    /// An attempt got no complete answer within the per-request timeout.
    Timeout {
        /// The per-request timeout.
        after: Duration,
    },
    /// The call, all attempts included, did not finish within the overall timeout.
    OverallTimeout {
        /// The overall timeout.
        after: Duration,
    },
    /// The answer's body was larger than its cap: nothing more was read.
    BodyTooLarge {
        /// What kind of body.
        kind: BodyKind,
        /// The cap in bytes.
        limit: u64,
    },
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect => f.write_str("could not connect"),
            Self::NameNotResolved => f.write_str("the host name does not resolve"),
            Self::Refused => f.write_str("the connection was refused"),
            Self::UntrustedCertificate => f.write_str(
                "the server's TLS certificate is not trusted (unknown issuer, expired, or for \
                 another name)",
            ),
            Self::ConnectionLost => f.write_str("the connection broke"),
            Self::Timeout { .. } => f.write_str("no complete answer in time"),
            Self::OverallTimeout { after } => {
                write!(f, "not finished within the overall timeout of {after:?}")
            }
            Self::BodyTooLarge { kind, limit } => write!(
                f,
                "the {kind} answer is larger than the cap of {limit} bytes (raise it on the \
                 client builder if the server is trusted)"
            ),
        }
    }
}

/// A request that got no usable answer. Carries no URL query, header or body, so no
/// secret.
#[derive(Debug, thiserror::Error)]
#[error(
    "{method} {path} to {service} at {host}: {kind} (after {attempts} attempt(s) in {:.1} s){}{}",
    Duration::from_millis(*elapsed_ms).as_secs_f64(),
    setting_hint(service, kind),
    proxy_hint(kind)
)]
#[non_exhaustive]
pub struct TransportError {
    /// The service.
    pub service: &'static str,
    /// The host the request went to.
    pub host: Box<str>,
    /// How long was waited in milliseconds, every attempt and pause included.
    pub elapsed_ms: u64,
    /// HTTP method.
    pub method: Box<str>,
    /// URL path.
    pub path: Box<str>,
    /// Attempts made.
    pub attempts: u32,
    /// What happened.
    pub kind: TransportErrorKind,
    /// The HTTP stack's error, where there is one.
    #[source]
    pub source: Option<reqwest::Error>,
}

/// Why one attempt failed without an answer: what the retry policy sees, the kind,
/// and the underlying error.
type AttemptFailure = (Option<Attempt>, TransportErrorKind, Option<reqwest::Error>);

/// The transport error of `meta`'s request after `attempts` attempts since `started`.
fn transport_error(
    meta: &RequestMeta<'_>,
    started: Instant,
    attempts: u32,
    kind: TransportErrorKind,
    source: Option<reqwest::Error>,
) -> TransportError {
    TransportError {
        service: meta.service,
        host: meta.host.into(),
        elapsed_ms: millis(started.elapsed()),
        method: meta.method.as_str().into(),
        path: meta.path.into(),
        attempts,
        kind,
        source,
    }
}

/// The retry log line: the request and the cause, never a query, header or body.
fn log_retry(
    meta: &RequestMeta<'_>,
    error: &Result<Answer, TransportError>,
    attempt: u32,
    delay: Duration,
) {
    let cause = match error {
        Ok(answer) => format!("status {}", answer.status.as_u16()),
        Err(e) => e.kind.to_string(),
    };
    tracing::info!(
        service = meta.service,
        method = %meta.method,
        host = meta.host,
        path = meta.path,
        cause = %cause,
        attempt,
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "retrying"
    );
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// For a host that could not be reached while a proxy is configured: say so, since
/// the refusal or the failed lookup may be the proxy's.
fn proxy_hint(kind: &TransportErrorKind) -> &'static str {
    let proxied = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    match kind {
        TransportErrorKind::Connect
        | TransportErrorKind::NameNotResolved
        | TransportErrorKind::Refused
            if proxied =>
        {
            "; a proxy is configured (HTTPS_PROXY): check it, or list the host in NO_PROXY"
        }
        _ => "",
    }
}

/// For a host that could not be reached: where its name came from; for a certificate
/// not trusted, where a root is added.
fn setting_hint(service: &str, kind: &TransportErrorKind) -> &'static str {
    if *kind == TransportErrorKind::UntrustedCertificate {
        return match service {
            "ISE" => {
                "; pin ISE's certificate with ise.tls_pin_sha256 or name its CA in ise.tls_ca_file"
            }
            "Entra ID" | "Graph" => {
                "; if a TLS-inspecting proxy stands between, add its root with \
                 entra.extra_ca_file; otherwise check that entra.login_url / entra.graph_url \
                 name Microsoft's hosts"
            }
            _ => {
                "; if a TLS-inspecting proxy stands between, add its root with entra.extra_ca_file"
            }
        };
    }
    if !matches!(
        kind,
        TransportErrorKind::Connect
            | TransportErrorKind::NameNotResolved
            | TransportErrorKind::Refused
    ) {
        return "";
    }
    match service {
        "ISE" => "; check ise.url / ise.ers_url (or ISE_INTUNE_ISE_URL)",
        "Entra ID" => "; check entra.login_url (default https://login.microsoftonline.com)",
        "Graph" => "; check entra.graph_url (default https://graph.microsoft.com/v1.0)",
        _ => "; the host was named by Intune's discovery in Graph",
    }
}

/// The loop's failure: the client's own preparation failed (e.g. no token), or no
/// usable answer was had.
#[derive(Debug)]
pub enum SendError<E> {
    /// Building the request failed.
    Prepare(E),
    /// No usable answer.
    Transport(TransportError),
}

/// One attempt of one request, as the core reports it to its client's log
/// ([`HttpCore::with_request_log`]). It holds no query, header or body: no secret.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestRecord<'a> {
    /// The service.
    pub service: &'static str,
    /// HTTP method.
    pub method: &'a Method,
    /// The host.
    pub host: &'a str,
    /// The URL path.
    pub path: &'a str,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<u16>,
    /// What went wrong when there was no answer.
    pub error: Option<&'a TransportErrorKind>,
    /// Which attempt (from 1).
    pub attempt: u32,
    /// How long the attempt took, in milliseconds.
    pub elapsed_ms: u64,
}

/// Writes one [`RequestRecord`]; each client passes one that logs under its own
/// `tracing` target, so that `RUST_LOG=ise_client=debug` shows ISE's requests.
pub type RequestLog = fn(&RequestRecord<'_>);

/// Defines a [`RequestLog`] function named `$name` in the calling module, so that its
/// events carry that module's `tracing` target: one debug line per attempt with the
/// service, method, path, status (or what went wrong), attempt and elapsed time.
#[macro_export]
macro_rules! request_log {
    ($(#[$meta:meta])* $vis:vis fn $name:ident) => {
        $(#[$meta])*
        $vis fn $name(r: &$crate::RequestRecord<'_>) {
            match r.error {
                None => $crate::__tracing::debug!(
                    service = %r.service,
                    method = %r.method,
                    path = %r.path,
                    status = r.status.unwrap_or_default(),
                    attempt = r.attempt,
                    elapsed_ms = r.elapsed_ms,
                    "request"
                ),
                Some(error) => $crate::__tracing::debug!(
                    service = %r.service,
                    method = %r.method,
                    path = %r.path,
                    %error,
                    attempt = r.attempt,
                    elapsed_ms = r.elapsed_ms,
                    "request failed"
                ),
            }
        }
    };
}

request_log!(
    /// The core's own request log (target `ise_intune_http::send`).
    pub fn default_request_log
);

/// A cap on the requests in flight at once, shared by every client given a clone of
/// it: for a server that refuses too many concurrent sessions, or to run the same
/// work one request at a time (the onboarding bench's baseline). A request waits for
/// a place before each attempt and gives it back as soon as the attempt ends (not
/// during a retry's wait); a token request a call needs is an attempt of its own, made
/// before the call takes its place, so a limit of one cannot deadlock.
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    places: Arc<tokio::sync::Semaphore>,
    max: usize,
    /// Requests in flight now, and the most there ever were.
    busy: Arc<(
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    )>,
}

impl InFlightLimit {
    /// At most `max` requests at once (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            places: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
            busy: Arc::default(),
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The most requests that were in flight at once under this limit so far.
    pub fn peak(&self) -> usize {
        self.busy.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes a place (waiting for one); the place is given back when the guard drops.
    async fn take(&self) -> Option<InFlightPlace<'_>> {
        use std::sync::atomic::Ordering::Relaxed;
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = self.places.acquire().await.ok()?;
        let now = self.busy.0.fetch_add(1, Relaxed).saturating_add(1);
        self.busy.1.fetch_max(now, Relaxed);
        Some(InFlightPlace {
            _permit: permit,
            busy: &self.busy.0,
        })
    }
}

/// A place taken under an [`InFlightLimit`].
struct InFlightPlace<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    busy: &'a std::sync::atomic::AtomicUsize,
}

impl Drop for InFlightPlace<'_> {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The HTTP core of one client: connections, settings, counters. Cheap to clone.
#[derive(Clone)]
pub struct HttpCore {
    http: reqwest::Client,
    settings: HttpSettings,
    counters: Arc<Counters>,
    rng: Arc<SystemRandom>,
    log: RequestLog,
    in_flight: Option<InFlightLimit>,
}

impl fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpCore {
    /// A core over `tls` (verification always on) with `settings`; redirects are never
    /// followed (a redirect would carry credentials elsewhere).
    pub fn new(tls: rustls::ClientConfig, settings: HttpSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            settings,
            counters: Arc::default(),
            rng: Arc::new(SystemRandom::new()),
            log: default_request_log,
            in_flight: None,
        })
    }

    /// The same core, sending no more than `limit` allows at once (`None`: no cap).
    pub fn with_in_flight_limit(mut self, limit: Option<InFlightLimit>) -> Self {
        self.in_flight = limit;
        self
    }

    /// The same core, reporting each attempt to `log` instead of
    /// [`default_request_log`].
    pub fn with_request_log(mut self, log: RequestLog) -> Self {
        self.log = log;
        self
    }

    /// The same connections and settings with fresh counters.
    pub fn with_fresh_counters(&self) -> Self {
        Self {
            counters: Arc::default(),
            ..self.clone()
        }
    }

    /// The underlying `reqwest` client, for building requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Requests sent so far through this core and its clones.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            tokens: self.counters.tokens.load(Ordering::Relaxed),
        }
    }

    fn count(&self, class: RequestClass) {
        let c = match class {
            RequestClass::Read => &self.counters.reads,
            RequestClass::Write => &self.counters.writes,
            RequestClass::Token => &self.counters.tokens,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends a request until it succeeds, gets a final answer, or the policy gives up.
    /// `prepare` builds the request for each attempt.
    pub async fn send<E, F, Fut>(
        &self,
        meta: &RequestMeta<'_>,
        classify: &dyn Classify,
        mut prepare: F,
    ) -> Result<Answer, SendError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder, E>>,
    {
        let overall = self.settings.overall_timeout;
        let span = tracing::debug_span!("http", service = meta.service, method = %meta.method,
            host = meta.host, path = meta.path);
        let started = Instant::now();
        let run = async {
            let mut attempt = 0u32;
            loop {
                attempt = attempt.saturating_add(1);
                let request = prepare().await.map_err(SendError::Prepare)?;
                self.count(meta.class);
                let outcome = self.logged_attempt(meta, request, attempt).await;
                let (failure, error) = match outcome {
                    Ok(mut answer) => {
                        answer.attempts = attempt;
                        if answer.status.is_success() {
                            return Ok(answer);
                        }
                        let class = classify.status(answer.status, &answer.headers, &answer.body);
                        let failure = Attempt::Status {
                            status: answer.status.as_u16(),
                            retry_after: answer.header("retry-after").and_then(parse_retry_after),
                            class,
                        };
                        (Some(failure), Ok(answer))
                    }
                    Err((failure, kind, source)) => {
                        let error = transport_error(meta, started, attempt, kind, source);
                        if classify.transport_is_final() {
                            return Err(SendError::Transport(error));
                        }
                        (failure, Err(error))
                    }
                };
                let decision = match failure {
                    Some(f) => self.settings.retry.decide(
                        attempt,
                        started.elapsed(),
                        &f,
                        meta.idempotent,
                        crate::jitter(&self.rng),
                    ),
                    None => Decision::GiveUp,
                };
                match decision {
                    Decision::RetryAfter(delay) => {
                        log_retry(meta, &error, attempt, delay);
                        tokio::time::sleep(delay).await;
                    }
                    Decision::GiveUp => return error.map_err(SendError::Transport),
                }
            }
        }
        .instrument(span);
        match tokio::time::timeout(overall, run).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Transport(transport_error(
                meta,
                started,
                0,
                TransportErrorKind::OverallTimeout { after: overall },
                None,
            ))),
        }
    }

    /// One attempt in its in-flight place, recorded in the request log.
    async fn logged_attempt(
        &self,
        meta: &RequestMeta<'_>,
        request: reqwest::RequestBuilder,
        attempt: u32,
    ) -> Result<Answer, AttemptFailure> {
        let place = match &self.in_flight {
            Some(limit) => limit.take().await,
            None => None,
        };
        let t0 = Instant::now();
        let outcome = self.attempt(meta, request).await;
        drop(place);
        let record = RequestRecord {
            service: meta.service,
            method: &meta.method,
            host: meta.host,
            path: meta.path,
            status: outcome.as_ref().ok().map(|a| a.status.as_u16()),
            error: outcome.as_ref().err().map(|(_, kind, _)| kind),
            attempt,
            elapsed_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        (self.log)(&record);
        outcome
    }

    /// One attempt: send, then read the body within its cap.
    async fn attempt(
        &self,
        meta: &RequestMeta<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, AttemptFailure> {
        let mut response = request
            .send()
            .await
            .map_err(|e| self.classify_transport(e))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let success = status.is_success();
        let cap = if success {
            self.settings.limits.cap(meta.body)
        } else {
            self.settings.limits.error
        };
        let too_large = TransportErrorKind::BodyTooLarge {
            kind: meta.body,
            limit: cap,
        };
        if success && response.content_length().is_some_and(|n| n > cap) {
            return Err((None, too_large, None));
        }
        let mut body = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(self.classify_transport(e)),
            };
            let room = usize::try_from(cap)
                .unwrap_or(usize::MAX)
                .saturating_sub(body.len());
            if chunk.len() > room {
                if success {
                    return Err((None, too_large, None));
                }
                // An error body is kept cut: the status says what happened.
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
            attempts: 0,
        })
    }

    fn classify_transport(
        &self,
        e: reqwest::Error,
    ) -> (Option<Attempt>, TransportErrorKind, Option<reqwest::Error>) {
        let e = e.without_url();
        if e.is_timeout() {
            (
                Some(Attempt::Timeout),
                TransportErrorKind::Timeout {
                    after: self.settings.request_timeout,
                },
                Some(e),
            )
        } else if e.is_connect() {
            let kind = connect_failure(&e);
            let attempt = match kind {
                TransportErrorKind::Connect => Attempt::ConnectFailed,
                _ => Attempt::Unreachable,
            };
            (Some(attempt), kind, Some(e))
        } else {
            (
                Some(Attempt::ConnectionLost),
                TransportErrorKind::ConnectionLost,
                Some(e),
            )
        }
    }
}
