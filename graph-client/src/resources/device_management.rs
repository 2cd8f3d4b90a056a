//! Intune's managed devices as Microsoft Graph lists them
//! (`GET /deviceManagement/managedDevices`, application permission
//! `DeviceManagementManagedDevices.Read.All`): read a page at a time through a
//! [`Pager`], so that memory is bounded by a page (at most 1,000 devices) whatever
//! the tenant's size. Graph has no delta query for managed devices: an incremental
//! read filters on `lastSyncDateTime ge …` ([`ManagedDeviceQuery::changed_since`]).
//!
//! ```no_run
//! # async fn run(graph: graph_client::GraphClient) -> Result<(), graph_client::Error> {
//! use graph_client::ManagedDeviceQuery;
//! let mut pages = graph.managed_devices(&ManagedDeviceQuery::all());
//! while let Some(page) = pages.next_page().await? {
//!     for device in page {
//!         println!("{} {:?}", device.id, device.wifi_mac_address);
//!     }
//! }
//! # Ok(()) }
//! ```

use super::paging::{ListOptions, Pager, segment};
use crate::client::{Call, GraphClient};
use crate::error::Result;
use crate::model::{
    DeviceConfiguration, DeviceConfigurationState, DeviceManagementSettings, ManagedDevice,
};

/// The properties a read of managed devices selects: what the attribute bridge uses,
/// and nothing more (`$select`).
pub const MANAGED_DEVICE_PROPERTIES: [&str; 16] = [
    "id",
    "deviceName",
    "managedDeviceOwnerType",
    "operatingSystem",
    "osVersion",
    "lastSyncDateTime",
    "complianceState",
    "complianceGracePeriodExpirationDateTime",
    "jailBroken",
    "isEncrypted",
    "azureADDeviceId",
    "model",
    "manufacturer",
    "serialNumber",
    "wiFiMacAddress",
    "ethernetMacAddress",
];

/// Intune's largest page of managed devices.
pub const MANAGED_DEVICES_PAGE: u32 = 1000;

/// Which managed devices to read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedDeviceQuery {
    /// Only devices that checked in at or after this time (RFC 3339, UTC).
    pub changed_since: Option<String>,
}

impl ManagedDeviceQuery {
    /// Every managed device (a full pass).
    pub fn all() -> Self {
        Self {
            changed_since: None,
        }
    }

    /// The devices that checked in at or after `since` (an incremental pass; give it an
    /// overlap with the last pass, check-ins are recorded late).
    pub fn changed_since(since: time::OffsetDateTime) -> Self {
        let at = since
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(since)
            .format(&time::format_description::well_known::Rfc3339)
            .ok();
        Self { changed_since: at }
    }

    fn options(&self) -> ListOptions {
        let mut o = ListOptions::default()
            .select(MANAGED_DEVICE_PROPERTIES)
            .top(MANAGED_DEVICES_PAGE);
        if let Some(since) = &self.changed_since {
            // An OData DateTimeOffset literal is written bare, not quoted.
            o = o.filter(format!("lastSyncDateTime ge {since}"));
        }
        o
    }
}

impl GraphClient {
    /// Intune's managed devices, a page at a time (each page one request, at most
    /// [`MANAGED_DEVICES_PAGE`] devices, only [`MANAGED_DEVICE_PROPERTIES`]).
    pub fn managed_devices(&self, query: &ManagedDeviceQuery) -> Pager<ManagedDevice> {
        Pager::new(
            self.clone(),
            "/deviceManagement/managedDevices".into(),
            &query.options(),
        )
    }

    /// Intune's tenant-wide compliance settings: `GET /deviceManagement?$select=settings`
    /// (v1.0; application permission `DeviceManagementConfiguration.Read.All`).
    pub async fn device_management_settings(&self) -> Result<DeviceManagementSettings> {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            settings: DeviceManagementSettings,
        }
        let call =
            Call::new(reqwest::Method::GET, "/deviceManagement").query("$select", "settings");
        let body: Body = self.send_json(call).await?;
        Ok(body.settings)
    }

    /// The configuration profiles Intune applied to the managed device `device_id` (an
    /// Intune device id, a GUID), a page at a time:
    /// `GET /deviceManagement/managedDevices/{id}/deviceConfigurationStates` (v1.0;
    /// application permission `DeviceManagementManagedDevices.Read.All`). An id that
    /// cannot be one path segment is [`crate::Error::InvalidInput`], before anything
    /// is sent.
    pub fn device_configuration_states(
        &self,
        device_id: &str,
    ) -> Result<Pager<DeviceConfigurationState>> {
        let id = segment(device_id)?;
        Ok(Pager::new(
            self.clone(),
            format!("/deviceManagement/managedDevices/{id}/deviceConfigurationStates"),
            &ListOptions::default(),
        ))
    }

    /// Intune's device configurations, SCEP and PKCS certificate profiles among them,
    /// from Graph's **beta** endpoint (`GET /beta/deviceManagement/deviceConfigurations`;
    /// v1.0 has no SCEP or PKCS profile types), a page at a time (application permission
    /// `DeviceManagementConfiguration.Read.All`). Not filtered by type: Intune's
    /// `$filter` on derived types is not documented, and a tenant has tens to
    /// hundreds of configurations.
    pub fn device_configurations_beta(&self) -> Pager<DeviceConfiguration> {
        Pager::new(
            self.clone(),
            "/deviceManagement/deviceConfigurations".into(),
            &ListOptions::default(),
        )
        .on_beta()
    }
}
