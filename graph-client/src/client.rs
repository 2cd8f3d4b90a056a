//! The client and the request machinery shared by every resource (the builder is in
//! `builder`, tokens in `token`).

use std::sync::Arc;
use std::time::Duration;

use ise_intune_http::{Answer, BodyKind, Classify, HttpCore, RequestClass, RequestMeta, SendError};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::{AccessToken, Credentials, TokenAudience, TokenCache, random_id};
use crate::error::{Error, GraphErrorBody, GraphErrorEnvelope, Result};
use crate::retry::StatusClass;

use ise_intune_http::RequestCounts;

/// Parses a base URL into this crate's error.
pub(crate) fn parse_base(what: &str, value: &str) -> Result<Url> {
    ise_intune_http::parse_base_url(what, value).map_err(|what| Error::InvalidConfig { what })
}

/// A URL learned from a server's answer (Intune's discovery, a nextLink): `https`
/// only — plain http is allowed for loopback URLs the operator configured, never for
/// one a server named — and no user info. The error does not echo the URL's query or
/// user info.
pub fn learned_url(value: &str) -> Result<Url> {
    let url = Url::parse(value).map_err(|_| Error::InvalidInput {
        what: "a URL named by the server is not a URL: refusing to follow it".into(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidInput {
            what: "a URL named by the server carries user info: refusing to follow it".into(),
        });
    }
    if url.scheme() != "https" {
        return Err(Error::InvalidInput {
            what: format!(
                "a URL named by the server ({}://{}) is not https: refusing to follow it",
                ise_intune_http::scrub::text_within(url.scheme(), &[], 20),
                ise_intune_http::scrub::text_within(url.host_str().unwrap_or_default(), &[], 100),
            ),
        });
    }
    Ok(url)
}

/// The shared state behind a [`GraphClient`] and its clones.
pub(crate) struct Inner {
    pub(crate) core: HttpCore,
    pub(crate) login: Url,
    pub(crate) graph: Url,
    pub(crate) graph_scope: TokenAudience,
    pub(crate) cloud: crate::cloud::Cloud,
    pub(crate) intune_resource: String,
    pub(crate) intune_resource_explicit: bool,
    pub(crate) tenant_id: String,
    pub(crate) credentials: Credentials,
    pub(crate) cache: TokenCache,
    pub(crate) refresh_margin: Duration,
    pub(crate) clock: ise_intune_http::clock::SharedClock,
    pub(crate) rng: SystemRandom,
}

/// Client for the Entra ID token endpoint and Microsoft Graph. Cheap to clone; clones
/// share connections, the token cache and the request counters.
///
/// ```no_run
/// # async fn run() -> graph_client::Result<()> {
/// use graph_client::{Credentials, GraphClient};
///
/// let graph = GraphClient::builder()
///     .tenant_id("00000000-0000-0000-0000-000000000001")
///     .credentials(Credentials::client_secret("app-id", "secret"))
///     .build()?;
/// let apps = graph.applications().find_by_display_name("Cisco ISE").await?;
/// println!("{} application(s)", apps.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("login", &self.inner.login.as_str())
            .field("graph", &self.inner.graph.as_str())
            .field("tenant_id", &self.inner.tenant_id)
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

/// One request, described once and sent as many times as the retry policy allows.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// Path below the Graph base (`/applications`), or an absolute `nextLink`.
    pub(crate) target: Target,
    pub(crate) query: Vec<(&'a str, String)>,
    pub(crate) body: Option<serde_json::Value>,
    /// Retry Graph's replication-lag answers for this call.
    pub(crate) replication_lag: bool,
    /// A `Prefer` header (e.g. `create-if-missing` for upserts).
    pub(crate) prefer: Option<&'static str>,
    /// Overrides the method's idempotency (a POST the server deduplicates).
    pub(crate) idempotent: Option<bool>,
}

pub(crate) enum Target {
    Path(String),
    /// A path below Graph's beta base (the v1.0 base with `beta` for `v1.0`), for
    /// resources v1.0 does not have.
    Beta(String),
    Absolute(Url),
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            target: Target::Path(path.into()),
            query: Vec::new(),
            body: None,
            replication_lag: false,
            prefer: None,
            idempotent: None,
        }
    }

    pub(crate) fn prefer(mut self, value: &'static str) -> Self {
        self.prefer = Some(value);
        self
    }

    /// Declares that sending this call twice has the effect of sending it once (the
    /// server refuses the duplicate, which the caller reads as "already done").
    pub(crate) fn deduplicated_by_server(mut self) -> Self {
        self.idempotent = Some(true);
        self
    }

    pub(crate) fn query(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self> {
        self.body = Some(serde_json::to_value(body).map_err(|e| Error::InvalidInput {
            what: format!("request body: {e}"),
        })?);
        Ok(self)
    }

    pub(crate) fn replication_lag(mut self) -> Self {
        self.replication_lag = true;
        self
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept, spaces as
/// `%20`, which OData expects).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'$') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The answer of a service found through Graph ([`GraphClient::get_with_token_final_on`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LearnedAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, when the service sent one in seconds.
    pub retry_after: Option<std::time::Duration>,
    /// The body, as text.
    pub body: String,
}

/// The default classification, except that the statuses listed are final.
struct FinalOn<'a>(&'a [u16]);

impl Classify for FinalOn<'_> {
    fn status(&self, status: StatusCode, _: &HeaderMap, _: &[u8]) -> StatusClass {
        if self.0.contains(&status.as_u16()) {
            StatusClass::Final
        } else {
            ise_intune_http::retry::classify_status(status.as_u16())
        }
    }
}

/// Graph's reading of its answers: 429 and (on the calls that declare them) the
/// replication-lag answers were not processed; 500/502/503/504 are transient. A token
/// Graph finds expired (401 `InvalidAuthenticationToken`: it expired between the
/// cache's check and Graph's, or the clock moved) was not processed either, once: the
/// next attempt asks for a new token; a second such answer is final.
struct GraphClassify {
    replication_lag: bool,
    /// Set when a 401 asked for a new token; the next attempt takes it.
    token_refused: std::sync::atomic::AtomicBool,
    /// Whether a new token was already asked for once.
    refreshed: std::sync::atomic::AtomicBool,
}

impl Classify for GraphClassify {
    fn status(&self, status: StatusCode, _: &HeaderMap, body: &[u8]) -> StatusClass {
        use std::sync::atomic::Ordering::SeqCst;
        let parsed = parse_graph_error(body);
        if self.replication_lag && is_replication_lag(status, &parsed) {
            return StatusClass::NotProcessed;
        }
        if status == StatusCode::UNAUTHORIZED
            && parsed.code == "InvalidAuthenticationToken"
            && !self.refreshed.swap(true, SeqCst)
        {
            self.token_refused.store(true, SeqCst);
            return StatusClass::NotProcessed;
        }
        ise_intune_http::retry::classify_status(status.as_u16())
    }
}

/// Graph's error body, its texts scrubbed ([`ise_intune_http::scrub`]): a server may
/// echo what the request carried.
fn parse_graph_error(body: &[u8]) -> GraphErrorBody {
    use ise_intune_http::scrub::server_text;
    let mut parsed = serde_json::from_slice::<GraphErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| GraphErrorBody {
            code: String::new(),
            message: String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned(),
            inner_error: None,
        });
    parsed.code = server_text(&parsed.code, &[]);
    parsed.message = server_text(&parsed.message, &[]);
    parsed
}

fn is_replication_lag(status: StatusCode, body: &GraphErrorBody) -> bool {
    (status == StatusCode::NOT_FOUND && body.code == "Request_ResourceNotFound")
        || (status == StatusCode::BAD_REQUEST
            && body
                .message
                .contains("does not reference a valid application object"))
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    Ok(ise_intune_http::decode_json(what, bytes)?)
}

impl GraphClient {
    /// The tenant id this client works in.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The Graph base URL.
    pub fn graph_base(&self) -> &Url {
        &self.inner.graph
    }

    /// The Microsoft cloud this client was built for.
    pub fn cloud(&self) -> crate::cloud::Cloud {
        self.inner.cloud
    }

    /// The scope of its Graph tokens (it follows the Graph host).
    pub fn graph_scope(&self) -> &TokenAudience {
        &self.inner.graph_scope
    }

    /// The Intune API's resource in this cloud (`https://api.manage.microsoft.com/` in
    /// the commercial one), for Intune token audiences.
    pub fn intune_resource(&self) -> &str {
        &self.inner.intune_resource
    }

    /// What cannot be confirmed about this client's cloud (see
    /// [`crate::cloud::Cloud::warnings`]); empty when every value is confirmed or set.
    pub fn cloud_warnings(&self) -> Vec<String> {
        let explicit: &[&str] = if self.inner.intune_resource_explicit {
            &["intune_resource"]
        } else {
            &[]
        };
        self.inner.cloud.warnings(explicit)
    }

    /// A client for the same tenant, endpoints, TLS roots and policies, authenticating
    /// with other credentials (its own token cache and counters; connections shared).
    pub fn with_credentials(&self, credentials: Credentials) -> GraphClient {
        self.derived(self.inner.core.with_fresh_counters(), credentials, None)
    }

    /// The same client reading time from `clock` (its own token cache; connections
    /// shared).
    pub fn with_clock(&self, clock: ise_intune_http::clock::SharedClock) -> GraphClient {
        let i = &self.inner;
        self.derived(
            i.core.with_fresh_counters(),
            i.credentials.clone(),
            Some(clock),
        )
    }

    /// The same client sending under `limit` as well (shared with every client given a
    /// clone of it: pairs of a fleet on one tenant share one budget); its own token
    /// cache, connections shared.
    pub fn with_in_flight_limit(&self, limit: ise_intune_http::InFlightLimit) -> GraphClient {
        let i = &self.inner;
        let core = i.core.clone().with_in_flight_limit(Some(limit));
        self.derived(core, i.credentials.clone(), None)
    }

    /// The same client handing every attempt of a write request to `audit` (an audit
    /// trail; see [`ise_intune_http::AuditSink`]); its own token cache, connections
    /// shared. Clients derived from it later (other credentials, a clock) keep it.
    pub fn with_audit(&self, audit: ise_intune_http::SharedAuditSink) -> GraphClient {
        let i = &self.inner;
        let core = i.core.clone().with_audit(Some(audit));
        self.derived(core, i.credentials.clone(), None)
    }

    /// The application (client) id this client signs in as, when its credentials name
    /// one (a static token or a token provider does not).
    pub fn identity(&self) -> Option<&str> {
        match &self.inner.credentials {
            Credentials::ClientSecret { client_id, .. }
            | Credentials::FederatedTokenFile { client_id, .. } => Some(client_id),
            Credentials::Certificate(c) => Some(c.client_id()),
            _ => None,
        }
    }

    /// A client like this one with `core`, `credentials` and (when given) `clock`, and
    /// a token cache of its own.
    fn derived(
        &self,
        core: HttpCore,
        credentials: Credentials,
        clock: Option<ise_intune_http::clock::SharedClock>,
    ) -> GraphClient {
        let i = &self.inner;
        GraphClient {
            inner: Arc::new(Inner {
                core,
                login: i.login.clone(),
                graph: i.graph.clone(),
                graph_scope: i.graph_scope.clone(),
                cloud: i.cloud,
                intune_resource: i.intune_resource.clone(),
                intune_resource_explicit: i.intune_resource_explicit,
                tenant_id: i.tenant_id.clone(),
                credentials,
                cache: TokenCache::default(),
                refresh_margin: i.refresh_margin,
                clock: clock.unwrap_or_else(|| i.clock.clone()),
                rng: SystemRandom::new(),
            }),
        }
    }

    /// The clock this client reads.
    pub fn clock(&self) -> &ise_intune_http::clock::SharedClock {
        &self.inner.clock
    }

    /// The login authority URL.
    pub fn login_authority(&self) -> &Url {
        &self.inner.login
    }

    /// `GET`s a URL of a Microsoft service found through Graph (such as Intune's
    /// compliance endpoint) with `token`, over this client's TLS roots. Returns the
    /// status and the body as text. The URL was learned from an answer, so only
    /// `https` without user info is allowed ([`learned_url`]), loopback included.
    pub async fn get_with_token(
        &self,
        url: &str,
        token: &AccessToken,
        accept: &str,
    ) -> Result<(u16, String)> {
        let answer = self
            .get_with_token_final_on(url, token, accept, &[])
            .await?;
        Ok((answer.status, answer.body))
    }

    /// [`Self::get_with_token`], with the statuses in `final_on` taken as final answers
    /// (never retried) and the answer's `Retry-After` kept: for a service whose 503
    /// means "not before the window ends" (Intune's throttle of unfiltered compliance
    /// queries), where retrying only spends more of the window.
    pub async fn get_with_token_final_on(
        &self,
        url: &str,
        token: &AccessToken,
        accept: &str,
        final_on: &[u16],
    ) -> Result<LearnedAnswer> {
        let parsed = learned_url(url)?;
        let meta = RequestMeta::new(
            "Microsoft service",
            Method::GET,
            &parsed,
            RequestClass::Read,
            BodyKind::Text,
        );
        let classify = FinalOn(final_on);
        let answer = self
            .inner
            .core
            .send(&meta, &classify, || {
                std::future::ready(Ok::<_, Error>(
                    self.inner
                        .core
                        .http()
                        .get(parsed.clone())
                        .bearer_auth(token.secret())
                        .header("Accept", accept),
                ))
            })
            .await
            .map_err(send_error)?;
        Ok(LearnedAnswer {
            status: answer.status.as_u16(),
            retry_after: answer
                .header("retry-after")
                .and_then(ise_intune_http::retry::parse_retry_after),
            body: String::from_utf8_lossy(&answer.body).into_owned(),
        })
    }

    /// Sends a request built the same way for every attempt, with the default
    /// classification of answers.
    pub(crate) async fn send_built(
        &self,
        meta: &RequestMeta<'_>,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer> {
        self.inner
            .core
            .send(meta, &ise_intune_http::DefaultClassify, || {
                std::future::ready(Ok::<_, Error>(build()))
            })
            .await
            .map_err(send_error)
    }

    /// The v2 token endpoint URL for this tenant (what ISE's "Token Issuing URL" holds).
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.inner.login.as_str().trim_end_matches('/'),
            self.inner.tenant_id
        )
    }

    pub(crate) fn v1_token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/token",
            self.inner.login.as_str().trim_end_matches('/'),
            self.inner.tenant_id
        )
    }

    /// Requests sent so far by this client and its clones.
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.core.counts()
    }

    /// Graph's beta base: the v1.0 base with its last segment `v1.0` replaced by `beta`.
    fn beta_base(&self) -> Result<String> {
        let base = self.inner.graph.as_str().trim_end_matches('/');
        base.strip_suffix("/v1.0")
            .map(|root| format!("{root}/beta"))
            .ok_or_else(|| Error::InvalidInput {
                what: format!(
                    "Graph's base URL `{base}` does not end in `/v1.0`, so its beta \
                     endpoint cannot be derived"
                ),
            })
    }

    fn url_for(&self, target: &Target, query: &[(&str, String)]) -> Result<Url> {
        match target {
            Target::Absolute(url) => {
                let base = self.inner.graph.as_str().trim_end_matches('/');
                let beta = self.beta_base().unwrap_or_else(|_| base.to_owned());
                if url.origin() != self.inner.graph.origin()
                    || !(url.as_str().starts_with(base) || url.as_str().starts_with(&beta))
                {
                    let mut shown = url.clone();
                    shown.set_query(None);
                    return Err(Error::ForeignNextLink {
                        link: shown.to_string(),
                    });
                }
                Ok(url.clone())
            }
            Target::Path(path) | Target::Beta(path) => {
                let base = match target {
                    Target::Beta(_) => self.beta_base()?,
                    _ => self.inner.graph.as_str().trim_end_matches('/').to_owned(),
                };
                let mut url =
                    Url::parse(&format!("{base}{path}")).map_err(|e| Error::InvalidInput {
                        what: format!("path `{path}`: {e}"),
                    })?;
                if !query.is_empty() {
                    let q: Vec<String> = query
                        .iter()
                        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                        .collect();
                    url.set_query(Some(&q.join("&")));
                }
                Ok(url)
            }
        }
    }

    /// Sends a Graph request with authentication, ids, tracing and retries.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer> {
        let url = self.url_for(&call.target, &call.query)?;
        // GET, PATCH (replaces the same fields with the same values) and DELETE are
        // idempotent; POST is not.
        let meta = RequestMeta::new(
            "Graph",
            call.method.clone(),
            &url,
            if call.method == Method::GET {
                RequestClass::Read
            } else {
                RequestClass::Write
            },
            BodyKind::Json,
        );
        let meta = match call.idempotent {
            Some(i) => meta.with_idempotent(i),
            None => meta,
        };
        let classify = GraphClassify {
            replication_lag: call.replication_lag,
            token_refused: std::sync::atomic::AtomicBool::new(false),
            refreshed: std::sync::atomic::AtomicBool::new(false),
        };
        let mut client_request_id = String::new();
        let answer = self
            .inner
            .core
            .send(&meta, &classify, || {
                let id = random_id(&self.inner.rng);
                if let Ok(id) = &id {
                    client_request_id.clone_from(id);
                }
                let (method, url, body, prefer) = (&call.method, &url, &call.body, call.prefer);
                let refused = classify
                    .token_refused
                    .swap(false, std::sync::atomic::Ordering::SeqCst);
                async move {
                    let id = id?;
                    if refused {
                        self.clear_token_cache();
                    }
                    let token = self.access_token(&self.inner.graph_scope).await?;
                    let mut req = self
                        .inner
                        .core
                        .http()
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.secret())
                        .header("Accept", "application/json")
                        .header("client-request-id", id)
                        .header("return-client-request-id", "true");
                    if let Some(body) = body {
                        req = req.json(body);
                    }
                    if let Some(prefer) = prefer {
                        req = req.header("Prefer", prefer);
                    }
                    Ok::<_, Error>(req)
                }
            })
            .await
            .map_err(send_error)?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        let parsed = parse_graph_error(&answer.body);
        let request_id = answer.header("request-id").map(str::to_owned).or_else(|| {
            parsed
                .inner_error
                .as_ref()
                .and_then(|i| i.request_id.clone())
        });
        Err(Error::Api {
            method: call.method.to_string(),
            path: url.path().to_owned(),
            status: answer.status.as_u16(),
            body: Box::new(parsed),
            request_id,
            client_request_id,
            attempts: answer.attempts,
        })
    }

    /// Sends and decodes a JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        let what = format!("{} {}", call.method, target_label(&call.target));
        let answer = self.send(call).await?;
        decode(&what, &answer.body)
    }
}

fn target_label(t: &Target) -> String {
    match t {
        Target::Path(p) => p.clone(),
        Target::Beta(p) => format!("(beta) {p}"),
        Target::Absolute(u) => u.path().to_owned(),
    }
}

pub(crate) fn send_error(e: SendError<Error>) -> Error {
    match e {
        SendError::Prepare(e) => e,
        SendError::Transport(e) => Error::Transport(e),
    }
}
