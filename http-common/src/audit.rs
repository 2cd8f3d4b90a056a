//! The audit hook: every attempt of a write request (and of a private key's export),
//! before it is sent and as the core saw it on the wire, handed to an [`AuditSink`] (an audit trail a security team can ingest). A record
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
    /// Before the attempt (its intent) or after it (its result).
    pub phase: AuditPhase,
    /// The summary of a request audited although it is not a write (a private key's
    /// export); `None` for writes, which the sink summarises from method and path.
    pub summary: Option<&'a str>,
}

/// When a record is made: every audited attempt has two, its intent before it is sent
/// and its result after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditPhase {
    /// Before the attempt is sent: a sink that cannot record it stops the request.
    Intent,
    /// After the attempt, with its status or what went wrong.
    Result,
}

/// Why a sink could not record an attempt (it says the details its own way, in a log
/// line, before answering).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit trail could not record the request: {0}")]
pub struct AuditRefused(pub String);

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
            phase: AuditPhase::Result,
            summary: None,
        }
    }
}

/// Receives each audited attempt of the clients it is given to, twice: before it is
/// sent and after. The trail fails closed: a sink that cannot record an intent stops
/// the request (it is not sent); one that cannot record a result stops the run.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records one phase of one attempt; an error refuses the request (before it is
    /// sent) or stops the run (after).
    fn record(&self, record: &AuditRecord<'_>) -> Result<(), AuditRefused>;
}

/// An [`AuditSink`] shared by clients.
pub type SharedAuditSink = Arc<dyn AuditSink>;

/// The answer headers that carry a server's request id, in order of preference.
pub(crate) const REQUEST_ID_HEADERS: [&str; 3] =
    ["request-id", "x-request-id", "client-request-id"];
