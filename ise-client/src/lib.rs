//! Typed async client for Cisco ISE: deployment nodes, version and patch, system and
//! trusted certificates (list, get, export as ZIP, import, delete), ERS deployment
//! info (`mdmInfo`), and raw ERS access.
//!
//! * [`IseClient`] — one cheap-to-clone client: admin node URL, optional separate ERS
//!   base, Basic auth with a secret password, timeouts, retries by
//!   [`retry::RetryPolicy`], ERS CSRF when enabled.
//! * [`TlsPolicy`] — system roots, a custom CA, or a pinned SHA-256 fingerprint of ISE's
//!   own certificate. Verification is never turned off; a refused certificate is
//!   reported with the fingerprint it presented ([`Error::PinMismatch`],
//!   [`Error::UntrustedCertificate`]).
//! * [`version::IseVersion`] — the release and patch, with the Intune capability gates.
//! * One [`Error`] type parsing every ISE error shape ([`IseErrorBody`]).
//!
//! Every request goes through the workspace's one HTTP core: bounded retries (reads
//! and certificate exports on 429/5xx and lost connections; imports re-checked before
//! they are sent again), bodies read under caps ([`BodyLimits`]), and connect,
//! per-attempt and overall timeouts.
//!
//! ```no_run
//! # async fn run() -> ise_client::Result<()> {
//! use ise_client::{IseClient, TlsPolicy};
//!
//! let ise = IseClient::builder()
//!     .base_url("https://ise-pan.example.com")
//!     .credentials("api-admin", std::env::var("ISE_PASSWORD").unwrap_or_default().into())
//!     .tls(TlsPolicy::PinnedSha256("4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D".into()))
//!     .build()?;
//! for node in ise.nodes().await? {
//!     let admin = ise.system_certificates(node.hostname.clone()).list(&[]).await?;
//!     println!("{}: {} system certificate(s)", node.hostname, admin.len());
//! }
//! # Ok(()) }
//! ```
//!
//! Modules:
//!
//! * `client` — [`IseClient`] and its builder: base URLs, credentials, timeouts, CSRF;
//! * [`resources`] — one module per resource: deployment (nodes, version, `mdmInfo`),
//!   system certificates, trusted certificates, ERS, listings;
//! * `export` — unpacking a certificate export (ZIP → PEM, key), bounded;
//! * `model` — the resources' types ([`Node`], [`SystemCertificate`],
//!   [`TrustedCertificate`], [`MdmInfo`]);
//! * `tls` — [`TlsPolicy`]: system roots, custom CA, pinned fingerprint;
//! * `error` — [`Error`] and ISE's error shapes ([`IseErrorBody`]);
//! * [`retry`] — what is retried, and how;
//! * [`version`] — [`version::IseVersion`] and its Intune gates.

mod client;
mod error;
mod export;
mod model;
pub mod resources;
pub mod retry;
mod tls;
pub mod version;

pub use client::{IseClient, IseClientBuilder};
pub use error::{Error, ErrorShape, IseErrorBody, Result};
pub use export::{
    ExportedCertificate, ExportedKey, KeyFormat, MAX_EXPORT_BYTES, MAX_EXPORT_ENTRIES,
    unpack_export,
};
pub use ise_intune_http::{
    BodyKind, BodyLimits, DecodeError, RequestCounts, TransportError, TransportErrorKind,
};
pub use model::{
    DEFAULT_SELF_SIGNED_NAME, IseDate, MdmInfo, Node, SystemCertificate, TrustedCertificate,
};
pub use reqwest::Method;
pub use resources::{
    AuthorizationProfile, AuthorizationRule, BulkBody, Condition, CustomAttributeDefinition,
    Endpoint, EndpointAttributes, Endpoints, Ers, ExportKind, Filter, ImportOutcome,
    NetworkAccessPolicy, PolicySet, RuleCommon, RuleState, SystemCertificates,
    TrustedCertificateImport, TrustedCertificateUpdate, TrustedCertificates,
};
pub use secrecy::SecretString;
pub use tls::{Sha256Pin, TlsPolicy};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
