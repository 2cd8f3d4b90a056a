//! Findings from the evidence ISE cannot see ([`crate::evidence`]): certificate
//! profiles without the device GUID or with a SID the release cannot parse, Intune's
//! compliance settings, each node's sign-ins, and what could not be read.

use graph_client::well_known::{
    AUDIT_LOG_READ_ALL_ROLE_ID, DEVICE_MANAGEMENT_CONFIGURATION_READ_ALL_ROLE_ID,
    MICROSOFT_GRAPH_APP_ID,
};
use ise_intune_http::scrub;

use super::{Diagnosis, STRONG_MAPPING_EVIDENCE, Severity, ids};
use crate::evidence::{
    CONFIGURATION_READ, GUID_SAN_URI, Gathered, SIGN_IN_LOG_READ, SIGN_IN_WINDOW_HOURS,
    aadsts_meaning, check_profile, node_sign_ins,
};
use crate::keys::AdminCertificate;
use crate::observe::TenantEvidence;
use crate::version::{IntuneGates as _, IseVersion};

/// Longest server text (a sign-in's failure reason) shown in evidence.
const MAX_REASON: usize = 300;

/// Every finding the evidence gives.
pub(super) fn evidence_checks(
    e: &TenantEvidence,
    version: Option<&IseVersion>,
    admins: &[AdminCertificate],
) -> Diagnosis {
    let mut d = Diagnosis::default();
    match &e.profiles {
        Gathered::Read(profiles) => profile_findings(&mut d, profiles, version),
        other => not_read(&mut d, other, "Intune's SCEP and PKCS certificate profiles"),
    }
    match &e.settings {
        Gathered::Read(settings) => settings_findings(&mut d, settings),
        other => not_read(&mut d, other, "Intune's compliance settings"),
    }
    match &e.sign_ins {
        Some(Gathered::Read(sign_ins)) => sign_in_findings(&mut d, sign_ins, admins),
        Some(other) => not_read(&mut d, other, "Entra's sign-in log of ISE's application"),
        None => {}
    }
    d
}

fn profile_findings(
    d: &mut Diagnosis,
    profiles: &[graph_client::DeviceConfiguration],
    version: Option<&IseVersion>,
) {
    let install = version.and_then(|v| v.strong_mapping_fix());
    for p in profiles {
        let c = check_profile(p);
        let name = scrub::printable(&c.name, 120);
        if c.network && !c.carries_guid {
            let remediation = if c.cannot_carry {
                format!(
                    "this {} profile type has no custom subject alternative name, so it cannot \
                     carry the URI: replace it with a profile of a current type for {} \
                     (Intune: Devices > Configuration > Create) whose SAN includes Attribute \
                     URI, value {GUID_SAN_URI}",
                    c.kind, c.platform
                )
            } else {
                format!(
                    "in Intune's admin center: Devices > Configuration > \"{name}\" > \
                     Properties > Configuration settings > Subject alternative name: add \
                     Attribute URI, value {GUID_SAN_URI}; devices get it with their next \
                     certificate (renewal, or re-assign the profile)"
                )
            };
            d.push(
                ids::INTUNE_PROFILE_WITHOUT_GUID,
                Severity::Warning,
                None,
                format!(
                    "{} profile \"{name}\" ({}) issues network certificates without the \
                     Intune device id",
                    c.kind, c.platform
                ),
                format!(
                    "its subject alternative names carry no URI {GUID_SAN_URI}: ISE 3.1 and \
                     later then look the device up by MAC address only, and devices behind \
                     randomized MACs or docks, and Android personally owned work profiles \
                     (whose Wi-Fi MAC Intune does not report), are not found"
                ),
                remediation,
            );
        }
        if let (true, Some(install)) = (c.carries_sid, &install) {
            let release = version.map(ToString::to_string).unwrap_or_default();
            d.push(
                ids::INTUNE_SID_SAN_UNSUPPORTED_RELEASE,
                Severity::Error,
                None,
                format!(
                    "{} profile \"{name}\" ({}) puts Windows' strong-mapping SID in the \
                     SAN, which ISE {release} cannot parse",
                    c.kind, c.platform
                ),
                STRONG_MAPPING_EVIDENCE,
                format!(
                    "install {install} on every node (Cisco Field Notice FN74227); until \
                     then, remove the URI tag:microsoft.com,2022-09-14:sid:… from the \
                     profile's subject alternative names"
                ),
            );
        }
    }
}

fn settings_findings(d: &mut Diagnosis, s: &graph_client::DeviceManagementSettings) {
    let validity = s
        .device_compliance_checkin_threshold_days
        .map_or_else(|| "not reported".to_owned(), |n| format!("{n} days"));
    if s.secure_by_default == Some(false) {
        d.push(
            ids::INTUNE_NO_POLICY_COUNTS_COMPLIANT,
            Severity::Warning,
            None,
            "Intune marks devices with no compliance policy assigned as Compliant: every \
             such device passes a compliant rule in ISE",
            format!(
                "deviceManagement/settings: secureByDefault = false; compliance status \
                 validity period {validity}"
            ),
            "in Intune's admin center: Endpoint security > Device compliance > Compliance \
             settings > Mark devices with no compliance policy assigned as: Not compliant \
             (assign a compliance policy to every platform you admit first)",
        );
    }
    d.push(
        ids::INTUNE_COMPLIANCE_SETTINGS,
        Severity::Info,
        None,
        format!(
            "devices without a compliance policy count as {}; a silent device stays \
             compliant for {validity} (the compliance status validity period)",
            match s.secure_by_default {
                Some(false) => "Compliant",
                Some(true) => "Not compliant",
                None => "(not reported)",
            }
        ),
        "deviceManagement/settings",
        "nothing to do",
    );
}

fn sign_in_findings(
    d: &mut Diagnosis,
    sign_ins: &[graph_client::SignIn],
    admins: &[AdminCertificate],
) {
    let nodes: Vec<(String, String)> = admins
        .iter()
        .map(|a| (a.node.hostname.clone(), a.certificate.sha1().to_hex()))
        .collect();
    let when = |s: &Option<graph_client::SignIn>| match s {
        Some(s) => scrub::printable(s.created_date_time.as_deref().unwrap_or("?"), 40),
        None => format!("none in the last {SIGN_IN_WINDOW_HOURS} hours"),
    };
    let mut seen = Vec::new();
    for n in node_sign_ins(&nodes, sign_ins) {
        seen.push(format!(
            "{}: last success {}, last failure {}",
            n.host,
            when(&n.last_success),
            when(&n.last_failure)
        ));
        let (true, Some(failure)) = (n.last_attempt_failed, &n.last_failure) else {
            continue;
        };
        let code = failure.status.error_code.unwrap_or_default();
        let (meaning, remediation) = aadsts_meaning(code);
        let reason = scrub::text_within(
            failure.status.failure_reason.as_deref().unwrap_or_default(),
            &[],
            MAX_REASON,
        );
        d.push(
            ids::ENTRA_NODE_SIGN_IN_FAILED,
            Severity::Error,
            Some(&n.host),
            format!(
                "{}'s last sign-in to Entra ID failed with AADSTS{code}: {meaning}",
                n.host
            ),
            format!(
                "sign-in log, key SHA-1 {}: failed at {} ({reason}); last success {}",
                n.thumbprint,
                when(&n.last_failure),
                when(&n.last_success)
            ),
            remediation,
        );
    }
    if !seen.is_empty() {
        d.push(
            ids::ENTRA_NODE_SIGN_INS,
            Severity::Info,
            None,
            format!(
                "each node's sign-ins of the last {SIGN_IN_WINDOW_HOURS} hours ({} read)",
                sign_ins.len()
            ),
            seen.join("; "),
            "nothing to do",
        );
    }
}

/// What could not be read, what it would show, and how to allow it.
fn not_read<T>(d: &mut Diagnosis, g: &Gathered<T>, what: &str) {
    match g {
        Gathered::Read(_) => {}
        Gathered::NotGranted { permission } => {
            let (shows, role) = if *permission == SIGN_IN_LOG_READ {
                (
                    "each node's last successful and failed sign-in with its AADSTS code",
                    AUDIT_LOG_READ_ALL_ROLE_ID,
                )
            } else if *permission == CONFIGURATION_READ {
                (
                    "certificate profiles without the device GUID or with a SID the release \
                     cannot parse, and whether devices without a policy count as compliant",
                    DEVICE_MANAGEMENT_CONFIGURATION_READ_ALL_ROLE_ID,
                )
            } else {
                ("more evidence", "")
            };
            // One finding per permission.
            if d.findings
                .iter()
                .any(|f| f.id == ids::EVIDENCE_NOT_GRANTED && f.summary.contains(permission))
            {
                return;
            }
            d.push(
                ids::EVIDENCE_NOT_GRANTED,
                Severity::Info,
                None,
                format!("{what} not read: the automating identity lacks {permission}"),
                format!("with it doctor shows {shows}"),
                format!(
                    "grant Microsoft Graph's application permission {permission} to the \
                     automating identity, with admin consent (optional: read only): az ad app \
                     permission add --id <automating app id> --api {MICROSOFT_GRAPH_APP_ID} \
                     --api-permissions {role}=Role, then az ad app permission admin-consent \
                     --id <automating app id>"
                ),
            );
        }
        // Entra or Graph out of reach, or refusing the identity: `entra.unavailable`
        // already says so.
        Gathered::Failed(crate::Error::Graph(
            graph_client::Error::Token { .. } | graph_client::Error::Credentials { .. },
        )) => {}
        Gathered::Failed(crate::Error::Graph(g)) if g.status().is_none_or(|s| s == 401) => {}
        Gathered::Failed(e) => d.push(
            ids::EVIDENCE_UNREADABLE,
            Severity::Info,
            None,
            format!("{what} could not be read"),
            scrub::text_within(&e.to_string(), &[], MAX_REASON),
            "run doctor again; if it persists, check Graph's service health",
        ),
    }
}
