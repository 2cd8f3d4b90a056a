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

mod client;
mod error;
mod export;
mod model;
mod resources;
pub mod retry;
mod tls;
pub mod version;

pub use client::{IseClient, IseClientBuilder};
pub use error::{Error, ErrorShape, IseErrorBody, Result};
pub use export::{ExportedCertificate, ExportedKey, KeyFormat, MAX_EXPORT_BYTES, unpack_export};
pub use ise_intune_http::{
    BodyKind, BodyLimits, DecodeError, RequestCounts, TransportError, TransportErrorKind,
};
pub use model::{
    DEFAULT_SELF_SIGNED_NAME, IseDate, MdmInfo, Node, SystemCertificate, TrustedCertificate,
};
pub use reqwest::Method;
pub use resources::{
    Ers, ExportKind, Filter, ImportOutcome, SystemCertificates, TrustedCertificateImport,
    TrustedCertificates,
};
pub use secrecy::SecretString;
pub use tls::TlsPolicy;
