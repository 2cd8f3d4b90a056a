//! The device identity a certificate Intune issued carries in its SAN URIs.

/// The SAN URI prefix of the security identifier Intune adds for strong mapping.
pub const SID_URI_PREFIX: &str = "tag:microsoft.com,2022-09-14:sid:";

/// A device's identity in a certificate Intune issued ([`super::Certificate::intune_device_identity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeviceIdentity {
    /// The Intune device GUID, lowercase, without braces.
    pub guid: Option<String>,
    /// The security identifier for Windows strong mapping (`S-1-5-…`).
    pub sid: Option<String>,
}

pub(super) fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `8-4-4-4-12` hex digits.
pub(super) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}
