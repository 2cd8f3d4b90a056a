//! `doctor`: reads everything observable about an integration and says what is wrong,
//! with the evidence and exactly what to do. It writes nothing.
//!
//! Findings carry a stable `id` (listed in [`ids`]), a [`Severity`], a one-line
//! summary, the evidence read, and the remediation — in ISE's or Entra's words, or the
//! command that fixes it (`ise-intune onboard`, `rotate`, `trust-sync`). A diagnosis is [`Diagnosis::healthy`] when it has no
//! error and no warning.
//!
//! ```no_run
//! # async fn run(integration: intune_integration::Integration) -> Result<(), intune_integration::Error> {
//! let diagnosis = intune_integration::doctor::diagnose(&integration).await?;
//! for f in &diagnosis.findings {
//!     println!("{:?} {}: {} — {}", f.severity, f.id, f.summary, f.remediation);
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use graph_client::Credentials;
use ise_client::TrustedCertificate;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::compliance::ComplianceClient;
use crate::context::Integration;
use crate::decide::{self, AnchorAction, PermissionTargets};
use crate::keys::{AdminCertificate, AdminKeyMaterial, KeyExport, node_client_certificate};
use crate::outcome::{CheckName, Outcome};
use crate::steps;
use crate::verify::{VerifyInput, verify_connection_with};
use crate::version::IntuneGates as _;

/// The default days before an expiry at which doctor names it: 30 and 14 as warnings,
/// 7 as an error ([`expiry_stage`]).
pub const DEFAULT_EXPIRY_THRESHOLDS_DAYS: [u32; 3] = [30, 14, 7];

/// The threshold an expiry `left` away has passed, and the severity that gives, for
/// `thresholds` in days (any order): the smallest passed threshold, an error when it is
/// the smallest of all, a warning otherwise; `None` before the largest (or with no
/// thresholds). An expiry already past is not a stage: it has its own finding.
///
/// ```
/// use intune_integration::doctor::{Severity, expiry_stage};
/// let days = |d| time::Duration::days(d);
/// assert_eq!(expiry_stage(days(31), &[30, 14, 7]), None);
/// assert_eq!(expiry_stage(days(30), &[30, 14, 7]), None);
/// assert_eq!(expiry_stage(days(29), &[30, 14, 7]), Some((30, Severity::Warning)));
/// assert_eq!(expiry_stage(days(13), &[30, 14, 7]), Some((14, Severity::Warning)));
/// assert_eq!(expiry_stage(days(6), &[7, 30, 14]), Some((7, Severity::Error)));
/// ```
pub fn expiry_stage(left: time::Duration, thresholds: &[u32]) -> Option<(u32, Severity)> {
    let smallest = thresholds.iter().copied().min()?;
    thresholds
        .iter()
        .copied()
        .filter(|t| left < time::Duration::days(i64::from(*t)))
        .min()
        .map(|t| {
            let severity = if t == smallest {
                Severity::Error
            } else {
                Severity::Warning
            };
            (t, severity)
        })
}

/// How long doctor waits, at most, for a key or role to propagate (a just-onboarded
/// integration); a defect shows after this.
pub const DOCTOR_PROPAGATION_WAIT: Duration = Duration::from_secs(10);

/// The stable ids of findings.
pub mod ids {
    /// The ISE release and the audience it uses (info).
    pub const ISE_RELEASE: &str = "ise.release";
    /// An app-management policy would refuse a node's certificate as a key.
    pub const APP_KEY_POLICY: &str = "app.key_policy";
    /// The release cannot use Graph or the compliance API.
    pub const ISE_RELEASE_UNSUPPORTED: &str = "ise.release_unsupported";
    /// The release is affected by Field Notice FN74227: certificates with security
    /// identifiers in their SAN URI (Windows strong mapping) break certificate
    /// authentication and the Intune MDM integration.
    pub const ISE_RELEASE_STRONG_MAPPING: &str = "ise.release_strong_mapping";
    /// A node's Admin certificate has expired.
    pub const NODE_CERTIFICATE_EXPIRED: &str = "node.certificate_expired";
    /// A node's Admin certificate expires within the largest of [`crate::context::Options::expiry_thresholds_days`].
    pub const NODE_CERTIFICATE_EXPIRING: &str = "node.certificate_expiring";
    /// A node's Admin certificate is not RSA.
    pub const NODE_CERTIFICATE_NOT_RSA: &str = "node.certificate_not_rsa";
    /// A node's Admin certificate is not registered on the application.
    pub const NODE_KEY_NOT_REGISTERED: &str = "node.key_not_registered";
    /// The integration's application does not exist (or is ambiguous).
    pub const APP_MISSING: &str = "app.missing";
    /// A key of the application has expired.
    pub const APP_KEY_EXPIRED: &str = "app.key_expired";
    /// A key of the application expires within the largest of [`crate::context::Options::expiry_thresholds_days`].
    pub const APP_KEY_EXPIRING: &str = "app.key_expiring";
    /// A key of the application that no ISE node uses (info).
    pub const APP_KEY_UNUSED: &str = "app.key_unused";
    /// The application has no service principal.
    pub const APP_SERVICE_PRINCIPAL_MISSING: &str = "app.service_principal_missing";
    /// The application does not request a needed permission.
    pub const APP_PERMISSION_MISSING: &str = "app.permission_missing";
    /// A needed permission has no admin consent.
    pub const APP_CONSENT_MISSING: &str = "app.consent_missing";
    /// A root ISE should trust is not in its store.
    pub const TRUST_ANCHOR_MISSING: &str = "trust.anchor_missing";
    /// Every anchor ISE trusts is one Microsoft is leaving
    /// ([`crate::anchors::TrustAnchor::is_leaving`]).
    pub const TRUST_ONLY_LEAVING_ROOTS: &str = "trust.only_leaving_roots";
    /// A watched pair's check could not run ([`crate::watch::check_failed`]).
    pub const WATCH_CHECK_FAILED: &str = "watch.check_failed";
    /// A root is in ISE's store but disabled or not trusted for authentication.
    pub const TRUST_ANCHOR_NOT_TRUSTED: &str = "trust.anchor_not_trusted";
    /// ISE reports no active External MDM server.
    pub const MDM_NOT_ACTIVE: &str = "mdm.not_active";
    /// The External MDM entry differs from the expected settings, is missing, or its
    /// settings were not confirmed.
    pub const MDM_ENTRY: &str = "mdm.entry";
    /// A check of the reproduced Test Connection failed (`connection.<check>`).
    pub const CONNECTION_PREFIX: &str = "connection.";
    /// A compliance query made as a policy service node or the automating identity
    /// (info).
    pub const COMPLIANCE_SAMPLE: &str = "compliance.sample";
    /// The automating identity's profile (monitor, operator, full) and what it cannot
    /// do (info; an error when it cannot read applications).
    pub const IDENTITY_PROFILE: &str = "identity.profile";
    /// ISE could not be reached or refused the credentials; its checks did not run.
    pub const ISE_UNAVAILABLE: &str = "ise.unavailable";
    /// Entra ID or Graph could not be reached or refused the automating identity; its
    /// checks did not run.
    pub const ENTRA_UNAVAILABLE: &str = "entra.unavailable";
    /// A check that needs a node's key was not run: no key source was asked for (info).
    pub const NOT_CHECKED: &str = "connection.not_checked";
    /// No enabled rule of an enabled network-access policy set conditions on the MDM
    /// dictionary: the integration is connected but enforces nothing.
    pub const ENFORCE_NOTHING: &str = "enforce.nothing";
    /// A rule conditions on an MDM attribute Intune no longer supplies (it never
    /// matches).
    pub const ENFORCE_UNSUPPLIED_ATTRIBUTE: &str = "enforce.unsupplied_attribute";
    /// A rule names an MDM server that is not the integration's active entry.
    pub const ENFORCE_INACTIVE_MDM_SERVER: &str = "enforce.inactive_mdm_server";
    /// The network-access policy could not be read; enforcement was not checked
    /// (info).
    pub const ENFORCE_NOT_CHECKED: &str = "enforce.not_checked";
    /// A value of the tenant's cloud that no public document confirms is in use (see
    /// `graph_client::cloud`).
    pub const CLOUD_UNCONFIRMED: &str = "cloud.unconfirmed";

    /// Every fixed id above (findings named `connection.<check>` carry a
    /// [`crate::outcome::CheckName`], or `compliance`, after [`CONNECTION_PREFIX`]).
    pub const ALL: &[&str] = &[
        ISE_RELEASE,
        APP_KEY_POLICY,
        ISE_RELEASE_UNSUPPORTED,
        ISE_RELEASE_STRONG_MAPPING,
        NODE_CERTIFICATE_EXPIRED,
        NODE_CERTIFICATE_EXPIRING,
        NODE_CERTIFICATE_NOT_RSA,
        NODE_KEY_NOT_REGISTERED,
        APP_MISSING,
        APP_KEY_EXPIRED,
        APP_KEY_EXPIRING,
        APP_KEY_UNUSED,
        APP_SERVICE_PRINCIPAL_MISSING,
        APP_PERMISSION_MISSING,
        APP_CONSENT_MISSING,
        TRUST_ANCHOR_MISSING,
        TRUST_ONLY_LEAVING_ROOTS,
        WATCH_CHECK_FAILED,
        TRUST_ANCHOR_NOT_TRUSTED,
        MDM_NOT_ACTIVE,
        MDM_ENTRY,
        COMPLIANCE_SAMPLE,
        IDENTITY_PROFILE,
        ISE_UNAVAILABLE,
        ENTRA_UNAVAILABLE,
        NOT_CHECKED,
        ENFORCE_NOTHING,
        ENFORCE_UNSUPPLIED_ATTRIBUTE,
        ENFORCE_INACTIVE_MDM_SERVER,
        ENFORCE_NOT_CHECKED,
        CLOUD_UNCONFIRMED,
    ];
}

/// The most policy sets doctor reads the rules of.
pub const MAX_POLICY_SETS: usize = 50;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The integration does not work (or will not after a change already made).
    Error,
    /// It works now but will break, or depends on luck.
    Warning,
    /// Worth knowing.
    Info,
}

/// One thing doctor found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable id (see [`ids`]).
    pub id: String,
    /// How serious.
    pub severity: Severity,
    /// The ISE node concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// One line.
    pub summary: String,
    /// What was read.
    pub evidence: String,
    /// Exactly what to do.
    pub remediation: String,
    /// For an approaching expiry: the threshold in days it has passed
    /// ([`expiry_stage`]). Watch alerts once per threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_days: Option<u32>,
}

impl Finding {
    /// A finding (for callers that report their own, such as a watch whose check could
    /// not run).
    pub fn new(
        id: impl Into<String>,
        severity: Severity,
        node: Option<&str>,
        summary: impl Into<String>,
        evidence: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            severity,
            node: node.map(str::to_owned),
            summary: summary.into(),
            evidence: evidence.into(),
            remediation: remediation.into(),
            threshold_days: None,
        }
    }

    /// The same finding, for an expiry that has passed the threshold of `days`.
    pub fn at_threshold(mut self, days: u32) -> Self {
        self.threshold_days = Some(days);
        self
    }
}

/// What expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpiryKind {
    /// A node's Admin certificate.
    AdminCertificate,
    /// A key credential of the integration's application.
    ApplicationKey,
}

impl ExpiryKind {
    /// `admin_certificate` or `application_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdminCertificate => "admin_certificate",
            Self::ApplicationKey => "application_key",
        }
    }
}

/// One certificate or key and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Expiry {
    /// The node (for an Admin certificate) or the key's display name (thumbprint when
    /// it has none).
    pub subject: String,
    /// What it is.
    pub kind: ExpiryKind,
    /// When it expires (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub not_after: OffsetDateTime,
}

pub(crate) fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let text = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(S::Error::custom)?;
    s.serialize_str(&text)
}

/// Everything doctor found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The findings, most serious first.
    pub findings: Vec<Finding>,
    /// Every node's Admin certificate and every application key read, with its expiry
    /// (for monitoring; the findings already say which expire soon).
    pub expiries: Vec<Expiry>,
}

impl Diagnosis {
    /// No error and no warning.
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.severity == Severity::Info)
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this id.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }

    fn push(
        &mut self,
        id: impl Into<String>,
        severity: Severity,
        node: Option<&str>,
        summary: impl Into<String>,
        evidence: impl Into<String>,
        remediation: impl Into<String>,
    ) {
        self.findings.push(Finding::new(
            id,
            severity,
            node,
            summary,
            evidence,
            remediation,
        ));
    }

    /// Adds another diagnosis's findings and expiries.
    fn merge(&mut self, other: Diagnosis) {
        self.findings.extend(other.findings);
        self.expiries.extend(other.expiries);
    }
}

fn days(d: time::Duration) -> i64 {
    d.whole_days()
}

/// Diagnoses the integration: version gates, every node's Admin certificate and
/// its registration, the application's keys, permissions, consent and service
/// principal, ISE's trusted store, the External MDM entry, ISE's Test Connection
/// reproduced per policy service node (TLS chains included), and a compliance
/// query. Reads only.
///
/// One side failing does not stop the other: an ISE or Entra ID that cannot be
/// reached or refuses the credentials is an error finding (`ise.unavailable`,
/// `entra.unavailable`) and the other side's checks still run. Both sides are read
/// at once, so two silent services cost one timeout.
pub async fn diagnose(ctx: &Integration) -> Result<Diagnosis, Error> {
    let mut d = Diagnosis::default();
    let now = ctx.now();
    let identity = ctx.options.app_identity();
    // Everything that depends on nothing is read at once: ISE's release and the nodes'
    // certificates (with the keys verification needs, when asked for: one export),
    // the application, the identity's roles, ISE's store, mdmInfo and policy, the
    // permission targets and Intune's discovery.
    let key_export = KeyExport::for_admin_key(&ctx.options.admin_key);
    let store = ctx.ise.trusted_certificates();
    let (ise_read, seen, roles, store, mdm, targets, endpoints, enforcement) = tokio::join!(
        async {
            let version = ctx.ise.version().await?;
            let exported = steps::export_admin_certificates(&ctx.ise, key_export)
                .await
                .map(|s| s.value);
            Ok::<_, Error>((version, exported))
        },
        steps::observe_app(&ctx.graph, &identity),
        ctx.graph.graph_roles(),
        store.list(&[]),
        ctx.ise.mdm_info(),
        steps::permission_targets(&ctx.graph),
        ctx.graph.intune_endpoints(),
        enforcement_diagnosis(ctx),
    );
    if let Ok(Some(roles)) = roles {
        profile_finding(&mut d, &roles);
    }
    cloud_findings(ctx, &mut d);
    let (version, exported) = match ise_read {
        Ok(read) => read,
        Err(e) => {
            unavailable(&mut d, &e);
            // Entra's side still runs, without the nodes' certificates.
            let (app, side) = app_side(ctx, seen, targets, &[], now).await;
            d.merge(side);
            if let Err(e) = app {
                unavailable(&mut d, &e);
            }
            d.findings.retain(|f| f.id != ids::APP_KEY_UNUSED);
            d.findings.sort_by_key(|f| f.severity);
            return Ok(d);
        }
    };
    let supported = release_findings(&mut d, &version)?;
    let (admins, material) = match node_certificates(
        &mut d,
        exported.map(|m| (m.iter().map(|m| m.admin.clone()).collect(), m)),
        now,
        &ctx.options.expiry_thresholds_days,
    ) {
        Ok(read) => read,
        Err(e) => {
            unavailable(&mut d, &e);
            (Vec::new(), Vec::new())
        }
    };
    let certs: Vec<&crate::certs::Certificate> = crate::keys::distinct_certificates(&admins)
        .into_iter()
        .collect();
    let trusted = match store {
        Ok(store) => {
            trust_findings(ctx, &mut d, &store);
            Some(store)
        }
        Err(e) => {
            unavailable(&mut d, &Error::Ise(e));
            None
        }
    };
    mdm_findings(ctx, &mut d, mdm);
    d.merge(enforcement);
    let intune_endpoint = endpoints.ok().and_then(|list| {
        list.into_iter()
            .find(|e| e.provider_name == version.compliance_provider())
            .map(|e| e.uri)
    });

    // The application's details and the reproduced Test Connection both need only the
    // application's client id: they run at once.
    let client_id = match &seen {
        Ok(seen) => match decide::decide_registration(seen, &identity) {
            Ok(decide::Registration::Existing(app) | decide::Registration::Adopt(app)) => {
                Some(app.app_id.clone())
            }
            _ => None,
        },
        Err(_) => None,
    };
    let prefetched = crate::verify::Prefetched {
        trusted,
        node_keys: Some(material),
        intune_endpoint,
    };
    let connection = async {
        let mut c = Diagnosis::default();
        let result = match (supported, client_id.as_deref()) {
            (true, Some(client_id)) => {
                connection_findings(
                    ctx, &mut c, &version, client_id, &certs, &admins, prefetched,
                )
                .await
            }
            _ => Ok(()),
        };
        (result, c)
    };
    let ((app, side), (connected, c)) =
        tokio::join!(app_side(ctx, seen, targets, &admins, now), connection);
    d.merge(side);
    if let Err(e) = app {
        unavailable(&mut d, &e);
    }
    d.merge(c);
    if let Err(e) = connected {
        unavailable(&mut d, &e);
    }
    d.findings.sort_by_key(|f| f.severity);
    Ok(d)
}

/// What cannot be confirmed about the tenant's cloud.
fn cloud_findings(ctx: &Integration, d: &mut Diagnosis) {
    for warning in ctx.graph.cloud_warnings() {
        d.push(
            ids::CLOUD_UNCONFIRMED,
            Severity::Warning,
            None,
            format!(
                "the {} cloud's endpoints are not all confirmed",
                ctx.graph.cloud()
            ),
            warning,
            "confirm the value with Microsoft for your tenant and set it in the \
             configuration ([entra] intune_resource); until then the library uses the \
             table's value",
        );
    }
}

/// Enforcement's findings, or the info finding that it could not be checked.
async fn enforcement_diagnosis(ctx: &Integration) -> Diagnosis {
    let mut d = Diagnosis::default();
    if let Err(e) = enforcement_findings(ctx, &mut d).await {
        d.push(
            ids::ENFORCE_NOT_CHECKED,
            Severity::Info,
            None,
            "the network-access policy could not be read; enforcement was not checked",
            e.to_string(),
            "give the ISE account read access to Policy (ISE 3.1 or later), then run doctor again",
        );
    }
    d
}

/// What FN74227 says, for the finding's evidence and the plan's warning.
pub const STRONG_MAPPING_EVIDENCE: &str = "Cisco Field Notice FN74227 (CSCwk73785): Intune adds \
     security identifiers to certificates' SAN URI for Windows strong mapping; ISE 3.1 patch \
     9 and earlier, 3.2 patch 6 and earlier, 3.3 patch 3 and earlier and 3.4 unpatched then \
     fail certificate authentication and the Intune MDM integration";

/// The release's gates: an info finding naming the audience, or an error finding
/// when the release cannot integrate. Whether it is supported.
fn release_findings(
    d: &mut Diagnosis,
    version: &ise_client::version::IseVersion,
) -> Result<bool, Error> {
    match version.check_release() {
        Ok(audience) => {
            d.push(
                ids::ISE_RELEASE,
                Severity::Info,
                None,
                format!("ISE {version}"),
                format!("token audience {audience}"),
                "nothing to do",
            );
            if let Some(install) = version.strong_mapping_fix() {
                d.push(
                    ids::ISE_RELEASE_STRONG_MAPPING,
                    Severity::Warning,
                    None,
                    format!(
                        "ISE {version} fails certificate authentication and the Intune \
                         integration once Intune puts security identifiers into certificates"
                    ),
                    STRONG_MAPPING_EVIDENCE,
                    format!("install {install} on every node (Cisco Field Notice FN74227)"),
                );
            }
            Ok(true)
        }
        Err(Error::UnsupportedIseVersion {
            version: v,
            install,
            reason,
        }) => {
            d.push(
                ids::ISE_RELEASE_UNSUPPORTED,
                Severity::Error,
                None,
                format!("ISE {v} cannot integrate with Intune"),
                reason,
                format!("install {install} on every node, then run onboard"),
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// What ISE's network-access policy does with Intune's answer: whether any enabled
/// rule uses the MDM dictionary, rules on attributes Intune no longer supplies, rules
/// naming an MDM server that is not the integration's active entry.
async fn enforcement_findings(ctx: &Integration, d: &mut Diagnosis) -> Result<(), Error> {
    use crate::enforce::{SUPPLIED_ATTRIBUTES, mdm_conditions};
    use ise_client::RuleState;
    let policy = ctx.ise.network_access_policy();
    let (sets, library) = tokio::join!(policy.policy_sets(), policy.library_conditions());
    let (sets, library) = (sets?, library?);
    let mut enforcing = Vec::new();
    let mut server_rules = Vec::new();
    for set in sets
        .iter()
        .filter(|s| s.state == RuleState::Enabled)
        .take(MAX_POLICY_SETS)
    {
        for r in policy.authorization_rules(&set.id).await? {
            let Some(condition) = &r.rule.condition else {
                continue;
            };
            let mdm = mdm_conditions(condition, &library);
            if mdm.is_empty() || r.rule.state == RuleState::Disabled {
                continue;
            }
            let name = format!("`{}` in policy set `{}`", r.rule.name, set.name);
            if r.rule.state == RuleState::Enabled {
                enforcing.push(name.clone());
            }
            for c in &mdm {
                let attribute = c.attribute_name.as_deref().unwrap_or_default();
                if !SUPPLIED_ATTRIBUTES.contains(&attribute) {
                    d.push(
                        ids::ENFORCE_UNSUPPLIED_ATTRIBUTE,
                        Severity::Warning,
                        None,
                        format!("rule {name} conditions on MDM:{attribute}, which Intune no longer supplies"),
                        format!(
                            "the rule's condition {condition}; since the Compliance Retrieval API, \
                             Intune supplies only compliance, management, MAC address and \
                             registration, so this condition never matches"
                        ),
                        "rewrite the rule on MDM:DeviceCompliantStatus (make disk encryption, \
                         PIN and jailbreak part of Intune's compliance policy instead)",
                    );
                }
                if attribute == "MDMServerName"
                    && let Some(value) = c.attribute_value.as_deref()
                {
                    server_rules.push((name.clone(), value.to_owned()));
                }
            }
        }
    }
    if !server_rules.is_empty() {
        let active = ctx
            .ise
            .mdm_info()
            .await
            .map(|m| m.active_mdm_servers_count)?;
        let ours = &ctx.options.mdm_server_name;
        for (name, server) in server_rules {
            if &server != ours || active == 0 {
                d.push(
                    ids::ENFORCE_INACTIVE_MDM_SERVER,
                    Severity::Warning,
                    None,
                    format!("rule {name} names MDM server `{server}`, which is not active"),
                    format!(
                        "the integration's External MDM entry is `{ours}`; ISE reports \
                         {active} active MDM server(s)"
                    ),
                    format!(
                        "change the rule's MDM:MDMServerName to `{ours}`, or enable the entry \
                         `{server}` in ISE (Administration > Network Resources > External MDM)"
                    ),
                );
            }
        }
    }
    if enforcing.is_empty() {
        d.push(
            ids::ENFORCE_NOTHING,
            Severity::Warning,
            None,
            "the integration is connected but enforces nothing",
            format!(
                "no enabled authorization rule of the {} enabled policy set(s) conditions \
                 on the MDM dictionary: every device gets the same access whatever Intune says",
                sets.iter()
                    .filter(|s| s.state == RuleState::Enabled)
                    .count()
            ),
            "run ise-intune enforce (its [enforce] table names the policy set and profiles), \
             or add rules on MDM:DeviceCompliantStatus in ISE",
        );
    }
    Ok(())
}

/// Whether ISE reports an active External MDM server.
fn mdm_findings(
    ctx: &Integration,
    d: &mut Diagnosis,
    mdm: Result<ise_client::MdmInfo, ise_client::Error>,
) {
    let mdm = match mdm {
        Ok(m) => Some(m),
        Err(e) => {
            unavailable(d, &Error::Ise(e));
            None
        }
    };
    if mdm.is_some_and(|m| m.active_mdm_servers_count == 0) {
        d.push(
            ids::MDM_NOT_ACTIVE,
            Severity::Error,
            None,
            "ISE reports no active External MDM server",
            "ERS deploymentinfo: mdmInfo.activeMdmServersCount = 0",
            format!(
                "in ISE: Administration > Network Resources > External MDM > {}: set Status \
                 to Enabled and Save (or run onboard)",
                ctx.options.mdm_server_name
            ),
        );
    }
}

/// The External MDM entry, ISE's Test Connection reproduced, and a compliance
/// sample.
async fn connection_findings(
    ctx: &Integration,
    d: &mut Diagnosis,
    version: &crate::version::IseVersion,
    client_id: &str,
    certs: &[&crate::certs::Certificate],
    admins: &[AdminCertificate],
    prefetched: crate::verify::Prefetched,
) -> Result<(), Error> {
    // The nodes' keys exported for the reproduction serve the compliance sample too.
    let node_keys = prefetched.node_keys.clone().unwrap_or_default();
    {
        let version = *version;
        let settings = ctx.mdm_settings(&version, client_id, certs)?;
        // The entry, the reproduction and (as the automating identity) a compliance
        // sample are independent reads: at once. The sample is kept only when the
        // reproduction passed.
        let as_identity = !ctx.options.admin_key.acts_as_node();
        let (inspected, report, sample) = tokio::join!(
            ctx.configurator.inspect(&settings),
            verify_connection_with(
                VerifyInput {
                    ise: &ctx.ise,
                    graph: &ctx.graph,
                    client_id,
                    version,
                    admin_key: ctx.options.admin_key.clone(),
                    anchors: &ctx.anchors,
                    propagation_wait: ctx.options.propagation_wait.min(DOCTOR_PROPAGATION_WAIT),
                },
                prefetched,
            ),
            async {
                if as_identity {
                    Some(identity_sample(ctx).await)
                } else {
                    None
                }
            },
        );
        let inspected = inspected?;
        let (severity, summary) = match inspected.outcome {
            Outcome::Unchanged => (None, ""),
            Outcome::ManualActionRequired => (
                Some(Severity::Warning),
                "the External MDM entry's settings are not confirmed as expected",
            ),
            Outcome::Created => (Some(Severity::Error), "no External MDM entry"),
            _ => (
                Some(Severity::Error),
                "the External MDM entry differs from the expected settings",
            ),
        };
        if let Some(severity) = severity {
            d.push(
                ids::MDM_ENTRY,
                severity,
                None,
                summary,
                inspected
                    .instructions
                    .clone()
                    .unwrap_or_else(|| settings.checklist()),
                "run onboard (step 6), or edit the entry in ISE as the evidence says",
            );
        }

        let report = report?;
        for c in report.skipped() {
            d.push(
                ids::NOT_CHECKED,
                Severity::Info,
                c.node.as_deref(),
                "not checked: needs --as-node",
                c.detail.clone(),
                "run doctor --as-node (exports each policy service node's key from ISE, in \
                 memory only) to reproduce Test Connection as each node",
            );
        }
        // A node's registration is already named by `node.key_not_registered`.
        for c in report
            .checks
            .iter()
            .filter(|c| !c.ok && c.name != CheckName::Registered)
        {
            d.push(
                format!("{}{}", ids::CONNECTION_PREFIX, c.name.as_str()),
                Severity::Error,
                c.node.as_deref(),
                format!("Test Connection fails at {}", c.name.as_str()),
                c.detail.clone(),
                connection_remedy(c.name),
            );
        }
        let passed = |node: &str| {
            report
                .checks
                .iter()
                .any(|c| c.node.as_deref() == Some(node) && c.name == CheckName::Mdminfo && c.ok)
        };
        if let Some(sample) = sample {
            if report.ok {
                push_sample(d, None, sample, "the automating identity");
            }
        } else if let Some(admin) = admins
            .iter()
            .find(|a| crate::keys::is_policy_service(&a.node) && passed(&a.node.hostname))
        {
            let exported = node_keys
                .iter()
                .find(|m| m.admin.node.hostname == admin.node.hostname);
            compliance_sample(ctx, d, &version, client_id, admin, exported).await;
        }
    }
    Ok(())
}

/// Every node's Admin certificate, with expiry findings.
fn node_certificates(
    d: &mut Diagnosis,
    exported: Result<(Vec<AdminCertificate>, Vec<AdminKeyMaterial>), Error>,
    now: OffsetDateTime,
    thresholds: &[u32],
) -> Result<(Vec<AdminCertificate>, Vec<AdminKeyMaterial>), Error> {
    let (admins, material) = match exported {
        Ok(a) => a,
        Err(Error::NonRsaAdminCertificate { node, algorithm }) => {
            d.push(
                ids::NODE_CERTIFICATE_NOT_RSA,
                Severity::Error,
                Some(&node),
                format!("{node}'s Admin certificate is {algorithm}, not RSA"),
                "Entra ID refuses client assertions not signed with RSA (AADSTS5002738)",
                "generate an RSA (2048-bit or larger) certificate for the Admin role \
                 (Administration > System > Certificates > Certificate Signing Requests, \
                 key type RSA), then run onboard",
            );
            return Ok((Vec::new(), Vec::new()));
        }
        Err(e) => return Err(e),
    };
    for a in &admins {
        let host = a.node.hostname.as_str();
        d.expiries.push(Expiry {
            subject: host.to_owned(),
            kind: ExpiryKind::AdminCertificate,
            not_after: a.certificate.not_after(),
        });
        let left = a.certificate.not_after() - now;
        let evidence = format!(
            "`{}` (SHA-1 {}) valid until {}",
            a.system_certificate.friendly_name,
            a.certificate.sha1(),
            a.certificate.not_after().date()
        );
        let renew = format!(
            "renew {host}'s Admin certificate in ISE (Administration > System > \
             Certificates > System Certificates), then run rotate"
        );
        if left.is_negative() {
            d.push(
                ids::NODE_CERTIFICATE_EXPIRED,
                Severity::Error,
                Some(host),
                format!("{host}'s Admin certificate has expired"),
                evidence,
                renew,
            );
        } else if let Some((threshold, severity)) = expiry_stage(left, thresholds) {
            d.findings.push(
                Finding::new(
                    ids::NODE_CERTIFICATE_EXPIRING,
                    severity,
                    Some(host),
                    format!("{host}'s Admin certificate expires in {} days", days(left)),
                    format!("{evidence}; within the {threshold}-day threshold"),
                    renew,
                )
                .at_threshold(threshold),
            );
        }
    }
    Ok((admins, material))
}

/// The application: registration of every node's key, key expiry, the service
/// principal, permissions and consent. Returns the client id when the app exists.
async fn app_side(
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

async fn app_side_into(
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
fn key_findings(
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
async fn principal_findings(
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

/// Each anchor: present, enabled and trusted for authentication within ISE.
fn trust_findings(ctx: &Integration, d: &mut Diagnosis, store: &[TrustedCertificate]) {
    let actions = decide::anchor_actions(store, &ctx.anchors);
    let serving: Vec<&str> = actions
        .iter()
        .filter(|(_, action)| matches!(action, AnchorAction::Keep))
        .map(|(anchor, _)| anchor.name())
        .collect();
    let leaving_only = actions
        .iter()
        .filter(|(_, action)| matches!(action, AnchorAction::Keep))
        .all(|(anchor, _)| anchor.is_leaving());
    if !serving.is_empty() && leaving_only {
        d.push(
            ids::TRUST_ONLY_LEAVING_ROOTS,
            Severity::Error,
            None,
            "ISE trusts only roots Microsoft is leaving",
            format!(
                "trusted for authentication within ISE: {}; Entra ID chains to DigiCert \
                 Global Root G2 since 2025–January 2026",
                serving.join(", ")
            ),
            "run trust-sync or onboard (step 5 imports DigiCert Global Root G2 and \
             Microsoft's 2017 roots trusted for authentication within ISE)",
        );
    }
    for (anchor, action) in actions {
        match action {
            AnchorAction::Keep => {}
            AnchorAction::Import => d.push(
                ids::TRUST_ANCHOR_MISSING,
                Severity::Warning,
                None,
                format!("`{}` is not in ISE's trusted store", anchor.name()),
                anchor.purpose().to_owned(),
                "run trust-sync or onboard (step 5 imports it trusted for authentication \
                 within ISE)",
            ),
            AnchorAction::Fix { id, update } => {
                let entry = store.iter().find(|t| t.id == id);
                let (lacks, boxes) = entry.map_or_else(
                    || (vec!["not usable".to_owned()], Vec::new()),
                    |t| anchor_lacks(&ise_client::TrustedCertificateUpdate::keeping(t)),
                );
                d.push(
                    ids::TRUST_ANCHOR_NOT_TRUSTED,
                    Severity::Warning,
                    None,
                    format!(
                        "`{}` is in ISE's store but {}",
                        update.name,
                        lacks.join(" and ")
                    ),
                    format!(
                        "status {}, trusted for `{}`",
                        entry.and_then(|t| t.status.clone()).unwrap_or_default(),
                        entry
                            .and_then(|t| t.trusted_for.clone())
                            .unwrap_or_default()
                    ),
                    format!(
                        "in ISE: Administration > System > Certificates > Trusted \
                         Certificates > {}: {} (or run trust-sync / onboard)",
                        update.name,
                        if boxes.is_empty() {
                            "Enabled, tick every \"Trust for …\" box".to_owned()
                        } else {
                            boxes.join(", ")
                        }
                    ),
                );
            }
        }
    }
}

/// What a trusted certificate lacks for the integration (as the doctor says it), and
/// the boxes to set in ISE's GUI for each.
fn anchor_lacks(was: &ise_client::TrustedCertificateUpdate) -> (Vec<String>, Vec<String>) {
    let mut lacks = Vec::new();
    let mut boxes = Vec::new();
    if !was.enabled {
        lacks.push("disabled".to_owned());
        boxes.push("set Status to Enabled".to_owned());
    }
    if !was.trust_for_ise_auth {
        lacks.push("not trusted for authentication within ISE".to_owned());
        boxes.push("tick \"Trust for authentication within ISE\"".to_owned());
    }
    if !was.trust_for_cisco_services_auth {
        lacks.push("not trusted for authentication of Cisco Services".to_owned());
        boxes.push("tick \"Trust for authentication of Cisco Services\"".to_owned());
    }
    (lacks, boxes)
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made as the
/// automating identity (no node key asked for).
async fn identity_sample(ctx: &Integration) -> Result<Vec<crate::compliance::Device>, Error> {
    crate::compliance::client(ctx, None).await?.probe().await
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made with
/// `admin`'s own key: the one already
/// `exported` with its certificate when there is one (no second export), else the
/// supplied key or a fresh export.
async fn compliance_sample(
    ctx: &Integration,
    d: &mut Diagnosis,
    version: &crate::version::IseVersion,
    client_id: &str,
    admin: &AdminCertificate,
    exported: Option<&AdminKeyMaterial>,
) {
    let host = admin.node.hostname.as_str();
    let sample = async {
        let audience = version.token_audience_for(ctx.graph.intune_resource())?;
        let cert = match exported.and_then(|m| m.client_certificate(client_id)) {
            Some(cert) => cert?,
            None => {
                node_client_certificate(&ctx.ise, client_id, &ctx.options.admin_key, Some(admin))
                    .await?
            }
        };
        let node = ctx.graph.with_credentials(Credentials::Certificate(cert));
        let intune = ComplianceClient::discover(node, audience).await?;
        intune.probe().await
    };
    let result = sample.await;
    push_sample(d, Some(host), result, host);
}

/// The finding of a compliance sample made by `who`.
fn push_sample(
    d: &mut Diagnosis,
    node: Option<&str>,
    result: Result<Vec<crate::compliance::Device>, Error>,
    who: &str,
) {
    match result {
        Ok(devices) => d.push(
            ids::COMPLIANCE_SAMPLE,
            Severity::Info,
            node,
            format!("Intune answered a device query as {who}"),
            format!(
                "querycriteria=macaddress for the documentation MAC 00:00:5E:00:53:01: {} \
                 device(s) (a device-specific query: never throttled, reads no device)",
                devices.len()
            ),
            "nothing to do",
        ),
        Err(e) => d.push(
            format!("{}compliance", ids::CONNECTION_PREFIX),
            if node.is_some() {
                Severity::Error
            } else {
                Severity::Warning
            },
            node,
            format!("Intune's device query fails as {who}"),
            e.to_string(),
            if node.is_some() {
                "check get_device_compliance and its admin consent (run onboard)"
            } else {
                "grant the automating identity the Intune API's get_device_compliance role, \
                 or run with --as-node to query as a policy service node"
            },
        ),
    }
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
fn profile_finding(d: &mut Diagnosis, roles: &[String]) {
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

/// Records that a side could not be read (once per side): which service, what it
/// answered or why it did not, and what to check.
fn unavailable(d: &mut Diagnosis, e: &Error) {
    let (id, service, status) = match e {
        Error::Graph(g) => (ids::ENTRA_UNAVAILABLE, "Entra ID / Graph", g.status()),
        Error::Ise(i) => (ids::ISE_UNAVAILABLE, "ISE", i.status()),
        _ => (ids::ISE_UNAVAILABLE, "ISE", None),
    };
    if d.findings.iter().any(|f| f.id == id) {
        return;
    }
    let pin = matches!(
        e,
        Error::Ise(
            ise_client::Error::PinMismatch { .. } | ise_client::Error::UntrustedCertificate { .. }
        )
    );
    let (summary, remediation) = match (id == ids::ISE_UNAVAILABLE, status) {
        (true, _) if pin => (
            "ISE's certificate is not the one pinned or trusted: its checks were not run",
            "if the certificate the evidence names is your ISE's admin certificate (in ISE: \
             Administration > System > Certificates), pin it (ise.tls_pin_sha256) or trust \
             its CA (ise.tls_ca_file); if it is not, something else answers at ise.url",
        ),
        (true, Some(401)) => (
            "ISE refused the username or password: its checks were not run",
            "check ise.username and the ISE password (its variable, ISE_INTUNE_ISE_PASSWORD \
             by default), that the account is not locked, and that it is in the ERS Admin or \
             Super Admin admin group (ISE answers 401 to an account outside the API groups)",
        ),
        (true, Some(403)) => (
            "ISE refused its account a request doctor needs (exporting the nodes' \
             certificates is a write in ISE's API): its checks were not run",
            "put the ISE account in the ERS Admin (or Super Admin) admin group — an ERS \
             Operator may only read — and enable ERS and Open API (Administration > System \
             > Settings > API Settings)",
        ),
        (true, _) => (
            "ISE could not be read: its checks were not run",
            "check that ISE answers at ise.url from here (a proxy? ISE usually belongs in \
             NO_PROXY) and the TLS pin or CA",
        ),
        (false, Some(401 | 403)) => (
            "Entra ID or Graph refused the automating identity: its checks were not run",
            "check the automating identity's credentials and its application roles \
             (Application.Read.All at least, with admin consent)",
        ),
        (false, _) => (
            "Entra ID or Graph could not be read: its checks were not run",
            "check that login.microsoftonline.com and graph.microsoft.com are reachable from \
             here (HTTPS_PROXY) and the automating identity's credentials",
        ),
    };
    d.push(
        id,
        Severity::Error,
        None,
        format!("{summary} ({service})"),
        e.to_string(),
        remediation,
    );
}

fn connection_remedy(check: CheckName) -> String {
    match check {
        CheckName::TlsLogin | CheckName::TlsGraph | CheckName::TlsIntune => {
            "run trust-sync (imports the root the service now chains to) or onboard (step 5)".into()
        }
        CheckName::Token => "register the node's Admin certificate on the application: run \
                             rotate or onboard (step 3)"
            .into(),
        CheckName::Discovery => "grant Application.Read.All (Microsoft Graph) with admin \
                                 consent: run onboard (step 4)"
            .into(),
        CheckName::Registered => "register the node's Admin certificate on the application: \
                                  run rotate or onboard (step 3)"
            .into(),
        _ => "grant get_device_compliance (Microsoft Intune API) with admin consent: run \
              onboard (step 4)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, trusted_for: &str) -> ise_client::TrustedCertificateUpdate {
        let mut t = TrustedCertificate::default();
        t.status = Some(status.into());
        t.trusted_for = Some(trusted_for.into());
        ise_client::TrustedCertificateUpdate::keeping(&t)
    }

    #[test]
    fn every_fixed_id_is_in_all() {
        // Each `pub const NAME: &str = "<id>";` of the ids module, read from this file.
        let source = include_str!("doctor.rs");
        let module = source
            .split("pub mod ids {")
            .nth(1)
            .and_then(|rest| rest.split("pub const ALL").next())
            .expect("the ids module");
        let declared: Vec<&str> = module
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|id| *id != ids::CONNECTION_PREFIX)
            .collect();
        assert_eq!(declared.len(), ids::ALL.len(), "{declared:?}");
        for id in declared {
            assert!(ids::ALL.contains(&id), "{id} is missing from ids::ALL");
        }
    }

    #[test]
    fn an_anchor_not_trusted_names_exactly_what_is_off() {
        // Only trust for Cisco Services off: ISE authentication is not blamed.
        let (lacks, boxes) = anchor_lacks(&entry("Enabled", "Infrastructure,Endpoints"));
        assert_eq!(
            lacks,
            vec!["not trusted for authentication of Cisco Services"]
        );
        assert_eq!(
            boxes,
            vec!["tick \"Trust for authentication of Cisco Services\""]
        );
        // Disabled and without ISE authentication.
        let (lacks, _) = anchor_lacks(&entry("Disabled", "Cisco Services"));
        assert_eq!(
            lacks,
            vec!["disabled", "not trusted for authentication within ISE"]
        );
        assert_eq!(
            anchor_lacks(&entry("Enabled", "Infrastructure,Cisco Services")).0,
            Vec::<String>::new()
        );
    }
}
