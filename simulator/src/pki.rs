//! The simulator's certificates, made at start-up with rcgen: a fake public root, an
//! intermediate, and one leaf per Microsoft service (SANs `localhost`, `127.0.0.1`);
//! and ISE's self-signed admin certificate whose private key only the fake ISE holds.
//!
//! `ring` cannot generate RSA keys, and ISE's admin key must be RSA (Entra ID accepts
//! only RSA client assertions), so ISE's keys come from a small pool of RSA keys made
//! once with OpenSSL and shipped in `keys/`. Every certificate is still generated at
//! start.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::SimError;

/// RSA keys ISE's admin certificate can use (PKCS#8 PEM).
pub(crate) const ISE_KEYS: [&str; 3] = [
    include_str!("../keys/ise-admin-1.pem"),
    include_str!("../keys/ise-admin-2.pem"),
    include_str!("../keys/ise-admin-3.pem"),
];

/// A certificate with its key.
#[derive(Clone)]
pub(crate) struct Issued {
    pub(crate) cert_der: CertificateDer<'static>,
    pub(crate) cert_pem: String,
    pub(crate) key_pkcs8: Vec<u8>,
}

impl Issued {
    pub(crate) fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// One public hierarchy the Microsoft services can present: a root, an intermediate,
/// and a leaf per service.
#[derive(Clone)]
pub(crate) struct Hierarchy {
    pub(crate) root: Issued,
    pub(crate) intermediate: Issued,
    pub(crate) login: Issued,
    pub(crate) graph: Issued,
    pub(crate) intune: Issued,
}

impl Hierarchy {
    fn generate(root_cn: &str, intermediate_cn: &str) -> Result<Self, SimError> {
        let root_key = KeyPair::generate().map_err(e("root key"))?;
        let root =
            CertifiedIssuer::self_signed(ca_params(root_cn, "ise-intune simulator", 20), root_key)
                .map_err(e("root"))?;
        let root_issued = issued(root.der().clone(), root.pem(), root.key());

        let inter_key = KeyPair::generate().map_err(e("intermediate key"))?;
        let mut inter_params = ca_params(intermediate_cn, "ise-intune simulator", 10);
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        inter_params.use_authority_key_identifier_extension = true;
        let inter = CertifiedIssuer::signed_by(inter_params, inter_key, &root)
            .map_err(e("intermediate"))?;
        let inter_issued = issued(inter.der().clone(), inter.pem(), inter.key());

        let leaf = |cn: &str| -> Result<Issued, SimError> {
            let key = KeyPair::generate().map_err(e("leaf key"))?;
            let cert = leaf_params(cn, "Microsoft Corporation (simulated)")?
                .signed_by(&key, &inter)
                .map_err(e("leaf"))?;
            Ok(issued(cert.der().clone(), cert.pem(), &key))
        };
        Ok(Self {
            login: leaf("login.microsoftonline.com")?,
            graph: leaf("graph.microsoft.com")?,
            intune: leaf("manage.microsoft.com")?,
            root: root_issued,
            intermediate: inter_issued,
        })
    }

    /// The chain a service presents: its leaf and the intermediate.
    pub(crate) fn chain(&self, leaf: &Issued) -> Vec<CertificateDer<'static>> {
        vec![leaf.cert_der.clone(), self.intermediate.cert_der.clone()]
    }
}

/// Everything the services present.
pub(crate) struct Pki {
    /// What the Microsoft services present at start.
    pub(crate) current: Hierarchy,
    /// The hierarchy they move to ([`crate::Simulator::move_microsoft_chains`]).
    pub(crate) next: Hierarchy,
    pub(crate) extra_roots: Vec<Issued>,
}

fn e(what: &str) -> impl Fn(rcgen::Error) -> SimError + '_ {
    move |err| SimError::Pki(format!("{what}: {err}"))
}

fn name(cn: &str, o: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, o: &str, years: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn, o);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(365 * years);
    p
}

fn leaf_params(cn: &str, o: &str) -> Result<CertificateParams, SimError> {
    let mut p = CertificateParams::new(vec!["localhost".to_owned()]).map_err(e("leaf"))?;
    p.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    p.distinguished_name = name(cn, o);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    p.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(397);
    Ok(p)
}

fn issued(cert_der: CertificateDer<'static>, cert_pem: String, key: &KeyPair) -> Issued {
    Issued {
        cert_der,
        cert_pem,
        key_pkcs8: key.serialize_der(),
    }
}

impl Pki {
    /// Makes the Microsoft-side hierarchies and Cisco's roots.
    pub(crate) fn generate(extra_root_names: &[&str]) -> Result<Self, SimError> {
        let mut extra_roots = Vec::new();
        for n in extra_root_names {
            let key = KeyPair::generate().map_err(e("extra root key"))?;
            let cert = ca_params(n, "Cisco (simulated)", 30)
                .self_signed(&key)
                .map_err(e("extra root"))?;
            extra_roots.push(issued(cert.der().clone(), cert.pem(), &key));
        }
        Ok(Self {
            current: Hierarchy::generate("Simulated Public Root G2", "Simulated TLS RSA CA 2026")?,
            next: Hierarchy::generate("Simulated Public Root G5", "Simulated TLS RSA CA G5 2026")?,
            extra_roots,
        })
    }
}

/// A server certificate that can be replaced while the server runs (a Microsoft
/// service moving to another chain).
#[derive(Debug)]
pub(crate) struct SwappableCert(std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>);

impl SwappableCert {
    pub(crate) fn new(
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'static>,
    ) -> Result<Arc<Self>, SimError> {
        Ok(Arc::new(Self(std::sync::RwLock::new(certified(
            chain, key,
        )?))))
    }

    /// Presents `chain` with `key` from the next handshake on.
    pub(crate) fn swap(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'static>,
    ) -> Result<(), SimError> {
        let next = certified(chain, key)?;
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for SwappableCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'static>,
) -> Result<Arc<rustls::sign::CertifiedKey>, SimError> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| SimError::Pki(format!("TLS server key: {e}")))?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(chain, signing)))
}

/// TLS server configuration presenting whatever `cert` holds.
pub(crate) fn swappable_server_config(
    cert: Arc<SwappableCert>,
) -> Result<Arc<rustls::ServerConfig>, SimError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Pki(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    Ok(Arc::new(config))
}

/// Makes ISE's self-signed admin certificate with key number `key_index` of the RSA
/// pool, or with a fresh ECDSA P-256 key when `ecdsa`.
pub(crate) fn ise_admin_certificate(
    host_fqdn: &str,
    key_index: usize,
    serial: u64,
    ecdsa: bool,
) -> Result<Issued, SimError> {
    let key = if ecdsa {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e("ISE admin key"))?
    } else {
        let pem = ISE_KEYS[key_index % ISE_KEYS.len()];
        KeyPair::from_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256).map_err(e("ISE admin key"))?
    };
    // Valid from yesterday's midnight (UTC): two simulators of one seed started the
    // same day issue byte-identical certificates, as a replayed seed should.
    let today = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    admin_certificate_with(
        &key,
        host_fqdn,
        serial,
        today - Duration::days(1),
        today + Duration::days(730),
    )
}

/// A new self-signed Admin certificate for the key `previous` holds (ISE renews a
/// self-signed certificate with its key), valid from `not_before` to `not_after`.
pub(crate) fn renew_ise_admin_certificate(
    previous: &Issued,
    host_fqdn: &str,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Issued, SimError> {
    let pkcs8 = PrivatePkcs8KeyDer::from(previous.key_pkcs8.clone());
    let key = match KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256) {
        Ok(k) => k,
        Err(_) => KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(e("ISE admin key"))?,
    };
    admin_certificate_with(&key, host_fqdn, serial, not_before, not_after)
}

fn admin_certificate_with(
    key: &KeyPair,
    host_fqdn: &str,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Issued, SimError> {
    let mut p = leaf_params(host_fqdn, "Cisco")?;
    p.subject_alt_names.push(SanType::DnsName(
        host_fqdn.try_into().map_err(e("ISE host name"))?,
    ));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Cisco");
    dn.push(
        DnType::OrganizationalUnitName,
        "Certificate Services System Certificate",
    );
    dn.push(DnType::CommonName, host_fqdn);
    p.distinguished_name = dn;
    p.serial_number = Some(serial.to_be_bytes().to_vec().into());
    p.use_authority_key_identifier_extension = false;
    p.not_before = not_before;
    p.not_after = not_after;
    let cert = p.self_signed(key).map_err(e("ISE admin certificate"))?;
    Ok(issued(cert.der().clone(), cert.pem(), key))
}

/// TLS server configuration presenting `chain` with `key`.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, SimError> {
    swappable_server_config(SwappableCert::new(chain, &key)?)
}

/// SHA-1 of DER, raw.
pub(crate) fn sha1(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

/// SHA-256 of DER, raw.
pub(crate) fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// Uppercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
