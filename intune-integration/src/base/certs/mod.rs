//! Certificate toolkit: parse PEM bundles and DER, compute the fingerprints and key
//! identifiers that ISE, Entra ID and Graph use, and order certificates into chains.
//!
//! Everything here is pure: no I/O, no clock unless the caller passes a time.
//!
//! ```
//! use intune_integration::certs::Certificate;
//!
//! let pem = intune_integration::anchors::TrustAnchorSet::builtin()
//!     .anchors()[0]
//!     .certificate()
//!     .to_pem();
//! let certs = Certificate::parse_pem_bundle(&pem)?;
//! assert_eq!(certs.len(), 1);
//! assert_eq!(certs[0].sha1().to_string().len(), 40);
//! # Ok::<(), intune_integration::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use der::{Decode as _, Encode as _};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};

use crate::CertificateError;

mod chains;
mod device;

pub use chains::order_chains;
pub use device::{DeviceIdentity, SID_URI_PREFIX};
use device::{is_guid, strip_prefix_ignore_case};

/// A digest as a fixed-size array. `N` must be the algorithm's output length (20 for
/// SHA-1, 32 for SHA-256): the two call sites pair them, so the copy cannot fail.
fn digest_array<const N: usize>(alg: &'static ring::digest::Algorithm, data: &[u8]) -> [u8; N] {
    let d = ring::digest::digest(alg, data);
    let mut out = [0u8; N];
    out.copy_from_slice(d.as_ref());
    out
}

/// The largest input the parsers accept, in bytes (16 MiB).
///
/// A bundle of every public root in a system store is well under 1 MiB; anything near
/// this size is not a certificate file, and refusing it early keeps memory bounded.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Writes bytes as uppercase hex without separators.
fn upper_hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// Parses hex written with or without `:`/space separators, in either case, optionally
/// prefixed by a label such as `SHA1 Fingerprint=` (as `openssl x509 -fingerprint` prints).
fn parse_hex<const N: usize>(input: &str, kind: &'static str) -> Result<[u8; N], CertificateError> {
    let value = input.rsplit('=').next().unwrap_or(input);
    let digits: Vec<u8> = value
        .bytes()
        .filter(|b| !matches!(b, b':' | b' ' | b'-' | b'\t'))
        .collect();
    let invalid = || CertificateError::InvalidFingerprint {
        kind,
        input: input.chars().take(120).collect(),
    };
    if digits.len() != N * 2 {
        return Err(invalid());
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(invalid)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(invalid)?;
        // Both digits are < 16, so the value fits in a byte.
        out[i] = u8::try_from(hi * 16 + lo).map_err(|_| invalid())?;
    }
    Ok(out)
}

macro_rules! fingerprint_type {
    ($(#[$meta:meta])* $name:ident, $len:expr, $kind:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Uppercase hex without separators (the form ISE and the Azure portal show).
            pub fn to_hex(&self) -> String {
                upper_hex(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = CertificateError;

            /// Accepts hex in either case, with or without `:` or space separators, and
            /// an optional `...Fingerprint=` prefix as printed by OpenSSL.
            fn from_str(s: &str) -> Result<Self, CertificateError> {
                parse_hex::<$len>(s.trim(), $kind).map(Self)
            }
        }
    };
}

fingerprint_type!(
    /// SHA-1 digest of a certificate's DER encoding: the Azure portal's "Thumbprint".
    Sha1Fingerprint,
    20,
    "SHA-1"
);
fingerprint_type!(
    /// SHA-256 digest of a certificate's DER encoding: ISE's `sha256Fingerprint`.
    Sha256Fingerprint,
    32,
    "SHA-256"
);

/// An X.509 certificate with its DER encoding and precomputed fingerprints.
///
/// Cheap to clone relative to parsing; equality is by DER encoding.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    sha1: Sha1Fingerprint,
    sha256: Sha256Fingerprint,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("issuer", &self.issuer())
            .field("serial", &self.serial())
            .field("sha1", &self.sha1)
            .finish()
    }
}

/// Reads PEM text into its blocks with the `pem` crate, tolerating CRLF line ends,
/// text between blocks and RFC 1421 headers inside a block. Each block is read on its
/// own (from its BEGIN line to the next one) so that an error names the block.
fn pem_blocks(text: &str) -> Result<Vec<pem::Pem>, CertificateError> {
    const BEGIN: &str = "-----BEGIN ";
    let starts: Vec<usize> = text.match_indices(BEGIN).map(|(i, _)| i).collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let block = i + 1;
            let end = starts.get(block).copied().unwrap_or(text.len());
            let chunk = &text[start..end];
            let label = chunk[BEGIN.len()..]
                .split("-----")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            if let Some(pem) = plain_pem_block(chunk, &label) {
                return Ok(pem);
            }
            pem::parse(chunk).map_err(|e| match e {
                pem::PemError::MismatchedTags(begin, end) => {
                    CertificateError::PemLabelMismatch { block, begin, end }
                }
                pem::PemError::InvalidData(source) => {
                    CertificateError::InvalidBase64 { block, source }
                }
                pem::PemError::MissingData => CertificateError::EmptyPemBlock { block },
                pem::PemError::MalformedFraming | pem::PemError::MissingEndTag => {
                    CertificateError::PemUnterminated { block, label }
                }
                other => CertificateError::MalformedPem {
                    block,
                    source: other,
                },
            })
        })
        .collect()
}

/// The common case read quickly: `-----BEGIN L-----`, base64 lines, `-----END L-----`
/// with the same label, no headers. Anything else (`None`) goes to the `pem` crate,
/// whose errors name what is wrong; both give the same block for well-formed input.
fn plain_pem_block(chunk: &str, label: &str) -> Option<pem::Pem> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = chunk.strip_prefix(begin.as_str())?;
    let (body, _) = body.split_once(end.as_str())?;
    if body.contains(':') || body.contains('-') {
        return None;
    }
    let mut compact = Vec::with_capacity(body.len());
    for line in body.split('\n') {
        compact.extend_from_slice(line.trim_ascii().as_bytes());
    }
    let der = STANDARD.decode(compact).ok()?;
    if der.is_empty() {
        return None;
    }
    Some(pem::Pem::new(label, der))
}

/// The attribute types of nearly every certificate name, with the short names
/// `x509-cert`'s `Display` gives them (read off it once, so the text is the same; that
/// `Display` searches `const-oid`'s whole database for every attribute it writes).
fn common_attribute_names() -> &'static [(der::asn1::ObjectIdentifier, Option<String>)] {
    use der::asn1::ObjectIdentifier as Oid;
    // CN, C, O, OU, L, ST, street, DC, UID, serialNumber, SN, GN, title, postalCode,
    // businessCategory, emailAddress (PKCS #9), organizationIdentifier.
    const COMMON: [Oid; 17] = [
        Oid::new_unwrap("2.5.4.3"),
        Oid::new_unwrap("2.5.4.6"),
        Oid::new_unwrap("2.5.4.10"),
        Oid::new_unwrap("2.5.4.11"),
        Oid::new_unwrap("2.5.4.7"),
        Oid::new_unwrap("2.5.4.8"),
        Oid::new_unwrap("2.5.4.9"),
        Oid::new_unwrap("0.9.2342.19200300.100.1.25"),
        Oid::new_unwrap("0.9.2342.19200300.100.1.1"),
        Oid::new_unwrap("2.5.4.5"),
        Oid::new_unwrap("2.5.4.4"),
        Oid::new_unwrap("2.5.4.42"),
        Oid::new_unwrap("2.5.4.12"),
        Oid::new_unwrap("2.5.4.17"),
        Oid::new_unwrap("2.5.4.15"),
        Oid::new_unwrap("1.2.840.113549.1.9.1"),
        Oid::new_unwrap("2.5.4.97"),
    ];
    static NAMES: std::sync::OnceLock<Vec<(Oid, Option<String>)>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        COMMON
            .into_iter()
            .map(|oid| (oid, display_name_of(oid)))
            .collect()
    })
}

/// The name `x509-cert`'s `Display` gives attributes of this type: read off what it
/// writes for a probe value (`KEY=x`); `None` when it writes the OID form.
fn display_name_of(oid: der::asn1::ObjectIdentifier) -> Option<String> {
    let value = der::asn1::Utf8StringRef::new("x").ok()?;
    let probe = x509_cert::attr::AttributeTypeAndValue {
        oid,
        value: der::asn1::Any::from(value),
    };
    let text = probe.to_string();
    let key = text.strip_suffix("=x")?;
    (!key.is_empty() && !key.contains('.')).then(|| key.to_owned())
}

/// A distinguished name in RFC 4514 form, exactly as `x509-cert`'s `Display` writes
/// it (last RDN first, `,` between RDNs, `+` inside one, its escapes), with the
/// attribute names of [`common_attribute_names`] looked up in that short table.
fn rfc4514(name: &x509_cert::name::Name) -> String {
    use der::Tagged as _;
    use std::fmt::Write as _;
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let known = common_attribute_names()
                .iter()
                .find(|(oid, _)| *oid == atv.oid)
                .and_then(|(_, n)| n.as_deref());
            // The string types `x509-cert` writes as text, checked as it checks them.
            let v = &atv.value;
            let text = match v.tag() {
                der::Tag::PrintableString => der::asn1::PrintableStringRef::try_from(v)
                    .ok()
                    .map(|s| s.as_str()),
                der::Tag::Utf8String => der::asn1::Utf8StringRef::try_from(v)
                    .ok()
                    .map(|s| s.as_str()),
                der::Tag::Ia5String => der::asn1::Ia5StringRef::try_from(v)
                    .ok()
                    .map(|s| s.as_str()),
                der::Tag::TeletexString => der::asn1::TeletexStringRef::try_from(v)
                    .ok()
                    .map(|s| s.as_str()),
                _ => None,
            };
            match (known, text) {
                (Some(key), Some(value)) => {
                    out.push_str(key);
                    out.push('=');
                    for (k, c) in value.char_indices() {
                        let last = k + c.len_utf8() == value.len();
                        match c {
                            '#' if k == 0 => out.push_str("\\#"),
                            ' ' if k == 0 || last => out.push_str("\\ "),
                            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                                out.push('\\');
                                out.push(c);
                            }
                            '\x00'..='\x1f' | '\x7f' => {
                                let _ = write!(out, "\\{:02x}", c as u8);
                            }
                            _ => out.push(c),
                        }
                    }
                }
                // Anything else as `x509-cert` writes it.
                _ => {
                    let _ = write!(out, "{atv}");
                }
            }
        }
    }
    out
}

fn is_private_key_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

fn check_size(len: usize) -> Result<(), CertificateError> {
    if len == 0 {
        return Err(CertificateError::EmptyInput);
    }
    if len > MAX_INPUT_BYTES {
        return Err(CertificateError::InputTooLarge {
            size: len,
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(())
}

impl Certificate {
    /// Parses one DER-encoded certificate. Trailing bytes are refused.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        check_size(der.len())?;
        Self::from_der_in_block(der.to_vec(), None)
    }

    fn from_der_in_block(der: Vec<u8>, block: Option<usize>) -> Result<Self, CertificateError> {
        let parsed = x509_cert::Certificate::from_der(&der)
            .map_err(|source| CertificateError::InvalidDer { block, source })?;
        let sha1 = Sha1Fingerprint(digest_array(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
        let sha256 = Sha256Fingerprint(digest_array(&ring::digest::SHA256, &der));
        let cert = Self {
            der,
            parsed,
            sha1,
            sha256,
        };
        // Validate the validity period once so the accessors cannot fail later.
        cert.checked_time(true)?;
        cert.checked_time(false)?;
        Ok(cert)
    }

    /// Parses every certificate in PEM text (one or several `CERTIFICATE` blocks, with
    /// any text between them, CRLF or LF line ends).
    ///
    /// A block with another label is an error: a private key gives
    /// [`CertificateError::PrivateKeyNotCertificate`], anything else [`CertificateError::UnexpectedPemLabel`].
    /// Text with no PEM block at all gives [`CertificateError::NoCertificate`].
    pub fn parse_pem_bundle(text: &str) -> Result<Vec<Self>, CertificateError> {
        check_size(text.len())?;
        let blocks = pem_blocks(text)?;
        if blocks.is_empty() {
            return Err(CertificateError::NoCertificate);
        }
        blocks
            .into_iter()
            .enumerate()
            .map(|(i, block)| {
                let index = i + 1;
                match block.tag() {
                    "CERTIFICATE" | "X509 CERTIFICATE" => {}
                    label if is_private_key_label(label) => {
                        return Err(CertificateError::PrivateKeyNotCertificate {
                            block: index,
                            label: label.to_owned(),
                        });
                    }
                    label => {
                        return Err(CertificateError::UnexpectedPemLabel {
                            block: index,
                            label: label.to_owned(),
                        });
                    }
                }
                let der = block.into_contents();
                if der.is_empty() {
                    return Err(CertificateError::EmptyPemBlock { block: index });
                }
                Self::from_der_in_block(der, Some(index))
            })
            .collect()
    }

    /// Parses a single PEM certificate; more than one block is an error.
    pub fn from_pem(text: &str) -> Result<Self, CertificateError> {
        let mut certs = Self::parse_pem_bundle(text)?;
        match certs.len() {
            1 => Ok(certs.remove(0)),
            found => Err(CertificateError::ExpectedOneCertificate { found }),
        }
    }

    /// Parses file contents that may be PEM (one or several certificates) or a single
    /// DER certificate, deciding by content rather than by file name.
    pub fn parse_any(bytes: &[u8]) -> Result<Vec<Self>, CertificateError> {
        check_size(bytes.len())?;
        let looks_like_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
        if looks_like_pem {
            let text = String::from_utf8_lossy(bytes);
            Self::parse_pem_bundle(&text)
        } else if bytes.first() == Some(&0x30) {
            Self::from_der_in_block(bytes.to_vec(), None).map(|c| vec![c])
        } else if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            Err(CertificateError::EmptyInput)
        } else {
            Err(CertificateError::NoCertificate)
        }
    }

    fn tbs(&self) -> &x509_cert::TbsCertificate {
        self.parsed.tbs_certificate()
    }

    /// The DER encoding, exactly as parsed.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM block (64-character lines, LF line ends).
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            // base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The subject distinguished name in RFC 4514 form (`CN=...,O=...,C=...`).
    pub fn subject(&self) -> String {
        rfc4514(self.tbs().subject())
    }

    /// The issuer distinguished name in RFC 4514 form.
    pub fn issuer(&self) -> String {
        rfc4514(self.tbs().issuer())
    }

    /// The subject's common name (the last CN attribute), if it has one that decodes.
    pub fn common_name(&self) -> Option<String> {
        self.tbs()
            .subject()
            .common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned())
    }

    /// The issuer's common name (the last CN attribute), if it has one that decodes.
    pub fn issuer_common_name(&self) -> Option<String> {
        self.tbs()
            .issuer()
            .common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned())
    }

    /// The serial number as uppercase hex (big-endian, leading zero bytes stripped).
    pub fn serial(&self) -> String {
        let bytes = self.tbs().serial_number().as_bytes();
        let trimmed = match bytes.iter().position(|b| *b != 0) {
            Some(first) => &bytes[first..],
            None => &bytes[bytes.len().saturating_sub(1)..],
        };
        upper_hex(trimmed)
    }

    fn checked_time(&self, start: bool) -> Result<OffsetDateTime, CertificateError> {
        let validity = self.tbs().validity();
        let t = if start {
            validity.not_before
        } else {
            validity.not_after
        };
        let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| CertificateError::InvalidValidity {
            subject: self.subject(),
        })
    }

    /// Start of the validity period (UTC).
    pub fn not_before(&self) -> OffsetDateTime {
        // Checked at construction, so the fallback is unreachable.
        self.checked_time(true)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// End of the validity period (UTC).
    pub fn not_after(&self) -> OffsetDateTime {
        // Checked at construction, so the fallback is unreachable.
        self.checked_time(false)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whether `at` lies inside the validity period (bounds included).
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before() <= at && at <= self.not_after()
    }

    /// Whether the certificate is a CA: basicConstraints says `cA`, or it is a version 1
    /// self-issued certificate (old roots carry no extensions; OpenSSL treats those as CAs).
    pub fn is_ca(&self) -> bool {
        match self.tbs().get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) => bc.ca,
            Ok(None) => self.tbs().extensions().is_none() && self.is_self_issued(),
            Err(_) => false,
        }
    }

    /// The DNS names of the subjectAltName extension (empty without one, or when it
    /// cannot be read).
    pub fn dns_names(&self) -> Vec<String> {
        self.san_entries(|n| match n {
            x509_cert::ext::pkix::name::GeneralName::DnsName(d) => Some(d.as_str().to_owned()),
            _ => None,
        })
    }

    /// The subjectAltName entries `pick` takes, in order (none without the extension).
    fn san_entries(
        &self,
        pick: impl Fn(&x509_cert::ext::pkix::name::GeneralName) -> Option<String>,
    ) -> Vec<String> {
        use x509_cert::ext::pkix::SubjectAltName;
        match self.tbs().get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0.iter().filter_map(pick).collect(),
            _ => Vec::new(),
        }
    }

    /// The URIs of its subjectAltName, in order (as text; a URI that is not valid
    /// IA5 text is skipped).
    pub fn san_uris(&self) -> Vec<String> {
        self.san_entries(|n| match n {
            x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(u) => {
                Some(u.as_str().to_owned())
            }
            _ => None,
        })
    }

    /// What a device certificate Intune issued says about the device, from its SAN
    /// URIs: the Intune device GUID (`ID:Microsoft Endpoint Manager:GUID:<guid>`, or the
    /// older `ID:Intune:GUID:<guid>`; Cisco's Intune integration guide, "Configure the
    /// subject alternative name"), by which ISE matches devices behind random MACs or
    /// docks, and the security identifier Intune adds for Windows strong mapping
    /// (`tag:microsoft.com,2022-09-14:sid:<SID>`; Cisco Field Notice FN74227).
    pub fn intune_device_identity(&self) -> DeviceIdentity {
        let mut identity = DeviceIdentity::default();
        for uri in self.san_uris() {
            let guid = ["ID:Microsoft Endpoint Manager:GUID:", "ID:Intune:GUID:"]
                .iter()
                .find_map(|prefix| strip_prefix_ignore_case(&uri, prefix));
            if let Some(g) = guid {
                let g = g.trim_matches(|c| c == '{' || c == '}');
                if identity.guid.is_none() && is_guid(g) {
                    identity.guid = Some(g.to_ascii_lowercase());
                }
            } else if let Some(sid) = strip_prefix_ignore_case(&uri, SID_URI_PREFIX) {
                identity.sid.get_or_insert_with(|| sid.to_owned());
            }
        }
        identity
    }

    /// Whether the certificate names `fqdn` (a DNS name of its subjectAltName, or its
    /// common name when it has none), a `*.` wildcard covering one label.
    pub fn names_host(&self, fqdn: &str) -> bool {
        let matches = |name: &str| {
            name.eq_ignore_ascii_case(fqdn)
                || name.strip_prefix("*.").is_some_and(|domain| {
                    fqdn.split_once('.')
                        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
                })
        };
        let dns = self.dns_names();
        if dns.is_empty() {
            self.common_name().is_some_and(|cn| matches(&cn))
        } else {
            dns.iter().any(|d| matches(d))
        }
    }

    /// Whether subject and issuer are the same name (and, where both are present, the
    /// authority key identifier equals the subject key identifier). The signature is not
    /// checked.
    pub fn is_self_issued(&self) -> bool {
        self.issued_by(self)
    }

    /// Whether `issuer` plausibly issued `self`: `self`'s issuer name equals `issuer`'s
    /// subject name, and the key identifiers agree where both are present. The signature
    /// is not checked.
    pub fn issued_by(&self, issuer: &Certificate) -> bool {
        if self.tbs().issuer() != issuer.tbs().subject() {
            return false;
        }
        match (
            self.authority_key_identifier(),
            issuer.subject_key_identifier(),
        ) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// The subjectKeyIdentifier extension's value, if present.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        match self.tbs().get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// The keyIdentifier of the authorityKeyIdentifier extension, if present.
    pub fn authority_key_identifier(&self) -> Option<Vec<u8>> {
        match self.tbs().get_extension::<AuthorityKeyIdentifier>() {
            Ok(Some((_, aki))) => aki.key_identifier.map(|k| k.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// SHA-1 fingerprint of the DER encoding (Azure portal "Thumbprint").
    pub fn sha1(&self) -> Sha1Fingerprint {
        self.sha1
    }

    /// SHA-256 fingerprint of the DER encoding (ISE's `sha256Fingerprint`).
    pub fn sha256(&self) -> Sha256Fingerprint {
        self.sha256
    }

    /// Graph's `customKeyIdentifier` for this certificate: base64 of the raw SHA-1.
    pub fn graph_key_identifier(&self) -> String {
        STANDARD.encode(self.sha1.as_bytes())
    }

    /// The JWT `x5t` header value: base64url (no padding) of the raw SHA-1.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha1.as_bytes())
    }

    /// The JWT `x5t#S256` header value: base64url (no padding) of the raw SHA-256.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256.as_bytes())
    }

    /// The public key's algorithm: `RSA`, `EC`, `Ed25519`, or the OID as text.
    pub fn key_algorithm(&self) -> String {
        let oid = self
            .tbs()
            .subject_public_key_info()
            .algorithm
            .oid
            .to_string();
        match oid.as_str() {
            "1.2.840.113549.1.1.1" => "RSA".into(),
            "1.2.840.10045.2.1" => "EC".into(),
            "1.3.101.112" => "Ed25519".into(),
            _ => oid,
        }
    }

    /// Whether the key is RSA — the only kind Entra accepts for client assertions.
    pub fn is_rsa(&self) -> bool {
        self.key_algorithm() == "RSA"
    }

    /// The DER encoding of the SubjectPublicKeyInfo.
    pub fn public_key_info_der(&self) -> Result<Vec<u8>, CertificateError> {
        self.tbs()
            .subject_public_key_info()
            .to_der()
            .map_err(|source| CertificateError::InvalidDer {
                block: None,
                source,
            })
    }
}
