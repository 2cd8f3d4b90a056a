//! Why no answer was had: transport failures, typed, with what to check.

use super::millis;
use super::request::BodyKind;
use super::request::RequestMeta;
use crate::retry::Attempt;
use std::fmt;
use std::time::Duration;
use std::time::Instant;

/// What kind of connection failure `e` is: a name that does not resolve, a refused
/// connection, or any other (read from the error's chain of sources).
pub(crate) fn connect_failure(e: &reqwest::Error) -> TransportErrorKind {
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
pub(crate) fn rustls_error<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut current: &(dyn std::error::Error + 'static) = err;
    for _ in 0..8 {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
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
    /// The audit trail could not record the request: before the write (nothing was
    /// sent) or after it (the write was made and its intent recorded). Never retried.
    AuditRefused {
        /// Whether the request was sent.
        after_write: bool,
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
            Self::AuditRefused { after_write: false } => f.write_str(
                "not sent: the audit trail could not record it (the trail's own error is \
                 logged before this one)",
            ),
            Self::AuditRefused { after_write: true } => f.write_str(
                "sent, its intent recorded, but the audit trail could not record its \
                 result: the run stopped (the trail's own error is logged before this one)",
            ),
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
pub(crate) type AttemptFailure = (Option<Attempt>, TransportErrorKind, Option<reqwest::Error>);

/// The transport error of `meta`'s request after `attempts` attempts since `started`.
pub(crate) fn transport_error(
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

/// For a host that could not be reached while a proxy is configured: say so, since
/// the refusal or the failed lookup may be the proxy's.
pub(crate) fn proxy_hint(kind: &TransportErrorKind) -> &'static str {
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
pub(crate) fn setting_hint(service: &str, kind: &TransportErrorKind) -> &'static str {
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
