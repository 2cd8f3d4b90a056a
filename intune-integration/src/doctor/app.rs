//! Checks of the integration's application: registration, keys, service principal,
//! permissions, consent, and the automating identity's profile.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The application: registration of every node's key, key expiry, the service
/// principal, permissions and consent. Returns the client id when the app exists.
pub(super) async fn app_side(
    ctx: &Integration,
    seen: Result<decide::AppObservation, Error>,
    targets: Result<PermissionTargets, Error>,
    admins: &[AdminCertificate],
    now: OffsetDateTime,
) -> (Result<Option<String>, Error>, Diagnosis) {
    let mut d = Diagnosis::default();
    let result = app_side_into(ctx, &mut d, seen, targets, admins, now).await;
    (result, d)
}

pub(super) async fn app_side_into(
    ctx: &Integration,
    d: &mut Diagnosis,
    seen: Result<decide::AppObservation, Error>,
    targets: Result<PermissionTargets, Error>,
    admins: &[AdminCertificate],
    now: OffsetDateTime,
) -> Result<Option<String>, Error> {
    let identity = ctx.options.app_identity();
    let seen = seen?;
    let app = match decide::decide_registration(&seen, &identity) {
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
            return Ok(None);
        }
        Err(e @ Error::AmbiguousApplication { .. }) => {
            d.push(
                ids::APP_MISSING,
                Severity::Error,
                None,
                "the integration's application is ambiguous",
                e.to_string(),
                "set app_client_id to the application ISE uses, or delete the others",
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let handle = ctx.graph.application(app.id.clone());
    let principals = ctx.graph.service_principals();
    let certs = crate::keys::distinct_certificates(admins);
    let (keys, access, sp, refusal) = tokio::try_join!(
        async { Ok::<_, Error>(handle.key_credentials().await?) },
        async { Ok(handle.required_resource_access().await?) },
        async { Ok(principals.by_app_id(&app.app_id).await?) },
        steps::key_policy_check(
            &ctx.graph,
            &app.id,
            app.created_date_time.as_deref(),
            &certs,
        ),
    )?;
    let targets = targets?;
    key_findings(d, &keys, admins, now, &ctx.options.expiry_thresholds_days);
    if let Some(refusal) = refusal {
        d.push(
            ids::APP_KEY_POLICY,
            Severity::Warning,
            None,
            format!(
                "Entra's app-management policy refuses ISE's certificate as a key: at most {}",
                refusal.max_lifetime
            ),
            format!(
                "policy {}; {} is valid for {} days",
                refusal.policy, refusal.certificate, refusal.lifetime_days
            ),
            "give the nodes Admin certificates within the limit (ISE: Administration > \
             System > Certificates), or have an administrator assign the application an \
             app-management policy without this restriction",
        );
    }
    if decide::access_outcome(&access, &targets) != Outcome::Unchanged {
        d.push(
            ids::APP_PERMISSION_MISSING,
            Severity::Error,
            None,
            "the application does not request get_device_compliance and \
             Application.Read.All",
            format!("requiredResourceAccess holds {} resource(s)", access.len()),
            "run onboard (step 4), or in Entra ID: App registrations > API permissions > \
             Add: Intune get_device_compliance and Microsoft Graph Application.Read.All \
             (Application)",
        );
    }
    principal_findings(ctx, d, sp, &targets, &app.app_id).await?;
    Ok(Some(app.app_id))
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
pub(super) async fn principal_findings(
    ctx: &Integration,
    d: &mut Diagnosis,
    sp: Option<graph_client::ServicePrincipal>,
    targets: &PermissionTargets,
    app_id: &str,
) -> Result<(), Error> {
    match sp {
        None => d.push(
            ids::APP_SERVICE_PRINCIPAL_MISSING,
            Severity::Error,
            None,
            "the application has no service principal (enterprise application)",
            format!("no service principal with appId {app_id}"),
            "run onboard (step 1 creates it)",
        ),
        Some(sp) => {
            let held = ctx
                .graph
                .service_principal(sp.id.clone())
                .app_role_assignments()?
                .all()
                .await?;
            let missing = decide::missing_grants(&held, targets);
            if !missing.is_empty() {
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
        }
    }
    Ok(())
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
