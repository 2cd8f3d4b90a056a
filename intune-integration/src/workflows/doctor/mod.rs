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

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::context::Integration;
use crate::keys::KeyExport;
use crate::observe::{Observed, Reading, observe};

mod app;
mod connection;
mod enforcement;
mod evidence;
mod mdm;
mod nodes;
mod release;
mod trust;

pub use app::Profile;
pub use release::STRONG_MAPPING_EVIDENCE;

use app::app_checks;
use connection::Probes;
use connection::connection_checks;
use connection::probe;
use enforcement::enforcement_checks;
use evidence::evidence_checks;
use mdm::mdm_findings;
use nodes::node_certificates;
use release::cloud_findings;
use release::release_findings;
use trust::trust_findings;

pub use crate::config::DEFAULT_EXPIRY_THRESHOLDS_DAYS;

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
    /// The application lacks the integration's ownership marker (info: offboarding
    /// would keep it; the next onboard marks it).
    pub const APP_UNMARKED: &str = "app.unmarked";
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
    /// A rule conditions on an endpoint custom attribute ISE does not define (a
    /// bridged attribute no attribute sync has defined and filled): it never matches.
    pub const ENFORCE_UNFILLED_ATTRIBUTE: &str = "enforce.unfilled_attribute";
    /// A rule names an MDM server that is not the integration's active entry.
    pub const ENFORCE_INACTIVE_MDM_SERVER: &str = "enforce.inactive_mdm_server";
    /// The network-access policy could not be read; enforcement was not checked
    /// (info).
    pub const ENFORCE_NOT_CHECKED: &str = "enforce.not_checked";
    /// A value of the tenant's cloud that no public document confirms is in use (see
    /// `graph_client::cloud`).
    pub const CLOUD_UNCONFIRMED: &str = "cloud.unconfirmed";
    /// A SCEP or PKCS profile issues network certificates without the Intune device id
    /// in its SAN URI ([`crate::evidence::GUID_SAN_URI`]).
    pub const INTUNE_PROFILE_WITHOUT_GUID: &str = "intune.profile_without_guid";
    /// A profile carries Windows' strong-mapping SID in its SAN on a release that
    /// cannot parse it (FN74227).
    pub const INTUNE_SID_SAN_UNSUPPORTED_RELEASE: &str = "intune.sid_san_unsupported_release";
    /// Intune marks devices with no compliance policy assigned as Compliant.
    pub const INTUNE_NO_POLICY_COUNTS_COMPLIANT: &str = "intune.no_policy_counts_compliant";
    /// Intune's compliance settings: how a device without a policy counts, and the
    /// validity period (info).
    pub const INTUNE_COMPLIANCE_SETTINGS: &str = "intune.compliance_settings";
    /// A node's last sign-in to Entra ID with its key failed (the AADSTS code says why).
    pub const ENTRA_NODE_SIGN_IN_FAILED: &str = "entra.node_sign_in_failed";
    /// Each node's last successful and failed sign-in (info).
    pub const ENTRA_NODE_SIGN_INS: &str = "entra.node_sign_ins";
    /// Evidence not read because the automating identity lacks an optional permission
    /// (info: what it would show, how to grant it).
    pub const EVIDENCE_NOT_GRANTED: &str = "evidence.not_granted";
    /// Evidence that could not be read (info).
    pub const EVIDENCE_UNREADABLE: &str = "evidence.unreadable";
    /// Managed devices Intune reports with no MAC address, or with several, counted by
    /// the attribute bridge's sync (warning when some have none: ISE finds them only
    /// by the device id in their certificate).
    pub const INTUNE_DEVICES_WITHOUT_MAC: &str = "intune.devices_without_mac";

    /// Every fixed id above (findings named `connection.<check>` carry a
    /// [`crate::outcome::CheckName`], or `compliance`, after [`CONNECTION_PREFIX`]).
    pub const ALL: &[&str] = &[
        ISE_RELEASE,
        APP_UNMARKED,
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
        ENFORCE_UNFILLED_ATTRIBUTE,
        ENFORCE_INACTIVE_MDM_SERVER,
        ENFORCE_NOT_CHECKED,
        CLOUD_UNCONFIRMED,
        INTUNE_PROFILE_WITHOUT_GUID,
        INTUNE_SID_SAN_UNSUPPORTED_RELEASE,
        INTUNE_NO_POLICY_COUNTS_COMPLIANT,
        INTUNE_COMPLIANCE_SETTINGS,
        ENTRA_NODE_SIGN_IN_FAILED,
        ENTRA_NODE_SIGN_INS,
        EVIDENCE_NOT_GRANTED,
        EVIDENCE_UNREADABLE,
        INTUNE_DEVICES_WITHOUT_MAC,
    ];
}

/// The most policy sets doctor reads the rules of (the reader's bound,
/// [`crate::observe::MAX_POLICY_SETS`]).
pub use crate::observe::MAX_POLICY_SETS;

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
    pub(crate) fn at_threshold(mut self, days: u32) -> Self {
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
    /// The host name of the node whose certificate it is: the node itself for an
    /// Admin certificate, the node whose Admin certificate has the key's thumbprint
    /// for an application key (`None` for a key no node holds now).
    pub node: Option<String>,
}

impl Expiry {
    /// The name a dashboard groups it by: the node's host name, else the subject
    /// without a leading `CN=` (a key no node holds now).
    pub fn node_name(&self) -> &str {
        self.node
            .as_deref()
            .unwrap_or_else(|| self.subject.strip_prefix("CN=").unwrap_or(&self.subject))
    }
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
/// principal, ISE's trusted store, the External MDM entry, enforcement, ISE's Test
/// Connection reproduced per policy service node (TLS chains included), and a
/// compliance query. Reads only.
///
/// It reads both systems once ([`crate::observe::observe`], everything independent at
/// once, so two silent services cost one timeout), runs the few live probes
/// (the entry as the configurator sees it, Test Connection reproduced, a
/// device-specific compliance query), then judges: each family of checks is a plain
/// function of the picture and the probes. One side failing does not stop the other:
/// an ISE or Entra ID that cannot be reached or refuses the credentials is an error
/// finding (`ise.unavailable`, `entra.unavailable`) and the other side's checks still
/// run.
pub async fn diagnose(ctx: &Integration) -> Result<Diagnosis, Error> {
    let reading = Reading::diagnosis(KeyExport::for_admin_key(&ctx.options.admin_key));
    let observed = observe(ctx, &reading).await;
    let probes = probe(ctx, &observed).await;
    judge(ctx, &observed, probes)
}

/// Every family of checks over the picture and the probes, most serious first.
fn judge(
    ctx: &Integration,
    o: &Observed,
    probes: Option<Result<Probes, Error>>,
) -> Result<Diagnosis, Error> {
    let mut d = Diagnosis::default();
    cloud_findings(ctx, &mut d);
    let Ok(version) = &o.version else {
        // ISE could not be read: Entra's side still runs, without the nodes'
        // certificates (so no key is called unused).
        if let Err(e) = &o.version {
            unavailable(&mut d, e);
        }
        if let Some(microsoft) = &o.microsoft {
            d.merge(app_checks(ctx, microsoft, &[], o.at));
            if let Some(e) = &microsoft.evidence {
                d.merge(evidence_checks(e, None, &[]));
            }
        }
        d.findings.retain(|f| f.id != ids::APP_KEY_UNUSED);
        return Ok(sorted(d));
    };
    release_findings(&mut d, version)?;
    let admins =
        match node_certificates(&mut d, &o.nodes, o.at, &ctx.options.expiry_thresholds_days) {
            Ok(admins) => admins,
            Err(e) => {
                unavailable(&mut d, e);
                Vec::new()
            }
        };
    match &o.store {
        Ok(store) => trust_findings(ctx, &mut d, store),
        Err(e) => unavailable(&mut d, e),
    }
    if let Some(policy) = &o.ise_policy {
        mdm_findings(ctx, &mut d, &policy.mdm);
        d.merge(enforcement_checks(ctx, policy));
    }
    if let Some(microsoft) = &o.microsoft {
        d.merge(app_checks(ctx, microsoft, &admins, o.at));
        if let Some(e) = &microsoft.evidence {
            d.merge(evidence_checks(e, Some(version), &admins));
        }
    }
    match probes {
        Some(Ok(probes)) => d.merge(connection_checks(probes)),
        Some(Err(e)) => unavailable(&mut d, &e),
        None => {}
    }
    Ok(sorted(d))
}

/// The diagnosis with one finding per unavailable side, most serious first.
fn sorted(mut d: Diagnosis) -> Diagnosis {
    let mut unavailable_seen = Vec::new();
    d.findings.retain(|f| {
        if f.id != ids::ISE_UNAVAILABLE && f.id != ids::ENTRA_UNAVAILABLE {
            return true;
        }
        if unavailable_seen.contains(&f.id) {
            return false;
        }
        unavailable_seen.push(f.id.clone());
        true
    });
    d.findings.sort_by_key(|f| f.severity);
    d
}

/// Records that a side could not be read (once per side): which service, what it
/// answered or why it did not, and what to check.
pub(super) fn unavailable(d: &mut Diagnosis, e: &Error) {
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

#[cfg(test)]
mod tests {
    use super::trust::anchor_lacks;
    use super::*;
    use ise_client::TrustedCertificate;

    fn entry(status: &str, trusted_for: &str) -> ise_client::TrustedCertificateUpdate {
        let mut t = TrustedCertificate::default();
        t.status = Some(status.into());
        t.trusted_for = Some(trusted_for.into());
        ise_client::TrustedCertificateUpdate::keeping(&t)
    }

    #[test]
    fn every_fixed_id_is_in_all() {
        // Each `pub const NAME: &str = "<id>";` of the ids module, read from this file.
        let source = include_str!("mod.rs");
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
