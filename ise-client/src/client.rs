//! The client, its builder, and the request machinery (Basic auth, JSON media types,
//! ERS CSRF, retries, error parsing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use ring::rand::SystemRandom;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, Result, parse_error_body};
use crate::retry::{Attempt, Decision, RetryPolicy};
use crate::tls::{Rejections, TlsPolicy, client_config};

/// Counts of HTTP requests sent to ISE (every attempt counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// GET requests.
    pub reads: u64,
    /// POST/PUT/DELETE requests.
    pub writes: u64,
}

/// Builder for [`IseClient`].
#[derive(Debug)]
pub struct IseClientBuilder {
    base_url: Option<String>,
    ers_base_url: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    tls: Option<TlsPolicy>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    ers_csrf: bool,
}

impl Default for IseClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            ers_base_url: None,
            username: None,
            password: None,
            tls: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            ers_csrf: false,
        }
    }
}

fn parse_base(what: &str, value: &str) -> Result<Url> {
    ise_intune_http::parse_base_url(what, value).map_err(|what| Error::InvalidConfig { what })
}

impl IseClientBuilder {
    /// The primary admin node's URL, e.g. `https://ise-pan.example.com` (OpenAPI on
    /// 443). Required.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// A separate ERS base, e.g. `https://ise-pan.example.com:9060`, for deployments
    /// without the API gateway. Defaults to the base URL.
    pub fn ers_base_url(mut self, url: impl Into<String>) -> Self {
        self.ers_base_url = Some(url.into());
        self
    }

    /// Admin username and password (an account with the ERS Admin or Super Admin role).
    pub fn credentials(mut self, username: impl Into<String>, password: SecretString) -> Self {
        self.username = Some(username.into());
        self.password = Some(password);
        self
    }

    /// How to trust ISE's certificate. Required: there is no default, because the usual
    /// self-signed admin certificate needs a pin and a public one needs none.
    pub fn tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = Some(policy);
        self
    }

    /// Per-request timeout (default 60 s; exports can be slow).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether ERS CSRF protection is enabled on this ISE (Administration > System >
    /// Settings > API Settings > "Enable CSRF Check"). Default off.
    pub fn ers_csrf(mut self, enabled: bool) -> Self {
        self.ers_csrf = enabled;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<IseClient> {
        let base = parse_base(
            "ISE base URL",
            self.base_url
                .as_deref()
                .ok_or_else(|| Error::InvalidConfig {
                    what: "ISE base URL missing: call .base_url(...)".into(),
                })?,
        )?;
        let ers = match &self.ers_base_url {
            Some(u) => parse_base("ERS base URL", u)?,
            None => base.clone(),
        };
        let (username, password) = match (self.username, self.password) {
            (Some(u), Some(p)) if !u.is_empty() => (u, p),
            _ => {
                return Err(Error::InvalidConfig {
                    what: "ISE credentials missing: call .credentials(username, password)".into(),
                });
            }
        };
        let policy = self.tls.ok_or_else(|| Error::InvalidConfig {
            what: "no TLS policy: call .tls(TlsPolicy::PinnedSha256(..)) for ISE's self-signed \
                   certificate, TlsPolicy::CustomCa(..) for an enterprise CA, or \
                   TlsPolicy::System"
                .into(),
        })?;
        let rejections = Arc::new(Rejections::default());
        let tls = client_config(&policy, rejections.clone())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidConfig {
                what: format!("HTTP client: {e}"),
            })?;
        Ok(IseClient {
            inner: Arc::new(Inner {
                http,
                base,
                ers,
                username,
                password,
                retry: self.retry,
                timeout: self.timeout,
                csrf: self.ers_csrf.then(|| Mutex::new(None)),
                rejections,
                reads: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                rng: SystemRandom::new(),
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    ers: Url,
    username: String,
    password: SecretString,
    retry: RetryPolicy,
    timeout: Duration,
    /// `Some` when ERS CSRF is enabled: the current token, if fetched.
    csrf: Option<Mutex<Option<String>>>,
    rejections: Arc<Rejections>,
    reads: AtomicU64,
    writes: AtomicU64,
    rng: SystemRandom,
}

/// Typed async client for Cisco ISE. Cheap to clone; clones share connections and
/// counters.
///
/// ```no_run
/// # async fn run() -> ise_client::Result<()> {
/// use ise_client::{IseClient, TlsPolicy};
///
/// let ise = IseClient::builder()
///     .base_url("https://ise-pan.example.com")
///     .credentials("api-admin", "password".to_owned().into())
///     .tls(TlsPolicy::PinnedSha256("4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D".into()))
///     .build()?;
/// let version = ise.version().await?;
/// println!("ISE {version}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IseClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IseClient")
            .field("base", &self.inner.base.as_str())
            .field("ers", &self.inner.ers.as_str())
            .field("username", &self.inner.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// Which API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenApi,
    Ers,
}

/// One request, described once and sent as often as the retry policy allows.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) api: Api,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) accept: &'static str,
    /// Whether the request changes nothing on ISE (counted as a read even if it is a
    /// POST, like a certificate export).
    pub(crate) read_only: bool,
}

impl Call {
    pub(crate) fn new(method: Method, api: Api, path: impl Into<String>) -> Self {
        Self {
            read_only: method_is_read(&method),
            method,
            api,
            path: path.into(),
            query: Vec::new(),
            body: None,
            accept: "application/json",
        }
    }

    pub(crate) fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_owned(), v.into()));
        self
    }

    pub(crate) fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    ise_intune_http::decode_json(bytes).map_err(|f| Error::Decode {
        what: what.to_owned(),
        json_path: f.path,
        source: f.source,
    })
}

fn method_is_read(m: &Method) -> bool {
    *m == Method::GET || *m == Method::HEAD
}

const CSRF_HEADER: &str = "X-CSRF-Token";
const CSRF_FAILED: &str = "CSRF nonce validation failed";

impl IseClient {
    /// Starts building a client.
    pub fn builder() -> IseClientBuilder {
        IseClientBuilder::default()
    }

    /// The OpenAPI base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Requests sent so far by this client and its clones.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.inner.reads.load(Ordering::Relaxed),
            writes: self.inner.writes.load(Ordering::Relaxed),
        }
    }

    fn jitter(&self) -> f64 {
        ise_intune_http::jitter(&self.inner.rng)
    }

    fn url(&self, call: &Call) -> Result<Url> {
        let base = match call.api {
            Api::OpenApi => &self.inner.base,
            Api::Ers => &self.inner.ers,
        };
        let mut url = Url::parse(&format!(
            "{}{}",
            base.as_str().trim_end_matches('/'),
            call.path
        ))
        .map_err(|e| Error::InvalidInput {
            what: format!("path `{}`: {e}", call.path),
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }

    fn csrf_token(&self) -> Option<String> {
        self.inner
            .csrf
            .as_ref()
            .and_then(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn set_csrf_token(&self, token: Option<String>) {
        if let Some(m) = &self.inner.csrf {
            *m.lock().unwrap_or_else(|p| p.into_inner()) = token;
        }
    }

    /// Fetches a CSRF token with a GET carrying `X-CSRF-Token: fetch`.
    async fn fetch_csrf_token(&self) -> Result<()> {
        let call = Call::new(
            Method::GET,
            Api::Ers,
            "/ers/config/op/systemconfig/iseversion",
        );
        let answer = self.send_once(&call, Some("fetch")).await?;
        let token = answer
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.set_csrf_token(token);
        Ok(())
    }

    /// Sends a request: CSRF on ERS when enabled, retries per the policy.
    pub(crate) async fn send(&self, call: Call) -> Result<Answer> {
        let ers_csrf = call.api == Api::Ers && self.inner.csrf.is_some();
        if ers_csrf && call.method != Method::GET && self.csrf_token().is_none() {
            self.fetch_csrf_token().await?;
        }
        let header = if ers_csrf {
            Some(self.csrf_token().unwrap_or_else(|| "fetch".to_owned()))
        } else {
            None
        };
        match self.send_once(&call, header.as_deref()).await {
            Err(Error::Api {
                status: 403, body, ..
            }) if ers_csrf && body.message.contains(CSRF_FAILED) => {
                // The token expired or was never valid: fetch a new one and try once more.
                self.set_csrf_token(None);
                self.fetch_csrf_token().await?;
                let token = self.csrf_token();
                self.send_once(&call, token.as_deref()).await
            }
            other => other,
        }
    }

    /// Sends with retries (no CSRF handling).
    async fn send_once(&self, call: &Call, csrf: Option<&str>) -> Result<Answer> {
        let url = self.url(call)?;
        let path = url.path().to_owned();
        let method = call.method.clone();
        let idempotent = method != Method::POST;
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if call.read_only {
                self.inner.reads.fetch_add(1, Ordering::Relaxed);
            } else {
                self.inner.writes.fetch_add(1, Ordering::Relaxed);
            }
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .basic_auth(
                    &self.inner.username,
                    Some(self.inner.password.expose_secret()),
                )
                .header("Accept", call.accept)
                .header("Content-Type", "application/json");
            if let Some(token) = csrf {
                req = req.header(CSRF_HEADER, token);
            }
            if let Some(body) = &call.body {
                req = req.body(body.to_string());
            }
            let t0 = Instant::now();
            let (outcome, err) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| Error::Transport {
                        method: method.to_string(),
                        path: path.clone(),
                        attempts: attempt,
                        source: e.without_url(),
                    })?;
                    tracing::debug!(method = %method, path = %path, status = status.as_u16(),
                        elapsed_ms = t0.elapsed().as_millis() as u64, attempt, "ise request");
                    if status.is_success() {
                        if let Some(token) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
                        {
                            if csrf.is_some() && !token.eq_ignore_ascii_case("required") {
                                self.set_csrf_token(Some(token.to_owned()));
                            }
                        }
                        return Ok(Answer {
                            headers,
                            body: body.to_vec(),
                        });
                    }
                    (
                        Attempt::Status(status.as_u16()),
                        Error::Api {
                            method: method.to_string(),
                            path: path.clone(),
                            status: status.as_u16(),
                            body: Box::new(parse_error_body(&body)),
                            attempts: attempt,
                        },
                    )
                }
                Err(e) => {
                    if let Some(rejection) = self.inner.rejections.take() {
                        // TLS refusals are final: retrying cannot change the certificate.
                        return Err(rejection.into_error());
                    }
                    tracing::debug!(method = %method, path = %path, attempt, error = %e, "ise request failed");
                    if e.is_timeout() {
                        (
                            Attempt::Timeout,
                            Error::Timeout {
                                method: method.to_string(),
                                path: path.clone(),
                                after: self.inner.timeout,
                                attempts: attempt,
                            },
                        )
                    } else {
                        (
                            if e.is_connect() {
                                Attempt::ConnectFailed
                            } else {
                                Attempt::ConnectionLost
                            },
                            Error::Transport {
                                method: method.to_string(),
                                path: path.clone(),
                                attempts: attempt,
                                source: e.without_url(),
                            },
                        )
                    }
                }
            };
            match self.inner.retry.decide(
                attempt,
                started.elapsed(),
                outcome,
                idempotent,
                self.jitter(),
            ) {
                Decision::RetryAfter(d) => {
                    tracing::info!(method = %method, path = %path, attempt,
                        delay_ms = d.as_millis() as u64, "retrying ise request");
                    tokio::time::sleep(d).await;
                }
                Decision::GiveUp => return Err(err),
            }
        }
    }

    /// Sends a request to any path of ISE's HTTPS interface (for what this crate does not
    /// type), with Basic auth, media types, retries and TLS as configured; returns the
    /// JSON answer, or `Value::Null` for an empty one.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        if !path.starts_with('/') || path.contains("..") {
            return Err(Error::InvalidInput {
                what: format!("`{path}` is not an absolute path"),
            });
        }
        let api = if path.starts_with("/ers/") {
            Api::Ers
        } else {
            Api::OpenApi
        };
        let mut call = Call::new(method, api, path);
        call.body = body;
        let what = format!("{} {}", call.method, call.path);
        let answer = self.send(call).await?;
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        decode(&what, &answer.body)
    }

    /// Sends and decodes a JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let what = format!("{} {}", call.method, call.path);
        let answer = self.send(call).await?;
        decode(&what, &answer.body)
    }
}
