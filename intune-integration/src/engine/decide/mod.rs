//! The decisions of the seven steps, as pure functions over what was read: plan,
//! apply and doctor decide through these same functions, so what a plan shows is what
//! a run does and what a diagnosis reports. Nothing here sends a request.
//!
//! | Step | Decision |
//! |---|---|
//! | 1 | [`decide_registration`]: existing, adopt, or create |
//! | 3 | [`keys_outcome`] (through graph-client's one key merge, [`merge_keys`]), [`check_registered`] |
//! | 4 | [`access_outcome`] (through [`merge_access`]), [`missing_grants`] |
//! | 5 | [`anchor_actions`], [`anchors_outcome`] |
//! | 6 | [`mdm_settings`] |

pub use crate::error::AppCandidate;
use graph_client::well_known::{INTUNE_API_APP_ID, MICROSOFT_GRAPH_APP_ID};
use graph_client::{
    AppManagementPolicy, AppRoleAssignment, Application, CertificateKey, KeyCredential,
    RequiredResourceAccess, ResourceAccess, TenantAppManagementPolicy, merge_access, merge_keys,
};
use ise_client::{TrustedCertificate, TrustedCertificateImport, TrustedCertificateUpdate};
use serde::Serialize;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::Certificate;
use crate::mdm::MdmServerSettings;
use crate::outcome::Outcome;
use crate::version::IseVersion;

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
/// use intune_integration::decide::unique_name_for;
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
    /// The service principal of the application the registration decides on (found
    /// or adopted) with the grants it holds; `None` when it has none, or when there is
    /// no such application.
    pub principal: Option<PrincipalObservation>,
    /// Step 1's decision from the lookups above, recorded once by
    /// [`AppObservation::decide`] (`observe` makes it when it reads them).
    pub(crate) decided: Option<Decision>,
}

/// Step 1's decision as recorded: the registration, or the hand-made applications it
/// cannot choose between (with the name they share).
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    Made(Registration),
    Ambiguous {
        name: String,
        candidates: Vec<AppCandidate>,
    },
}

impl AppObservation {
    /// The observation with step 1's decision recorded ([`decide_registration`]): what
    /// every workflow then reads through [`Self::registration`], so that one read is
    /// decided once.
    #[must_use]
    pub fn decide(mut self, identity: &AppIdentity) -> Self {
        self.decided = Some(decision_of(&self, &identity.display_name));
        self
    }

    /// Step 1's decision: the one [`Self::decide`] recorded; an observation assembled
    /// by hand without it is decided now, naming an ambiguity by the candidates'
    /// display name.
    pub fn registration(&self) -> Result<Registration, Error> {
        match &self.decided {
            Some(d) => d.clone(),
            None => {
                let name = self
                    .by_display_name
                    .first()
                    .map(|a| a.display_name.as_str());
                decision_of(self, name.unwrap_or_default())
            }
        }
        .into_result()
    }

    /// The application step 1 settles on (found, or to adopt); `None` when it would
    /// create one, or cannot choose.
    pub fn application(&self) -> Option<Application> {
        match self.registration() {
            Ok(Registration::Existing(app) | Registration::Adopt(app)) => Some(app),
            _ => None,
        }
    }
}

/// An application's service principal and the app role assignments it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrincipalObservation {
    /// The service principal.
    pub service_principal: graph_client::ServicePrincipal,
    /// The app role assignments it holds (admin consent given).
    pub held: Vec<graph_client::AppRoleAssignment>,
}

/// Step 1's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registration {
    /// The application carries the uniqueName: use it as it is (marked as the
    /// integration's first, when it is not, [`crate::ownership`]).
    Existing(Application),
    /// Adopt a hand-made application: give it the uniqueName and the marker.
    Adopt(Application),
    /// None exists: create it by upsert.
    Create,
}

impl Registration {
    /// The outcome the decision leads to.
    pub fn outcome(&self) -> Outcome {
        match self {
            // An application from before markers existed is marked (adopted).
            Self::Existing(app) if !crate::ownership::app_is_marked(app) => Outcome::Updated,
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
    decision_of(seen, &identity.display_name).into_result()
}

impl Decision {
    fn into_result(self) -> Result<Registration, Error> {
        match self {
            Self::Made(r) => Ok(r),
            Self::Ambiguous { name, candidates } => Err(Error::AmbiguousApplication {
                name,
                count: candidates.len(),
                candidates,
            }),
        }
    }
}

/// [`decide_registration`]'s decision; `name` names an ambiguity.
fn decision_of(seen: &AppObservation, name: &str) -> Decision {
    if let Some(app) = &seen.by_unique_name {
        return Decision::Made(Registration::Existing(app.clone()));
    }
    if let Some(app) = &seen.by_client_id {
        return Decision::Made(match &app.unique_name {
            Some(_) => Registration::Existing(app.clone()),
            None => Registration::Adopt(app.clone()),
        });
    }
    match seen.by_display_name.as_slice() {
        [] => Decision::Made(Registration::Create),
        [one] => Decision::Made(Registration::Adopt(one.clone())),
        many => Decision::Ambiguous {
            name: name.to_owned(),
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
        },
    }
}

/// What steps 1, 3 and 4 do to Entra ID, decided once from step 1's picture: one
/// outcome per write, and what each needs of the automating identity. Onboarding's
/// plan prints it; its apply checks the rights it needs before the first write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MicrosoftDecision {
    /// Step 1: the application created, adopted (or marked), or as it is.
    pub application: Outcome,
    /// Step 1: its service principal created, or as it is.
    pub principal: Outcome,
    /// Step 3: ISE's keys added, or all there.
    pub keys: Outcome,
    /// Step 4: the requested permissions added, or all there.
    pub requested: Outcome,
    /// Step 4: admin consent granted, or all there.
    pub consent: Outcome,
    /// The application's client id; `None` when it is to be created.
    pub client_id: Option<String>,
    /// Keys the application holds that step 3 keeps.
    pub kept_keys: usize,
    /// Admin consent grants missing.
    pub missing_grants: usize,
}

impl MicrosoftDecision {
    /// Step 1's outcome (application and principal).
    pub fn register(&self) -> Outcome {
        self.application.and(self.principal)
    }

    /// Step 4's outcome (permissions and consent).
    pub fn grant(&self) -> Outcome {
        self.requested.and(self.consent)
    }

    /// The application writes the decision needs, described (for
    /// [`crate::rights::graph_blockers`]); consent is not among them: an identity that
    /// may not grant it gets the admin-consent URL instead.
    pub fn writes(&self) -> Vec<&'static str> {
        if self.client_id.is_none() {
            // A new application: every write (its keys even before ISE's are known).
            return vec![
                "register the application",
                "add ISE's key(s) to it",
                "request its permissions",
            ];
        }
        [
            (self.application, "adopt or update the application"),
            (self.principal, "create its service principal"),
            (self.keys, "add ISE's key(s) to it"),
            (self.requested, "request its permissions"),
        ]
        .into_iter()
        .filter(|(outcome, _)| outcome.is_write())
        .map(|(_, write)| write)
        .collect()
    }
}

/// Steps 1, 3 and 4's decision from `seen` (its recorded registration), the nodes'
/// `certs` and the permission `targets`; an ambiguous registration is its error.
pub fn microsoft(
    seen: &AppObservation,
    certs: &[&Certificate],
    targets: &PermissionTargets,
) -> Result<MicrosoftDecision, Error> {
    let registration = seen.registration()?;
    let application = registration.outcome();
    let (Registration::Existing(app) | Registration::Adopt(app)) = registration else {
        return Ok(MicrosoftDecision {
            application,
            // Created with the application (step 1's upsert).
            principal: Outcome::Unchanged,
            keys: keys_outcome(&[], certs),
            requested: access_outcome(&[], targets),
            consent: Outcome::Unchanged,
            client_id: None,
            kept_keys: 0,
            missing_grants: 2,
        });
    };
    let sp = seen.principal.as_ref();
    let held = sp.map(|p| p.held.clone()).unwrap_or_default();
    let missing = missing_grants(&held, targets).len();
    Ok(MicrosoftDecision {
        application,
        principal: if sp.is_some() {
            Outcome::Unchanged
        } else {
            Outcome::Created
        },
        keys: keys_outcome(&app.key_credentials, certs),
        requested: access_outcome(&app.required_resource_access, targets),
        consent: if missing == 0 {
            Outcome::Unchanged
        } else {
            Outcome::Updated
        },
        client_id: Some(app.app_id),
        kept_keys: app.key_credentials.len(),
        missing_grants: missing,
    })
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

/// What step 3 decides from the application's keys: `Updated` when graph-client's one
/// key merge ([`merge_keys`]) adds any of `certs` (a thumbprint no key carries),
/// `Unchanged` when every certificate is registered already.
pub fn keys_outcome(keys: &[KeyCredential], certs: &[&Certificate]) -> Outcome {
    let wanted: Vec<CertificateKey> = certs.iter().map(|c| certificate_key(c)).collect();
    if merge_keys(keys, &wanted).len() == keys.len() {
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

/// The certificate's thumbprint when a key with it and the certificate's name is
/// registered.
pub fn check_registered(keys: &[KeyCredential], cert: &Certificate) -> Result<String, Error> {
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

/// The import request for one anchor: trusted for authentication within ISE and for
/// Cisco services, nothing else.
pub fn anchor_import_request(anchor: &TrustAnchor) -> TrustedCertificateImport {
    let name: String = anchor
        .name()
        .chars()
        .map(|c| if matches!(c, '\'' | ',') { ' ' } else { c })
        .collect();
    let mut req = TrustedCertificateImport::new(name, anchor.certificate().to_pem());
    req.description = Some(crate::ownership::TRUST_DESCRIPTION.into());
    req.trust_for_ise_auth = true;
    req.trust_for_cisco_services_auth = true;
    req
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

/// The description that records what fixing `t` (as `current` reads it) turns on, so
/// that offboarding can turn it off again ([`crate::ownership::enabled_description`]);
/// `None` for a certificate the integration imported itself (it is removed whole).
fn enabled_record(t: &TrustedCertificate, current: &TrustedCertificateUpdate) -> Option<String> {
    use crate::ownership::{self, EnabledFlag};
    if ownership::trusted_is_marked(t) {
        return None;
    }
    let (original, mut flags) = ownership::enabled_by_onboarding(t.description.as_deref())
        .unwrap_or_else(|| (t.description.clone().unwrap_or_default(), Vec::new()));
    // ISE's API refuses a description with an apostrophe or a comma ("Security Check
    // Failed"), though its GUI may have stored one: such a description is left as it
    // is, unrecorded (offboarding then leaves this root's trust as it finds it).
    if original.contains(['\'', ',']) {
        return None;
    }
    for (off, flag) in [
        (!current.enabled, EnabledFlag::Status),
        (!current.trust_for_ise_auth, EnabledFlag::IseAuth),
        (
            !current.trust_for_cisco_services_auth,
            EnabledFlag::CiscoServices,
        ),
    ] {
        if off && !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    Some(ownership::enabled_description(Some(&original), &flags))
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
                        update.description = enabled_record(t, &update);
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

/// Why the tenant's app-management policy would refuse one of ISE's certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyPolicyRefusal {
    /// The policy (its id, and display name when it has one).
    pub policy: String,
    /// The restriction's longest lifetime (ISO 8601, e.g. `P90D`).
    pub max_lifetime: String,
    /// The certificate refused (`CN=…`, SHA-1).
    pub certificate: String,
    /// Its lifetime in days.
    pub lifetime_days: i64,
    /// The restriction is `trustedCertificateAuthority` (keys must chain to a CA the
    /// tenant trusts for applications) and the certificate is self-signed; otherwise
    /// it is `asymmetricKeyLifetime`, refusing the certificate's lifetime.
    pub trusted_ca_only: bool,
}

/// Step 3's check before writing: whether an app-management policy restricts key
/// lifetimes below one of `certs`' validity. The application's own enabled policy takes
/// precedence over the tenant's default (Microsoft Learn, "Microsoft Entra application
/// management policies"); a restriction with `restrictForAppsCreatedAfterDateTime`
/// applies only to applications created after it (and to one whose creation date is
/// unknown).
pub fn key_policy_refusal(
    tenant: Option<&TenantAppManagementPolicy>,
    assigned: &[AppManagementPolicy],
    app_created: Option<&str>,
    certs: &[&Certificate],
) -> Option<KeyPolicyRefusal> {
    let (policy, restrictions) = match assigned.iter().find(|p| p.is_enabled) {
        Some(p) => {
            let name = match &p.display_name {
                Some(n) => format!("{} ({n})", p.id),
                None => p.id.clone(),
            };
            (name, p.restrictions.as_ref()?)
        }
        None => {
            let t = tenant.filter(|t| t.is_enabled)?;
            (
                format!("{} (the tenant's default)", t.id),
                t.application_restrictions.as_ref()?,
            )
        }
    };
    let rfc3339 = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    let created = app_created.and_then(rfc3339);
    for r in &restrictions.key_credentials {
        let caps_lifetime = r
            .restriction_type
            .eq_ignore_ascii_case("asymmetricKeyLifetime");
        let trusted_ca = r
            .restriction_type
            .eq_ignore_ascii_case("trustedCertificateAuthority");
        if !caps_lifetime && !trusted_ca {
            continue;
        }
        let applies = match (
            r.restrict_for_apps_created_after_date_time
                .as_deref()
                .and_then(rfc3339),
            created,
        ) {
            (Some(after), Some(created)) => created > after,
            _ => true,
        };
        if !applies {
            continue;
        }
        if trusted_ca {
            // A self-signed certificate chains to no CA the tenant could trust (a
            // CA-issued one is Entra's to judge against its configuration).
            if let Some(cert) = certs.iter().find(|c| c.subject() == c.issuer()) {
                return Some(KeyPolicyRefusal {
                    policy,
                    max_lifetime: String::new(),
                    certificate: format!("{} (SHA-1 {})", key_display_name(cert), cert.sha1()),
                    lifetime_days: (cert.not_after() - cert.not_before()).whole_days(),
                    trusted_ca_only: true,
                });
            }
            continue;
        }
        let Some(max) = r.max_lifetime.as_deref().and_then(iso8601_duration) else {
            continue;
        };
        for cert in certs {
            let lifetime = cert.not_after() - cert.not_before();
            if lifetime > max {
                return Some(KeyPolicyRefusal {
                    policy,
                    max_lifetime: r.max_lifetime.clone().unwrap_or_default(),
                    certificate: format!("{} (SHA-1 {})", key_display_name(cert), cert.sha1()),
                    lifetime_days: lifetime.whole_days(),
                    trusted_ca_only: false,
                });
            }
        }
    }
    None
}

/// An ISO 8601 duration (`P[nY][nM][nW][nD][T[nH][nM][nS]]`) with a year counted as 365
/// days and a month as 30 (Graph's policies use days in practice, e.g. `P90D`).
pub fn iso8601_duration(text: &str) -> Option<time::Duration> {
    let rest = text.trim().strip_prefix(['P', 'p'])?;
    let (date, clock) = match rest.split_once(['T', 't']) {
        Some((d, c)) => (d, Some(c)),
        None => (rest, None),
    };
    let mut seconds: i64 = 0;
    let mut add = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (_, unit) = units.iter().find(|(u, _)| u.eq_ignore_ascii_case(&c))?;
            let n: i64 = number.parse().ok()?;
            seconds = seconds.checked_add(n.checked_mul(*unit)?)?;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    const DAY: i64 = 86_400;
    add(
        date,
        &[
            ('Y', 365 * DAY),
            ('M', 30 * DAY),
            ('W', 7 * DAY),
            ('D', DAY),
        ],
    )?;
    if let Some(c) = clock {
        add(c, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    Some(time::Duration::seconds(seconds))
}

/// The External MDM settings step 6 writes (and doctor compares with): the release's
/// token audience and URLs, the application's client id, the tenant's token endpoint,
/// the Graph origin, and the nodes' certificate thumbprints.
pub fn mdm_settings(
    version: &IseVersion,
    intune_resource: &str,
    server_name: &str,
    client_id: &str,
    token_endpoint: String,
    graph_origin: String,
    certificates: &[&Certificate],
) -> Result<MdmServerSettings, Error> {
    Ok(MdmServerSettings::for_release_in(
        version,
        intune_resource,
        server_name.to_owned(),
        client_id.to_owned(),
        token_endpoint,
        graph_origin,
    )?
    .with_ise_certificates(certificates.iter().map(|c| c.sha1().to_hex())))
}

#[cfg(test)]
mod tests;
