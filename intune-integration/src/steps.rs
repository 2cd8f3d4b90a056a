//! Cisco's seven steps, each a typed, idempotent async function. Each returns a
//! [`Step`]: what happened ([`Outcome`]) and the resource it produced, so steps compose
//! by hand or through [`crate::pipeline::Onboarding`].
//!
//! Each step that writes decides what to write with a pure function of what it read
//! ([`decide_registration`], [`key_outcome`], [`missing_grants`],
//! [`access_outcome`]); [`crate::pipeline::Onboarding::plan`] calls the same functions
//! on the same reads, so a plan and the apply that follows it cannot disagree.

use graph_client::well_known::{
    APPLICATION_READ_ALL, APPLICATION_READ_ALL_ROLE_ID, GET_DEVICE_COMPLIANCE,
    GET_DEVICE_COMPLIANCE_ROLE_ID, INTUNE_API_APP_ID, MICROSOFT_GRAPH_APP_ID,
};
use graph_client::{
    AppRoleAssignment, Application, ApplicationUpdate, CertificateKey, GraphClient, KeyCredential,
    NewApplication, RequiredResourceAccess, ResourceAccess, ServicePrincipal, merge_access,
};
use ise_client::{
    DEFAULT_SELF_SIGNED_NAME, ExportKind, ImportOutcome, IseClient, Node, SystemCertificate,
    TrustedCertificate, TrustedCertificateImport, TrustedCertificateUpdate,
};
use serde::Serialize;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::{Certificate, Sha256Fingerprint};
use crate::mdm::{MdmServerConfigurator, MdmServerSettings};

pub use crate::outcome::{Outcome, Step};

/// Step 1's result: the application and its service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredApp {
    /// Object id.
    pub object_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// The service principal's object id.
    pub service_principal_id: String,
    /// Display name.
    pub display_name: String,
}

/// Who the integration's application is: its display name, the uniqueName it is
/// found by (an alternate key Graph keeps unique, so lost answers and concurrent runs
/// cannot make two), and optionally the client id of a hand-made application to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppIdentity {
    /// Display name.
    pub display_name: String,
    /// The uniqueName ([`unique_name_for`] of the display name by default).
    pub unique_name: String,
    /// A hand-made application to adopt, by client id.
    pub adopt_client_id: Option<String>,
}

impl AppIdentity {
    /// The identity for a display name, with its derived uniqueName.
    pub fn new(display_name: impl Into<String>) -> Self {
        let display_name = display_name.into();
        Self {
            unique_name: unique_name_for(&display_name),
            display_name,
            adopt_client_id: None,
        }
    }

    /// The same identity, adopting the application with this client id when no
    /// application carries the uniqueName yet.
    pub fn adopting(mut self, client_id: impl Into<String>) -> Self {
        self.adopt_client_id = Some(client_id.into());
        self
    }
}

impl From<&str> for AppIdentity {
    fn from(display_name: &str) -> Self {
        Self::new(display_name)
    }
}

/// The uniqueName of the integration's application, derived from its display name:
/// `ise-intune-`, the name in lowercase letters, digits and dashes (at most 40
/// characters), a dash, and the first 8 hex digits of the SHA-256 of the exact name —
/// so two integrations in one tenant differ whenever their names do.
///
/// ```
/// use intune_integration::steps::unique_name_for;
/// let u = unique_name_for("Cisco ISE Intune integration");
/// assert!(u.starts_with("ise-intune-cisco-ise-intune-integration-"));
/// assert_eq!(u.len(), "ise-intune-cisco-ise-intune-integration-".len() + 8);
/// ```
pub fn unique_name_for(display_name: &str) -> String {
    let mut slug = String::new();
    for c in display_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, display_name.as_bytes());
    let short = hex::encode(&digest.as_ref()[..4]);
    format!("ise-intune-{}-{short}", slug.trim_end_matches('-'))
}

/// What step 1 found in Entra ID.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AppObservation {
    /// The application carrying the uniqueName.
    pub by_unique_name: Option<Application>,
    /// The application with the configured client id, when asked to adopt one.
    pub by_client_id: Option<Application>,
    /// Applications with the display name and no uniqueName (hand-made ones).
    pub by_display_name: Vec<Application>,
}

/// Reads what step 1 decides from: by uniqueName first; then the configured client
/// id; then the display name.
pub async fn observe_app(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<AppObservation, Error> {
    let apps = graph.applications();
    // All three lookups at once: the later ones are needed only when the first finds
    // nothing, and each costs a round trip when awaited in turn.
    let (by_unique_name, by_client_id, by_display_name) = tokio::join!(
        apps.get_by_unique_name(&identity.unique_name, false),
        async {
            match &identity.adopt_client_id {
                Some(client_id) => apps.find_by_app_id(client_id).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &identity.adopt_client_id {
                Some(_) => Ok(None),
                None => apps
                    .find_by_display_name(&identity.display_name)
                    .await
                    .map(Some),
            }
        },
    );
    let mut seen = AppObservation {
        by_unique_name: by_unique_name?,
        ..AppObservation::default()
    };
    if seen.by_unique_name.is_some() {
        return Ok(seen);
    }
    if let Some(client_id) = &identity.adopt_client_id {
        seen.by_client_id = Some(by_client_id?.flatten().ok_or_else(|| Error::Config {
            what: format!(
                "no application with client id {client_id} (app_client_id) exists in the tenant"
            ),
        })?);
        return Ok(seen);
    }
    seen.by_display_name = by_display_name?
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.unique_name.is_none())
        .collect();
    Ok(seen)
}

/// Step 1's decision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Registration {
    /// The application carries the uniqueName: use it as it is.
    Existing(Application),
    /// Adopt a hand-made application: give it the uniqueName.
    Adopt(Application),
    /// None exists: create it by upsert.
    Create,
}

impl Registration {
    /// The outcome the decision leads to.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Existing(_) => Outcome::Unchanged,
            Self::Adopt(_) => Outcome::Updated,
            Self::Create => Outcome::Created,
        }
    }
}

/// Step 1's decision from what was observed: the application with the uniqueName, else
/// the configured one, else the one hand-made application with the display name, else a
/// new one. Several hand-made candidates are an error listing each with its keys.
pub fn decide_registration(
    seen: &AppObservation,
    identity: &AppIdentity,
) -> Result<Registration, Error> {
    if let Some(app) = &seen.by_unique_name {
        return Ok(Registration::Existing(app.clone()));
    }
    if let Some(app) = &seen.by_client_id {
        return Ok(match &app.unique_name {
            Some(_) => Registration::Existing(app.clone()),
            None => Registration::Adopt(app.clone()),
        });
    }
    match seen.by_display_name.as_slice() {
        [] => Ok(Registration::Create),
        [one] => Ok(Registration::Adopt(one.clone())),
        many => Err(Error::AmbiguousApplication {
            name: identity.display_name.clone(),
            count: many.len(),
            candidates: many
                .iter()
                .map(|a| AppCandidate {
                    client_id: a.app_id.clone(),
                    key_thumbprints: a
                        .key_credentials
                        .iter()
                        .filter_map(|k| k.thumbprint_hex())
                        .collect(),
                    holds_ise_key: None,
                })
                .collect(),
        }),
    }
}

/// An application that could be the integration's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppCandidate {
    /// Its client id.
    pub client_id: String,
    /// SHA-1 thumbprints of its keys: the one holding ISE's is the integration's.
    pub key_thumbprints: Vec<String>,
    /// Whether it holds ISE's Admin certificate, when that is known (the pipeline
    /// fills it in from the export that ran beside the registration).
    pub holds_ise_key: Option<bool>,
}

impl std::fmt::Display for AppCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (keys: ", self.client_id)?;
        if self.key_thumbprints.is_empty() {
            f.write_str("none")?;
        } else {
            f.write_str(&self.key_thumbprints.join(", "))?;
        }
        f.write_str(")")?;
        if self.holds_ise_key == Some(true) {
            f.write_str(" — holds ISE's key")?;
        }
        Ok(())
    }
}

/// Step 1: finds the integration's application by its uniqueName (or adopts a
/// hand-made one, or creates it by upsert) and ensures its service principal.
pub async fn register_app(
    graph: &GraphClient,
    identity: impl Into<AppIdentity>,
) -> Result<Step<RegisteredApp>, Error> {
    let identity = identity.into();
    let seen = observe_app(graph, &identity).await?;
    register_app_from(graph, &identity, &seen).await
}

/// Step 1 from an observation already made ([`observe_app`]): writes what the
/// decision needs, then ensures the service principal.
pub async fn register_app_from(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: &AppObservation,
) -> Result<Step<RegisteredApp>, Error> {
    let app = application_from(graph, identity, seen).await?;
    let sp = principal_for(graph, &app).await?;
    Ok(registered(app, sp))
}

/// The application half of step 1: finds, adopts or creates the application object
/// the observation decides, without its service principal ([`principal_for`]). An
/// application `Created` here is the one Graph answered, with the (empty) keys and
/// permissions it was created with, so what follows need not read them again.
pub async fn application_from(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: &AppObservation,
) -> Result<Step<Application>, Error> {
    let decision = decide_registration(seen, identity)?;
    let apps = graph.applications();
    let outcome = decision.outcome();
    match decision {
        Registration::Existing(app) => Ok(Step::new(outcome, app)),
        Registration::Adopt(app) => {
            apps.update(
                &app.id,
                &ApplicationUpdate {
                    unique_name: Some(identity.unique_name.clone()),
                    ..ApplicationUpdate::default()
                },
            )
            .await?;
            Ok(Step::new(outcome, app))
        }
        Registration::Create => {
            let new = NewApplication::single_tenant(identity.display_name.clone());
            match apps.upsert(&identity.unique_name, &new).await? {
                graph_client::Change::Created(Some(app)) => Ok(Step::new(outcome, app)),
                _ => {
                    // It existed after all (a concurrent run, or our own lost answer).
                    let app = apps
                        .get_by_unique_name(&identity.unique_name, true)
                        .await?
                        .ok_or_else(|| Error::Config {
                            what: format!(
                                "the application `{}` was upserted but cannot be read back",
                                identity.unique_name
                            ),
                        })?;
                    Ok(Step::unchanged(app))
                }
            }
        }
    }
}

/// The service principal half of step 1, for the application [`application_from`]
/// answered. An application created just now cannot have a service principal (unless
/// a concurrent run made one, which the upsert reads back): no look first.
pub async fn principal_for(
    graph: &GraphClient,
    app: &Step<Application>,
) -> Result<graph_client::Change<ServicePrincipal>, Error> {
    let principals = graph.service_principals();
    Ok(if app.outcome == Outcome::Created {
        principals.upsert(&app.value.app_id).await?
    } else {
        principals.ensure(&app.value.app_id).await?
    })
}

/// Step 1's result from its two halves.
pub fn registered(
    app: Step<Application>,
    sp: graph_client::Change<ServicePrincipal>,
) -> Step<RegisteredApp> {
    let outcome = app.outcome.and(Outcome::from(&sp));
    let app = app.value;
    Step::new(
        outcome,
        RegisteredApp {
            object_id: app.id,
            client_id: app.app_id,
            service_principal_id: sp.into_inner().id,
            display_name: app.display_name,
        },
    )
}

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

/// The integration's existing application and service principal, read only; an
/// error telling to run onboarding when there is none.
pub async fn find_app(graph: &GraphClient, identity: &AppIdentity) -> Result<RegisteredApp, Error> {
    let seen = observe_app(graph, identity).await?;
    let app = match decide_registration(&seen, identity)? {
        Registration::Existing(app) | Registration::Adopt(app) => app,
        Registration::Create => {
            return Err(Error::Config {
                what: format!(
                    "no application `{}` (uniqueName {}): run onboard first",
                    identity.display_name, identity.unique_name
                ),
            });
        }
    };
    let sp = graph
        .service_principals()
        .by_app_id(&app.app_id)
        .await?
        .ok_or_else(|| Error::Config {
            what: format!(
                "application {} has no service principal: run onboard first",
                app.app_id
            ),
        })?;
    Ok(RegisteredApp {
        object_id: app.id,
        client_id: app.app_id,
        service_principal_id: sp.id,
        display_name: app.display_name,
    })
}

/// Picks the certificate ISE uses for Admin: the one whose `usedBy` lists Admin, else
/// the default self-signed one.
pub fn pick_admin_certificate(certs: &[SystemCertificate]) -> Option<&SystemCertificate> {
    certs.iter().find(|c| c.is_admin()).or_else(|| {
        certs
            .iter()
            .find(|c| c.friendly_name == DEFAULT_SELF_SIGNED_NAME)
    })
}

/// Step 2 for the primary admin node only (see [`export_admin_certificates`] for the
/// deployment).
pub async fn export_admin_certificate(ise: &IseClient) -> Result<Step<AdminCertificate>, Error> {
    let node = ise.primary_admin_node().await?;
    export_node_certificate(ise, node)
        .await
        .map(Step::unchanged)
}

/// Step 2: exports the Admin certificate of every node of the deployment (policy
/// service nodes query Intune with their own), concurrently, primary first.
pub async fn export_admin_certificates(
    ise: &IseClient,
) -> Result<Step<Vec<AdminCertificate>>, Error> {
    use futures_util::StreamExt as _;
    let nodes = deployment_nodes(ise).await?;
    // Every export runs to its end even when one fails (what is sent must not depend on
    // which finishes first); at most EXPORTS_AT_ONCE at a time.
    let exported = futures_util::stream::iter(
        nodes
            .into_iter()
            .map(|node| export_node_certificate(ise, node)),
    )
    .buffered(EXPORTS_AT_ONCE)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Step::unchanged(exported))
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

/// Whether a node runs the policy service (it queries Intune at authorization).
pub fn is_policy_service(node: &Node) -> bool {
    node.services.iter().any(|s| s == "Session")
}

/// Exports one node's Admin certificate (certificate only); refuses non-RSA keys.
async fn export_node_certificate(ise: &IseClient, node: Node) -> Result<AdminCertificate, Error> {
    export_node(ise, node, &ExportKind::CertificateOnly)
        .await
        .map(|(admin, _)| admin)
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
    /// A certificate without its key.
    pub fn without_key(admin: AdminCertificate) -> Self {
        Self {
            admin,
            key_pkcs8: None,
        }
    }

    /// The private key (PKCS#8 DER), when it was exported. Never log it.
    pub fn key_pkcs8(&self) -> Option<&[u8]> {
        use secrecy::ExposeSecret as _;
        self.key_pkcs8.as_ref().map(|k| k.expose_secret())
    }
}

/// Step 2 for every node in one pass, with the private keys of the policy service
/// nodes (all nodes when none runs the policy service) exported under a one-time
/// random password and decrypted in memory, for verification to reuse. Same requests
/// as [`export_admin_certificates`]: the keys come with the certificates.
pub async fn export_admin_certificates_with_keys(
    ise: &IseClient,
) -> Result<Step<Vec<AdminKeyMaterial>>, Error> {
    use futures_util::StreamExt as _;
    let nodes = deployment_nodes(ise).await?;
    let any_psn = nodes.iter().any(is_policy_service);
    let password = crate::verify::random_password()?;
    let exported = futures_util::stream::iter(nodes.into_iter().map(|node| {
        let with_key = !any_psn || is_policy_service(&node);
        let kind = if with_key {
            ExportKind::WithPrivateKey(secrecy::SecretString::from(password.clone()))
        } else {
            ExportKind::CertificateOnly
        };
        let password = password.clone();
        async move {
            let (admin, key) = export_node(ise, node, &kind).await?;
            let key_pkcs8 = match key {
                Some(k) if with_key => Some(secrecy::SecretSlice::from(
                    crate::verify::decrypt_pkcs8_pem(k.pem(), &password)?,
                )),
                Some(_) | None if with_key => {
                    return Err(Error::AdminKey {
                        what: format!(
                            "ISE's export of {} holds no private key",
                            admin.node.hostname
                        ),
                    });
                }
                _ => None,
            };
            Ok::<_, Error>(AdminKeyMaterial { admin, key_pkcs8 })
        }
    }))
    .buffered(EXPORTS_AT_ONCE)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Step::unchanged(exported))
}

/// The key name the Azure portal check expects: `CN=<common name>`.
pub fn key_display_name(cert: &Certificate) -> String {
    format!(
        "CN={}",
        cert.common_name().unwrap_or_else(|| cert.subject())
    )
}

/// RFC 3339 in UTC with whole seconds, as Graph writes `endDateTime`.
fn iso(t: time::OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// What step 3 decides for several certificates: `Updated` when any is missing.
pub fn keys_outcome(keys: &[KeyCredential], certs: &[&Certificate]) -> Outcome {
    certs
        .iter()
        .fold(Outcome::Unchanged, |o, c| o.and(key_outcome(keys, c)))
}

/// What step 3 decides from the application's keys: `Unchanged` when a key with the
/// certificate's SHA-1 thumbprint is registered, `Updated` (add it) otherwise.
pub fn key_outcome(keys: &[KeyCredential], cert: &Certificate) -> Outcome {
    let sha1 = cert.sha1().to_hex();
    if keys
        .iter()
        .any(|k| k.thumbprint_hex().as_deref() == Some(sha1.as_str()))
    {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}

/// The key credential step 3 registers for `cert`: named `CN=<common name>`, valid
/// as long as the certificate.
pub fn certificate_key(cert: &Certificate) -> CertificateKey {
    CertificateKey {
        der: cert.der().to_vec(),
        display_name: key_display_name(cert),
        start_date_time: Some(iso(cert.not_before())),
        end_date_time: Some(iso(cert.not_after())),
    }
}

/// Step 3: adds ISE's certificate to the application's keys (keeping every other key),
/// then checks that Entra ID holds a key with ISE's SHA-1 thumbprint and the
/// certificate's name.
pub async fn upload_certificate(
    graph: &GraphClient,
    app: &RegisteredApp,
    cert: &Certificate,
) -> Result<Step<String>, Error> {
    upload_certificates(graph, app, &[cert])
        .await
        .map(|s| s.map(|mut v| v.remove(0)))
}

/// Step 3 for every node: adds the certificates the application lacks in one write
/// (keeping every other key), then checks each thumbprint and name. Returns the
/// thumbprints, in order.
pub async fn upload_certificates(
    graph: &GraphClient,
    app: &RegisteredApp,
    certs: &[&Certificate],
) -> Result<Step<Vec<String>>, Error> {
    upload_certificates_knowing(graph, &app.object_id, certs, None).await
}

/// [`upload_certificates`] to the application with this object id when its keys are
/// already known (`known`: with their material, as Graph answered the application
/// [`application_from`] created just now), so they are not read again. `None` reads
/// them. Either way the write merges, never dropping a key.
pub async fn upload_certificates_knowing(
    graph: &GraphClient,
    object_id: &str,
    certs: &[&Certificate],
    known: Option<Vec<KeyCredential>>,
) -> Result<Step<Vec<String>>, Error> {
    let handle = graph.application(object_id.to_owned());
    // One read (unless known), merged into and written only when a key is missing,
    // never dropping one; the keys checked below are the ones Graph answered or was
    // sent.
    let wanted: Vec<CertificateKey> = certs.iter().map(|c| certificate_key(c)).collect();
    let change = match known {
        Some(current) => handle.add_certificates_to(current, &wanted).await?,
        None => handle.add_certificates(&wanted).await?,
    };
    let outcome = Outcome::from(&change);
    let keys = change.into_inner();
    let mut thumbprints = Vec::new();
    for cert in certs {
        thumbprints.push(check_registered(&keys, cert)?);
    }
    Ok(Step::new(outcome, thumbprints))
}

/// The certificate's thumbprint when a key with it and the certificate's name is
/// registered.
fn check_registered(keys: &[KeyCredential], cert: &Certificate) -> Result<String, Error> {
    let ise = cert.sha1().to_hex();
    let registered = keys
        .iter()
        .find(|k| k.thumbprint_hex().as_deref() == Some(ise.as_str()))
        .ok_or_else(|| Error::ThumbprintMismatch {
            ise: ise.clone(),
            entra: keys.iter().filter_map(|k| k.thumbprint_hex()).collect(),
        })?;
    let expected = key_display_name(cert);
    match registered.display_name.as_deref() {
        Some(found) if !found.eq_ignore_ascii_case(&expected) => {
            return Err(Error::KeyNameMismatch {
                expected,
                found: found.to_owned(),
            });
        }
        _ => {}
    }
    Ok(ise)
}

/// Step 4's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GrantedPermissions {
    /// Intune API `get_device_compliance` role id.
    pub get_device_compliance: String,
    /// Graph `Application.Read.All` role id.
    pub application_read_all: String,
}

/// The permissions step 4 grants, resolved in the tenant: the resource service
/// principals and the role ids they publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PermissionTargets {
    /// The Microsoft Intune API service principal's object id.
    pub intune_resource_id: String,
    /// The Microsoft Graph service principal's object id.
    pub graph_resource_id: String,
    /// The role ids granted.
    pub roles: GrantedPermissions,
}

impl PermissionTargets {
    /// The `requiredResourceAccess` entries to add.
    pub fn required_access(&self) -> [RequiredResourceAccess; 2] {
        [
            RequiredResourceAccess {
                resource_app_id: INTUNE_API_APP_ID.into(),
                resource_access: vec![ResourceAccess::role(
                    self.roles.get_device_compliance.clone(),
                )],
            },
            RequiredResourceAccess {
                resource_app_id: MICROSOFT_GRAPH_APP_ID.into(),
                resource_access: vec![ResourceAccess::role(
                    self.roles.application_read_all.clone(),
                )],
            },
        ]
    }

    /// The (resource service principal id, app role id) pairs to hold.
    pub fn grants(&self) -> [(&str, &str); 2] {
        [
            (
                self.intune_resource_id.as_str(),
                self.roles.get_device_compliance.as_str(),
            ),
            (
                self.graph_resource_id.as_str(),
                self.roles.application_read_all.as_str(),
            ),
        ]
    }
}

/// Resolves the Intune API and Graph service principals and their role ids (the ids
/// the tenant publishes, else the documented ones).
pub async fn permission_targets(graph: &GraphClient) -> Result<PermissionTargets, Error> {
    let sps = graph.service_principals();
    let (intune, graph_sp) = tokio::try_join!(
        sps.by_app_id(INTUNE_API_APP_ID),
        sps.by_app_id(MICROSOFT_GRAPH_APP_ID)
    )?;
    let missing = |name: &str| Error::Config {
        what: format!(
            "the tenant has no service principal for {name}: it needs an Intune licence \
             (Microsoft Intune API) and Microsoft Graph"
        ),
    };
    let intune = intune.ok_or_else(|| missing("Microsoft Intune API"))?;
    let graph_sp = graph_sp.ok_or_else(|| missing("Microsoft Graph"))?;
    let compliance = intune
        .app_role_by_value(GET_DEVICE_COMPLIANCE)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| GET_DEVICE_COMPLIANCE_ROLE_ID.into());
    let read_all = graph_sp
        .app_role_by_value(APPLICATION_READ_ALL)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| APPLICATION_READ_ALL_ROLE_ID.into());
    Ok(PermissionTargets {
        intune_resource_id: intune.id,
        graph_resource_id: graph_sp.id,
        roles: GrantedPermissions {
            get_device_compliance: compliance,
            application_read_all: read_all,
        },
    })
}

/// What step 4 decides about `requiredResourceAccess`: `Updated` when adding the
/// permissions changes it, `Unchanged` when they are all requested already.
pub fn access_outcome(current: &[RequiredResourceAccess], targets: &PermissionTargets) -> Outcome {
    if merge_access(current, &targets.required_access()) == current {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}

/// What step 4 decides about admin consent: the grants not yet held (compared by
/// resource and role id).
pub fn missing_grants<'a>(
    held: &[AppRoleAssignment],
    targets: &'a PermissionTargets,
) -> Vec<(&'a str, &'a str)> {
    targets
        .grants()
        .into_iter()
        .filter(|(resource, role)| {
            !held.iter().any(|a| {
                a.resource_id.eq_ignore_ascii_case(resource)
                    && a.app_role_id.eq_ignore_ascii_case(role)
            })
        })
        .collect()
}

/// Step 4: requests Intune `get_device_compliance` and Graph `Application.Read.All`
/// and grants admin consent (app role assignments), keeping any other permission.
pub async fn grant_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
) -> Result<Step<GrantedPermissions>, Error> {
    let targets = permission_targets(graph).await?;
    grant_permissions_to(graph, app, &targets).await
}

/// Step 4 with the targets already resolved (see [`permission_targets`]).
pub async fn grant_permissions_to(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
) -> Result<Step<GrantedPermissions>, Error> {
    grant_permissions_knowing(graph, app, targets, None).await
}

/// [`grant_permissions_to`] when the service principal's assignments are already
/// known (`held`; an empty list for a service principal created just now), so they are
/// not read again. A grant that exists after all is refused by Graph as a duplicate
/// and read as `Unchanged`.
pub async fn grant_permissions_knowing(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
    held: Option<Vec<AppRoleAssignment>>,
) -> Result<Step<GrantedPermissions>, Error> {
    // A service principal created just now belongs to an application created just
    // now, which requests nothing yet: its permissions are set without a read.
    let fresh = held.as_ref().is_some_and(Vec::is_empty);
    // The requested permissions and the consent grants are independent: both at once,
    // and both run to their end even when one fails, so that what is sent does not
    // depend on which finishes first.
    let (requested, consented) = tokio::join!(
        request_permissions(graph, &app.object_id, targets, fresh.then(Vec::new)),
        consent_permissions(graph, &app.service_principal_id, targets, held),
    );
    let (requested, consented) = (requested?, consented?);
    Ok(Step::new(requested.and(consented), targets.roles.clone()))
}

/// The first half of step 4: adds the two permissions to the application's
/// `requiredResourceAccess`, keeping every other entry. `known` is the current list
/// when the caller holds it (as Graph answered an application created just now), so it
/// is not read again; `None` reads it.
pub async fn request_permissions(
    graph: &GraphClient,
    object_id: &str,
    targets: &PermissionTargets,
    known: Option<Vec<RequiredResourceAccess>>,
) -> Result<Outcome, Error> {
    let handle = graph.application(object_id.to_owned());
    let wanted = targets.required_access();
    let change = match known {
        Some(current) => {
            handle
                .merge_required_resource_access_into(current, &wanted)
                .await?
        }
        None => handle.merge_required_resource_access(&wanted).await?,
    };
    Ok(Outcome::from(&change))
}

/// The second half of step 4: admin consent, the app role assignments of the service
/// principal with this object id not yet held. `held` is what it holds when known
/// (an empty list for a service principal created just now); `None` reads it. A
/// grant that exists after all is refused by Graph as a duplicate and read as
/// `Unchanged`.
pub async fn consent_permissions(
    graph: &GraphClient,
    service_principal_id: &str,
    targets: &PermissionTargets,
    held: Option<Vec<AppRoleAssignment>>,
) -> Result<Outcome, Error> {
    let principal = graph.service_principal(service_principal_id.to_owned());
    let held = match held {
        Some(h) => h,
        None => principal.app_role_assignments()?.all().await?,
    };
    let missing = missing_grants(&held, targets);
    // Graph refuses a duplicate assignment, read as Unchanged: no second read.
    let results = futures_util::future::join_all(
        missing
            .iter()
            .map(|(resource, role)| principal.assign_app_role(resource, role)),
    )
    .await;
    let mut outcome = Outcome::Unchanged;
    for result in results {
        match result {
            Ok(c) if c.is_write() => outcome = outcome.and(Outcome::Updated),
            Ok(_) => {}
            // An identity without AppRoleAssignment.ReadWrite.All (the operator
            // profile): an administrator grants consent (`admin_consent_instructions`).
            Err(graph_client::Error::Api { status: 403, .. }) => {
                outcome = outcome.and(Outcome::ManualActionRequired);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(outcome)
}

/// What a privileged administrator does when the automating identity may not grant
/// admin consent itself: the admin-consent URL and the exact grants to approve.
pub fn admin_consent_instructions(graph: &GraphClient, app: &RegisteredApp) -> String {
    format!(
        "Admin consent is needed, and the automating identity may not grant it (it lacks \
         AppRoleAssignment.ReadWrite.All). A privileged administrator (Privileged Role \
         Administrator, Cloud Application Administrator or Global Administrator) approves \
         these application permissions of `{name}` (client id {client_id}):\n\
         \x20 - Microsoft Intune API ({intune}): get_device_compliance\n\
         \x20 - Microsoft Graph ({graph_app}): Application.Read.All\n\
         by opening\n\
         \x20 {login}/{tenant}/adminconsent?client_id={client_id}\n\
         (or Entra admin center > App registrations > {name} > API permissions > Grant \
         admin consent), then runs onboard again.",
        name = app.display_name,
        client_id = app.client_id,
        intune = INTUNE_API_APP_ID,
        graph_app = MICROSOFT_GRAPH_APP_ID,
        login = graph.login_authority().as_str().trim_end_matches('/'),
        tenant = graph.tenant_id(),
    )
}

/// What ISE's External MDM form needs from Entra ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppDetails {
    /// Application (client) id.
    pub client_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// v2 token endpoint ("Token Issuing URL").
    pub token_endpoint: String,
    /// Graph origin ("Auto Discovery URL").
    pub auto_discovery_url: String,
}

/// Step 4b: the application's details for ISE (no request is sent).
pub fn app_details(graph: &GraphClient, app: &RegisteredApp) -> AppDetails {
    let base = graph.graph_base();
    AppDetails {
        client_id: app.client_id.clone(),
        tenant_id: graph.tenant_id().to_owned(),
        token_endpoint: graph.token_endpoint(),
        auto_discovery_url: base.origin().ascii_serialization(),
    }
}

/// One anchor's import result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AnchorImport {
    /// Anchor name.
    pub name: String,
    /// SHA-256 (uppercase hex).
    pub sha256: String,
    /// `Created` when imported now, `Unchanged` when it was already trusted.
    pub outcome: Outcome,
    /// What ISE said on import, if it was sent.
    pub message: Option<String>,
}

/// The import request for one anchor: trusted for authentication within ISE and for
/// Cisco services, nothing else.
pub fn anchor_import_request(anchor: &TrustAnchor) -> TrustedCertificateImport {
    let name: String = anchor
        .name()
        .chars()
        .map(|c| if matches!(c, '\'' | ',') { ' ' } else { c })
        .collect();
    let mut req = TrustedCertificateImport::new(name, anchor.certificate().to_pem());
    req.description = Some("Microsoft Intune trust anchor imported by ise-intune".into());
    req.trust_for_ise_auth = true;
    req.trust_for_cisco_services_auth = true;
    req
}

/// The SHA-256 fingerprints of every certificate in ISE's trusted store.
pub async fn trusted_fingerprints(ise: &IseClient) -> Result<Vec<Sha256Fingerprint>, Error> {
    Ok(ise
        .trusted_certificates()
        .list(&[])
        .await?
        .iter()
        .filter_map(|t| t.sha256_hex())
        .filter_map(|h| h.parse().ok())
        .collect())
}

/// What step 5 does for one anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorAction {
    /// In the store, enabled and trusted for what the integration needs.
    Keep,
    /// In the store but disabled or lacking a trust flag: updated in place.
    Fix {
        /// The store entry.
        id: String,
        /// The update (its other settings kept).
        update: TrustedCertificateUpdate,
    },
    /// Not in the store (by SHA-256): imported.
    Import,
}

/// Whether a store entry serves the integration: enabled, trusted for authentication
/// within ISE (TLS to Microsoft) and for Cisco services.
fn serves_integration(update: &TrustedCertificateUpdate) -> bool {
    update.enabled && update.trust_for_ise_auth && update.trust_for_cisco_services_auth
}

/// Step 5's decision for each anchor from the store as read: a root counts as present
/// only when a certificate with its SHA-256 is there, whatever its friendly name.
pub fn anchor_actions<'a>(
    store: &[TrustedCertificate],
    anchors: &'a TrustAnchorSet,
) -> Vec<(&'a TrustAnchor, AnchorAction)> {
    anchors
        .anchors()
        .iter()
        .map(|anchor| {
            let sha = anchor.certificate().sha256().to_hex();
            let action = match store
                .iter()
                .find(|t| t.sha256_hex().as_deref() == Some(sha.as_str()))
            {
                None => AnchorAction::Import,
                Some(t) => {
                    let mut update = TrustedCertificateUpdate::keeping(t);
                    if serves_integration(&update) {
                        AnchorAction::Keep
                    } else {
                        update.enabled = true;
                        update.trust_for_ise_auth = true;
                        update.trust_for_cisco_services_auth = true;
                        AnchorAction::Fix {
                            id: t.id.clone(),
                            update,
                        }
                    }
                }
            };
            (anchor, action)
        })
        .collect()
}

/// The outcome step 5 has for these actions.
pub fn anchors_outcome(actions: &[(&TrustAnchor, AnchorAction)]) -> Outcome {
    actions.iter().fold(Outcome::Unchanged, |o, (_, a)| {
        o.and(match a {
            AnchorAction::Keep => Outcome::Unchanged,
            AnchorAction::Fix { .. } => Outcome::Updated,
            AnchorAction::Import => Outcome::Created,
        })
    })
}

/// How many other names an import tries when another certificate holds the anchor's.
const NAME_ATTEMPTS: usize = 4;

/// Imports one anchor; when another certificate holds its friendly name, imports it
/// under `<name> (ise-intune)`, `<name> (ise-intune 2)`, ... and says so.
async fn import_anchor(ise: IseClient, anchor: TrustAnchor) -> Result<AnchorImport, Error> {
    let base = anchor_import_request(&anchor);
    let mut clashes = Vec::new();
    for attempt in 0..NAME_ATTEMPTS {
        let mut req = base.clone();
        if attempt > 0 {
            req.name = match attempt {
                1 => format!("{} (ise-intune)", base.name),
                n => format!("{} (ise-intune {n})", base.name),
            };
        }
        let outcome = ise.trusted_certificates().import(&req).await?;
        let (outcome, message) = match outcome {
            ImportOutcome::Imported { message, .. } => (Outcome::Created, message),
            ImportOutcome::AlreadyPresent { message } => (Outcome::Unchanged, message),
            ImportOutcome::NameTaken { .. } => {
                clashes.push(req.name);
                continue;
            }
            other => (Outcome::Unchanged, format!("{other:?}")),
        };
        let message = if clashes.is_empty() {
            message
        } else {
            format!(
                "{message}; imported as `{}` because another certificate holds `{}`",
                req.name,
                clashes.join("`, `")
            )
        };
        return Ok(AnchorImport {
            name: anchor.name().into(),
            sha256: anchor.certificate().sha256().to_hex(),
            outcome,
            message: Some(message),
        });
    }
    Err(Error::AnchorNameTaken {
        anchor: anchor.name().into(),
        names: clashes,
    })
}

/// Step 5: makes every anchor trusted in ISE's store: imports what is missing (by
/// SHA-256; a friendly-name clash imports under another name), enables and sets the
/// trust flags of present roots that lack them (keeping their other settings), and
/// never removes anything. Imports and fixes run in parallel.
pub async fn import_trust_anchors(
    ise: &IseClient,
    anchors: &TrustAnchorSet,
) -> Result<Step<Vec<AnchorImport>>, Error> {
    let store = ise.trusted_certificates().list(&[]).await?;
    import_trust_anchors_in(ise, anchors, &store).await
}

/// Step 5 against the store as already read (`store`).
pub async fn import_trust_anchors_in(
    ise: &IseClient,
    anchors: &TrustAnchorSet,
    store: &[TrustedCertificate],
) -> Result<Step<Vec<AnchorImport>>, Error> {
    let actions = anchor_actions(store, anchors);
    let mut results = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (anchor, action) in actions {
        let sha256 = anchor.certificate().sha256().to_hex();
        match action {
            AnchorAction::Keep => results.push(AnchorImport {
                name: anchor.name().into(),
                sha256,
                outcome: Outcome::Unchanged,
                message: None,
            }),
            AnchorAction::Fix { id, update } => {
                let ise = ise.clone();
                let name = anchor.name().to_owned();
                tasks.spawn(async move {
                    ise.trusted_certificates().update(&id, &update).await?;
                    Ok(AnchorImport {
                        name,
                        sha256,
                        outcome: Outcome::Updated,
                        message: Some(format!(
                            "`{}` enabled and trusted for authentication within ISE and Cisco services",
                            update.name
                        )),
                    })
                });
            }
            AnchorAction::Import => {
                tasks.spawn(import_anchor(ise.clone(), anchor.clone()));
            }
        }
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(Error::Task(e));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let outcome = results
        .iter()
        .fold(Outcome::Unchanged, |o, r| o.and(r.outcome));
    Ok(Step::new(outcome, results))
}

/// Step 6: creates or updates the External MDM server through a configurator.
pub async fn configure_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    settings: &MdmServerSettings,
) -> Result<Step<()>, Error> {
    configurator.apply(settings).await
}

/// Step 7: disables, tests and re-enables the External MDM server after a certificate
/// change.
pub async fn cycle_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    name: &str,
) -> Result<Step<()>, Error> {
    configurator.cycle(name).await
}
