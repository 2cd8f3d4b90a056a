//! What Intune and Entra record that a diagnosis reads as evidence, beyond the
//! integration itself:
//!
//! * Intune's tenant-wide compliance settings (`deviceManagementSettings`:
//!   `secureByDefault`, `deviceComplianceCheckinThresholdDays`), at Graph v1.0
//!   `GET /deviceManagement?$select=settings`;
//! * Intune's SCEP and PKCS certificate profiles, at Graph **beta**
//!   `GET /deviceManagement/deviceConfigurations` (v1.0 has no SCEP or PKCS profile
//!   types: Microsoft's v1.0 SDK for Python, msgraph-sdk, has none; the beta SDK,
//!   msgraph-beta-sdk, has fifteen);
//! * Entra's service-principal sign-in log, at Graph **beta** `GET /auditLogs/signIns`
//!   (v1.0's `signIn` has no `signInEventTypes`): a record for every client-credentials
//!   token request this tenant's login service answered, success or refusal.
//!
//! Evidence: the beta SDK's generated models (property names, and which profile types
//! carry `customSubjectAlternativeNames` and `extendedKeyUsages`: the legacy
//! `androidScep`/`androidPkcs`/`androidForWorkPkcs` profiles have no custom SAN; iOS
//! and macOS PKCS profiles and every Android PKCS profile have no key usages of their
//! own), Graph's `deviceManagementSettings` and `signIn` (beta) references, and the
//! permission tables of "Get deviceManagement" (`DeviceManagementConfiguration.Read.All`)
//! and "List signIns" (`AuditLog.Read.All`). Not modelled: the minutes Entra takes
//! to show a sign-in in its log (records appear at once here), and the Entra ID P1
//! licence the sign-in log needs.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most sign-in records kept (the oldest are dropped first).
const MAX_SIGN_INS: usize = 10_000;

/// The OID of the Client Authentication key usage.
pub const CLIENT_AUTHENTICATION_OID: &str = "1.3.6.1.5.5.7.3.2";

/// The SAN URI that carries the Intune device id, as Cisco's guide gives it.
pub const GUID_SAN_URI: &str = "ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}";

/// The SAN URI of Windows' strong certificate mapping, as Intune's profiles add it.
pub const SID_SAN_URI: &str = "tag:microsoft.com,2022-09-14:sid:{{OnPremisesSecurityIdentifier}}";

/// One subject alternative name of a certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanEntry {
    /// Graph's `sanType`: `universalResourceIdentifier`, `userPrincipalName`,
    /// `emailAddress`, `domainNameService`, `customAzureADAttribute`.
    pub san_type: String,
    /// The value, with Intune's `{{…}}` variables.
    pub name: String,
}

impl SanEntry {
    /// A URI entry.
    pub fn uri(name: &str) -> Self {
        Self {
            san_type: "universalResourceIdentifier".into(),
            name: name.into(),
        }
    }

    /// A user principal name entry.
    pub fn upn() -> Self {
        Self {
            san_type: "userPrincipalName".into(),
            name: "{{UserPrincipalName}}".into(),
        }
    }
}

/// An Intune SCEP or PKCS certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateProfile {
    /// Its id (given by the simulator when empty).
    #[serde(default)]
    pub id: String,
    /// Graph's type without its namespace: `windows81SCEPCertificateProfile`,
    /// `iosScepCertificateProfile`, `androidWorkProfilePkcsCertificateProfile`, …
    pub kind: String,
    /// Its name in Intune's admin center.
    pub display_name: String,
    /// Its subject alternative names.
    #[serde(default)]
    pub sans: Vec<SanEntry>,
    /// Its extended key usages' OIDs (on the types that carry them).
    #[serde(default)]
    pub key_usages: Vec<String>,
}

/// The SCEP and PKCS profile types of Graph beta, and what each carries: (type, custom
/// SANs, extended key usages).
const PROFILE_TYPES: [(&str, bool, bool); 16] = [
    ("windows81SCEPCertificateProfile", true, true),
    ("windows10PkcsCertificateProfile", true, true),
    ("iosScepCertificateProfile", true, true),
    ("iosPkcsCertificateProfile", true, false),
    ("macOSScepCertificateProfile", true, true),
    ("macOSPkcsCertificateProfile", true, false),
    ("androidWorkProfileScepCertificateProfile", true, true),
    ("androidWorkProfilePkcsCertificateProfile", true, true),
    ("androidDeviceOwnerScepCertificateProfile", true, true),
    ("androidDeviceOwnerPkcsCertificateProfile", true, true),
    ("aospDeviceOwnerScepCertificateProfile", true, true),
    ("aospDeviceOwnerPkcsCertificateProfile", true, true),
    ("androidForWorkScepCertificateProfile", true, true),
    ("androidForWorkPkcsCertificateProfile", false, true),
    ("androidScepCertificateProfile", false, true),
    ("androidPkcsCertificateProfile", false, true),
];

impl CertificateProfile {
    /// Whether the simulator knows `kind` as a SCEP or PKCS profile type.
    pub fn known_kind(kind: &str) -> bool {
        PROFILE_TYPES.iter().any(|(k, ..)| *k == kind)
    }

    /// The profile as Graph beta lists it: its type's properties only.
    pub(crate) fn to_graph(&self) -> Value {
        let (_, custom, usages) = PROFILE_TYPES
            .iter()
            .find(|(k, ..)| *k == self.kind)
            .copied()
            .unwrap_or((self.kind.as_str(), false, false));
        let mut v = json!({
            "@odata.type": format!("#microsoft.graph.{}", self.kind),
            "id": self.id,
            "displayName": self.display_name,
            "version": 1,
        });
        // The built-in SAN attributes (a flags enum, comma-separated).
        let builtin: Vec<&str> = self
            .sans
            .iter()
            .filter(|s| s.san_type != "universalResourceIdentifier")
            .map(|s| s.san_type.as_str())
            .collect();
        v["subjectAlternativeNameType"] = Value::String(if builtin.is_empty() {
            "none".into()
        } else {
            builtin.join(",")
        });
        if custom {
            v["customSubjectAlternativeNames"] = self
                .sans
                .iter()
                .map(|s| json!({"sanType": s.san_type, "name": s.name}))
                .collect();
        }
        if usages {
            v["extendedKeyUsages"] = self
                .key_usages
                .iter()
                .map(|oid| {
                    let name = if oid == CLIENT_AUTHENTICATION_OID {
                        "Client Authentication"
                    } else {
                        "Other"
                    };
                    json!({"name": name, "objectIdentifier": oid})
                })
                .collect();
        }
        v
    }
}

/// One sign-in of a service principal, as Entra records it.
#[derive(Debug, Clone)]
pub(crate) struct SignInRecord {
    pub(crate) id: String,
    pub(crate) at: time::OffsetDateTime,
    pub(crate) app_id: String,
    pub(crate) resource: Option<(&'static str, &'static str)>,
    /// 0 for a success, else the AADSTS number.
    pub(crate) error_code: u64,
    pub(crate) failure_reason: Option<String>,
    /// The thumbprint the client assertion named (hex SHA-1), when it named one.
    pub(crate) thumbprint: Option<String>,
    /// The registered key that matched, for a success.
    pub(crate) key_id: Option<String>,
    pub(crate) credential_type: &'static str,
}

impl SignInRecord {
    /// The record as Graph beta's `signIn` shows it.
    pub(crate) fn to_graph(&self) -> Value {
        let (resource_id, resource_name) = self.resource.unwrap_or_default();
        json!({
            "id": self.id,
            "createdDateTime": whole_seconds(self.at),
            "appId": self.app_id,
            "resourceId": resource_id,
            "resourceDisplayName": resource_name,
            "status": {
                "errorCode": self.error_code,
                "failureReason": self.failure_reason.clone().unwrap_or_else(|| "Other.".into()),
                "additionalDetails": null,
            },
            "servicePrincipalCredentialKeyId": self.key_id,
            "servicePrincipalCredentialThumbprint": self.thumbprint,
            "clientCredentialType": self.credential_type,
            "signInEventTypes": ["servicePrincipal"],
            "isInteractive": false,
            "ipAddress": "127.0.0.1",
        })
    }
}

/// `at` as Graph writes a sign-in's time (RFC 3339, whole seconds, UTC).
fn whole_seconds(at: time::OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The tenant's evidence.
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    /// "Mark devices with no compliance policy assigned as": `true` = Not compliant.
    pub(crate) secure_by_default: bool,
    /// The compliance status validity period, in days.
    pub(crate) checkin_threshold_days: u32,
    pub(crate) profiles: Vec<CertificateProfile>,
    pub(crate) sign_ins: VecDeque<SignInRecord>,
}

impl Evidence {
    /// A tenant as Intune's defaults leave it (devices without a policy not
    /// compliant, 30 days of validity) with three network profiles that carry the
    /// GUID URI and one S/MIME profile that needs none.
    pub(crate) fn seeded(rng: &mut crate::rng::Rng) -> Self {
        let profile =
            |rng: &mut crate::rng::Rng, kind: &str, name: &str, sans, usages| CertificateProfile {
                id: rng.uuid(),
                kind: kind.into(),
                display_name: name.into(),
                sans,
                key_usages: usages,
            };
        let client_auth = || vec![CLIENT_AUTHENTICATION_OID.to_owned()];
        let profiles = vec![
            profile(
                rng,
                "windows81SCEPCertificateProfile",
                "Wi-Fi 802.1X - Windows (SCEP)",
                vec![SanEntry::upn(), SanEntry::uri(GUID_SAN_URI)],
                client_auth(),
            ),
            profile(
                rng,
                "iosScepCertificateProfile",
                "Wi-Fi 802.1X - iOS/iPadOS (SCEP)",
                vec![SanEntry::uri(GUID_SAN_URI)],
                client_auth(),
            ),
            profile(
                rng,
                "androidWorkProfilePkcsCertificateProfile",
                "Wi-Fi 802.1X - Android work profile (PKCS)",
                vec![SanEntry::upn(), SanEntry::uri(GUID_SAN_URI)],
                client_auth(),
            ),
            profile(
                rng,
                "windows10PkcsCertificateProfile",
                "S/MIME signing - Windows (PKCS)",
                vec![SanEntry {
                    san_type: "emailAddress".into(),
                    name: "{{EmailAddress}}".into(),
                }],
                vec!["1.3.6.1.5.5.7.3.4".to_owned()],
            ),
        ];
        Self {
            secure_by_default: true,
            checkin_threshold_days: 30,
            profiles,
            sign_ins: VecDeque::new(),
        }
    }

    /// Records a sign-in, dropping the oldest beyond [`MAX_SIGN_INS`].
    pub(crate) fn record(&mut self, record: SignInRecord) {
        if self.sign_ins.len() >= MAX_SIGN_INS {
            self.sign_ins.pop_front();
        }
        self.sign_ins.push_back(record);
    }

    /// Adds `profile`, or replaces the one with its id; its id (given when empty).
    pub(crate) fn put_profile(
        &mut self,
        rng: &mut crate::rng::Rng,
        mut profile: CertificateProfile,
    ) -> Result<String, String> {
        if !CertificateProfile::known_kind(&profile.kind) {
            return Err(format!(
                "`{}` is not a SCEP or PKCS profile type of Graph beta",
                profile.kind
            ));
        }
        if profile.id.is_empty() {
            profile.id = rng.uuid();
        }
        let id = profile.id.clone();
        match self.profiles.iter_mut().find(|p| p.id == id) {
            Some(p) => *p = profile,
            None => self.profiles.push(profile),
        }
        Ok(id)
    }
}
