//! The client, its builder, and the request machinery (Basic auth, JSON media types,
//! ERS CSRF, retries, error parsing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ise_intune_http::{
    Answer, BodyKind, Classify, HttpCore, HttpSettings, RequestClass, RequestMeta, SendError,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, Result, parse_error_body};
use crate::retry::{RetryPolicy, StatusClass};
use crate::tls::{Rejections, TlsPolicy, client_config};

use ise_intune_http::RequestCounts;

/// Builder for [`IseClient`].
#[derive(Debug)]
pub struct IseClientBuilder {
    base_url: Option<String>,
    ers_base_url: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    tls: Option<TlsPolicy>,
    settings: HttpSettings,
    in_flight: Option<ise_intune_http::InFlightLimit>,
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
            settings: HttpSettings::default().with_retry(RetryPolicy::new(
                5,
                Duration::from_secs(180),
                Duration::from_secs(1),
                Duration::from_secs(30),
            )),
            ers_csrf: false,
            in_flight: None,
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

    ise_intune_http::http_settings_methods!("60 s; exports can be slow");

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
        let core = HttpCore::new(tls, self.settings)
            .map_err(Error::HttpClient)?
            .with_request_log(log_request)
            .with_in_flight_limit(self.in_flight);
        Ok(IseClient {
            inner: Arc::new(Inner {
                core,
                base,
                ers,
                username,
                password,
                csrf: self.ers_csrf.then(|| Mutex::new(None)),
                rejections,
            }),
        })
    }
}

impl IseClient {
    /// The Basic credentials as sent (base64 of `user:password`), to scrub from an
    /// answer that echoes the request.
    fn basic_credentials(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.inner.username,
            self.inner.password.expose_secret()
        ))
    }
}

struct Inner {
    core: HttpCore,
    base: Url,
    ers: Url,
    username: String,
    password: SecretString,
    /// `Some` when ERS CSRF is enabled: the current token, if fetched.
    csrf: Option<Mutex<Option<String>>>,
    rejections: Arc<Rejections>,
}

/// ISE's reading of its answers: the default classes, and TLS refusals are final.
struct IseClassify<'a> {
    rejections: &'a Rejections,
}

impl Classify for IseClassify<'_> {
    fn status(&self, status: StatusCode, _: &HeaderMap, _: &[u8]) -> StatusClass {
        ise_intune_http::retry::classify_status(status.as_u16())
    }

    fn transport_is_final(&self) -> bool {
        self.rejections.pending()
    }
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
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) api: Api,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<serde_json::Value>,
    /// A body serialised ahead of time (sent as is, instead of `body`).
    pub(crate) raw_body: Option<std::sync::Arc<str>>,
    pub(crate) accept: &'static str,
    /// Whether the request changes nothing on ISE (counted as a read and retried like
    /// one even if it is a POST, like a certificate export).
    pub(crate) read_only: bool,
    /// What kind of body a success carries.
    pub(crate) body_kind: BodyKind,
    /// The audit trail's summary of a read it records all the same (a private key's
    /// export).
    pub(crate) audited_as: Option<&'static str>,
    /// Whether sending it twice has the effect of sending it once (reads, PUT and
    /// DELETE; a POST only where the resource is keyed so that it is).
    pub(crate) idempotent: bool,
}

impl Call {
    pub(crate) fn new(method: Method, api: Api, path: impl Into<String>) -> Self {
        Self {
            read_only: method_is_read(&method),
            idempotent: method_is_read(&method) || method != Method::POST,
            method,
            api,
            path: path.into(),
            query: Vec::new(),
            body: None,
            raw_body: None,
            accept: "application/json",
            body_kind: BodyKind::Json,
            audited_as: None,
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

pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    Ok(ise_intune_http::decode_json(what, bytes)?)
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

    /// The API account's username.
    pub fn username(&self) -> &str {
        &self.inner.username
    }

    /// The same client (same connections and credentials) handing every attempt of a
    /// write request to `audit` (an audit trail; see [`ise_intune_http::AuditSink`]).
    pub fn with_audit(&self, audit: ise_intune_http::SharedAuditSink) -> IseClient {
        let i = &self.inner;
        IseClient {
            inner: Arc::new(Inner {
                core: i.core.clone().with_audit(Some(audit)),
                base: i.base.clone(),
                ers: i.ers.clone(),
                username: i.username.clone(),
                password: i.password.clone(),
                csrf: i.csrf.as_ref().map(|_| Mutex::new(None)),
                rejections: i.rejections.clone(),
            }),
        }
    }

    /// Requests sent so far by this client and its clones.
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.core.counts()
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
        let token = answer.header(CSRF_HEADER).map(str::to_owned);
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
        // Reads (certificate exports included) and PUT/DELETE are idempotent.
        let meta = RequestMeta::new(
            "ISE",
            call.method.clone(),
            &url,
            if call.read_only {
                RequestClass::Read
            } else {
                RequestClass::Write
            },
            call.body_kind,
        )
        .with_idempotent(call.read_only || call.idempotent)
        .with_audit_summary(call.audited_as);
        let classify = IseClassify {
            rejections: &self.inner.rejections,
        };
        let sent = self
            .inner
            .core
            .send(&meta, &classify, || {
                let mut req = self
                    .inner
                    .core
                    .http()
                    .request(call.method.clone(), url.clone())
                    .basic_auth(
                        &self.inner.username,
                        Some(self.inner.password.expose_secret()),
                    )
                    .header("Accept", call.accept)
                    .header("Content-Type", "application/json");
                if let Some(token) = csrf {
                    req = req.header(CSRF_HEADER, token);
                }
                if let Some(raw) = &call.raw_body {
                    req = req.body(raw.to_string());
                } else if let Some(body) = &call.body {
                    req = req.body(body.to_string());
                }
                std::future::ready(Ok::<_, std::convert::Infallible>(req))
            })
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(SendError::Prepare(never)) => match never {},
            Err(SendError::Transport(e)) => {
                // TLS refusals say which certificate ISE presented.
                return Err(match self.inner.rejections.take() {
                    Some(rejection) => rejection.into_error(),
                    None => Error::Transport(e),
                });
            }
        };
        if !answer.status.is_success() {
            return Err(Error::Api {
                method: call.method.to_string(),
                path: url.path().to_owned(),
                status: answer.status.as_u16(),
                body: Box::new(parse_error_body(
                    &answer.body,
                    &[
                        self.inner.password.expose_secret(),
                        &self.basic_credentials(),
                    ],
                )),
                attempts: answer.attempts,
            });
        }
        if let Some(token) = answer.header(CSRF_HEADER)
            && csrf.is_some()
            && !token.eq_ignore_ascii_case("required")
        {
            self.set_csrf_token(Some(token.to_owned()));
        }
        Ok(answer)
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

ise_intune_http::request_log!(
    /// Each request's attempts at debug level under this crate's target
    /// (`RUST_LOG=ise_client=debug`).
    fn log_request
);
