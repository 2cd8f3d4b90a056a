//! The root certificates ISE must trust to reach Entra ID, Microsoft Graph and Intune.
//!
//! ISE calls `login.microsoftonline.com`, `graph.microsoft.com` and the Intune
//! compliance service over TLS and checks each chain against its own trusted store. The
//! set shipped here ([`TrustAnchorSet::builtin`]) holds the public roots those services
//! chain to, copied unchanged from Debian's `ca-certificates`. It is versioned
//! ([`BUILTIN_ANCHOR_SET_VERSION`]) so that a change of Microsoft's CAs shows up as a new
//! version, and callers can add their own anchors (a proxy's CA, a sovereign cloud's
//! root) with [`TrustAnchorSet::add`].
//!
//! ```
//! use intune_integration::anchors::TrustAnchorSet;
//!
//! let set = TrustAnchorSet::builtin();
//! assert_eq!(set.anchors().len(), 5);
//! let g2 = set.get("DigiCert Global Root G2").expect("shipped");
//! assert_eq!(
//!     g2.certificate().sha256().to_hex(),
//!     "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F"
//! );
//! ```

use crate::CertificateError;
use crate::certs::{Certificate, Sha256Fingerprint};

/// Version of the built-in anchor set: the month it was last reviewed against
/// Microsoft's published CA changes.
pub const BUILTIN_ANCHOR_SET_VERSION: &str = "2026.11";

/// Where an anchor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorOrigin {
    /// Shipped with the library.
    Builtin,
    /// Added by the caller.
    Custom,
}

/// One root (or intermediate) certificate ISE should trust, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    name: String,
    purpose: String,
    origin: AnchorOrigin,
    certificate: Certificate,
    leaving: bool,
}

impl TrustAnchor {
    /// A caller-supplied anchor. It must be a CA certificate.
    pub fn new(
        name: impl Into<String>,
        purpose: impl Into<String>,
        certificate: Certificate,
    ) -> Result<Self, CertificateError> {
        let name = name.into();
        if !certificate.is_ca() {
            return Err(CertificateError::AnchorNotCa {
                name,
                subject: certificate.subject(),
            });
        }
        Ok(Self {
            name,
            purpose: purpose.into(),
            origin: AnchorOrigin::Custom,
            certificate,
            leaving: false,
        })
    }

    /// Whether Microsoft is moving its services off this root: still shipped while some
    /// endpoints chain to it, but an ISE that trusts only such roots breaks as they
    /// finish (doctor's `trust.only_leaving_roots`).
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// Human name, also used as the friendly name in ISE's trusted store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why ISE needs this anchor.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// Built-in or added by the caller.
    pub fn origin(&self) -> AnchorOrigin {
        self.origin
    }

    /// The certificate itself.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

struct BuiltinAnchor {
    name: &'static str,
    purpose: &'static str,
    pem: &'static str,
    leaving: bool,
}

const BUILTIN: &[BuiltinAnchor] = &[
    BuiltinAnchor {
        name: "DigiCert Global Root G2",
        purpose: "Entra ID moved login.microsoftonline.com to DigiCert Global Root G2 in 2025 \
                  and its other hosts in January 2026; Microsoft Graph and Intune also chain to it. \
                  Without it ISE's token request fails the TLS check.",
        pem: include_str!("../../anchors/DigiCert_Global_Root_G2.pem"),
        leaving: false,
    },
    BuiltinAnchor {
        name: "DigiCert Global Root CA",
        purpose: "The G1 root that Microsoft's older server certificates chain to; still \
                  presented by some Intune and Graph endpoints during the move to G2. \
                  Microsoft is leaving it (Entra ID moved to G2 in 2025 and January 2026), \
                  and browsers' root programs stop trusting roots of its age for TLS in \
                  2026: trusted alone, it will not last.",
        pem: include_str!("../../anchors/DigiCert_Global_Root_CA.pem"),
        leaving: true,
    },
    BuiltinAnchor {
        name: "DigiCert Global Root G3",
        purpose: "The ECC root of DigiCert's G3 hierarchy, used by Microsoft services that \
                  present ECDSA certificates.",
        pem: include_str!("../../anchors/DigiCert_Global_Root_G3.pem"),
        leaving: false,
    },
    BuiltinAnchor {
        name: "Microsoft RSA Root Certificate Authority 2017",
        purpose: "Microsoft's own RSA root, to which Azure and Microsoft 365 services are \
                  moving their TLS certificates.",
        pem: include_str!("../../anchors/Microsoft_RSA_Root_Certificate_Authority_2017.pem"),
        leaving: false,
    },
    BuiltinAnchor {
        name: "Microsoft ECC Root Certificate Authority 2017",
        purpose: "Microsoft's own ECC root, the ECDSA counterpart of the RSA 2017 root.",
        pem: include_str!("../../anchors/Microsoft_ECC_Root_Certificate_Authority_2017.pem"),
        leaving: false,
    },
];

/// A versioned set of trust anchors, unique by SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchorSet {
    version: String,
    anchors: Vec<TrustAnchor>,
}

impl TrustAnchorSet {
    /// The anchors shipped with the library (see the module documentation).
    pub fn builtin() -> Self {
        let anchors = BUILTIN
            .iter()
            .map(|a| TrustAnchor {
                name: a.name.to_owned(),
                purpose: a.purpose.to_owned(),
                origin: AnchorOrigin::Builtin,
                // Invariant: the embedded PEM files are fixed at compile time and the
                // unit test `builtin_anchors_parse_and_match_openssl` parses every one.
                #[allow(clippy::expect_used)]
                certificate: Certificate::from_pem(a.pem).expect("embedded anchor parses"),
                leaving: a.leaving,
            })
            .collect();
        Self {
            version: BUILTIN_ANCHOR_SET_VERSION.to_owned(),
            anchors,
        }
    }

    /// An empty set, for callers who manage every anchor themselves.
    pub fn empty(version: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            anchors: Vec::new(),
        }
    }

    /// The set's version label.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The anchors, built-in ones first, in a stable order.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Adds every certificate of a PEM file (one or a bundle) as an anchor named by its
    /// common name (else its subject), described as added from the file; certificates
    /// already in the set are left as they are. The one way extra anchors are read:
    /// the configuration's `[anchors] extra_files` and the command's `--anchor`.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<(), crate::Error> {
        let text = crate::files::read_text(path)?;
        for cert in Certificate::parse_pem_bundle(&text)? {
            let name = cert.common_name().unwrap_or_else(|| cert.subject());
            self.add(TrustAnchor::new(
                name,
                format!("added from {}", path.display()),
                cert,
            )?);
        }
        Ok(())
    }

    /// Adds an anchor. Returns `false` (and changes nothing) if an anchor with the same
    /// SHA-256 fingerprint is already in the set.
    pub fn add(&mut self, anchor: TrustAnchor) -> bool {
        if self.contains(&anchor.certificate.sha256()) {
            return false;
        }
        self.anchors.push(anchor);
        true
    }

    /// Removes the anchor with this fingerprint, returning it.
    pub fn remove(&mut self, sha256: &Sha256Fingerprint) -> Option<TrustAnchor> {
        let pos = self
            .anchors
            .iter()
            .position(|a| a.certificate.sha256() == *sha256)?;
        Some(self.anchors.remove(pos))
    }

    /// Whether an anchor with this fingerprint is in the set.
    pub fn contains(&self, sha256: &Sha256Fingerprint) -> bool {
        self.anchors
            .iter()
            .any(|a| a.certificate.sha256() == *sha256)
    }

    /// The anchor with this name, if any.
    pub fn get(&self, name: &str) -> Option<&TrustAnchor> {
        self.anchors.iter().find(|a| a.name == name)
    }

    /// The anchors whose fingerprints are not among `present` (for example the
    /// `sha256Fingerprint`s of ISE's trusted store), in set order.
    pub fn missing_from<'a>(
        &self,
        present: impl IntoIterator<Item = &'a Sha256Fingerprint>,
    ) -> Vec<&TrustAnchor> {
        let present: Vec<&Sha256Fingerprint> = present.into_iter().collect();
        self.anchors
            .iter()
            .filter(|a| !present.contains(&&a.certificate.sha256()))
            .collect()
    }
}
