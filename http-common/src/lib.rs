//! The one HTTP core of the `ise-client` and `graph-client` crates (neither depends on
//! the other): the retry policy ([`retry`]), the send loop with bounded bodies, timeouts,
//! request counting and tracing ([`send`]), the rule for base URLs, the TLS provider and
//! system roots, and JSON decoding that names the failing path. Each client keeps only
//! its vendor's knowledge: how to authenticate and how to read its error answers.
//!
//! Modules: [`retry`] (the policy), [`send`] (the send loop, bodies, timeouts, counts),
//! [`scrub`] (making a server's text safe to print), [`clock`] (the time of day, as a
//! dependency).

pub mod audit;
pub mod clock;
pub mod retry;
pub mod scrub;
pub mod send;

pub use audit::{AuditPhase, AuditRecord, AuditRefused, AuditSink, SharedAuditSink};
pub use retry::{Attempt, Decision, RetryPolicy, StatusClass};
pub use send::{
    Answer, BodyKind, BodyLimits, Classify, DefaultClassify, HttpCore, HttpSettings, InFlightLimit,
    RequestClass, RequestCounts, RequestLog, RequestMeta, RequestRecord, SendError, TransportError,
    TransportErrorKind, default_request_log,
};

#[doc(hidden)]
pub use tracing as __tracing;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use url::Url;

/// Whether the URL's host is a loopback name or address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a base URL: `https`, or plain `http` only to loopback addresses (test
/// servers). The error text says what is wrong with `value`, named as `what`.
///
/// ```
/// assert!(ise_intune_http::parse_base_url("ISE", "https://ise.example.com/").is_ok());
/// assert!(ise_intune_http::parse_base_url("ISE", "http://127.0.0.1:8080").is_ok());
/// assert!(ise_intune_http::parse_base_url("ISE", "http://ise.example.com").is_err());
/// ```
pub fn parse_base_url(what: &str, value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim_end_matches('/'))
        .map_err(|e| format!("{what} `{value}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(format!(
            "{what} `{value}` must use https (plain http is only allowed to loopback addresses)"
        )),
    }
}

/// Checks a value placed in one URL path segment (an object id, a host name): not
/// empty, and no character that would leave the segment (`/ ? # \\`, space, `..`).
/// Returns the reason it is refused.
///
/// ```
/// assert!(ise_intune_http::path_segment("b1f5c0de-0001").is_ok());
/// assert!(ise_intune_http::path_segment("../admin").is_err());
/// ```
pub fn path_segment(value: &str) -> Result<&str, &'static str> {
    if value.is_empty() {
        return Err("is empty");
    }
    if value.contains(['/', '?', '#', '\\', ' ']) || value.contains("..") {
        return Err("is not valid in a URL path");
    }
    Ok(value)
}

/// The workspace's one TLS crypto provider.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The operating system's trust store (individual unreadable certificates skipped, as
/// browsers do). Empty when the system has none.
pub fn system_roots() -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = store.add(cert);
    }
    store
}

/// An answer that could not be decoded: which request's, where in the document, and
/// why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: cannot decode the answer at JSON path `{json_path}`")]
#[non_exhaustive]
pub struct DecodeError {
    /// Which request's answer, e.g. `GET /applications/obj-1`.
    pub what: String,
    /// The JSON path where decoding stopped, e.g. `keyCredentials[0].keyId`.
    pub json_path: String,
    /// The decoder's error.
    #[source]
    pub source: serde_json::Error,
}

/// Decodes JSON, naming the request (`what`) and the path of the first mismatch.
///
/// ```
/// let e = ise_intune_http::decode_json::<Vec<u8>>("GET /x", b"[1, \"two\"]").unwrap_err();
/// assert_eq!(e.json_path, "[1]");
/// ```
pub fn decode_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, DecodeError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| DecodeError {
        what: what.to_owned(),
        json_path: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// Generates a client builder's methods for its [`HttpSettings`] (a field named
/// `settings`) and its [`InFlightLimit`] (a field `in_flight: Option<InFlightLimit>`):
/// timeouts, retry policy, body caps and the cap on requests at once, so that both clients offer the
/// same knobs with the same words. `$request_default` names the per-attempt default.
#[macro_export]
macro_rules! http_settings_methods {
    ($request_default:literal) => {
        #[doc = concat!("Per-attempt timeout, from connecting until the body is read (default ", $request_default, ").")]
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.request_timeout = timeout;
            self
        }

        /// Shares `limit` with every other client given a clone of it: no more
        /// requests in flight at once than it allows (default: no cap).
        pub fn in_flight_limit(mut self, limit: $crate::InFlightLimit) -> Self {
            self.in_flight = Some(limit);
            self
        }

        /// All HTTP settings at once: timeouts, retry policy and body caps.
        pub fn http_settings(mut self, settings: $crate::HttpSettings) -> Self {
            self.settings = settings;
            self
        }

        /// Connect timeout, TLS handshake included (default 10 s).
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.connect_timeout = timeout;
            self
        }

        /// Time for one call, every retry and wait included (default 5 minutes).
        pub fn overall_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.overall_timeout = timeout;
            self
        }

        /// Retry policy (see the crate's `retry` module for its default).
        pub fn retry_policy(mut self, policy: $crate::retry::RetryPolicy) -> Self {
            self.settings.retry = policy;
            self
        }

        /// Caps on the bytes read from one answer (default [`BodyLimits::default`]).
        ///
        /// [`BodyLimits::default`]: $crate::BodyLimits::default
        pub fn body_limits(mut self, limits: $crate::BodyLimits) -> Self {
            self.settings.limits = limits;
            self
        }
    };
}

/// A jitter value in `[0, 1)` from the system's secure generator (0.5 if it fails).
pub fn jitter(rng: &ring::rand::SystemRandom) -> f64 {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 2];
    match rng.fill(&mut b) {
        Ok(()) => f64::from(u16::from_le_bytes(b)) / 65536.0,
        Err(_) => 0.5,
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
