//! Plumbing shared by `ise-client` and `graph-client` (neither depends on the other):
//! the rule for base URLs, the TLS provider and system roots, JSON decoding that names
//! the failing path, and retry jitter. Each client maps these results into its own
//! error type.

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

/// A JSON decoding failure: where in the document, and why.
#[derive(Debug)]
pub struct DecodeFailure {
    /// The JSON path where decoding stopped, e.g. `keyCredentials[0].keyId`.
    pub path: String,
    /// The decoder's error.
    pub source: serde_json::Error,
}

/// Decodes JSON, naming the path of the first mismatch.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeFailure> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| DecodeFailure {
        path: e.path().to_string(),
        source: e.into_inner(),
    })
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

/// Exponential backoff for attempt `attempt` (1 = after the first attempt): `base`
/// doubled per attempt, capped at `max`, spread over its upper half by `jitter`.
///
/// ```
/// use std::time::Duration;
/// let d = ise_intune_http::backoff(Duration::from_millis(500), Duration::from_secs(30), 3, 1.0);
/// assert_eq!(d, Duration::from_secs(2));
/// ```
pub fn backoff(
    base: std::time::Duration,
    max: std::time::Duration,
    attempt: u32,
    jitter: f64,
) -> std::time::Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exp).min(max);
    raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}
