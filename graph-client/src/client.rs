//! The client, its builder, and the request machinery shared by every resource.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ise_intune_http::{
    Answer, BodyKind, Classify, HttpCore, HttpSettings, RequestClass, RequestMeta, SendError,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::{AccessToken, Credentials, TokenAudience, TokenCache, random_id};
use crate::error::{Error, GraphErrorBody, GraphErrorEnvelope, Result, TokenErrorBody};
use crate::retry::StatusClass;

use ise_intune_http::RequestCounts;

/// Default Entra ID authority.
pub const DEFAULT_LOGIN_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default Graph base URL.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";
/// Default scope of Graph tokens.
pub const DEFAULT_GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Which root certificates TLS connections trust. Verification is always on.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The operating system's store.
    #[default]
    System,
    /// The system store plus these CAs (DER).
    SystemPlus(Vec<Vec<u8>>),
    /// Only these CAs (DER), e.g. a simulator's root.
    Only(Vec<Vec<u8>>),
}

/// Builder for [`GraphClient`].
#[derive(Debug)]
pub struct GraphClientBuilder {
    login_authority: String,
    graph_base: String,
    graph_scope: String,
    tenant_id: Option<String>,
    credentials: Option<Credentials>,
    tls: TlsRoots,
    settings: HttpSettings,
    refresh_margin: Duration,
}

impl Default for GraphClientBuilder {
    fn default() -> Self {
        Self {
            login_authority: DEFAULT_LOGIN_AUTHORITY.into(),
            graph_base: DEFAULT_GRAPH_BASE.into(),
            graph_scope: DEFAULT_GRAPH_SCOPE.into(),
            tenant_id: None,
            credentials: None,
            tls: TlsRoots::System,
            settings: HttpSettings::default().with_timeouts(
                Duration::from_secs(10),
                Duration::from_secs(30),
                Duration::from_secs(300),
            ),
            refresh_margin: Duration::from_secs(300),
        }
    }
}

fn parse_base(what: &str, value: &str) -> Result<Url> {
    ise_intune_http::parse_base_url(what, value).map_err(|what| Error::InvalidConfig { what })
}

impl GraphClientBuilder {
    /// Entra ID authority (default `https://login.microsoftonline.com`).
    pub fn login_authority(mut self, url: impl Into<String>) -> Self {
        self.login_authority = url.into();
        self
    }

    /// Graph base URL including the version (default `https://graph.microsoft.com/v1.0`).
    pub fn graph_base(mut self, url: impl Into<String>) -> Self {
        self.graph_base = url.into();
        self
    }

    /// Scope of Graph tokens (default `https://graph.microsoft.com/.default`).
    pub fn graph_scope(mut self, scope: impl Into<String>) -> Self {
        self.graph_scope = scope.into();
        self
    }

    /// The tenant (directory) id or a verified domain. Required.
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// How to authenticate. Required.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Which roots TLS trusts (default: the system store).
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls = roots;
        self
    }

    /// Adds CA certificates in PEM to the trusted roots (keeping the system store unless
    /// [`TlsRoots::Only`] was chosen).
    pub fn add_root_certificates_pem(mut self, pem: &str) -> Result<Self> {
        let ders = CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig {
                what: format!("root certificate PEM unreadable: {e}"),
            })?;
        if ders.is_empty() {
            return Err(Error::InvalidConfig {
                what: "no certificate in the root certificate PEM".into(),
            });
        }
        self.tls = match self.tls {
            TlsRoots::System => TlsRoots::SystemPlus(ders),
            TlsRoots::SystemPlus(mut v) => {
                v.extend(ders);
                TlsRoots::SystemPlus(v)
            }
            TlsRoots::Only(mut v) => {
                v.extend(ders);
                TlsRoots::Only(v)
            }
        };
        Ok(self)
    }

    ise_intune_http::http_settings_methods!("30 s");

    /// Tokens are renewed this long before they expire (default 5 minutes).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<GraphClient> {
        let tenant_id = self.tenant_id.ok_or_else(|| Error::InvalidConfig {
            what: "tenant id missing: call .tenant_id(...)".into(),
        })?;
        if tenant_id.is_empty() || tenant_id.contains(['/', '?', '#', ' ']) {
            return Err(Error::InvalidConfig {
                what: format!("tenant id `{tenant_id}` is not a tenant id or domain"),
            });
        }
        let credentials = self.credentials.ok_or_else(|| Error::InvalidConfig {
            what: "credentials missing: call .credentials(...)".into(),
        })?;
        let login = parse_base("login authority", &self.login_authority)?;
        let graph = parse_base("Graph base URL", &self.graph_base)?;
        let tls = rustls_config(&self.tls)?;
        let core = HttpCore::new(tls, self.settings).map_err(Error::HttpClient)?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                core,
                login,
                graph,
                graph_scope: TokenAudience::Scope(self.graph_scope),
                tenant_id,
                credentials,
                cache: TokenCache::default(),
                refresh_margin: self.refresh_margin,
                rng: SystemRandom::new(),
            }),
        })
    }
}

fn rustls_config(roots: &TlsRoots) -> Result<rustls::ClientConfig> {
    let (system, extra) = match roots {
        TlsRoots::System => (true, &[][..]),
        TlsRoots::SystemPlus(v) => (true, v.as_slice()),
        TlsRoots::Only(v) => (false, v.as_slice()),
    };
    let mut store = if system {
        ise_intune_http::system_roots()
    } else {
        rustls::RootCertStore::empty()
    };
    if system && store.is_empty() && extra.is_empty() {
        return Err(Error::InvalidConfig {
            what: "no system root certificates found: install ca-certificates or add a CA".into(),
        });
    }
    for der in extra {
        store
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| Error::InvalidConfig {
                what: format!("root certificate refused: {e}"),
            })?;
    }
    let config = rustls::ClientConfig::builder_with_provider(ise_intune_http::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidConfig {
            what: format!("TLS: {e}"),
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(config)
}

struct Inner {
    core: HttpCore,
    login: Url,
    graph: Url,
    graph_scope: TokenAudience,
    tenant_id: String,
    credentials: Credentials,
    cache: TokenCache,
    refresh_margin: Duration,
    rng: SystemRandom,
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
    inner: Arc<Inner>,
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
}

pub(crate) enum Target {
    Path(String),
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
        }
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

/// Graph's reading of its answers: 429 and (on the calls that declare them) the
/// replication-lag answers were not processed; 500/502/503/504 are transient.
struct GraphClassify {
    replication_lag: bool,
}

impl Classify for GraphClassify {
    fn status(&self, status: StatusCode, _: &HeaderMap, body: &[u8]) -> StatusClass {
        if self.replication_lag && is_replication_lag(status, &parse_graph_error(body)) {
            return StatusClass::NotProcessed;
        }
        ise_intune_http::retry::classify_status(status.as_u16())
    }
}

fn parse_graph_error(body: &[u8]) -> GraphErrorBody {
    serde_json::from_slice::<GraphErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| GraphErrorBody {
            code: String::new(),
            message: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            inner_error: None,
        })
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
    /// Starts building a client.
    pub fn builder() -> GraphClientBuilder {
        GraphClientBuilder::default()
    }

    /// The tenant id this client works in.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The Graph base URL.
    pub fn graph_base(&self) -> &Url {
        &self.inner.graph
    }

    /// A client for the same tenant, endpoints, TLS roots and policies, authenticating
    /// with other credentials (its own token cache and counters; connections shared).
    pub fn with_credentials(&self, credentials: Credentials) -> GraphClient {
        let i = &self.inner;
        GraphClient {
            inner: Arc::new(Inner {
                core: i.core.with_fresh_counters(),
                login: i.login.clone(),
                graph: i.graph.clone(),
                graph_scope: i.graph_scope.clone(),
                tenant_id: i.tenant_id.clone(),
                credentials,
                cache: TokenCache::default(),
                refresh_margin: i.refresh_margin,
                rng: SystemRandom::new(),
            }),
        }
    }

    /// The login authority URL.
    pub fn login_authority(&self) -> &Url {
        &self.inner.login
    }

    /// `GET`s a URL of a Microsoft service found through Graph (such as Intune's
    /// compliance endpoint) with `token`, over this client's TLS roots. Returns the
    /// status and the body as text; only https (or loopback http) URLs are allowed.
    pub async fn get_with_token(
        &self,
        url: &str,
        token: &AccessToken,
        accept: &str,
    ) -> Result<(u16, String)> {
        let parsed = parse_base("service URL", url)?;
        let meta = RequestMeta {
            service: "Microsoft service",
            method: Method::GET,
            host: parsed.host_str().unwrap_or_default(),
            path: parsed.path(),
            class: RequestClass::Read,
            idempotent: true,
            body: BodyKind::Text,
        };
        let answer = self
            .inner
            .core
            .send(&meta, &ise_intune_http::DefaultClassify, || {
                let req = self
                    .inner
                    .core
                    .http()
                    .get(parsed.clone())
                    .bearer_auth(token.secret())
                    .header("Accept", accept);
                std::future::ready(Ok::<_, Error>(req))
            })
            .await
            .map_err(send_error)?;
        Ok((
            answer.status.as_u16(),
            String::from_utf8_lossy(&answer.body).into_owned(),
        ))
    }

    /// The v2 token endpoint URL for this tenant (what ISE's "Token Issuing URL" holds).
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.inner.login.as_str().trim_end_matches('/'),
            self.inner.tenant_id
        )
    }

    fn v1_token_endpoint(&self) -> String {
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

    /// A token for `audience`, from the cache when still fresh. Concurrent callers for
    /// the same audience share one token request.
    pub async fn access_token(&self, audience: &TokenAudience) -> Result<AccessToken> {
        if let Credentials::StaticToken(t) = &self.inner.credentials {
            return Ok(AccessToken::new(
                t.expose_secret().to_owned(),
                Duration::from_secs(3600),
            ));
        }
        let slot = self.inner.cache.slot(audience);
        let mut guard = slot.lock().await;
        if let Some(token) = guard.as_ref() {
            if token.fresh_for(self.inner.refresh_margin) {
                return Ok(token.clone());
            }
        }
        let token = self.fetch_token(audience).await?;
        *guard = Some(token.clone());
        Ok(token)
    }

    /// Drops cached tokens (e.g. after permissions changed and new roles are needed).
    pub fn clear_token_cache(&self) {
        self.inner.cache.clear();
    }

    async fn fetch_token(&self, audience: &TokenAudience) -> Result<AccessToken> {
        let (url, audience_field) = match audience {
            TokenAudience::Scope(s) => (self.token_endpoint(), ("scope", s.clone())),
            TokenAudience::Resource(r) => (self.v1_token_endpoint(), ("resource", r.clone())),
        };
        let mut form: Vec<(&str, String)> =
            vec![("grant_type", "client_credentials".into()), audience_field];
        match &self.inner.credentials {
            Credentials::ClientSecret { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.expose_secret().to_owned()));
            }
            Credentials::Certificate(cert) => {
                let assertion = cert.assertion(&url, SystemTime::now())?;
                form.push(("client_id", cert.client_id().to_owned()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion.expose_secret().to_owned()));
            }
            Credentials::Provider(p) => return p.token(audience).await,
            Credentials::StaticToken(t) => {
                return Ok(AccessToken::new(
                    t.expose_secret().to_owned(),
                    Duration::from_secs(3600),
                ));
            }
        }
        let token_url = Url::parse(&url).map_err(|e| Error::InvalidConfig {
            what: format!("token URL: {e}"),
        })?;
        let meta = RequestMeta {
            service: "Entra ID",
            method: Method::POST,
            host: token_url.host_str().unwrap_or_default(),
            path: token_url.path(),
            class: RequestClass::Token,
            // Token requests change nothing, so they are safe to repeat.
            idempotent: true,
            body: BodyKind::Token,
        };
        let answer = self
            .inner
            .core
            .send(&meta, &ise_intune_http::DefaultClassify, || {
                let req = self
                    .inner
                    .core
                    .http()
                    .post(token_url.clone())
                    .header("Accept", "application/json")
                    .form(&form);
                std::future::ready(Ok::<_, Error>(req))
            })
            .await
            .map_err(send_error)?;
        if !answer.status.is_success() {
            return Err(Error::Token {
                scope: audience.to_string(),
                status: answer.status.as_u16(),
                body: Box::new(
                    serde_json::from_slice::<TokenErrorBody>(&answer.body).unwrap_or_default(),
                ),
            });
        }
        parse_token(audience, &answer.body)
    }

    fn url_for(&self, target: &Target, query: &[(&str, String)]) -> Result<Url> {
        match target {
            Target::Absolute(url) => {
                let base = self.inner.graph.as_str().trim_end_matches('/');
                if url.origin() != self.inner.graph.origin() || !url.as_str().starts_with(base) {
                    let mut shown = url.clone();
                    shown.set_query(None);
                    return Err(Error::ForeignNextLink {
                        link: shown.to_string(),
                    });
                }
                Ok(url.clone())
            }
            Target::Path(path) => {
                let mut url = Url::parse(&format!(
                    "{}{}",
                    self.inner.graph.as_str().trim_end_matches('/'),
                    path
                ))
                .map_err(|e| Error::InvalidInput {
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
        let meta = RequestMeta {
            service: "Graph",
            method: call.method.clone(),
            host: url.host_str().unwrap_or_default(),
            path: url.path(),
            class: if call.method == Method::GET {
                RequestClass::Read
            } else {
                RequestClass::Write
            },
            // GET, PATCH (replaces the same fields with the same values) and DELETE are
            // idempotent; POST is not.
            idempotent: call.method != Method::POST,
            body: BodyKind::Json,
        };
        let classify = GraphClassify {
            replication_lag: call.replication_lag,
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
                let (method, url, body) = (&call.method, &url, &call.body);
                async move {
                    let id = id?;
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
        Target::Absolute(u) => u.path().to_owned(),
    }
}

fn send_error(e: SendError<Error>) -> Error {
    match e {
        SendError::Prepare(e) => e,
        SendError::Transport(e) => Error::Transport(e),
    }
}

/// The longest token lifetime believed (Entra's tokens live 60–90 minutes).
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

fn parse_token(audience: &TokenAudience, body: &[u8]) -> Result<AccessToken> {
    let answer: TokenAnswer = decode(&format!("token for `{audience}`"), body)?;
    // expires_in is a number on v2 and a string on v1. Whatever the server says, the
    // lifetime is clamped to a day: an absurd value must not overflow a deadline.
    let secs = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(3599),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(3599),
        _ => 3599,
    }
    .min(MAX_TOKEN_LIFETIME_SECS);
    Ok(AccessToken::new(
        answer.access_token,
        Duration::from_secs(secs),
    ))
}
