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

/// A profile's SAN URI templates (its custom SANs of type URI, and the older
/// profiles' format string), with Intune's variables (`{{DeviceId}}`, …) in them.
fn uri_templates(c: &DeviceConfiguration) -> Vec<&str> {
    c.custom_subject_alternative_names
        .iter()
        .flatten()
        .filter(|s| {
            s.san_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("universalResourceIdentifier"))
        })
        .filter_map(|s| s.name.as_deref())
        .chain(c.subject_alternative_name_format_string.as_deref())
        .collect()
}

/// Checks one SCEP or PKCS profile.
pub fn check_profile(c: &DeviceConfiguration) -> ProfileCheck {
    let uris = uri_templates(c);
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

/// The permission that reads a managed device and the profiles applied to it.
pub const MANAGED_DEVICES_READ: &str = "DeviceManagementManagedDevices.Read.All";

/// Which certificate profile issued a device's certificate, as far as Graph can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuingProfile {
    /// One profile Intune applied to the device puts exactly the certificate's SAN URIs
    /// in the certificates it issues.
    One(ProfileCheck),
    /// Several could have (same SAN URIs).
    Several(Vec<ProfileCheck>),
    /// None of the `applied` SCEP or PKCS profiles Intune lists for the device issues
    /// these SAN URIs: another CA's certificate, a profile changed since, or Intune
    /// lists no profile state for the device.
    NoneOf {
        /// How many SCEP or PKCS profiles Intune lists as applied to the device.
        applied: usize,
    },
}

/// Most Intune variables (other than `{{DeviceId}}`) a SAN URI template is matched with.
const MAX_TEMPLATE_VARIABLES: usize = 4;

/// Whether one SAN URI `template` of a profile gives `uri` for the device `device_id`:
/// `{{DeviceId}}` stands for the device id, any other Intune variable for any
/// non-empty text; letters compare without regard to case (ISE's and Intune's GUIDs
/// differ in case).
pub fn template_gives(template: &str, uri: &str, device_id: &str) -> bool {
    enum Part<'a> {
        Text(&'a str),
        /// The device id, bare or in braces (both are seen in certificates).
        Device,
        Any,
    }
    let mut parts = Vec::new();
    let mut rest = template.trim();
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else {
            break;
        };
        parts.push(Part::Text(&rest[..open]));
        let variable = &rest[open + 2..close];
        if variable.trim().eq_ignore_ascii_case("DeviceId") {
            parts.push(Part::Device);
        } else {
            parts.push(Part::Any);
        }
        rest = &rest[close + 2..];
    }
    parts.push(Part::Text(rest));
    // A SAN entry has a variable or two; one from a server with many is not matched
    // (the backtracking below grows with the text's length to their number).
    if parts.iter().filter(|p| matches!(p, Part::Any)).count() > MAX_TEMPLATE_VARIABLES {
        return false;
    }
    // Matching with backtracking over the (few) variables of a SAN entry.
    fn starts(text: &str, t: &str) -> bool {
        text.get(..t.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(t))
    }
    fn matches(parts: &[Part<'_>], text: &str, device_id: &str) -> bool {
        match parts.split_first() {
            None => text.is_empty(),
            Some((Part::Text(t), tail)) => {
                starts(text, t) && matches(tail, &text[t.len()..], device_id)
            }
            Some((Part::Device, tail)) => {
                let braced = format!("{{{device_id}}}");
                (starts(text, device_id) && matches(tail, &text[device_id.len()..], device_id))
                    || (starts(text, &braced) && matches(tail, &text[braced.len()..], device_id))
            }
            Some((Part::Any, tail)) => (1..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .any(|i| matches(tail, &text[i..], device_id)),
        }
    }
    matches(&parts, uri.trim(), device_id)
}

/// Which of `profiles` (SCEP and PKCS, as [`certificate_profiles`] reads them) issued
/// a certificate with `san_uris` to the device `device_id`, given the profiles Intune
/// lists as applied to it (`states`, matched by name: Graph does not document a
/// state's id as the profile's). A profile qualifies when each of its URI templates
/// gives one of the certificate's URIs and each URI comes from one of its templates.
pub fn issuing_profile_of(
    profiles: &[DeviceConfiguration],
    states: &[graph_client::DeviceConfigurationState],
    device_id: &str,
    san_uris: &[String],
) -> IssuingProfile {
    let applied: Vec<&DeviceConfiguration> = profiles
        .iter()
        .filter(|p| profile_kind(p).is_some())
        .filter(|p| {
            states.iter().any(|s| {
                s.display_name.is_some()
                    && s.display_name == p.display_name
                    && !matches!(s.state.as_deref(), Some("notApplicable" | "notAssigned"))
            })
        })
        .collect();
    let mut issuing: Vec<ProfileCheck> = applied
        .iter()
        .filter(|p| {
            let templates = uri_templates(p);
            !templates.is_empty()
                && templates
                    .iter()
                    .all(|t| san_uris.iter().any(|u| template_gives(t, u, device_id)))
                && san_uris
                    .iter()
                    .all(|u| templates.iter().any(|t| template_gives(t, u, device_id)))
        })
        .map(|p| check_profile(p))
        .collect();
    match issuing.len() {
        0 => IssuingProfile::NoneOf {
            applied: applied.len(),
        },
        1 => IssuingProfile::One(issuing.remove(0)),
        _ => IssuingProfile::Several(issuing),
    }
}

/// Most profile states read for one device (a device has tens).
const MAX_DEVICE_STATES: usize = 5_000;

/// Which certificate profile issued the device `device_id`'s certificate carrying
/// `san_uris`, when `roles` allow both reads ([`CONFIGURATION_READ`] for the profiles,
/// [`MANAGED_DEVICES_READ`] for the device's profile states); both are read at once.
pub async fn issuing_profile(
    graph: &GraphClient,
    roles: Option<&[String]>,
    device_id: &str,
    san_uris: &[String],
) -> Gathered<IssuingProfile> {
    if !granted(roles, MANAGED_DEVICES_READ) {
        return Gathered::NotGranted {
            permission: MANAGED_DEVICES_READ,
        };
    }
    let states = async {
        let mut pages = graph.device_configuration_states(device_id)?;
        let mut states = Vec::new();
        while let Some(page) = pages.next_page().await? {
            states.extend(page);
            if states.len() > MAX_DEVICE_STATES {
                return Err(graph_client::Error::InvalidInput {
                    what: format!(
                        "Intune lists more than {MAX_DEVICE_STATES} profile states for one device"
                    ),
                });
            }
        }
        Ok(states)
    };
    let (profiles, states) = tokio::join!(certificate_profiles(graph, roles), states);
    let profiles = match profiles {
        Gathered::Read(p) => p,
        Gathered::NotGranted { permission } => return Gathered::NotGranted { permission },
        Gathered::Failed(e) => return Gathered::Failed(e),
    };
    match states {
        Ok(states) => Gathered::Read(issuing_profile_of(&profiles, &states, device_id, san_uris)),
        Err(e) => gathered(Err(e), MANAGED_DEVICES_READ),
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

    fn named(name: &str, kind: &str, uris: &[&str]) -> DeviceConfiguration {
        let mut c = profile(kind, uris, None);
        c.display_name = Some(name.into());
        c
    }

    fn state(name: &str, state: &str) -> graph_client::DeviceConfigurationState {
        serde_json::from_value(serde_json::json!({"displayName": name, "state": state}))
            .expect("a state")
    }

    const DEVICE: &str = "5f1c2b7e-0c1d-4e8a-9f00-1234567890ab";

    #[test]
    fn a_template_gives_the_device_id_in_any_case_and_variables_stand_for_text() {
        let uri = "ID:Microsoft Endpoint Manager:GUID:5F1C2B7E-0C1D-4E8A-9F00-1234567890AB";
        assert!(template_gives(GUID_SAN_URI, uri, DEVICE));
        let braced = "ID:Microsoft Endpoint Manager:GUID:{5F1C2B7E-0C1D-4E8A-9F00-1234567890AB}";
        assert!(template_gives(GUID_SAN_URI, braced, DEVICE));
        assert!(!template_gives(
            GUID_SAN_URI,
            uri,
            "00000000-0000-0000-0000-000000000000"
        ));
        assert!(!template_gives("ID:Intune:GUID:{{DeviceId}}", uri, DEVICE));
        let sid = "tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-1001";
        assert!(template_gives(
            "tag:microsoft.com,2022-09-14:sid:{{OnPremisesSecurityIdentifier}}",
            sid,
            DEVICE
        ));
        // A variable stands for some text, not none.
        assert!(!template_gives(
            "tag:microsoft.com,2022-09-14:sid:{{OnPremisesSecurityIdentifier}}",
            "tag:microsoft.com,2022-09-14:sid:",
            DEVICE
        ));
        // Too many variables from a server: not matched rather than searched.
        assert!(!template_gives(
            "{{a}}{{b}}{{c}}{{d}}{{e}}",
            "abcde",
            DEVICE
        ));
        assert!(template_gives("{{a}}-{{b}}", "x-y", DEVICE));
    }

    #[test]
    fn the_issuing_profile_is_the_applied_one_whose_uris_are_the_certificates() {
        let guid_uri = format!("ID:Microsoft Endpoint Manager:GUID:{DEVICE}");
        let profiles = vec![
            named(
                "Wi-Fi Windows (SCEP)",
                "windows81SCEPCertificateProfile",
                &[GUID_SAN_URI],
            ),
            named(
                "Wi-Fi Windows strong mapping (SCEP)",
                "windows81SCEPCertificateProfile",
                &[
                    GUID_SAN_URI,
                    "tag:microsoft.com,2022-09-14:sid:{{OnPremisesSecurityIdentifier}}",
                ],
            ),
            named(
                "VPN Windows (PKCS)",
                "windows10PkcsCertificateProfile",
                &[GUID_SAN_URI],
            ),
            named(
                "Wi-Fi iOS (SCEP)",
                "iosScepCertificateProfile",
                &[GUID_SAN_URI],
            ),
        ];
        let states = vec![
            state("Wi-Fi Windows (SCEP)", "compliant"),
            state("Wi-Fi Windows strong mapping (SCEP)", "compliant"),
            state("VPN Windows (PKCS)", "notApplicable"),
            state("Wi-Fi iOS (SCEP)", "notAssigned"),
        ];
        // Only the GUID: the first (the one with the SID too would have added it).
        let IssuingProfile::One(one) =
            issuing_profile_of(&profiles, &states, DEVICE, std::slice::from_ref(&guid_uri))
        else {
            panic!("one profile");
        };
        assert_eq!(
            (one.name.as_str(), one.kind),
            ("Wi-Fi Windows (SCEP)", "SCEP")
        );
        // The GUID and a SID: the strong-mapping profile.
        let with_sid = [
            guid_uri.clone(),
            "tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-1001".to_owned(),
        ];
        let IssuingProfile::One(one) = issuing_profile_of(&profiles, &states, DEVICE, &with_sid)
        else {
            panic!("one profile");
        };
        assert!(one.carries_sid);
        // Another device's GUID: none of the two applied profiles.
        assert_eq!(
            issuing_profile_of(
                &profiles,
                &states,
                DEVICE,
                &[
                    "ID:Microsoft Endpoint Manager:GUID:00000000-0000-0000-0000-000000000000"
                        .into()
                ]
            ),
            IssuingProfile::NoneOf { applied: 2 }
        );
        // Two applied profiles alike: both named.
        let twin = vec![
            profiles[0].clone(),
            named(
                "Wi-Fi Windows copy (SCEP)",
                "windows81SCEPCertificateProfile",
                &[GUID_SAN_URI],
            ),
        ];
        let states = vec![
            state("Wi-Fi Windows (SCEP)", "compliant"),
            state("Wi-Fi Windows copy (SCEP)", "error"),
        ];
        let IssuingProfile::Several(both) = issuing_profile_of(&twin, &states, DEVICE, &[guid_uri])
        else {
            panic!("several");
        };
        assert_eq!(both.len(), 2);
    }
}
