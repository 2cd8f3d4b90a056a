//! The attribute bridge's pure part: what Intune knows of a managed device, as the
//! endpoint custom attributes ISE can write rules on, and the MAC addresses that name
//! the device's endpoints in ISE.
//!
//! Since the Compliance Retrieval API replaced the old one, ISE learns only
//! compliance, management, MAC and registration from Intune; the bridge carries the
//! rest ([`BRIDGED`]: ownership, operating system and version, last check-in,
//! staleness, jailbreak, encryption, make and model, serial, Intune's and Entra's
//! device ids) from Graph's `managedDevice` ([`graph_client::ManagedDevice`]).
//! Values that change at every check-in are coarsened, so that a check-in alone
//! changes nothing: the last check-in is a date, staleness a flag after a number of
//! days, and the days since the last check-in a whole number.
//!
//! ```
//! use intune_integration::attributes::{bridged_values, endpoint_macs, AttributeValue};
//! let device: graph_client::ManagedDevice = serde_json::from_value(serde_json::json!({
//!     "id": "0f1e2d3c-0000-4000-8000-000000000001",
//!     "managedDeviceOwnerType": "personal", "operatingSystem": "iOS",
//!     "lastSyncDateTime": "2026-11-20T08:30:00Z", "jailBroken": "False",
//!     "wiFiMacAddress": "0050561d3c64"
//! })).expect("a managed device");
//! assert_eq!(endpoint_macs(&device), ["00:50:56:1D:3C:64"]);
//! let today = time::macros::date!(2026 - 12 - 06);
//! let values = bridged_values(&device, today, 14);
//! assert_eq!(values["IntuneOwnership"], AttributeValue::Text("personal".into()));
//! assert_eq!(values["IntuneStale"], AttributeValue::Bool(true));
//! assert_eq!(values["IntuneDaysSinceCheckIn"], AttributeValue::Int(16));
//! ```

use std::collections::BTreeMap;

use graph_client::ManagedDevice;

pub mod remove;
mod settings;
pub mod store;
pub mod sync;

pub use settings::{AttributeSettings, Bridged, Selection, ise_text};

/// The prefix of every attribute the bridge defines in ISE.
pub const PREFIX: &str = "Intune";

/// ISE's types of endpoint custom attributes that the bridge uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum AttributeType {
    /// Text.
    String,
    /// True or false.
    Boolean,
    /// A calendar date.
    Date,
    /// A whole number.
    Int,
}

/// One attribute the bridge writes: its name in ISE and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AttributeDef {
    /// The name in ISE ([`PREFIX`] and what it holds).
    pub name: &'static str,
    /// ISE's type.
    pub kind: AttributeType,
    /// What it holds, for people.
    pub meaning: &'static str,
}

/// Every attribute the bridge writes, in the order a plan lists them.
pub const BRIDGED: [AttributeDef; 14] = [
    def(
        "IntuneDeviceId",
        AttributeType::String,
        "Intune's device id",
    ),
    def(
        "IntuneOwnership",
        AttributeType::String,
        "company, personal or unknown",
    ),
    def(
        "IntuneOperatingSystem",
        AttributeType::String,
        "Windows, iOS, Android, macOS, …",
    ),
    def(
        "IntuneOsVersion",
        AttributeType::String,
        "the operating system's version",
    ),
    def(
        "IntuneCompliance",
        AttributeType::String,
        "Intune's compliance state",
    ),
    def(
        "IntuneLastCheckIn",
        AttributeType::Date,
        "the day of the last check-in (UTC)",
    ),
    def(
        "IntuneDaysSinceCheckIn",
        AttributeType::Int,
        "whole days since the last check-in",
    ),
    def(
        "IntuneStale",
        AttributeType::Boolean,
        "no check-in for the configured number of days",
    ),
    def(
        "IntuneJailbroken",
        AttributeType::String,
        "True, False or Unknown, as Intune says",
    ),
    def(
        "IntuneEncrypted",
        AttributeType::Boolean,
        "whether its storage is encrypted",
    ),
    def(
        "IntuneManufacturer",
        AttributeType::String,
        "its manufacturer",
    ),
    def("IntuneModel", AttributeType::String, "its model"),
    def(
        "IntuneSerialNumber",
        AttributeType::String,
        "its serial number",
    ),
    def(
        "IntuneEntraDeviceId",
        AttributeType::String,
        "its Entra ID device id",
    ),
];

const fn def(name: &'static str, kind: AttributeType, meaning: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        kind,
        meaning,
    }
}

/// A bridged value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeValue {
    /// Text (at most [`MAX_TEXT`] characters, printable).
    Text(String),
    /// True or false.
    Bool(bool),
    /// A calendar date.
    Date(time::Date),
    /// A whole number.
    Int(i64),
}

/// The longest text a bridged value carries: what Graph sends is hostile until bounded.
pub const MAX_TEXT: usize = 128;

/// The MAC addresses that name `device`'s endpoints in ISE, as ISE writes them
/// (`00:50:56:1D:3C:64`): its Wi-Fi and Ethernet addresses, each once; anything that
/// is not 12 hex digits (with or without `:` `-` `.` separators) is left out.
pub fn endpoint_macs(device: &ManagedDevice) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in [&device.wifi_mac_address, &device.ethernet_mac_address]
        .into_iter()
        .flatten()
    {
        if let Some(mac) = normalise_mac(raw)
            && !out.contains(&mac)
        {
            out.push(mac);
        }
    }
    out
}

/// `raw` as ISE's MAC notation, when it is 12 hex digits with optional separators.
fn normalise_mac(raw: &str) -> Option<String> {
    if raw.len() > 32 {
        return None;
    }
    let hex: Vec<char> = raw
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .collect();
    if hex.len() != 12 || !hex.iter().all(char::is_ascii_hexdigit) {
        return None;
    }
    let upper: String = hex.iter().map(char::to_ascii_uppercase).collect();
    Some(
        upper
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The bridged attributes of `device` on `today`, by ISE name: only those Intune gave
/// a value for; a device that never checked in has no check-in attributes and counts
/// as stale. `stale_after_days`: how many days without a check-in make it stale.
pub fn bridged_values(
    device: &ManagedDevice,
    today: time::Date,
    stale_after_days: u32,
) -> BTreeMap<&'static str, AttributeValue> {
    let mut out = BTreeMap::new();
    let mut text = |name: &'static str, value: &Option<String>| {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.insert(
                name,
                AttributeValue::Text(ise_intune_http::scrub::printable(v, MAX_TEXT)),
            );
        }
    };
    text("IntuneDeviceId", &Some(device.id.clone()));
    text("IntuneOwnership", &device.managed_device_owner_type);
    text("IntuneOperatingSystem", &device.operating_system);
    text("IntuneOsVersion", &device.os_version);
    text("IntuneCompliance", &device.compliance_state);
    text("IntuneJailbroken", &device.jail_broken);
    text("IntuneManufacturer", &device.manufacturer);
    text("IntuneModel", &device.model);
    text("IntuneSerialNumber", &device.serial_number);
    text("IntuneEntraDeviceId", &device.azure_ad_device_id);
    if let Some(e) = device.is_encrypted {
        out.insert("IntuneEncrypted", AttributeValue::Bool(e));
    }
    let checked_in = device
        .last_sync_date_time
        .as_deref()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| t.to_offset(time::UtcOffset::UTC).date())
        // Graph's "never": the start of year 1.
        .filter(|d| d.year() > 1);
    match checked_in {
        Some(day) => {
            let days = (today - day).whole_days().max(0);
            out.insert("IntuneLastCheckIn", AttributeValue::Date(day));
            out.insert("IntuneDaysSinceCheckIn", AttributeValue::Int(days));
            out.insert(
                "IntuneStale",
                AttributeValue::Bool(days >= i64::from(stale_after_days)),
            );
        }
        None => {
            out.insert("IntuneStale", AttributeValue::Bool(true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn device(v: serde_json::Value) -> ManagedDevice {
        serde_json::from_value(v).expect("a managed device")
    }

    #[test]
    fn macs_in_any_notation_become_ises_once_and_garbage_is_left_out() {
        let d = device(json!({"id": "d", "wiFiMacAddress": "00-50-56-1d-3c-64",
            "ethernetMacAddress": "0050.561D.3C64"}));
        assert_eq!(endpoint_macs(&d), ["00:50:56:1D:3C:64"]);
        let d = device(json!({"id": "d", "wiFiMacAddress": "not a mac",
            "ethernetMacAddress": "00155D000002"}));
        assert_eq!(endpoint_macs(&d), ["00:15:5D:00:00:02"]);
        let d = device(json!({"id": "d", "wiFiMacAddress": "0".repeat(4000)}));
        assert!(endpoint_macs(&d).is_empty());
    }

    #[test]
    fn a_check_in_alone_changes_no_value_and_staleness_follows_the_days() {
        let today = time::macros::date!(2026 - 12 - 06);
        let morning = device(
            json!({"id": "d", "lastSyncDateTime": "2026-12-06T01:00:00Z",
            "isEncrypted": true, "jailBroken": "False"}),
        );
        let evening = device(
            json!({"id": "d", "lastSyncDateTime": "2026-12-06T23:59:59Z",
            "isEncrypted": true, "jailBroken": "False"}),
        );
        assert_eq!(
            bridged_values(&morning, today, 14),
            bridged_values(&evening, today, 14)
        );
        let v = bridged_values(&morning, today, 14);
        assert_eq!(
            v["IntuneLastCheckIn"],
            AttributeValue::Date(time::macros::date!(2026 - 12 - 06))
        );
        assert_eq!(v["IntuneStale"], AttributeValue::Bool(false));
        assert_eq!(v["IntuneEncrypted"], AttributeValue::Bool(true));
        // Fourteen days later it is stale.
        let later = today + time::Duration::days(14);
        assert_eq!(
            bridged_values(&morning, later, 14)["IntuneStale"],
            AttributeValue::Bool(true)
        );
        // Never checked in (Graph's year-1 date, or none): stale, no date.
        let never = device(json!({"id": "d", "lastSyncDateTime": "0001-01-01T00:00:00Z"}));
        let v = bridged_values(&never, today, 14);
        assert_eq!(v["IntuneStale"], AttributeValue::Bool(true));
        assert!(!v.contains_key("IntuneLastCheckIn"));
    }

    #[test]
    fn server_text_is_printable_bounded_and_every_name_is_defined() {
        let d = device(
            json!({"id": "d", "model": format!("X\n{}", "m".repeat(500)),
            "manufacturer": "  "}),
        );
        let v = bridged_values(&d, time::macros::date!(2026 - 12 - 06), 14);
        let AttributeValue::Text(model) = &v["IntuneModel"] else {
            panic!("text");
        };
        assert!(!model.contains('\n'));
        assert!(model.chars().count() < 200);
        assert!(!v.contains_key("IntuneManufacturer"), "blank is no value");
        for name in v.keys() {
            assert!(BRIDGED.iter().any(|d| d.name == *name), "{name}");
            assert!(name.starts_with(PREFIX));
        }
    }
}
