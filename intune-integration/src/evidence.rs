//! The evidence ISE cannot see, read from Graph for a diagnosis, and what it means:
//!
//! * **certificate profiles** (Graph beta `deviceManagement/deviceConfigurations`):
//!   whether each SCEP or PKCS profile that authenticates to the network puts the
//!   Intune device id in its SAN URI (`ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}`,
//!   which ISE 3.1 and later looks devices up by), and whether it carries Windows'
//!   strong-mapping SID (`tag:microsoft.com,2022-09-14:sid:…`), which releases before
//!   the FN74227 fix cannot parse — [`check_profile`];
//! * **Intune's compliance settings** (v1.0 `deviceManagement/settings`):
//!   "Mark devices with no compliance policy assigned as" and the validity period;
//! * **Entra's sign-in log** of the integration's application (Graph beta
//!   `auditLogs/signIns`, service-principal sign-ins): per node key, the last success
//!   and the last failure with its AADSTS code — [`node_sign_ins`], [`aadsts_meaning`].
//!
//! Each read needs a permission the automating identity holds only if granted for it
//! (`DeviceManagementConfiguration.Read.All`, `AuditLog.Read.All`): without it the
//! read is not sent and [`Gathered::NotGranted`] says which to grant.

use graph_client::{DeviceConfiguration, DeviceManagementSettings, GraphClient, SignIn};

use crate::Error;

/// The permission that reads Intune's compliance settings and certificate profiles.
pub const CONFIGURATION_READ: &str = "DeviceManagementConfiguration.Read.All";
/// The permission that reads Entra's sign-in log.
pub const SIGN_IN_LOG_READ: &str = "AuditLog.Read.All";

/// The SAN URI that carries the Intune device id (Cisco's MDM/UEM guide, Intune
/// chapter; `ID:Intune:GUID:{{DeviceId}}` is its older form).
pub const GUID_SAN_URI: &str = "ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}";
/// The start of the SAN URI of Windows' strong certificate mapping.
pub const SID_SAN_URI_PREFIX: &str = "tag:microsoft.com,2022-09-14:sid:";
/// The Client Authentication extended key usage.
pub const CLIENT_AUTHENTICATION_OID: &str = "1.3.6.1.5.5.7.3.2";
/// How far back sign-ins are read.
pub const SIGN_IN_WINDOW_HOURS: i64 = 24;

/// A piece of evidence: read, not read because the identity may not, or failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Gathered<T> {
    /// Read.
    Read(T),
    /// Not read: the automating identity does not hold `permission`.
    NotGranted {
        /// The application permission that would read it.
        permission: &'static str,
    },
    /// The read failed.
    Failed(Error),
}

impl<T> Gathered<T> {
    /// What was read, if anything.
    pub fn read(&self) -> Option<&T> {
        match self {
            Self::Read(t) => Some(t),
            _ => None,
        }
    }
}

/// Whether `roles` (the automating identity's token roles; `None` when its token names
/// none) allow a read needing `permission` or its write form: with no roles known, the
/// read is tried (a refusal then says the same).
fn granted(roles: Option<&[String]>, permission: &str) -> bool {
    let write = permission.replace(".Read.", ".ReadWrite.");
    roles.is_none_or(|r| r.iter().any(|x| x == permission || *x == write))
}

/// The optional reads (each a read-only Graph application permission) and what each
/// shows, as the plan lists them.
pub const OPTIONAL_READS: [(&str, &str); 3] = [
    (
        "Policy.Read.All",
        "app-management policies that would refuse ISE's certificate, read before any write",
    ),
    (
        CONFIGURATION_READ,
        "Intune's certificate profiles and compliance settings, for doctor",
    ),
    (
        SIGN_IN_LOG_READ,
        "each node's sign-ins, for doctor and offboarding's check",
    ),
];

/// One line saying which optional reads the automating identity holds (`roles`: its
/// token's; `None` when the token names none).
pub fn optional_reads(roles: Option<&[String]>) -> String {
    let Some(roles) = roles else {
        return "not known (the automating identity's token names no roles)".into();
    };
    let (held, missing): (Vec<_>, Vec<_>) = OPTIONAL_READS
        .iter()
        .partition(|(permission, _)| granted(Some(roles), permission));
    let list = |reads: &[&(&str, &str)]| {
        reads
            .iter()
            .map(|(p, what)| format!("{p} ({what})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (held.is_empty(), missing.is_empty()) {
        (_, true) => format!("all granted: {}", list(&held)),
        (true, false) => format!("none granted; could add {}", list(&missing)),
        (false, false) => format!("granted {}; could add {}", list(&held), list(&missing)),
    }
}

/// A refusal of the read (403) as not granted; anything else as a failure.
fn gathered<T>(r: Result<T, graph_client::Error>, permission: &'static str) -> Gathered<T> {
    match r {
        Ok(t) => Gathered::Read(t),
        Err(e) if e.status() == Some(403) => Gathered::NotGranted { permission },
        Err(e) => Gathered::Failed(e.into()),
    }
}

/// Intune's compliance settings, when `roles` allow.
pub async fn compliance_settings(
    graph: &GraphClient,
    roles: Option<&[String]>,
) -> Gathered<DeviceManagementSettings> {
    if !granted(roles, CONFIGURATION_READ) {
        return Gathered::NotGranted {
            permission: CONFIGURATION_READ,
        };
    }
    gathered(graph.device_management_settings().await, CONFIGURATION_READ)
}

/// Most device configurations read (a tenant has tens to hundreds).
pub const MAX_CONFIGURATIONS: usize = 5_000;

/// Intune's device configurations (Graph beta), when `roles` allow; only the SCEP and
/// PKCS certificate profiles are kept.
pub async fn certificate_profiles(
    graph: &GraphClient,
    roles: Option<&[String]>,
) -> Gathered<Vec<DeviceConfiguration>> {
    if !granted(roles, CONFIGURATION_READ) {
        return Gathered::NotGranted {
            permission: CONFIGURATION_READ,
        };
    }
    let mut pages = graph.device_configurations_beta();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    loop {
        match pages.next_page().await {
            Ok(Some(page)) => {
                seen = seen.saturating_add(page.len());
                if seen > MAX_CONFIGURATIONS {
                    return Gathered::Failed(Error::RemoteState {
                        what: format!(
                            "Intune lists more than {MAX_CONFIGURATIONS} device configurations: \
                             refusing to read on"
                        ),
                    });
                }
                kept.extend(page.into_iter().filter(|c| profile_kind(c).is_some()));
            }
            Ok(None) => return Gathered::Read(kept),
            Err(e) => return gathered(Err(e), CONFIGURATION_READ),
        }
    }
}

/// The application's service-principal sign-ins of the last
/// [`SIGN_IN_WINDOW_HOURS`] before `now`, newest first (one page: at most 1,000), when
/// `roles` allow.
pub async fn sign_ins(
    graph: &GraphClient,
    roles: Option<&[String]>,
    app_id: &str,
    now: time::OffsetDateTime,
) -> Gathered<Vec<SignIn>> {
    if !granted(roles, SIGN_IN_LOG_READ) {
        return Gathered::NotGranted {
            permission: SIGN_IN_LOG_READ,
        };
    }
    let since = (now - time::Duration::hours(SIGN_IN_WINDOW_HOURS))
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(now);
    let Ok(since) = since.format(&time::format_description::well_known::Rfc3339) else {
        return Gathered::Failed(Error::RemoteState {
            what: "the sign-in window's start cannot be written as a date".into(),
        });
    };
    let mut pages = graph.service_principal_sign_ins(app_id, &since);
    match pages.next_page().await {
        Ok(page) => Gathered::Read(page.unwrap_or_default()),
        Err(e) => gathered(Err(e), SIGN_IN_LOG_READ),
    }
}

/// SCEP or PKCS, from a configuration's `@odata.type`.
pub fn profile_kind(c: &DeviceConfiguration) -> Option<&'static str> {
    let t = c.odata_type.to_ascii_lowercase();
    if t.ends_with("scepcertificateprofile") {
        Some("SCEP")
    } else if t.ends_with("pkcscertificateprofile") {
        Some("PKCS")
    } else {
        None
    }
}

/// The platform a profile's type is for, as Intune's admin center names it.
pub fn platform(c: &DeviceConfiguration) -> &'static str {
    let t = c
        .odata_type
        .trim_start_matches("#microsoft.graph.")
        .to_ascii_lowercase();
    match () {
        _ if t.starts_with("windows") => "Windows",
        _ if t.starts_with("ios") => "iOS/iPadOS",
        _ if t.starts_with("macos") => "macOS",
        _ if t.starts_with("androidworkprofile") => {
            "Android Enterprise (personally owned work profile)"
        }
        _ if t.starts_with("androiddeviceowner") => {
            "Android Enterprise (fully managed, dedicated, corporate work profile)"
        }
        _ if t.starts_with("aosp") => "Android (AOSP)",
        _ if t.starts_with("androidforwork") => "Android for Work (legacy)",
        _ if t.starts_with("android") => "Android device administrator",
        _ => "unknown platform",
    }
}

/// What a profile's SAN and key usages mean for ISE.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileCheck {
    /// The profile's name.
    pub name: String,
    /// SCEP or PKCS.
    pub kind: &'static str,
    /// Its platform.
    pub platform: &'static str,
    /// It issues certificates for client authentication (its key usages include
    /// Client Authentication, or its type carries none to say otherwise).
    pub network: bool,
    /// Its SAN carries the Intune device id as a URI.
    pub carries_guid: bool,
    /// Its type has no custom SAN, so it cannot carry the URI at all.
    pub cannot_carry: bool,
    /// Its SAN carries the strong-mapping SID URI.
    pub carries_sid: bool,
}

/// Checks one SCEP or PKCS profile.
pub fn check_profile(c: &DeviceConfiguration) -> ProfileCheck {
    let uris: Vec<&str> = c
        .custom_subject_alternative_names
        .iter()
        .flatten()
        .filter(|s| {
            s.san_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("universalResourceIdentifier"))
        })
        .filter_map(|s| s.name.as_deref())
        .chain(c.subject_alternative_name_format_string.as_deref())
        .collect();
    let carries_guid = uris.iter().any(|u| {
        let u = u.trim().to_ascii_lowercase();
        (u.starts_with("id:microsoft endpoint manager:guid:") || u.starts_with("id:intune:guid:"))
            && u.ends_with("{{deviceid}}")
    });
    let carries_sid = uris.iter().any(|u| {
        u.trim()
            .to_ascii_lowercase()
            .starts_with(SID_SAN_URI_PREFIX)
    });
    let network = match &c.extended_key_usages {
        None => true,
        Some(usages) => usages
            .iter()
            .any(|u| u.object_identifier.as_deref() == Some(CLIENT_AUTHENTICATION_OID)),
    };
    ProfileCheck {
        name: c.display_name.clone().unwrap_or_else(|| c.id.clone()),
        kind: profile_kind(c).unwrap_or("certificate"),
        platform: platform(c),
        network,
        carries_guid,
        cannot_carry: c.custom_subject_alternative_names.is_none()
            && c.subject_alternative_name_format_string.is_none(),
        carries_sid,
    }
}

/// One node key's sign-ins in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeSignIns {
    /// The node.
    pub host: String,
    /// Its Admin certificate's SHA-1 thumbprint (hex, upper case).
    pub thumbprint: String,
    /// Its last successful sign-in.
    pub last_success: Option<SignIn>,
    /// Its last failed sign-in.
    pub last_failure: Option<SignIn>,
    /// Its last attempt failed.
    pub last_attempt_failed: bool,
}

/// Each node's sign-ins among `sign_ins`, matched by the thumbprint its key presented:
/// `nodes` are (host, SHA-1 thumbprint in hex). The newest is the latest
/// `createdDateTime`; sign-ins of the same second keep the log's order (Graph lists
/// the newest first).
pub fn node_sign_ins(nodes: &[(String, String)], sign_ins: &[SignIn]) -> Vec<NodeSignIns> {
    let mut newest_first: Vec<&SignIn> = sign_ins.iter().collect();
    newest_first.sort_by(|a, b| b.created_date_time.cmp(&a.created_date_time));
    nodes
        .iter()
        .map(|(host, thumbprint)| {
            let mine: Vec<&SignIn> = newest_first
                .iter()
                .copied()
                .filter(|s| {
                    s.service_principal_credential_thumbprint
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(thumbprint))
                })
                .collect();
            let ok = |s: &&SignIn| s.status.error_code.unwrap_or(0) == 0;
            NodeSignIns {
                host: host.clone(),
                thumbprint: thumbprint.to_ascii_uppercase(),
                last_success: mine.iter().find(|s| ok(s)).map(|s| (*s).clone()),
                last_failure: mine.iter().find(|s| !ok(s)).map(|s| (*s).clone()),
                last_attempt_failed: mine.first().is_some_and(|s| !ok(s)),
            }
        })
        .collect()
}

/// What an AADSTS code of a certificate sign-in means for ISE, and what to do.
pub fn aadsts_meaning(code: i64) -> (&'static str, &'static str) {
    match code {
        700027 => (
            "the node's certificate is not registered on the application (or its \
             signature did not verify)",
            "run `ise-intune rotate` (or `onboard`) to register the node's current Admin \
             certificate",
        ),
        700024 => (
            "the client assertion was outside its valid time range: the node's clock is off",
            "set NTP on the node (ISE: Administration > System > Settings > System Time)",
        ),
        700016 => (
            "the application was not found in the tenant (deleted, or another tenant's)",
            "check the External MDM entry's client id and tenant, then run `ise-intune onboard`",
        ),
        90002 => (
            "the tenant was not found",
            "check the tenant in the External MDM entry's token endpoint",
        ),
        500011 | 70011 | 1002012 => (
            "the token was asked for a resource or audience the tenant does not have",
            "check the External MDM entry's token audience for this ISE release \
             (`ise-intune doctor` shows the expected one)",
        ),
        5002738 => (
            "the assertion was not signed with RSA",
            "use an RSA Admin certificate on the node",
        ),
        7000112 => (
            "the application is disabled",
            "enable the application's service principal in Entra ID",
        ),
        _ => (
            "Entra refused the sign-in",
            "look the code up in Entra's error reference (login.microsoftonline.com/error)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph_client::{CustomSubjectAlternativeName, ExtendedKeyUsage, SignInStatus};

    fn profile(kind: &str, uris: &[&str], usages: Option<&[&str]>) -> DeviceConfiguration {
        let mut c = DeviceConfiguration::default();
        c.odata_type = format!("#microsoft.graph.{kind}");
        c.id = "p1".into();
        c.display_name = Some("Wi-Fi".into());
        c.custom_subject_alternative_names = Some(
            uris.iter()
                .map(|u| {
                    let mut s = CustomSubjectAlternativeName::default();
                    s.san_type = Some("universalResourceIdentifier".into());
                    s.name = Some((*u).into());
                    s
                })
                .collect(),
        );
        c.extended_key_usages = usages.map(|u| {
            u.iter()
                .map(|oid| {
                    let mut k = ExtendedKeyUsage::default();
                    k.object_identifier = Some((*oid).into());
                    k
                })
                .collect()
        });
        c
    }

    #[test]
    fn a_profile_is_judged_by_its_uris_and_key_usages() {
        let ok = check_profile(&profile(
            "iosScepCertificateProfile",
            &[GUID_SAN_URI],
            Some(&[CLIENT_AUTHENTICATION_OID]),
        ));
        assert!(ok.network && ok.carries_guid && !ok.carries_sid && !ok.cannot_carry);
        assert_eq!((ok.kind, ok.platform), ("SCEP", "iOS/iPadOS"));
        // The older form, in another case, counts.
        let old = check_profile(&profile(
            "windows10PkcsCertificateProfile",
            &["id:intune:guid:{{DeviceID}}"],
            None,
        ));
        assert!(old.carries_guid && old.network);
        // S/MIME only: not a network profile.
        let smime = check_profile(&profile(
            "windows10PkcsCertificateProfile",
            &[],
            Some(&["1.3.6.1.5.5.7.3.4"]),
        ));
        assert!(!smime.network && !smime.carries_guid);
        let sid = check_profile(&profile(
            "windows81SCEPCertificateProfile",
            &["tag:microsoft.com,2022-09-14:sid:{{OnPremisesSecurityIdentifier}}"],
            None,
        ));
        assert!(sid.carries_sid && !sid.carries_guid);
        let mut legacy = profile("androidPkcsCertificateProfile", &[], None);
        legacy.custom_subject_alternative_names = None;
        assert!(check_profile(&legacy).cannot_carry);
        assert_eq!(profile_kind(&legacy), Some("PKCS"));
        let mut other = legacy.clone();
        other.odata_type = "#microsoft.graph.windows10GeneralConfiguration".into();
        assert_eq!(profile_kind(&other), None);
    }

    fn sign_in(at: &str, thumbprint: &str, code: i64) -> SignIn {
        let mut s = SignIn::default();
        s.created_date_time = Some(at.into());
        s.service_principal_credential_thumbprint = Some(thumbprint.into());
        let mut status = SignInStatus::default();
        status.error_code = Some(code);
        s.status = status;
        s
    }

    #[test]
    fn each_nodes_last_attempt_is_its_newest_and_ties_keep_the_logs_order() {
        let nodes = vec![
            ("psn".to_owned(), "ab12".to_owned()),
            ("pan".to_owned(), "CD34".to_owned()),
        ];
        // Newest first, as Graph lists them; two of one second.
        let log = vec![
            sign_in("2026-12-06T10:00:05Z", "AB12", 700027),
            sign_in("2026-12-06T10:00:05Z", "AB12", 0),
            sign_in("2026-12-06T09:00:00Z", "cd34", 0),
            sign_in("2026-12-06T08:00:00Z", "cd34", 700024),
        ];
        let seen = node_sign_ins(&nodes, &log);
        assert!(seen[0].last_attempt_failed);
        assert_eq!(seen[0].thumbprint, "AB12");
        assert_eq!(
            seen[0]
                .last_failure
                .as_ref()
                .and_then(|s| s.status.error_code),
            Some(700027)
        );
        assert!(seen[0].last_success.is_some());
        assert!(!seen[1].last_attempt_failed);
        assert_eq!(
            seen[1]
                .last_failure
                .as_ref()
                .and_then(|s| s.status.error_code),
            Some(700024)
        );
        // A node with no sign-in has nothing failed.
        let none = node_sign_ins(&[("x".into(), "FF".into())], &log);
        assert!(!none[0].last_attempt_failed && none[0].last_success.is_none());
    }

    #[test]
    fn permissions_come_from_the_tokens_roles_or_are_tried() {
        let roles = vec!["DeviceManagementConfiguration.ReadWrite.All".to_owned()];
        assert!(granted(Some(&roles), CONFIGURATION_READ));
        assert!(!granted(Some(&roles), SIGN_IN_LOG_READ));
        assert!(granted(None, SIGN_IN_LOG_READ));
        assert!(aadsts_meaning(700027).0.contains("not registered"));
        assert!(aadsts_meaning(1).0.contains("refused"));
        let roles = vec!["AuditLog.Read.All".to_owned()];
        assert_eq!(
            optional_reads(Some(&roles)),
            "granted AuditLog.Read.All (each node's sign-ins, for doctor and offboarding's check); \
             could add Policy.Read.All (app-management policies that would refuse ISE's \
             certificate, read before any write), DeviceManagementConfiguration.Read.All \
             (Intune's certificate profiles and compliance settings, for doctor)"
        );
        assert!(optional_reads(None).contains("not known"));
    }
}
