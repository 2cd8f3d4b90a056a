//! What the send loop is told about a request, and what it answers: bodies and their
//! caps, settings, counts, the request's description and the answer.

use crate::retry::RetryPolicy;
use crate::retry::StatusClass;
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

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
/// [`TransportErrorKind::BodyTooLarge`](super::TransportErrorKind::BodyTooLarge) error; an error body is cut at `error` bytes
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
    /// Answers that asked to slow down: 429 (throttled), or 503 (busy: ISE's bulk
    /// API while another job runs).
    pub throttled: u64,
}

impl RequestCounts {
    /// Counts with these values.
    pub const fn new(reads: u64, writes: u64, tokens: u64) -> Self {
        Self {
            reads,
            writes,
            tokens,
            throttled: 0,
        }
    }
}

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) reads: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) tokens: AtomicU64,
    pub(crate) throttled: AtomicU64,
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
    /// The audit trail's summary of a request that is not a write but is audited all
    /// the same (a private key's export); `None`: audited only when it is a write.
    pub audited_as: Option<&'static str>,
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
