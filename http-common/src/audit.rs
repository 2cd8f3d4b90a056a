//! The audit hook: every attempt of a write request, as the core saw it on the wire,
//! handed to an [`AuditSink`] (an audit trail a security team can ingest). A record
//! holds no query, header or body: no secret can reach it.

use std::sync::Arc;

use reqwest::Method;

use crate::RequestRecord;

/// One attempt of one write request: the attempt as the request log sees it, and the
/// server's request id.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuditRecord<'a> {
    /// The attempt: service, method, host, path (never a query), status or what went
    /// wrong, which attempt.
    pub attempt: RequestRecord<'a>,
    /// The server's request id (`request-id`, `x-request-id` or `client-request-id`),
    /// when it sent one.
    pub request_id: Option<&'a str>,
}

impl<'a> AuditRecord<'a> {
    /// An attempt `service` answered with `status` (no request id): for sinks' tests
    /// and for records made outside the core.
    pub fn answered(
        service: &'static str,
        method: &'a Method,
        host: &'a str,
        path: &'a str,
        status: u16,
        attempt: u32,
    ) -> Self {
        Self {
            attempt: RequestRecord {
                service,
                method,
                host,
                path,
                status: Some(status),
                error: None,
                attempt,
                elapsed_ms: 0,
            },
            request_id: None,
        }
    }
}

/// Receives each write attempt of the clients it is given to.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records one attempt. It must not fail the request: a sink that cannot write
    /// says so its own way.
    fn record(&self, record: &AuditRecord<'_>);
}

/// An [`AuditSink`] shared by clients.
pub type SharedAuditSink = Arc<dyn AuditSink>;

/// The answer headers that carry a server's request id, in order of preference.
pub(crate) const REQUEST_ID_HEADERS: [&str; 3] =
    ["request-id", "x-request-id", "client-request-id"];
