//! Checks of the integration's application: registration, keys, service principal,
//! permissions, consent, and the automating identity's profile.

use super::Diagnosis;
use super::Expiry;
use super::ExpiryKind;
use super::Finding;
use super::Severity;
use super::days;
use super::expiry_stage;
use super::ids;
use super::unavailable;
use crate::Error;
use crate::context::Integration;
use crate::decide;
use crate::decide::PermissionTargets;
use crate::keys::AdminCertificate;
use crate::observe::Microsoft;
use crate::outcome::Outcome;
use serde::Serialize;
use time::OffsetDateTime;

/// The application's checks, judged from Microsoft's side of the picture:
/// registration of every node's key (`admins`: none when ISE could not be read), key
/// expiry, the app-management policy, permissions, the service principal and consent,
/// and the automating identity's profile.
pub(super) fn app_checks(
    ctx: &Integration,
    microsoft: &Microsoft,
    admins: &[AdminCertificate],
    at: OffsetDateTime,
) -> Diagnosis {
    let mut d = Diagnosis::default();
    if let Ok(Some(roles)) = &microsoft.roles {
        profile_finding(&mut d, roles);
    }
    if let Err(e) = app_findings(ctx, &mut d, microsoft, admins, at) {
        unavailable(&mut d, e);
    }
    d
}

/// `app.unmarked` (information) for an application without the ownership marker.
fn marker_finding(d: &mut Diagnosis, app: &graph_client::Application) {
    if crate::ownership::app_is_marked(app) {
        return;
    }
    d.push(
        ids::APP_UNMARKED,
        Severity::Info,
        None,
        format!(
            "the application `{}` does not carry ise-intune's marker",
            app.display_name
        ),
        format!(
            "client id {}: no tag `{}`",
            app.app_id,
            crate::ownership::APP_TAG
        ),
        "run onboard once to mark it (offboarding removes only marked objects, or those \
         named with --adopt)",
    );
}

fn app_findings<'o>(
    ctx: &Integration,
    d: &mut Diagnosis,
    microsoft: &'o Microsoft,
    admins: &[AdminCertificate],
    at: OffsetDateTime,
) -> Result<(), &'o Error> {
    let identity = ctx.options.app_identity();
    let seen = microsoft.app.as_ref()?;
    let app = match seen.registration() {
        Ok(decide::Registration::Existing(app) | decide::Registration::Adopt(app)) => app,
        Ok(_) => {
            d.push(
                ids::APP_MISSING,
                Severity::Error,
                None,
                format!("no application `{}`", ctx.options.app_display_name),
                format!("no application with uniqueName {}", identity.unique_name),
                "run onboard (step 1 registers it)",
            );
            // The policy onboarding would meet (the tenant's default).
            if let Some(Ok(policies)) = &microsoft.key_policies {
                key_policy_finding(d, policies, None, admins);
            }
            return Ok(());
        }
        Err(e) => {
            d.push(
                ids::APP_MISSING,
                Severity::Error,
                None,
                "the integration's application is ambiguous",
                e.to_string(),
                "set app_client_id to the application ISE uses, or delete the others",
            );
            return Ok(());
        }
    };
    marker_finding(d, &app);
    let targets = microsoft.targets.as_ref()?;
    key_findings(
        d,
        &app.key_credentials,
        admins,
        at,
        &ctx.options.expiry_thresholds_days,
    );
    if let Some(policies) = &microsoft.key_policies {
        key_policy_finding(
            d,
            policies.as_ref()?,
            app.created_date_time.as_deref(),
            admins,
        );
    }
    if decide::access_outcome(&app.required_resource_access, targets) != Outcome::Unchanged {
        d.push(
            ids::APP_PERMISSION_MISSING,
            Severity::Error,
            None,
            "the application does not request get_device_compliance and \
             Application.Read.All",
            format!(
                "requiredResourceAccess holds {} resource(s)",
                app.required_resource_access.len()
            ),
            "run onboard (step 4), or in Entra ID: App registrations > API permissions > \
             Add: Intune get_device_compliance and Microsoft Graph Application.Read.All \
             (Application)",
        );
    }
    principal_findings(d, seen.principal.as_ref(), targets, &app.app_id);
    Ok(())
}

/// The application's keys against the nodes' Admin certificates: a node's key missing
/// (through [`decide::keys_outcome`], the decision step 3 makes), keys expired or
/// expiring, keys no node uses.
pub(super) fn key_findings(
    d: &mut Diagnosis,
    keys: &[graph_client::KeyCredential],
    admins: &[AdminCertificate],
    now: OffsetDateTime,
    thresholds: &[u32],
) {
    let node_sha1: Vec<String> = admins
        .iter()
        .map(|a| a.certificate.sha1().to_hex())
        .collect();
    for a in admins {
        if decide::keys_outcome(keys, &[&a.certificate]).is_write() {
            let host = a.node.hostname.as_str();
            d.push(
                ids::NODE_KEY_NOT_REGISTERED,
                Severity::Error,
                Some(host),
                format!("{host}'s Admin certificate is not a key of the application"),
                format!(
                    "SHA-1 {} is not among the application's thumbprints [{}]",
                    a.certificate.sha1(),
                    keys.iter()
                        .filter_map(|k| k.thumbprint_hex())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "run rotate (adds the key, cycles the MDM server, verifies) or onboard \
                 (step 3 uploads it)",
            );
        }
    }
    for k in keys {
        let thumb = k.thumbprint_hex().unwrap_or_else(|| "?".into());
        let name = k.display_name.clone().unwrap_or_default();
        let end = k.end_date_time.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
        if let Some(end) = end {
            d.expiries.push(Expiry {
                subject: if name.is_empty() {
                    thumb.clone()
                } else {
                    name.clone()
                },
                kind: ExpiryKind::ApplicationKey,
                not_after: end,
                node: admins
                    .iter()
                    .zip(&node_sha1)
                    .find(|(_, sha1)| k.thumbprint_hex().as_ref() == Some(*sha1))
                    .map(|(a, _)| a.node.hostname.clone()),
            });
            let left = end - now;
            if left.is_negative() {
                d.push(
                    ids::APP_KEY_EXPIRED,
                    Severity::Warning,
                    None,
                    format!("key {thumb} ({name}) has expired"),
                    format!("endDateTime {end}"),
                    "remove it in Entra ID (App registrations > Certificates & secrets), or \
                     run rotate when it is an ISE key no node uses",
                );
            } else if let Some((threshold, severity)) =
                expiry_stage(left, thresholds).filter(|_| node_sha1.contains(&thumb))
            {
                d.findings.push(
                    Finding::new(
                        ids::APP_KEY_EXPIRING,
                        severity,
                        None,
                        format!("key {thumb} ({name}) expires in {} days", days(left)),
                        format!("endDateTime {end}; within the {threshold}-day threshold"),
                        "renew the node's Admin certificate in ISE, then run rotate",
                    )
                    .at_threshold(threshold),
                );
            }
        }
        if !node_sha1.contains(&thumb) {
            d.push(
                ids::APP_KEY_UNUSED,
                Severity::Info,
                None,
                format!("key {thumb} ({name}) is not an Admin certificate of any ISE node"),
                format!("nodes use [{}]", node_sha1.join(", ")),
                "nothing, if another system uses it; rotate removes ISE keys no node uses \
                 after a renewal",
            );
        }
    }
}

/// The service principal and its admin consent (through [`decide::missing_grants`],
/// the decision step 4 makes).
pub(super) fn principal_findings(
    d: &mut Diagnosis,
    principal: Option<&decide::PrincipalObservation>,
    targets: &PermissionTargets,
    app_id: &str,
) {
    let Some(principal) = principal else {
        d.push(
            ids::APP_SERVICE_PRINCIPAL_MISSING,
            Severity::Error,
            None,
            "the application has no service principal (enterprise application)",
            format!("no service principal with appId {app_id}"),
            "run onboard (step 1 creates it)",
        );
        return;
    };
    let missing = decide::missing_grants(&principal.held, targets);
    if missing.is_empty() {
        return;
    }
    let names: Vec<&str> = missing
        .iter()
        .map(|(resource, _)| {
            if *resource == targets.intune_resource_id {
                "get_device_compliance (Microsoft Intune API)"
            } else {
                "Application.Read.All (Microsoft Graph)"
            }
        })
        .collect();
    d.push(
        ids::APP_CONSENT_MISSING,
        Severity::Error,
        None,
        format!("no admin consent for {}", names.join(" and ")),
        format!(
            "the service principal holds {} of 2 role assignments",
            2usize.saturating_sub(missing.len())
        ),
        "run onboard (step 4 grants it), or in Entra ID: App registrations > API \
         permissions > Grant admin consent",
    );
}

/// What the automating identity may do, from its Graph token's application roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// `Application.Read.All` (or more reading) only: doctor, verify, plan, device
    /// queries; nothing is written.
    Monitor,
    /// `Application.ReadWrite.OwnedBy` (or `.All`) without
    /// `AppRoleAssignment.ReadWrite.All`: everything but admin consent, which an
    /// administrator grants through the admin-consent URL onboard prints.
    Operator,
    /// Writes applications and grants consent (`AppRoleAssignment.ReadWrite.All`).
    Full,
    /// No role the library uses.
    None,
}

impl Profile {
    /// The profile application roles give.
    pub fn from_roles(roles: &[String]) -> Self {
        let has = |r: &str| roles.iter().any(|x| x == r);
        let writes = has("Application.ReadWrite.All") || has("Application.ReadWrite.OwnedBy");
        let reads = writes || has("Application.Read.All") || has("Directory.Read.All");
        match (writes, has("AppRoleAssignment.ReadWrite.All"), reads) {
            (true, true, _) => Self::Full,
            (true, false, _) => Self::Operator,
            (false, _, true) => Self::Monitor,
            (false, _, false) => Self::None,
        }
    }

    /// Its name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Operator => "operator",
            Self::Full => "full",
            Self::None => "none",
        }
    }
}

/// The `identity.profile` finding: which profile the automating identity has and
/// what it therefore cannot do.
pub(super) fn profile_finding(d: &mut Diagnosis, roles: &[String]) {
    let profile = Profile::from_roles(roles);
    let (severity, cannot) = match profile {
        Profile::Full => (Severity::Info, "nothing the library needs is missing"),
        Profile::Operator => (
            Severity::Info,
            "it cannot grant admin consent: onboard prints the admin-consent URL for an \
             administrator, then completes on the next run",
        ),
        Profile::Monitor => (
            Severity::Info,
            "it reads only: onboard, rotate and writes to the application are refused \
             (Application.ReadWrite.OwnedBy adds them)",
        ),
        Profile::None => (
            Severity::Error,
            "it cannot read applications: grant it Application.Read.All with admin consent",
        ),
    };
    let mut shown: Vec<&str> = roles.iter().map(String::as_str).collect();
    shown.sort_unstable();
    d.push(
        ids::IDENTITY_PROFILE,
        severity,
        None,
        format!(
            "the automating identity has the {} profile",
            profile.as_str()
        ),
        format!("its Graph token's roles: [{}]", shown.join(", ")),
        cannot,
    );
}

/// `app.key_policy`: an app-management policy that would refuse one of the nodes'
/// certificates as a key of the application (created at `created`; `None` for one
/// onboarding would create).
fn key_policy_finding(
    d: &mut Diagnosis,
    policies: &crate::observe::KeyPolicies,
    created: Option<&str>,
    admins: &[AdminCertificate],
) {
    let certs = crate::keys::distinct_certificates(admins);
    if let Some(refusal) = decide::key_policy_refusal(
        policies.tenant.as_ref(),
        &policies.assigned,
        created,
        &certs,
    ) {
        let (limit, evidence) = if refusal.trusted_ca_only {
            (
                "only certificates of a CA the tenant trusts".to_owned(),
                format!(
                    "policy {}; {} is self-signed",
                    refusal.policy, refusal.certificate
                ),
            )
        } else {
            (
                format!("at most {}", refusal.max_lifetime),
                format!(
                    "policy {}; {} is valid for {} days",
                    refusal.policy, refusal.certificate, refusal.lifetime_days
                ),
            )
        };
        d.push(
            ids::APP_KEY_POLICY,
            Severity::Warning,
            None,
            format!("Entra's app-management policy refuses ISE's certificate as a key: {limit}"),
            evidence,
            "give the nodes Admin certificates within the limit (ISE: Administration > \
                 System > Certificates), or have an administrator assign the application an \
                 app-management policy without this restriction",
        );
    }
}
