//! ISE nodes' Admin certificates and their keys, in one place: which certificate a node
//! uses for Admin, exporting it (with its key only when asked), where a node's key
//! comes from ([`AdminKey`]: nowhere, exported from ISE, or a file the operator holds),
//! PKCS#8 decryption, and the client-assertion credentials a node signs with.

use graph_client::{AssertionAlgorithm, ClientCertificate};
use ise_client::{DEFAULT_SELF_SIGNED_NAME, ExportKind, IseClient, Node, SystemCertificate};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::certs::Certificate;

/// Step 2's result for one node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminCertificate {
    /// The node.
    pub node: Node,
    /// ISE's record of the certificate.
    pub system_certificate: SystemCertificate,
    /// The certificate itself.
    pub certificate: Certificate,
}

/// Picks the certificate ISE uses for Admin: the one whose `usedBy` lists Admin, else
/// the default self-signed one.
pub(crate) fn pick_admin_certificate(certs: &[SystemCertificate]) -> Option<&SystemCertificate> {
    certs.iter().find(|c| c.is_admin()).or_else(|| {
        certs
            .iter()
            .find(|c| c.friendly_name == DEFAULT_SELF_SIGNED_NAME)
    })
}

/// The most nodes a deployment may list: Cisco's largest deployments have 58 (2 admin,
/// 2 monitoring, 50 policy service, 4 pxGrid); a longer list is refused rather than
/// answered with as many exports.
pub const MAX_DEPLOYMENT_NODES: usize = 64;

/// How many certificate exports run at once.
pub const EXPORTS_AT_ONCE: usize = 8;

/// The deployment's nodes, the primary admin node first, at most
/// [`MAX_DEPLOYMENT_NODES`].
async fn deployment_nodes(ise: &IseClient) -> Result<Vec<ise_client::Node>, Error> {
    let mut nodes = ise.nodes().await?;
    if nodes.len() > MAX_DEPLOYMENT_NODES {
        return Err(Error::Ise(ise_client::Error::InvalidInput {
            what: format!(
                "ISE lists {} nodes, more than a deployment can have ({MAX_DEPLOYMENT_NODES}): \
                 refusing to export as many certificates",
                nodes.len()
            ),
        }));
    }
    nodes.sort_by_key(|n| !n.is_primary_admin());
    Ok(nodes)
}

/// The distinct certificates of the nodes (a shared wildcard counts once), in order.
pub fn distinct_certificates(admins: &[AdminCertificate]) -> Vec<&Certificate> {
    let mut out: Vec<&Certificate> = Vec::new();
    for a in admins {
        if !out.iter().any(|c| c.sha1() == a.certificate.sha1()) {
            out.push(&a.certificate);
        }
    }
    out
}

/// The nodes' host names, comma-separated (for messages naming the known nodes).
pub(crate) fn node_names(admins: &[AdminCertificate]) -> String {
    admins
        .iter()
        .map(|a| a.node.hostname.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a node runs the policy service (it queries Intune at authorization).
pub fn is_policy_service(node: &Node) -> bool {
    node.services.iter().any(|s| s == "Session")
}

/// Exports one node's Admin certificate as `kind` asks; refuses non-RSA keys.
async fn export_node(
    ise: &IseClient,
    node: Node,
    kind: &ExportKind,
) -> Result<(AdminCertificate, Option<ise_client::ExportedKey>), Error> {
    let system = ise.system_certificates(node.hostname.clone());
    let certs = system.list(&[]).await?;
    let chosen =
        pick_admin_certificate(&certs)
            .cloned()
            .ok_or_else(|| Error::NoAdminCertificate {
                node: node.hostname.clone(),
            })?;
    let export = system.export(&chosen.id, kind).await?;
    let pem = export.certificates_pem.first().cloned().unwrap_or_default();
    let certificate = Certificate::from_pem(&pem)?;
    if !certificate.is_rsa() {
        return Err(Error::NonRsaAdminCertificate {
            node: node.hostname.clone(),
            algorithm: certificate.key_algorithm(),
        });
    }
    Ok((
        AdminCertificate {
            node,
            system_certificate: chosen,
            certificate,
        },
        export.private_key,
    ))
}

/// A node's Admin certificate with its private key (PKCS#8 DER, kept secret).
#[derive(Clone)]
pub struct AdminKeyMaterial {
    /// The certificate and its node.
    pub admin: AdminCertificate,
    key_pkcs8: Option<secrecy::SecretSlice<u8>>,
}

impl std::fmt::Debug for AdminKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminKeyMaterial")
            .field("node", &self.admin.node.hostname)
            .field("key", &self.key_pkcs8.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl AdminKeyMaterial {
    /// The node's credentials for `client_id` from the key that came with the export,
    /// if it did: signing as the node without exporting its key again.
    pub(crate) fn client_certificate(
        &self,
        client_id: &str,
    ) -> Option<Result<ClientCertificate, Error>> {
        let key = self.key_pkcs8()?;
        Some(
            ClientCertificate::from_der(
                client_id,
                self.admin.certificate.der().to_vec(),
                &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
                AssertionAlgorithm::Rs256,
            )
            .map_err(Error::Graph),
        )
    }

    /// The private key (PKCS#8 DER), when it was exported. Never log it.
    pub fn key_pkcs8(&self) -> Option<&[u8]> {
        use secrecy::ExposeSecret as _;
        self.key_pkcs8.as_ref().map(|k| k.expose_secret())
    }
}

/// Which private keys an export brings out of ISE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyExport {
    /// Certificates only: no key leaves ISE (the default).
    #[default]
    CertificatesOnly,
    /// The private keys of the policy service nodes (all nodes when none runs the
    /// policy service), exported under a one-time random password and decrypted in
    /// memory, for verification as each node. Same requests as without: the keys come
    /// with the certificates.
    PolicyServiceKeys,
    /// The private key of one node only: the one named, or (`None`) the first policy
    /// service node (the first node when none runs the policy service) — what a query
    /// made as one node uses, and nothing more.
    NodeKey(Option<String>),
}

impl KeyExport {
    /// The export [`AdminKey`] asks for: keys only with [`AdminKey::ExportFromIse`].
    pub fn for_admin_key(key: &AdminKey) -> Self {
        if key.exports_from_ise() {
            Self::PolicyServiceKeys
        } else {
            Self::CertificatesOnly
        }
    }
}

/// Exports the Admin certificate of every node of the deployment (policy service
/// nodes query Intune with their own), primary first, at most [`EXPORTS_AT_ONCE`] at a
/// time, with the keys `keys` asks for. Every export runs to its end even when one
/// fails, so that what is sent does not depend on which finishes first.
pub async fn export(ise: &IseClient, keys: KeyExport) -> Result<Vec<AdminKeyMaterial>, Error> {
    use futures_util::StreamExt as _;
    let nodes = deployment_nodes(ise).await?;
    let any_psn = nodes.iter().any(is_policy_service);
    let password = match keys {
        KeyExport::CertificatesOnly => None,
        KeyExport::PolicyServiceKeys | KeyExport::NodeKey(_) => Some(random_password()?),
    };
    // The one node whose key `NodeKey` asks for.
    let one = match &keys {
        KeyExport::NodeKey(Some(name)) => Some(name.clone()),
        KeyExport::NodeKey(None) => nodes
            .iter()
            .find(|n| is_policy_service(n))
            .or_else(|| nodes.first())
            .map(|n| n.hostname.clone()),
        _ => None,
    };
    let wants_key = |node: &Node| match &keys {
        KeyExport::NodeKey(_) => one.as_deref() == Some(node.hostname.as_str()),
        _ => !any_psn || is_policy_service(node),
    };
    futures_util::stream::iter(nodes.into_iter().map(|node| {
        let password = password.clone().filter(|_| wants_key(&node));
        export_one(ise, node, password)
    }))
    .buffered(EXPORTS_AT_ONCE)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}

/// Every node's Admin certificate, without keys (step 2 as a read: [`export`] with
/// [`KeyExport::CertificatesOnly`]).
pub async fn admin_certificates(ise: &IseClient) -> Result<Vec<AdminCertificate>, Error> {
    Ok(export(ise, KeyExport::CertificatesOnly)
        .await?
        .into_iter()
        .map(|m| m.admin)
        .collect())
}

/// One node's export: with its key (decrypted with `password`) when a password is given.
async fn export_one(
    ise: &IseClient,
    node: Node,
    password: Option<String>,
) -> Result<AdminKeyMaterial, Error> {
    let kind = match &password {
        Some(p) => ExportKind::WithPrivateKey(SecretString::from(p.clone())),
        None => ExportKind::CertificateOnly,
    };
    let (admin, key) = export_node(ise, node, &kind).await?;
    let key_pkcs8 = match (password, key) {
        (Some(password), Some(k)) => Some(secrecy::SecretSlice::from(decrypt_pkcs8_pem(
            k.pem(),
            &password,
        )?)),
        (Some(_), None) => {
            return Err(Error::AdminKey {
                what: format!(
                    "ISE's export of {} holds no private key",
                    admin.node.hostname
                ),
            });
        }
        (None, _) => None,
    };
    Ok(AdminKeyMaterial { admin, key_pkcs8 })
}

/// Where the key of an ISE node comes from, for the checks that act *as* a node
/// (Entra accepting the node's client assertion, Intune answering the node).
///
/// The default is [`AdminKey::None`]: nothing leaves ISE but certificates, and every
/// check that needs a node's key is reported as not checked. A key leaves ISE only
/// with [`AdminKey::ExportFromIse`]; [`AdminKey::from_file`] takes it from a file the
/// operator holds instead. Keys are kept in memory only, in secret containers that
/// are zeroized on drop.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum AdminKey {
    /// No node key: only what public material shows is checked (certificates,
    /// registration, consent, anchors, chains, discovery, the audience); the checks
    /// that need a node's key are reported as not checked.
    #[default]
    None,
    /// Exported from ISE with a one-time random password (needs the certificate
    /// export-with-key right on the ISE account). Only when the operator asks
    /// (`--as-node`, `verify_as_node = true`).
    ExportFromIse,
    /// Supplied: the admin certificate and its unencrypted PKCS#8 key, in PEM.
    Supplied {
        /// Certificate PEM.
        cert_pem: String,
        /// Key PEM (`PRIVATE KEY`).
        key_pem: SecretString,
    },
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ExportFromIse => f.write_str("ExportFromIse"),
            Self::Supplied { .. } => f.write_str("Supplied { key_pem: [REDACTED] }"),
        }
    }
}

impl AdminKey {
    /// Whether the checks that act as a node run (a key is exported or supplied).
    pub fn acts_as_node(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Whether the keys are exported from ISE ([`Self::ExportFromIse`]).
    pub fn exports_from_ise(&self) -> bool {
        matches!(self, Self::ExportFromIse)
    }

    /// A node's certificate and key from a file the operator holds, so that the key
    /// never leaves ISE over its API: a PEM file with the certificate and its key
    /// (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` decrypted with `password`), or a
    /// PKCS#12 file decrypted with `password`. The file must be a regular file of at
    /// most [`crate::files::MAX_FILE_BYTES`].
    pub fn from_file(
        path: &std::path::Path,
        password: Option<&SecretString>,
    ) -> Result<Self, Error> {
        let (cert_der, key) = certificate_and_key_file(path, password)?;
        Ok(Self::Supplied {
            cert_pem: pem::encode(&pem::Pem::new("CERTIFICATE", cert_der)),
            key_pem: SecretString::from(pem::encode(&pem::Pem::new(
                "PRIVATE KEY",
                key.expose_secret().to_vec(),
            ))),
        })
    }

    /// A node's certificate and key from PEM text holding both (see [`Self::from_file`]).
    pub fn from_pem(text: &str, password: Option<&SecretString>) -> Result<Self, Error> {
        let (cert_der, key) = certificate_and_key_pem(text, password)?;
        Ok(Self::Supplied {
            cert_pem: pem::encode(&pem::Pem::new("CERTIFICATE", cert_der)),
            key_pem: SecretString::from(pem::encode(&pem::Pem::new(
                "PRIVATE KEY",
                key.expose_secret().to_vec(),
            ))),
        })
    }
}

/// A certificate (DER) and its PKCS#8 key (DER, secret) from a PEM file holding both,
/// the key possibly encrypted (`ENCRYPTED PRIVATE KEY`, decrypted with `password`), or
/// from a PKCS#12 file (`.pfx`, `.p12`) decrypted with `password`.
/// The file is read with [`crate::files::read_bounded`].
pub(crate) fn certificate_and_key_file(
    path: &std::path::Path,
    password: Option<&SecretString>,
) -> Result<(Vec<u8>, secrecy::SecretSlice<u8>), Error> {
    let bytes = secrecy::SecretSlice::from(crate::files::read_bounded(path)?);
    if crate::pkcs12::looks_like_pkcs12(bytes.expose_secret()) {
        let password = password.ok_or_else(|| Error::AdminKey {
            what: format!(
                "{} is a PKCS#12 file and no password was given (set \
                 AZURE_CLIENT_CERTIFICATE_PASSWORD or ISE_INTUNE_NODE_KEY_PASSWORD)",
                path.display()
            ),
        })?;
        let contents = crate::pkcs12::parse(bytes.expose_secret(), password)?;
        let key = contents.key.ok_or_else(|| Error::AdminKey {
            what: format!("{} holds no private key", path.display()),
        })?;
        // The end-entity certificate: the first that is not a CA.
        let cert = contents
            .certificates
            .iter()
            .find(|c| Certificate::from_der(c).is_ok_and(|c| !c.is_ca()))
            .or_else(|| contents.certificates.first())
            .cloned()
            .ok_or_else(|| Error::AdminKey {
                what: format!("{} holds no certificate", path.display()),
            })?;
        Certificate::from_der(&cert)?;
        return Ok((cert, key));
    }
    let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| Error::AdminKey {
        what: format!("{} is neither a PEM nor a PKCS#12 file", path.display()),
    })?;
    certificate_and_key_pem(text, password)
}

fn certificate_and_key_pem(
    text: &str,
    password: Option<&SecretString>,
) -> Result<(Vec<u8>, secrecy::SecretSlice<u8>), Error> {
    let blocks = pem::parse_many(text).map_err(|e| Error::AdminKey {
        what: format!("not PEM: {e}"),
    })?;
    let cert = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| Error::AdminKey {
            what: "no CERTIFICATE block: the file must hold the certificate and its key".into(),
        })?;
    let key = blocks
        .iter()
        .find(|b| b.tag().ends_with("PRIVATE KEY"))
        .ok_or_else(|| Error::AdminKey {
            what: "no PRIVATE KEY block: the file must hold the certificate and its key".into(),
        })?;
    let der = match key.tag() {
        "PRIVATE KEY" => secrecy::SecretSlice::from(key.contents().to_vec()),
        "ENCRYPTED PRIVATE KEY" => {
            let password = password.ok_or_else(|| Error::AdminKey {
                what: "the key is encrypted and no password was given".into(),
            })?;
            secrecy::SecretSlice::from(decrypt_pkcs8_pem(
                &pem::encode(key),
                password.expose_secret(),
            )?)
        }
        other => {
            return Err(Error::AdminKey {
                what: format!(
                    "a `{other}` block: convert the key to PKCS#8 with `openssl pkcs8 -topk8`"
                ),
            });
        }
    };
    Certificate::from_der(cert.contents())?;
    Ok((cert.contents().to_vec(), der))
}

pub(crate) fn random_password() -> Result<String, Error> {
    use ring::rand::SecureRandom as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::AdminKey {
            what: "the system random generator failed".into(),
        })?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM (PKCS#8, PBES2) to PKCS#8 DER.
pub fn decrypt_pkcs8_pem(pem: &str, password: &str) -> Result<Vec<u8>, Error> {
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::AdminKey {
            what: "the key is in OpenSSL's legacy encrypted format (DEK-Info), which is not \
                   supported: convert it with `openssl pkcs8 -topk8` or supply the key"
                .into(),
        });
    }
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| Error::AdminKey {
            what: format!("not a PEM key: {e}"),
        })?;
    match label {
        "ENCRYPTED PRIVATE KEY" => {
            let info =
                pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| {
                    Error::AdminKey {
                        what: format!("not a PKCS#8 encrypted key: {e}"),
                    }
                })?;
            let doc = info.decrypt(password).map_err(|e| Error::AdminKey {
                what: format!("decryption failed (wrong password or unsupported cipher): {e}"),
            })?;
            Ok(doc.as_bytes().to_vec())
        }
        "PRIVATE KEY" => Ok(der),
        other => Err(Error::AdminKey {
            what: format!("found a `{other}` block, expected ENCRYPTED PRIVATE KEY or PRIVATE KEY"),
        }),
    }
}

/// The credentials an ISE node signs its client assertions with, for `client_id`: the
/// supplied key, or `admin`'s certificate (the primary node's when `None`) with its key
/// exported from ISE under a one-time random password and decrypted in memory.
pub async fn node_client_certificate(
    ise: &IseClient,
    client_id: &str,
    key: &AdminKey,
    admin: Option<&AdminCertificate>,
) -> Result<ClientCertificate, Error> {
    let (cert_pem, key_der) = match (key, admin) {
        (AdminKey::None, _) => {
            return Err(Error::NodeKeyNotRequested {
                what: "acting as an ISE node".into(),
            });
        }
        (AdminKey::Supplied { cert_pem, key_pem }, _) => (
            cert_pem.clone(),
            decrypt_pkcs8_pem(key_pem.expose_secret(), "")?,
        ),
        (_, admin) => {
            let admin = match admin {
                Some(a) => a.clone(),
                None => {
                    export(ise, KeyExport::CertificatesOnly)
                        .await?
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::RemoteState {
                            what: "ISE lists no node".into(),
                        })?
                        .admin
                }
            };
            let password = random_password()?;
            let export = ise
                .system_certificates(admin.node.hostname.clone())
                .export(
                    &admin.system_certificate.id,
                    &ExportKind::WithPrivateKey(SecretString::from(password.clone())),
                )
                .await?;
            let key = export.private_key.ok_or_else(|| Error::AdminKey {
                what: "ISE's export holds no private key".into(),
            })?;
            (
                admin.certificate.to_pem(),
                decrypt_pkcs8_pem(key.pem(), &password)?,
            )
        }
    };
    let cert = Certificate::from_pem(&cert_pem)?;
    ClientCertificate::from_der(
        client_id,
        cert.der().to_vec(),
        &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        AssertionAlgorithm::Rs256,
    )
    .map_err(Error::Graph)
}
