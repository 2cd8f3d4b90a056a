//! What the attribute bridge's tests and benchmark share: a simulator with managed
//! devices the bridge may read, settings with a store of their own, and ISE's
//! endpoints as a snapshot shows them.

use std::collections::BTreeMap;
use std::time::Duration;

use intune_integration::attributes::AttributeSettings;
use ise_intune_simulator::{DEFAULT_AUTOMATION_ROLES, SimulatorBuilder};
use serde_json::Value;

/// The Graph permission the bridge reads managed devices with.
pub const MANAGED_DEVICES_READ: &str = "DeviceManagementManagedDevices.Read.All";

/// A simulator of `devices` managed devices whose automating identity also holds
/// [`MANAGED_DEVICES_READ`], with no replication lag (a sync reads what was just
/// written), from `seed`.
pub fn simulator(seed: u64, devices: usize) -> SimulatorBuilder {
    let mut roles = DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push(MANAGED_DEVICES_READ);
    ise_intune_simulator::Simulator::builder()
        .seed(seed)
        .devices(devices)
        .automation_roles(roles)
        .replication_lag(Duration::ZERO)
}

/// Default settings with a store of their own in the temporary directory, named by
/// `name` and this process (removed first, so that each run starts empty).
pub fn settings(name: &str) -> AttributeSettings {
    let path = std::env::temp_dir().join(format!(
        "ise-intune-attributes-{}-{name}.redb",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let mut s = AttributeSettings::default();
    s.store = Some(path);
    s
}

/// Removes the store of `settings`.
pub fn remove_store(settings: &AttributeSettings) {
    if let Some(p) = &settings.store {
        let _ = std::fs::remove_file(p);
    }
}

/// ISE's endpoints in a simulator snapshot: MAC → custom attributes (a value that is
/// not text is shown as JSON).
pub fn endpoints(snapshot: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let Some(list) = snapshot["ise"]["endpoints"].as_array() else {
        return BTreeMap::new();
    };
    list.iter()
        .map(|e| {
            let attrs = e["customAttributes"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (k.clone(), text)
                        })
                        .collect()
                })
                .unwrap_or_default();
            (e["mac"].as_str().unwrap_or_default().to_owned(), attrs)
        })
        .collect()
}
