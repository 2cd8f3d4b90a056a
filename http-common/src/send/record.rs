//! What the core reports of each attempt to its client's log.

use reqwest::Method;

use super::failure::TransportErrorKind;

/// One attempt of one request, as the core reports it to its client's log
/// ([`super::HttpCore::with_request_log`]). It holds no query, header or body: no secret.
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
