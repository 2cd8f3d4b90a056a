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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use tracing::Instrument as _;

use crate::retry::{Attempt, Decision, StatusClass, parse_retry_after};

mod failure;
mod record;
mod request;

use failure::{AttemptFailure, connect_failure, transport_error};
pub use failure::{SendError, TransportError, TransportErrorKind};
pub use record::{RequestLog, RequestRecord};
use request::Counters;
pub use request::{
    Answer, BodyKind, BodyLimits, Classify, HttpSettings, RequestClass, RequestCounts, RequestMeta,
};

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
            audited_as: None,
        }
    }

    /// The same request, audited as `summary` although it is not a write (a private
    /// key's export): the trail must say that a key left the system.
    pub fn with_audit_summary(mut self, summary: Option<&'static str>) -> Self {
        self.audited_as = summary;
        self
    }

    /// Whether the audit trail records this request.
    fn audited(&self) -> bool {
        self.class == RequestClass::Write || self.audited_as.is_some()
    }

    /// The same request, declared idempotent or not.
    pub fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// The default classification ([`crate::retry::classify_status`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassify;

impl Classify for DefaultClassify {
    fn status(&self, status: StatusCode, _: &HeaderMap, _: &[u8]) -> StatusClass {
        crate::retry::classify_status(status.as_u16())
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
    audit: Option<crate::SharedAuditSink>,
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
            audit: None,
        })
    }

    /// The same core, sending no more than `limit` allows at once (`None`: no cap).
    pub fn with_in_flight_limit(mut self, limit: Option<InFlightLimit>) -> Self {
        self.in_flight = limit;
        self
    }

    /// The same core, handing every attempt of a write request to `audit` (`None`:
    /// to no one).
    pub fn with_audit(mut self, audit: Option<crate::SharedAuditSink>) -> Self {
        self.audit = audit;
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
            throttled: self.counters.throttled.load(Ordering::Relaxed),
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
                        if matches!(answer.status.as_u16(), 429 | 503) {
                            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
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
        let audit = self.audit.as_ref().filter(|_| meta.audited());
        let record = |status, error, elapsed_ms| RequestRecord {
            service: meta.service,
            method: &meta.method,
            host: meta.host,
            path: meta.path,
            status,
            error,
            attempt,
            elapsed_ms,
        };
        // The trail first: a write whose intent cannot be recorded is not sent.
        if let Some(audit) = audit {
            let intent = crate::AuditRecord {
                attempt: record(None, None, 0),
                request_id: None,
                phase: crate::audit::AuditPhase::Intent,
                summary: meta.audited_as,
            };
            if audit.record(&intent).is_err() {
                return Err((
                    None,
                    TransportErrorKind::AuditRefused { after_write: false },
                    None,
                ));
            }
        }
        let t0 = Instant::now();
        let outcome = self.attempt(meta, request).await;
        drop(place);
        let done = record(
            outcome.as_ref().ok().map(|a| a.status.as_u16()),
            outcome.as_ref().err().map(|(_, kind, _)| kind),
            u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        (self.log)(&done);
        if let Some(audit) = audit {
            let answer = outcome.as_ref().ok();
            let recorded = audit.record(&crate::AuditRecord {
                attempt: done,
                request_id: answer.and_then(|a| {
                    crate::audit::REQUEST_ID_HEADERS
                        .iter()
                        .find_map(|h| a.header(h))
                }),
                phase: crate::audit::AuditPhase::Result,
                summary: meta.audited_as,
            });
            if recorded.is_err() {
                // Sent, and its intent recorded; its result could not be: the run stops.
                return Err((
                    None,
                    TransportErrorKind::AuditRefused { after_write: true },
                    None,
                ));
            }
        }
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
