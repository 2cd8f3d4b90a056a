//! TLS policies for reaching ISE. Verification is always on: ISE's self-signed admin
//! certificate is handled by pinning its SHA-256 fingerprint or by trusting the CA that
//! issued it, never by accepting any certificate.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};

/// How the client decides to trust ISE's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// The operating system's trust store (ISE with a certificate from a public or
    /// enterprise CA that the system trusts).
    System,
    /// Only the CA certificates in this PEM (an enterprise CA that issued ISE's admin
    /// certificate). Host names are checked.
    CustomCa(String),
    /// Exactly the certificate with this SHA-256 fingerprint (hex, `:` allowed): the usual
    /// choice for ISE's self-signed admin certificate. Host names are not checked, since
    /// the pin identifies the certificate itself.
    PinnedSha256(String),
}

/// Uppercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Reads a SHA-256 fingerprint in hex, with or without `:` separators.
/// A SHA-256 certificate fingerprint to pin, read once by the one rule both the
/// configuration and the client use: 64 hex digits, separated or not by `:`, spaces or
/// `-`, after an optional `…=` label (as `openssl x509 -fingerprint` prints it).
///
/// ```
/// use ise_client::Sha256Pin;
/// let pin: Sha256Pin = "SHA256 Fingerprint=47:18:FF:21:B9:20:65:68:A1:A9:BE:51:54:80:E1:BF:2E:E1:4B:27:0E:EC:8C:E3:4C:EA:69:2E:0F:34:C9:0D".parse()?;
/// assert_eq!(pin.to_string(), "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D");
/// assert!("4718FF".parse::<Sha256Pin>().is_err());
/// # Ok::<(), ise_client::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Pin([u8; 32]);

impl Sha256Pin {
    /// The fingerprint's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::str::FromStr for Sha256Pin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_sha256(s).map(Self)
    }
}

impl std::fmt::Display for Sha256Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

pub(crate) fn parse_sha256(input: &str) -> Result<[u8; 32]> {
    let value = input.rsplit('=').next().unwrap_or(input);
    let digits: String = value
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let bad = || Error::InvalidConfig {
        what: format!("`{input}` is not a SHA-256 fingerprint (64 hex digits)"),
    };
    if digits.len() != 64 || !digits.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&digits[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// What the verifier last refused, so that a failed connection can say which
/// certificate ISE presented.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    last: Mutex<Option<Rejection>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Rejection {
    Pin { expected: String, presented: String },
    Untrusted { presented: String, reason: String },
}

impl Rejections {
    fn record(&self, r: Rejection) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }

    pub(crate) fn pending(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub(crate) fn take(&self) -> Option<Rejection> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Rejection {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Self::Pin {
                expected,
                presented,
            } => Error::PinMismatch {
                expected,
                presented,
            },
            Self::Untrusted { presented, reason } => {
                Error::UntrustedCertificate { presented, reason }
            }
        }
    }
}

/// How the verifier decides.
#[derive(Debug)]
enum Trust {
    /// Exactly the certificate with this SHA-256.
    Pin([u8; 32]),
    /// The standard WebPKI path validation against roots.
    Roots(Arc<WebPkiServerVerifier>),
}

/// ISE's certificate verifier: pinned or WebPKI, recording what it refuses so a
/// failed connection can name the certificate ISE presented.
#[derive(Debug)]
struct IseVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
    rejections: Arc<Rejections>,
}

impl ServerCertVerifier for IseVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = sha256(end_entity.as_ref());
        match &self.trust {
            Trust::Pin(pin) if presented == *pin => Ok(ServerCertVerified::assertion()),
            Trust::Pin(pin) => {
                self.rejections.record(Rejection::Pin {
                    expected: hex(pin),
                    presented: hex(&presented),
                });
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
            Trust::Roots(inner) => inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .inspect_err(|e| {
                    self.rejections.record(Rejection::Untrusted {
                        presented: hex(&presented),
                        reason: e.to_string(),
                    });
                }),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the rustls configuration for a policy.
pub(crate) fn client_config(
    policy: &TlsPolicy,
    rejections: Arc<Rejections>,
) -> Result<rustls::ClientConfig> {
    let provider = ise_intune_http::crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidConfig {
            what: format!("TLS: {e}"),
        })?;
    let trust = match policy {
        TlsPolicy::PinnedSha256(pin) => Trust::Pin(parse_sha256(pin)?),
        TlsPolicy::System | TlsPolicy::CustomCa(_) => {
            let mut roots = rustls::RootCertStore::empty();
            if let TlsPolicy::CustomCa(pem) = policy {
                let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::InvalidConfig {
                        what: format!("custom CA PEM unreadable: {e}"),
                    })?;
                if certs.is_empty() {
                    return Err(Error::InvalidConfig {
                        what: "the custom CA PEM holds no certificate".into(),
                    });
                }
                for c in certs {
                    roots.add(c).map_err(|e| Error::InvalidConfig {
                        what: format!("custom CA refused: {e}"),
                    })?;
                }
            } else {
                roots = ise_intune_http::system_roots();
                if roots.is_empty() {
                    return Err(Error::InvalidConfig {
                        what: "no system root certificates found: install ca-certificates, or \
                               use TlsPolicy::CustomCa / TlsPolicy::PinnedSha256"
                            .into(),
                    });
                }
            }
            Trust::Roots(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| Error::InvalidConfig {
                        what: format!("TLS verifier: {e}"),
                    })?,
            )
        }
    };
    let verifier = Arc::new(IseVerifier {
        trust,
        provider,
        rejections,
    });
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}
