//! Typed async client for the Entra ID token endpoint and Microsoft Graph v1.0 — the
//! Microsoft half of the Intune–ISE integration.
//!
//! * [`GraphClient`] — one cheap-to-clone client: base URLs, TLS roots, credentials
//!   (client secret, certificate-signed client assertion, static token, or your own
//!   [`TokenProvider`]), a per-audience token cache, and retries by [`retry::RetryPolicy`].
//! * Resources grouped by handler: [`GraphClient::applications`],
//!   [`GraphClient::application`] (key credentials, required resource access),
//!   [`GraphClient::service_principals`], [`GraphClient::service_principal`] (app role
//!   assignments = admin consent), [`GraphClient::intune_endpoints`],
//!   [`GraphClient::organization`].
//! * One [`Error`] type that keeps Graph's and Entra's error bodies and request ids and
//!   never carries a secret.
//!
//! Collections are read through a [`Pager`] that follows `@odata.nextLink` (only to the
//! configured Graph host, so the token never leaves it).
//!
//! ```no_run
//! # async fn run() -> graph_client::Result<()> {
//! use graph_client::{Credentials, GraphClient};
//!
//! let graph = GraphClient::builder()
//!     .tenant_id("contoso.onmicrosoft.com")
//!     .credentials(Credentials::client_secret("automation-app-id", std::env::var("SECRET").unwrap_or_default()))
//!     .build()?;
//! for app in graph.applications().find_by_display_name("Cisco ISE Intune integration").await? {
//!     for key in graph.application(app.id.clone()).key_credentials().await? {
//!         println!("{}: thumbprint {:?}", app.app_id, key.thumbprint_hex());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Modules:
//!
//! * `builder` — [`GraphClientBuilder`]: tenant, authorities, TLS roots, credentials;
//! * `client` — [`GraphClient`]: the send path, the token cache, request counting;
//! * `auth` — [`Credentials`]: client secret, certificate-signed assertion, federated
//!   token file, static token or your own [`TokenProvider`]; [`AccessToken`];
//! * `token` — the token endpoint's requests and answers;
//! * [`resources`] — one module per resource: applications (keys, permissions, the pure
//!   merges [`merge_keys`] and [`merge_access`]), service principals (app role
//!   assignments), directory reads, paging;
//! * `model` — Graph's types ([`Application`], [`KeyCredential`], …);
//! * `error` — [`Error`] with Graph's and Entra's error bodies;
//! * [`retry`] — what is retried, and how;
//! * [`well_known`] — the documented application and role ids.

mod auth;
mod builder;
mod client;
pub mod cloud;
mod error;
mod model;
pub mod resources;
pub mod retry;
mod token;
pub mod well_known;

pub use auth::{
    AccessToken, AssertionAlgorithm, ClientCertificate, Credentials, MAX_FEDERATED_TOKEN_BYTES,
    TokenAudience, TokenProvider,
};
pub use builder::{
    DEFAULT_GRAPH_BASE, DEFAULT_GRAPH_SCOPE, DEFAULT_LOGIN_AUTHORITY, GraphClientBuilder, TlsRoots,
};
pub use client::{GraphClient, LearnedAnswer, learned_url};
pub use cloud::Cloud;
pub use error::{Error, GraphErrorBody, GraphInnerError, Result, TokenErrorBody};
pub use ise_intune_http::{
    BodyKind, BodyLimits, DecodeError, RequestCounts, TransportError, TransportErrorKind,
};
pub use model::{
    AppManagementPolicy, AppRestrictions, AppRole, AppRoleAssignment, Application,
    ApplicationUpdate, CertificateKey, Change, CustomSubjectAlternativeName, DeviceConfiguration,
    DeviceConfigurationState, DeviceManagementSettings, ExtendedKeyUsage, KeyCredential,
    KeyCredentialRestriction, KeySelector, ManagedDevice, NewApplication, Organization,
    RequiredResourceAccess, ResourceAccess, ServiceEndpoint, ServicePrincipal, SignIn,
    SignInStatus, TenantAppManagementPolicy, VerifiedDomain,
};
pub use resources::{
    ApplicationHandle, Applications, ListOptions, MANAGED_DEVICE_PROPERTIES, MANAGED_DEVICES_PAGE,
    MAX_ITEMS, MAX_PAGES, ManagedDeviceQuery, Pager, ServicePrincipalHandle, ServicePrincipals,
    merge_access, merge_keys, odata_quote,
};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
