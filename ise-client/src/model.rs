//! ISE's resources as typed structs. Unknown fields are ignored, missing ones default;
//! ISE's string-typed booleans and numbers are accepted in either form.

use serde::{Deserialize, Deserializer, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Accepts `true`, `"true"`, `"enabled"`, `"yes"` (and their negatives).
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
        Null(()),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Text(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "enabled" | "yes" | "on"
        ),
        B::Null(()) => false,
    })
}

/// Accepts `2048` or `"2048"`.
pub(crate) fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u32),
        Text(String),
        Null(()),
    }
    Ok(match N::deserialize(d)? {
        N::Num(n) => Some(n),
        N::Text(s) => s.trim().parse().ok(),
        N::Null(()) => None,
    })
}

/// A date as ISE prints it (`"Wed Jul 23 13:42:05 UTC 2025"`), kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct IseDate(pub String);

impl IseDate {
    /// The date in UTC, when ISE printed it in UTC/GMT (as it does by default); `None`
    /// for other zones or unreadable text.
    pub fn utc(&self) -> Option<OffsetDateTime> {
        let parts: Vec<&str> = self.0.split_whitespace().collect();
        let [_weekday, month, day, hms, zone, year] = parts.as_slice() else {
            return None;
        };
        if !matches!(*zone, "UTC" | "GMT" | "Z") {
            return None;
        }
        let month = match month.to_ascii_lowercase().as_str() {
            "jan" => Month::January,
            "feb" => Month::February,
            "mar" => Month::March,
            "apr" => Month::April,
            "may" => Month::May,
            "jun" => Month::June,
            "jul" => Month::July,
            "aug" => Month::August,
            "sep" => Month::September,
            "oct" => Month::October,
            "nov" => Month::November,
            "dec" => Month::December,
            _ => return None,
        };
        let mut t = hms.split(':').map(|p| p.parse::<u8>().ok());
        let (h, m, s) = (t.next()??, t.next()??, t.next()??);
        let date = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
        let time = Time::from_hms(h, m, s).ok()?;
        Some(PrimitiveDateTime::new(date, time).assume_utc())
    }
}

/// A node of the deployment (`/api/v1/deployment/node`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Node {
    /// Short host name (what the certificate APIs take as `hostName`).
    pub hostname: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// IP address.
    pub ip_address: String,
    /// Roles, e.g. `PrimaryAdmin`, `Standalone`.
    pub roles: Vec<String>,
    /// Services, e.g. `Session`, `Profiler`.
    pub services: Vec<String>,
    /// `Connected`, `Disconnected`, ...
    pub node_status: Option<String>,
}

impl Node {
    /// Whether this node is the primary admin node (or a standalone node).
    pub fn is_primary_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "PrimaryAdmin" || r == "Standalone")
    }
}

/// A system certificate of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct SystemCertificate {
    /// Certificate id.
    pub id: String,
    /// Friendly name (`Default self-signed server certificate` for the default one).
    pub friendly_name: String,
    /// Subject CN.
    pub issued_to: String,
    /// Issuer CN.
    pub issued_by: String,
    /// Not before.
    pub valid_from: IseDate,
    /// Not after.
    pub expiration_date: IseDate,
    /// Key size in bits.
    #[serde(deserialize_with = "lenient_u32")]
    pub key_size: Option<u32>,
    /// Whether self-signed.
    #[serde(deserialize_with = "lenient_bool")]
    pub self_signed: bool,
    /// SHA-256 fingerprint as ISE prints it.
    pub sha256_fingerprint: Option<String>,
    /// Signature algorithm.
    pub signature_algorithm: Option<String>,
    /// Usages, e.g. `"Admin, EAP Authentication"`.
    pub used_by: Option<String>,
    /// Serial number in decimal.
    pub serial_number_decimal_format: Option<String>,
    /// Portal group tag.
    pub group_tag: Option<String>,
}

/// The friendly name of ISE's default self-signed certificate.
pub const DEFAULT_SELF_SIGNED_NAME: &str = "Default self-signed server certificate";

impl SystemCertificate {
    /// The usages listed in `usedBy`.
    pub fn usages(&self) -> Vec<&str> {
        self.used_by
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// Whether the certificate is used for the Admin role (ISE's own HTTPS and the
    /// certificate ISE signs its Entra client assertions with).
    pub fn is_admin(&self) -> bool {
        self.usages()
            .iter()
            .any(|u| u.eq_ignore_ascii_case("Admin"))
    }
}

/// A certificate of ISE's trusted store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TrustedCertificate {
    /// Certificate id.
    pub id: String,
    /// Friendly name.
    pub friendly_name: String,
    /// Subject DN.
    pub subject: Option<String>,
    /// Subject CN.
    pub issued_to: String,
    /// Issuer CN.
    pub issued_by: String,
    /// Not before.
    pub valid_from: IseDate,
    /// Not after.
    pub expiration_date: IseDate,
    /// SHA-256 fingerprint as ISE prints it.
    pub sha256_fingerprint: Option<String>,
    /// `Enabled` / `Disabled`.
    pub status: Option<String>,
    /// What it is trusted for, as ISE lists it.
    pub trusted_for: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Whether it is ISE's internal CA.
    #[serde(deserialize_with = "lenient_bool")]
    pub internal_ca: bool,
    /// Key size (a string in this API).
    #[serde(deserialize_with = "lenient_u32")]
    pub key_size: Option<u32>,
    /// Signature algorithm.
    pub signature_algorithm: Option<String>,
    /// Serial number in decimal.
    pub serial_number_decimal_format: Option<String>,
    /// Whether OCSP validation is on.
    #[serde(rename = "enableOCSPValidation", deserialize_with = "lenient_bool")]
    pub enable_ocsp_validation: bool,
    /// Whether CRLs are downloaded.
    #[serde(rename = "downloadCRL", deserialize_with = "lenient_bool")]
    pub download_crl: bool,
}

impl TrustedCertificate {
    /// The SHA-256 fingerprint normalised to uppercase hex without separators.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256_fingerprint.as_deref().map(|f| {
            f.chars()
                .filter(char::is_ascii_hexdigit)
                .collect::<String>()
                .to_ascii_uppercase()
        })
    }
}

/// ERS `deploymentinfo/getAllInfo` → `mdmInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct MdmInfo {
    /// Enabled External MDM servers.
    pub active_mdm_servers_count: u32,
    /// Of which desktop (e.g. Intune for Windows).
    pub active_desktop_mdm_servers_count: u32,
    /// Of which mobile.
    pub active_mobile_mdm_servers_count: u32,
}
