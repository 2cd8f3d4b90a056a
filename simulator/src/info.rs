//! What a running simulator tells its clients: [`SimInfo`], written to its info file.

#[allow(clippy::wildcard_imports)]
use crate::*;

/// The ISE part of [`SimInfo`].
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct IseInfo {
    /// ISE's base URL (OpenAPI and ERS on one port).
    pub url: String,
    /// Admin username.
    pub username: String,
    /// Admin password.
    pub password: String,
    /// Version, e.g. `3.3.0.430`.
    pub version: String,
    /// Highest patch.
    pub patch: u16,
    /// Path of ISE's admin certificate (PEM), to pin.
    pub admin_cert_pem_path: String,
    /// SHA-256 of ISE's admin certificate (uppercase hex), to pin.
    pub admin_cert_sha256: String,
    /// The control surface standing for the admin GUI.
    pub gui_url: String,
    /// The primary admin node's short host name.
    pub hostname: String,
    /// Every node and the address where it presents its current Admin certificate in
    /// a TLS handshake, as a real node does on its own port 443.
    #[serde(default)]
    pub nodes: Vec<IseNodeInfo>,
}

/// One ISE node of [`IseInfo`].
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct IseNodeInfo {
    /// Short host name (as ISE's deployment API names it).
    pub hostname: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// `https://127.0.0.1:PORT`: the node's own address, presenting the certificate
    /// bound to its Admin role (the renewed one once activated).
    pub url: String,
}

/// The automating identity pre-seeded in the tenant.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AutomationInfo {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// A PEM file with the automating identity's certificate (registered on its
    /// application) and its key: `AZURE_CLIENT_CERTIFICATE_PATH`.
    #[serde(default)]
    pub certificate_path: String,
    /// A file with a federated token the automating identity's federated credential
    /// accepts (issuer [`WORKLOAD_ISSUER`], subject [`WORKLOAD_SUBJECT`]), valid for a
    /// day from start: `AZURE_FEDERATED_TOKEN_FILE`.
    #[serde(default)]
    pub federated_token_file: String,
}

/// Where ISE's simulated admin GUI for External MDM servers is served (a surface of
/// the simulator only: real ISE has no API for it). `GET` lists, `POST` adds,
/// `{name}` reads/edits, `{name}/test|enable|disable` act.
pub const GUI_BASE_PATH: &str = "/sim-gui/external-mdm";

/// Everything a client needs to reach the simulator.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SimInfo {
    /// Tenant id.
    pub tenant_id: String,
    /// The Microsoft cloud the simulator stands for (`global`, `usgov`, `usgov-dod`,
    /// `china`): the names its login and Graph answer to.
    #[serde(default = "default_cloud")]
    pub cloud: String,
    /// Login authority (`https://127.0.0.1:PORT`).
    pub login_url: String,
    /// Graph base ending in `/v1.0`.
    pub graph_url: String,
    /// Intune service base.
    pub intune_url: String,
    /// Path of the fake public root (PEM).
    pub ca_pem_path: String,
    /// The fake public root itself (PEM).
    pub ca_pem: String,
    /// The public root the Microsoft services move to when asked
    /// ([`Simulator::move_microsoft_chains`]): "Simulated Public Root G5", standing in
    /// for a new Microsoft root (PEM).
    #[serde(default)]
    pub next_ca_pem: String,
    /// ISE.
    pub ise: IseInfo,
    /// The pre-seeded automating identity.
    pub automation: AutomationInfo,
    /// The control API (`PUT /faults`, `GET /snapshot`), HTTPS with the same CA.
    #[serde(default)]
    pub control_url: String,
}

pub(crate) fn default_cloud() -> String {
    "global".into()
}
