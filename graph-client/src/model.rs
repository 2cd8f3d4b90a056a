//! Typed Graph resources. Unknown fields are ignored; missing ones take defaults.

use serde::{Deserialize, Serialize};

/// The result of an idempotent "ensure" operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// The resource did not exist and was created.
    Created(T),
    /// The resource existed and was changed.
    Updated(T),
    /// The resource was already as wanted; nothing was written.
    Unchanged(T),
}

impl<T> Change<T> {
    /// The resource, whatever happened.
    pub fn into_inner(self) -> T {
        match self {
            Self::Created(t) | Self::Updated(t) | Self::Unchanged(t) => t,
        }
    }

    /// The resource, whatever happened.
    pub fn get(&self) -> &T {
        match self {
            Self::Created(t) | Self::Updated(t) | Self::Unchanged(t) => t,
        }
    }

    /// Whether anything was written.
    pub fn is_write(&self) -> bool {
        !matches!(self, Self::Unchanged(_))
    }

    /// `"created"`, `"updated"` or `"unchanged"`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Created(_) => "created",
            Self::Updated(_) => "updated",
            Self::Unchanged(_) => "unchanged",
        }
    }
}

/// An application registration (`/applications`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// The client-chosen alternate key (`PATCH /applications(uniqueName='…')`).
    pub unique_name: Option<String>,
    /// `AzureADMyOrg` for single-tenant applications.
    pub sign_in_audience: Option<String>,
    /// Certificates registered on the application.
    pub key_credentials: Vec<KeyCredential>,
    /// API permissions requested.
    pub required_resource_access: Vec<RequiredResourceAccess>,
    /// Creation time.
    pub created_date_time: Option<String>,
    /// Custom strings that categorise the application (Graph copies them to its
    /// service principal); ise-intune marks its own with one.
    pub tags: Vec<String>,
    /// Notes for the people who manage the application.
    pub notes: Option<String>,
}

/// Body of `POST /applications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApplication {
    /// Display name.
    pub display_name: String,
    /// Sign-in audience.
    pub sign_in_audience: String,
    /// Tags (none: not sent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Notes (none: not sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl NewApplication {
    /// A single-tenant application (`AzureADMyOrg`), as ISE's integration needs.
    pub fn single_tenant(display_name: impl Into<String>) -> Self {
        Self {
            display_name: display_name.into(),
            sign_in_audience: "AzureADMyOrg".into(),
            tags: Vec::new(),
            notes: None,
        }
    }

    /// The same, with these tags and notes.
    pub fn marked(mut self, tags: Vec<String>, notes: Option<String>) -> Self {
        self.tags = tags;
        self.notes = notes;
        self
    }
}

/// Body of `PATCH /applications/{id}` for plain properties; only set fields are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpdate {
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The client-chosen alternate key; can be set once, never changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// The whole new list of tags (a PATCH replaces the collection: send the tags to
    /// keep with the one added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A key credential (certificate) on an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyCredential {
    /// Key id (assigned by Graph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// `Verify`.
    pub usage: String,
    /// The DER certificate, base64. Only returned when reading one application with
    /// `$select=keyCredentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Display name (the portal shows it as the certificate's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Base64 key identifier; by default the raw SHA-1 thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    /// Start of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    /// End of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

impl KeyCredential {
    /// The SHA-1 thumbprint: of the `key` when present, else the `customKeyIdentifier`
    /// when it is 20 bytes.
    pub fn thumbprint(&self) -> Option<[u8; 20]> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Some(der) = self.key.as_deref().and_then(|k| b64.decode(k).ok()) {
            let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
            return d.as_ref().try_into().ok();
        }
        self.custom_key_identifier
            .as_deref()
            .and_then(|k| b64.decode(k).ok())
            .and_then(|raw| raw.try_into().ok())
    }

    /// The thumbprint as uppercase hex (the portal's "Thumbprint").
    pub fn thumbprint_hex(&self) -> Option<String> {
        self.thumbprint().map(hex::encode_upper)
    }
}

/// A certificate to register on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateKey {
    /// The DER certificate.
    pub der: Vec<u8>,
    /// Display name for the key (the integration uses the certificate's CN).
    pub display_name: String,
    /// Start of validity in ISO 8601 (`2025-07-23T13:42:05Z`), if known.
    pub start_date_time: Option<String>,
    /// End of validity in ISO 8601, if known.
    pub end_date_time: Option<String>,
}

impl CertificateKey {
    /// SHA-1 of the DER certificate.
    pub fn thumbprint(&self) -> [u8; 20] {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der);
        let mut out = [0u8; 20];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The key credential this certificate becomes on an application: an
    /// `AsymmetricX509Cert` for `Verify`, with its material, SHA-1 key identifier, name
    /// and dates.
    pub fn to_credential(&self) -> KeyCredential {
        use base64::Engine as _;
        KeyCredential {
            key_id: None,
            key_type: "AsymmetricX509Cert".into(),
            usage: "Verify".into(),
            key: Some(base64::engine::general_purpose::STANDARD.encode(&self.der)),
            display_name: Some(self.display_name.clone()),
            custom_key_identifier: None,
            start_date_time: self.start_date_time.clone(),
            end_date_time: self.end_date_time.clone(),
        }
    }
}

/// Which key to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySelector {
    /// By SHA-1 thumbprint.
    Thumbprint([u8; 20]),
    /// By Graph `keyId`.
    KeyId(String),
}

/// One permission in `requiredResourceAccess`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceAccess {
    /// App role id (for `Role`) or scope id (for `Scope`).
    pub id: String,
    /// `Role` (application permission) or `Scope` (delegated).
    #[serde(rename = "type")]
    pub access_type: String,
}

impl ResourceAccess {
    /// An application permission (`type: Role`).
    pub fn role(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            access_type: "Role".into(),
        }
    }
}

/// Permissions requested on one resource API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequiredResourceAccess {
    /// The resource API's appId.
    pub resource_app_id: String,
    /// The permissions.
    pub resource_access: Vec<ResourceAccess>,
}

/// A service principal (`/servicePrincipals`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ServicePrincipal {
    /// Object id.
    pub id: String,
    /// The application's appId.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// App roles the resource offers.
    pub app_roles: Vec<AppRole>,
    /// `Application`, `ManagedIdentity`, ...
    pub service_principal_type: Option<String>,
}

impl ServicePrincipal {
    /// The enabled application role with this `value` (e.g. `get_device_compliance`).
    pub fn app_role_by_value(&self, value: &str) -> Option<&AppRole> {
        self.app_roles
            .iter()
            .find(|r| r.value.as_deref() == Some(value) && r.is_enabled)
    }
}

/// An app role offered by a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct AppRole {
    /// Role id.
    pub id: String,
    /// Value in tokens (`roles` claim).
    pub value: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// `Application` and/or `User`.
    pub allowed_member_types: Vec<String>,
    /// Whether it can be assigned.
    pub is_enabled: bool,
}

/// An app role assignment (admin consent for an application permission).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct AppRoleAssignment {
    /// Assignment id.
    pub id: String,
    /// The role.
    pub app_role_id: String,
    /// Who holds it (our service principal).
    pub principal_id: String,
    /// Principal display name.
    pub principal_display_name: Option<String>,
    /// The resource service principal.
    pub resource_id: String,
    /// Resource display name.
    pub resource_display_name: Option<String>,
    /// Creation time.
    pub created_date_time: Option<String>,
}

/// Body of `POST /servicePrincipals/{id}/appRoleAssignedTo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewAppRoleAssignment<'a> {
    pub(crate) principal_id: &'a str,
    pub(crate) resource_id: &'a str,
    pub(crate) app_role_id: &'a str,
}

/// An endpoint a service principal publishes (Intune's discovery).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ServiceEndpoint {
    /// Capability.
    pub capability: Option<String>,
    /// Provider id.
    pub provider_id: Option<String>,
    /// `ComplianceRetrievalService` (v3) or `NACAPIService` (legacy v2), among others.
    pub provider_name: String,
    /// Provider resource id.
    pub provider_resource_id: Option<String>,
    /// Base URL of the service.
    pub uri: String,
}

/// The tenant (`/organization`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Organization {
    /// Tenant id.
    pub id: String,
    /// Tenant name.
    pub display_name: String,
    /// Verified domains.
    pub verified_domains: Vec<VerifiedDomain>,
}

/// A verified domain of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct VerifiedDomain {
    /// Domain name.
    pub name: String,
    /// Whether it is the default domain.
    pub is_default: bool,
    /// Whether it is the initial `onmicrosoft.com` domain.
    pub is_initial: bool,
}

/// A page of a collection.
#[derive(Debug, Deserialize)]
pub(crate) struct PageBody<T> {
    #[serde(default = "Vec::new")]
    pub(crate) value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(crate) next_link: Option<String>,
}

/// Restrictions of an app-management policy on key credentials (and passwords, which
/// the integration does not use), as Graph v1.0 names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct AppRestrictions {
    /// Restrictions on certificates (`keyCredentials`).
    pub key_credentials: Vec<KeyCredentialRestriction>,
}

/// One restriction on key credentials: `asymmetricKeyLifetime` (with `maxLifetime`, an
/// ISO 8601 duration), `trustedCertificateAuthority`, ….
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct KeyCredentialRestriction {
    /// The kind of restriction.
    pub restriction_type: String,
    /// The longest lifetime allowed (ISO 8601 duration, e.g. `P90D`).
    pub max_lifetime: Option<String>,
    /// Applications created after this date are restricted (older ones are not).
    pub restrict_for_apps_created_after_date_time: Option<String>,
}

/// The tenant's default app-management policy (`/policies/defaultAppManagementPolicy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TenantAppManagementPolicy {
    /// Policy id.
    pub id: String,
    /// Whether it is enforced.
    pub is_enabled: bool,
    /// Restrictions on applications.
    pub application_restrictions: Option<AppRestrictions>,
}

/// An app-management policy assigned to an application
/// (`/applications/{id}/appManagementPolicies`); it takes precedence over the tenant's
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct AppManagementPolicy {
    /// Policy id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Whether it is enforced.
    pub is_enabled: bool,
    /// Its restrictions.
    pub restrictions: Option<AppRestrictions>,
}

/// One of Intune's managed devices, as `GET /deviceManagement/managedDevices` gives it
/// (the properties of [`crate::resources::MANAGED_DEVICE_PROPERTIES`]; any of them may
/// be missing or null, and is then `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ManagedDevice {
    /// Intune's device id (the GUID ISE's Compliance Retrieval API knows it by).
    pub id: String,
    /// The device's name.
    pub device_name: Option<String>,
    /// `company`, `personal` or `unknown`.
    pub managed_device_owner_type: Option<String>,
    /// `Windows`, `iOS`, `Android`, `macOS`, …
    pub operating_system: Option<String>,
    /// The operating system's version.
    pub os_version: Option<String>,
    /// Its last check-in with Intune (RFC 3339).
    pub last_sync_date_time: Option<String>,
    /// `compliant`, `noncompliant`, `inGracePeriod`, `unknown`, …
    pub compliance_state: Option<String>,
    /// When its grace period ends (RFC 3339; `9999-12-31…` when none).
    pub compliance_grace_period_expiration_date_time: Option<String>,
    /// `True`, `False` or `Unknown` (Graph gives a string).
    pub jail_broken: Option<String>,
    /// Whether its storage is encrypted.
    pub is_encrypted: Option<bool>,
    /// Its Entra device id.
    #[serde(rename = "azureADDeviceId")]
    pub azure_ad_device_id: Option<String>,
    /// Its model.
    pub model: Option<String>,
    /// Its manufacturer.
    pub manufacturer: Option<String>,
    /// Its serial number.
    pub serial_number: Option<String>,
    /// Its Wi-Fi MAC address.
    #[serde(rename = "wiFiMacAddress")]
    pub wifi_mac_address: Option<String>,
    /// Its Ethernet MAC address.
    pub ethernet_mac_address: Option<String>,
}

/// Intune's tenant-wide compliance settings (`deviceManagementSettings`, read from
/// `GET /deviceManagement?$select=settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct DeviceManagementSettings {
    /// "Mark devices with no compliance policy assigned as": `true` is *Not compliant*,
    /// `false` is *Compliant* (every device without a policy then passes a compliant
    /// rule).
    pub secure_by_default: Option<bool>,
    /// The compliance status validity period: days a device may go without checking
    /// in and stay compliant.
    pub device_compliance_checkin_threshold_days: Option<i64>,
    /// Whether scheduled actions for rules are enabled.
    pub is_scheduled_action_enabled: Option<bool>,
}

/// One custom subject alternative name of a certificate profile (`sanType`,
/// `name` — e.g. `universalResourceIdentifier`,
/// `ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct CustomSubjectAlternativeName {
    /// `emailAddress`, `userPrincipalName`, `customAzureADAttribute`,
    /// `domainNameService`, `universalResourceIdentifier`.
    pub san_type: Option<String>,
    /// The value, with Intune's `{{…}}` variables.
    pub name: Option<String>,
}

/// One extended key usage of a certificate profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ExtendedKeyUsage {
    /// Its name (`Client Authentication`).
    pub name: Option<String>,
    /// Its OID (`1.3.6.1.5.5.7.3.2`).
    pub object_identifier: Option<String>,
}

/// A device configuration as Graph's beta `GET /deviceManagement/deviceConfigurations`
/// lists it, with the properties of its SCEP and PKCS certificate profiles (v1.0 has
/// no SCEP or PKCS profile types; the beta SDK's models carry these fields on every
/// SCEP and PKCS type but the legacy Android ones, which have no custom SANs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct DeviceConfiguration {
    /// Its type (`#microsoft.graph.windows81SCEPCertificateProfile`, …).
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    /// Its id.
    pub id: String,
    /// Its name in Intune's admin center.
    pub display_name: Option<String>,
    /// The built-in SAN attributes (a flags enum: `emailAddress,userPrincipalName`).
    pub subject_alternative_name_type: Option<String>,
    /// The SAN format string (the older profiles' single custom SAN).
    pub subject_alternative_name_format_string: Option<String>,
    /// The custom SAN entries.
    pub custom_subject_alternative_names: Option<Vec<CustomSubjectAlternativeName>>,
    /// Its extended key usages (on the profile types that carry them).
    pub extended_key_usages: Option<Vec<ExtendedKeyUsage>>,
}

/// A configuration profile's state on one managed device, as Graph v1.0's
/// `GET /deviceManagement/managedDevices/{id}/deviceConfigurationStates` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct DeviceConfigurationState {
    /// Its id (not documented as the profile's: match profiles by name).
    pub id: String,
    /// The profile's name.
    pub display_name: Option<String>,
    /// The platform it applies to (`windows10AndLater`, `iOS`, `androidWorkProfile`, …).
    pub platform_type: Option<String>,
    /// Its state on the device (`compliant`, `error`, `conflict`, `notApplicable`, …).
    pub state: Option<String>,
}

/// The outcome of a sign-in (`signInStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct SignInStatus {
    /// `0` for a success, else the AADSTS number (`700027`, …).
    pub error_code: Option<i64>,
    /// Entra's reason, for a failure.
    pub failure_reason: Option<String>,
}

/// One sign-in of Entra's sign-in log, as Graph's beta `GET /auditLogs/signIns` lists
/// it (service-principal sign-ins are on beta only: v1.0's `signIn` has no
/// `signInEventTypes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct SignIn {
    /// Its id.
    pub id: String,
    /// When (RFC 3339).
    pub created_date_time: Option<String>,
    /// The application (client id) that signed in.
    pub app_id: Option<String>,
    /// The resource it asked a token for.
    pub resource_display_name: Option<String>,
    /// The resource's application id.
    pub resource_id: Option<String>,
    /// Success (`errorCode` 0) or the failure.
    pub status: SignInStatus,
    /// The key credential used (its `keyId`), when Entra matched one.
    pub service_principal_credential_key_id: Option<String>,
    /// The thumbprint of the certificate presented (hex SHA-1).
    pub service_principal_credential_thumbprint: Option<String>,
    /// `certificate`, `clientSecret`, `clientAssertion`, …
    pub client_credential_type: Option<String>,
    /// The address the request came from.
    pub ip_address: Option<String>,
}
