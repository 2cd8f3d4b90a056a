//! Well-known application ids and app role ids of Microsoft's first-party APIs.

/// Microsoft Graph's appId.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Graph's `Application.Read.All` application permission.
pub const APPLICATION_READ_ALL_ROLE_ID: &str = "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30";
/// Graph's `Application.Read.All` role value.
pub const APPLICATION_READ_ALL: &str = "Application.Read.All";
/// Microsoft Intune API's appId (`https://api.manage.microsoft.com/`).
pub const INTUNE_API_APP_ID: &str = "c161e42e-d4df-4a3d-9b42-e7a3c31f59d4";
/// Intune API's `get_device_compliance` application permission.
pub const GET_DEVICE_COMPLIANCE_ROLE_ID: &str = "7ec88bad-30c7-4928-a005-4455362cfd98";
/// Intune API's `get_device_compliance` role value.
pub const GET_DEVICE_COMPLIANCE: &str = "get_device_compliance";
/// The "Microsoft Intune" service principal ISE reads for endpoint discovery.
pub const INTUNE_DISCOVERY_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// Provider name of the compliance retrieval (v3) endpoint.
pub const COMPLIANCE_RETRIEVAL_SERVICE: &str = "ComplianceRetrievalService";
/// Provider name of the legacy (v2) NAC endpoint.
pub const NAC_API_SERVICE: &str = "NACAPIService";
/// Microsoft Graph's application permission `DeviceManagementConfiguration.Read.All`
/// (Intune's configuration: compliance settings, certificate profiles): its app role id.
pub const DEVICE_MANAGEMENT_CONFIGURATION_READ_ALL_ROLE_ID: &str =
    "dc377aa6-52d8-4e23-b271-2a7ae04cedf3";
/// Microsoft Graph's application permission `AuditLog.Read.All` (the sign-in log): its
/// app role id.
pub const AUDIT_LOG_READ_ALL_ROLE_ID: &str = "b0afded3-3588-46d8-8b3d-9842eff778da";
