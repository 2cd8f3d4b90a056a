//! [`GraphClientBuilder`]: endpoints, tenant, credentials, TLS roots, HTTP settings.

use std::sync::Arc;
use std::time::Duration;

use ise_intune_http::{HttpCore, HttpSettings};
use ring::rand::SystemRandom;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::auth::{Credentials, TokenAudience, TokenCache};
use crate::client::{GraphClient, Inner, parse_base};
use crate::cloud::Cloud;
use crate::error::{Error, Result};

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
    cloud: Cloud,
    login_authority: Option<String>,
    graph_base: Option<String>,
    graph_scope: Option<String>,
    intune_resource: Option<String>,
    tenant_id: Option<String>,
    credentials: Option<Credentials>,
    tls: TlsRoots,
    settings: HttpSettings,
    in_flight: Option<ise_intune_http::InFlightLimit>,
    refresh_margin: Duration,
    clock: ise_intune_http::clock::SharedClock,
}

impl GraphClient {
    /// Starts building a client.
    pub fn builder() -> GraphClientBuilder {
        GraphClientBuilder::default()
    }
}

impl Default for GraphClientBuilder {
    fn default() -> Self {
        Self {
            cloud: Cloud::Global,
            login_authority: None,
            graph_base: None,
            graph_scope: None,
            intune_resource: None,
            tenant_id: None,
            credentials: None,
            tls: TlsRoots::System,
            settings: HttpSettings::default().with_timeouts(
                Duration::from_secs(10),
                Duration::from_secs(30),
                Duration::from_secs(300),
            ),
            refresh_margin: Duration::from_secs(300),
            in_flight: None,
            clock: ise_intune_http::clock::system(),
        }
    }
}

impl GraphClientBuilder {
    /// The Microsoft cloud (default [`Cloud::Global`]): the login authority, Graph base
    /// and Intune API resource not set explicitly come from its row of the table (see
    /// [`crate::cloud`]).
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Entra ID authority (default: the cloud's, `https://login.microsoftonline.com`).
    pub fn login_authority(mut self, url: impl Into<String>) -> Self {
        self.login_authority = Some(url.into());
        self
    }

    /// Graph base URL including the version (default: the cloud's,
    /// `https://graph.microsoft.com/v1.0`).
    pub fn graph_base(mut self, url: impl Into<String>) -> Self {
        self.graph_base = Some(url.into());
        self
    }

    /// Scope of Graph tokens (default: the one the Graph host's cloud gives, see
    /// [`crate::cloud::graph_scope_for`]). Set it only for a Graph that answers under
    /// another resource name.
    pub fn graph_scope(mut self, scope: impl Into<String>) -> Self {
        self.graph_scope = Some(scope.into());
        self
    }

    /// The Intune API's resource (default: the cloud's,
    /// `https://api.manage.microsoft.com/`), for the Intune token audience.
    pub fn intune_resource(mut self, resource: impl Into<String>) -> Self {
        self.intune_resource = Some(resource.into());
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

    /// The clock tokens' freshness and client assertions' times are read from (default:
    /// the system's; a test or an embedder may run at another date).
    pub fn clock(mut self, clock: ise_intune_http::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

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
        let endpoints = self.cloud.endpoints();
        let login = parse_base(
            "login authority",
            self.login_authority
                .as_deref()
                .unwrap_or(endpoints.login_authority),
        )?;
        let graph = parse_base(
            "Graph base URL",
            &self.graph_base.unwrap_or_else(|| self.cloud.graph_base()),
        )?;
        let graph_scope = self
            .graph_scope
            .unwrap_or_else(|| crate::cloud::graph_scope_for(&graph, self.cloud));
        let explicit: &[&str] = if self.intune_resource.is_some() {
            &["intune_resource"]
        } else {
            &[]
        };
        for warning in self.cloud.warnings(explicit) {
            tracing::warn!("{warning}");
        }
        let intune_resource = self
            .intune_resource
            .unwrap_or_else(|| endpoints.intune_resource.to_owned());
        let tls = rustls_config(&self.tls)?;
        let core = HttpCore::new(tls, self.settings)
            .map_err(Error::HttpClient)?
            .with_request_log(log_request)
            .with_in_flight_limit(self.in_flight);
        Ok(GraphClient {
            inner: Arc::new(Inner {
                core,
                login,
                graph,
                graph_scope: TokenAudience::Scope(graph_scope),
                cloud: self.cloud,
                intune_resource,
                intune_resource_explicit: !explicit.is_empty(),
                tenant_id,
                credentials,
                cache: TokenCache::default(),
                refresh_margin: self.refresh_margin,
                clock: self.clock,
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

ise_intune_http::request_log!(
    /// Each request's attempts at debug level under this crate's target
    /// (`RUST_LOG=graph_client=debug`).
    fn log_request
);
