//! Stateful HTTPS fakes of Cisco ISE, Entra ID (login), Microsoft Graph and the Intune
//! compliance service — the way to run and test the whole Intune–ISE integration on one
//! machine, with no ISE and no Microsoft tenant.
//!
//! This crate is an independent model of the remote systems: it depends on none of the
//! library crates and shares none of their certificate, JWT or thumbprint code (it
//! parses certificates with `rustls-webpki`, makes them with `rcgen`, and signs and
//! verifies JWTs with its own code), so a bug in the library cannot hide itself on both
//! sides of a test.
//!
//! ```no_run
//! # async fn run() -> Result<(), ise_intune_simulator::SimError> {
//! let sim = ise_intune_simulator::Simulator::builder()
//!     .ise_version("3.3.0.430", 4)
//!     .start()
//!     .await?;
//! let info = sim.info();
//! println!("Graph at {}, ISE at {}", info.graph_url, info.ise.url);
//! # Ok(()) }
//! ```
//!
//! External MDM servers have no API in real ISE; the fake ISE offers a separate control
//! surface under `/sim-gui/external-mdm` that stands for the admin GUI (add, edit,
//! enable, disable, Test Connection). Its Test Connection does what ISE does: a token
//! with ISE's own admin key, Graph discovery, an Intune token with the configured
//! audience, `mdminfo` — each TLS connection checked against ISE's own trusted store.

// Handlers return a ready HTTP answer as their error; its size does not matter here.
#![allow(clippy::result_large_err)]
//!
//! Modules: `ise` (OpenAPI certificates, ERS, the deployment), `gui` (the stand-in for
//! ISE's admin GUI: External MDM servers and Test Connection), `login` (Entra ID's
//! token endpoint: secrets, assertions, federation), `graph` (applications, service
//! principals, app role assignments, discovery), `intune` (the Compliance Retrieval
//! API), `control` (test-only state changes), `state` (the world they share), `server`
//! (TLS listeners and injected faults), `pki` / `der` / `jwt` / `keywrap` (its own
//! certificates, DER, JWTs and key wrapping, independent of the library's), `rng`
//! (seeded ids), and [`launcher`] (the standalone simulator's options and run).

mod authorize;
mod cloud;
mod control;
mod der;
mod graph;
mod gui;
mod intune;
mod ise;
mod jwt;
mod keywrap;
pub mod launcher;
mod login;
mod pki;
mod policy;
mod rng;
mod server;
mod state;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use ise::IseRole;
pub use policy::PolicyWrite;
pub use server::{Faults, parse_fault_spec};
pub use state::{
    Counts, GRAPH_APP_ID, INTUNE_API_APP_ID, INTUNE_DISCOVERY_APP_ID, LoggedRequest, MdmServer,
    ROLE_APP_ROLE_ASSIGNMENT_READWRITE_ALL, ROLE_APPLICATION_READ_ALL,
    ROLE_APPLICATION_READWRITE_ALL, ROLE_APPLICATION_READWRITE_OWNEDBY, ROLE_GET_DEVICE_COMPLIANCE,
    ROLE_POLICY_READ_ALL,
};

use state::{App, Assignment, Role, Sp, SystemCert, TrustedCert, World};

/// What can go wrong starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Certificates could not be made.
    #[error("simulator certificates: {0}")]
    Pki(String),
    /// A port could not be bound.
    #[error("cannot listen on loopback: {0}")]
    Bind(#[source] std::io::Error),
    /// Bad builder input.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// The four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Cisco ISE (OpenAPI, ERS and the GUI control surface).
    Ise,
    /// Entra ID login.
    Login,
    /// Microsoft Graph.
    Graph,
    /// Intune compliance service.
    Intune,
}

impl Service {
    /// Lower-case name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ise => "ise",
            Self::Login => "login",
            Self::Graph => "graph",
            Self::Intune => "intune",
        }
    }
}

/// An application that exists before the run (e.g. one with unrelated keys).
#[derive(Debug, Clone)]
pub struct SeedApp {
    /// Display name.
    pub display_name: String,
    /// DER certificates registered as its keys.
    pub key_certificates_der: Vec<Vec<u8>>,
}

/// Builder for [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    ise_version: String,
    ise_patch: u16,
    seed: u64,
    replication_lag: Duration,
    latency: Duration,
    faults: HashMap<Service, Faults>,
    fault_seed: Option<u64>,
    devices: usize,
    nodes: usize,
    shared_admin_certificate: bool,
    ecdsa_admin_certificates: bool,
    ise_public_roots: bool,
    csrf: bool,
    seed_apps: Vec<SeedApp>,
    seed_trusted_pem: Vec<(String, String)>,
    ise_username: String,
    ise_password: String,
    tenant_id: Option<String>,
    automation_roles: Vec<String>,
    ise_role: IseRole,
    throttle_per_tenant: bool,
    compliance_grace: Duration,
    cloud: String,
}

/// The automating identity's application roles by default: everything the library's
/// full profile uses (`Application.ReadWrite.All`, `AppRoleAssignment.ReadWrite.All`,
/// `Application.Read.All`) and the Intune API's `get_device_compliance`, with which it
/// reads devices without a node's key.
pub const DEFAULT_AUTOMATION_ROLES: [&str; 4] = [
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
    "get_device_compliance",
];

/// Every role the automating identity can be given: Microsoft Graph's application
/// roles the library uses, and the Intune API's `get_device_compliance`.
pub const AUTOMATION_ROLE_NAMES: [&str; 6] = [
    "Application.Read.All",
    "Policy.Read.All",
    "Application.ReadWrite.OwnedBy",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "get_device_compliance",
];

impl Default for SimulatorBuilder {
    fn default() -> Self {
        Self {
            ise_version: "3.3.0.430".into(),
            ise_patch: 4,
            seed: 0x15E_1A7E,
            replication_lag: Duration::from_millis(300),
            latency: Duration::ZERO,
            faults: HashMap::new(),
            fault_seed: None,
            devices: 250,
            nodes: 3,
            shared_admin_certificate: false,
            ecdsa_admin_certificates: false,
            ise_public_roots: true,
            csrf: false,
            seed_apps: Vec::new(),
            seed_trusted_pem: Vec::new(),
            ise_username: "admin".into(),
            ise_password: "C1sco12345".into(),
            tenant_id: None,
            automation_roles: DEFAULT_AUTOMATION_ROLES.map(str::to_owned).to_vec(),
            ise_role: IseRole::SuperAdmin,
            throttle_per_tenant: false,
            compliance_grace: Duration::ZERO,
            cloud: "global".into(),
        }
    }
}

impl SimulatorBuilder {
    /// Refuses what cannot be simulated before anything starts.
    fn check(&self) -> Result<(), SimError> {
        if cloud::named(&self.cloud).is_none() {
            return Err(SimError::Config(format!(
                "unknown cloud `{}` (known: global, usgov, usgov-dod, china)",
                self.cloud
            )));
        }
        if let Some(unknown) = self
            .automation_roles
            .iter()
            .find(|r| !AUTOMATION_ROLE_NAMES.contains(&r.as_str()))
        {
            return Err(SimError::Config(format!(
                "unknown automation role `{unknown}` (known: {})",
                AUTOMATION_ROLE_NAMES.join(", ")
            )));
        }
        Ok(())
    }

    /// Each service's faults: as configured, else only the common latency.
    fn initial_faults(&self) -> HashMap<Service, Faults> {
        [
            Service::Ise,
            Service::Login,
            Service::Graph,
            Service::Intune,
        ]
        .into_iter()
        .map(|s| {
            let f = self.faults.get(&s).cloned().unwrap_or(Faults {
                latency: self.latency,
                ..Faults::default()
            });
            (s, f)
        })
        .collect()
    }
}

impl SimulatorBuilder {
    /// ISE's version (`3.3.0.430`) and highest patch.
    pub fn ise_version(mut self, version: impl Into<String>, patch: u16) -> Self {
        self.ise_version = version.into();
        self.ise_patch = patch;
        self
    }

    /// Seed of ids, faults and secrets.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How long a new Graph object stays invisible to other calls (default 300 ms).
    pub fn replication_lag(mut self, lag: Duration) -> Self {
        self.replication_lag = lag;
        self
    }

    /// Latency added to every answer of every service.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// How many ISE nodes (default 3: a primary admin node, a secondary admin node that
    /// also serves policy, and a policy service node; 1 is a standalone node; at most 3
    /// distinct Admin keys exist, so larger deployments reuse them).
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count.clamp(1, 8);
        self
    }

    /// One wildcard Admin certificate shared by every node (default: each node its own
    /// self-signed one).
    pub fn shared_admin_certificate(mut self, shared: bool) -> Self {
        self.shared_admin_certificate = shared;
        self
    }

    /// The application roles the automating identity holds, by value (see
    /// [`AUTOMATION_ROLE_NAMES`]; default [`DEFAULT_AUTOMATION_ROLES`]). A Graph call
    /// the roles do not allow answers 403 `Authorization_RequestDenied`; an unknown
    /// name is refused at start.
    pub fn automation_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.automation_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Admin certificates with ECDSA P-256 keys on every node (default: RSA). ISE allows
    /// them; Entra ID refuses client assertions they sign (AADSTS5002738), so an
    /// integration built on one can never get a token.
    pub fn ecdsa_admin_certificates(mut self, ecdsa: bool) -> Self {
        self.ecdsa_admin_certificates = ecdsa;
        self
    }

    /// Whether the trusted store starts like a fresh ISE's (default `true`): the public
    /// roots ISE ships — DigiCert Global Root CA and G2, and the simulator's public root
    /// that stands in for G2 on the simulated Microsoft hosts — present and enabled but
    /// trusted only for Cisco Services, so Test Connection fails until someone also
    /// trusts them for authentication within ISE. `false` leaves only Cisco's roots and
    /// the nodes' own certificates.
    pub fn ise_public_roots(mut self, seeded: bool) -> Self {
        self.ise_public_roots = seeded;
        self
    }

    /// How many devices Intune knows (default 250: GUIDs, MACs, about a quarter
    /// non-compliant and a few not registered), derived from the seed.
    pub fn devices(mut self, count: usize) -> Self {
        self.devices = count;
        self
    }

    /// Seed of the fault decisions (default: the seed).
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = Some(seed);
        self
    }

    /// Faults for one service (replaces the common latency for it).
    pub fn faults(mut self, service: Service, faults: Faults) -> Self {
        self.faults.insert(service, faults);
        self
    }

    /// The admin group of ISE's API account (default [`IseRole::SuperAdmin`]): an ERS
    /// Operator's writes answer 403, an account outside the API groups 401.
    pub fn ise_role(mut self, role: IseRole) -> Self {
        self.ise_role = role;
        self
    }

    /// Keeps Intune's throttle window of unfiltered compliance queries per tenant
    /// across calling applications (default: per tenant and application). The stricter
    /// reading: with it, any unfiltered query the tool makes as its own identity would
    /// cost ISE's window too, which tests use to show the tool makes none.
    pub fn intune_throttle_per_tenant(mut self, per_tenant: bool) -> Self {
        self.throttle_per_tenant = per_tenant;
        self
    }

    /// Intune's grace period: how long after the check-in at which a device fails its
    /// policies it is still reported compliant (default 0: non-compliant at once).
    pub fn compliance_grace(mut self, grace: Duration) -> Self {
        self.compliance_grace = grace;
        self
    }

    /// Whether ISE's ERS CSRF check is on.
    pub fn ers_csrf(mut self, enabled: bool) -> Self {
        self.csrf = enabled;
        self
    }

    /// An application that exists before the run.
    pub fn seed_app(mut self, app: SeedApp) -> Self {
        self.seed_apps.push(app);
        self
    }

    /// A certificate already in ISE's trusted store (friendly name, PEM), trusted for
    /// authentication within ISE. It replaces a default entry with the same certificate
    /// or the same friendly name (see [`Self::ise_public_roots`]).
    pub fn seed_trusted_certificate(
        mut self,
        name: impl Into<String>,
        pem: impl Into<String>,
    ) -> Self {
        self.seed_trusted_pem.push((name.into(), pem.into()));
        self
    }

    /// ISE admin credentials (default `admin` / `C1sco12345`).
    pub fn ise_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.ise_username = username.into();
        self.ise_password = password.into();
        self
    }

    /// A fixed tenant id (default: derived from the seed).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// The Microsoft cloud to stand for (default `global`; `usgov`, `usgov-dod`,
    /// `china`): the resource names login accepts and writes into tokens. Scopes and
    /// resources of another cloud are refused, as Entra refuses them.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = cloud.into();
        self
    }

    /// Starts the four services on loopback ports.
    pub async fn start(self) -> Result<Simulator, SimError> {
        Simulator::start(self).await
    }
}

/// Where each service listens.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Urls {
    pub(crate) ise: String,
    pub(crate) login: String,
    pub(crate) graph_origin: String,
    pub(crate) intune: String,
}

/// State shared by all services.
pub(crate) struct Shared {
    world: Mutex<World>,
    faults: Mutex<HashMap<Service, Faults>>,
    fault_seed: u64,
    fault_counts: Mutex<HashMap<(Service, String, String), u64>>,
    pub(crate) urls: Urls,
    pub(crate) ise_username: String,
    pub(crate) ise_password: String,
    /// The cloud it stands for.
    pub(crate) cloud: &'static cloud::CloudNames,
    /// Where the simulated clock's offset is published for clients in other
    /// processes (beside the info file, once one is written).
    pub(crate) clock_file: Mutex<Option<std::path::PathBuf>>,
}

/// The name of the file, beside an info file `FILE`, that holds how many seconds the
/// simulated clock is ahead of the machine's (`FILE.clock`: one decimal number). It is
/// replaced atomically before the clock's move is answered, so a client in another
/// process that reads it ([`clock_file_of`]) follows the simulated clock exactly.
pub fn clock_file_of(info_file: &std::path::Path) -> std::path::PathBuf {
    let mut name = info_file.as_os_str().to_owned();
    name.push(".clock");
    std::path::PathBuf::from(name)
}

impl Shared {
    /// Moves the simulated clock forward by `secs` and publishes it; the new time,
    /// ISO 8601, and the offset.
    pub(crate) fn advance_clock(&self, by: Duration) -> (String, Duration) {
        let (now, offset) = self.with_world(|w| {
            w.clock_offset = w.clock_offset.saturating_add(by);
            (w.now_iso(), w.clock_offset)
        });
        let file = self
            .clock_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(file) = file {
            // Best effort: a client that cannot read it keeps the machine's time.
            let _ = publish_clock(&file, offset);
        }
        (now, offset)
    }

    pub(crate) fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut w)
    }

    pub(crate) fn faults(&self, service: Service) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&service)
            .cloned()
            .unwrap_or_default()
    }

    /// The fate of one request in `[0, 1)`: a function of the fault seed, the service,
    /// the method, the path and how many times that was asked before — not of the
    /// order in which different requests arrive.
    pub(crate) fn fault_roll(&self, service: Service, method: &str, path: &str) -> f64 {
        let n = {
            let mut counts = self.fault_counts.lock().unwrap_or_else(|p| p.into_inner());
            let c = counts
                .entry((service, method.to_owned(), path.to_owned()))
                .or_insert(0u64);
            *c += 1;
            *c
        };
        rng::Rng::keyed(
            self.fault_seed,
            &[service.name(), method, path, &n.to_string()],
        )
        .unit()
    }

    /// Replaces every service's faults (a service not named gets none).
    pub(crate) fn replace_faults(&self, faults: HashMap<Service, Faults>) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// Maps the real Microsoft origins to this simulator's services, so ISE settings
    /// can name either.
    pub(crate) fn map_url(&self, url: &str) -> String {
        let pairs = [
            (self.cloud.login, self.urls.login.as_str()),
            (self.cloud.graph, self.urls.graph_origin.as_str()),
        ];
        for (real, sim) in pairs {
            if let Some(rest) = url.strip_prefix(real) {
                return format!("{sim}{rest}");
            }
        }
        url.to_owned()
    }

    /// The real origin a URL given to ISE stands for: this simulator's Graph stands for
    /// its cloud's Graph (ISE asks for the Auto Discovery URL's `/.default` scope).
    pub(crate) fn real_origin(&self, url: &str) -> String {
        let url = url.trim_end_matches('/');
        if url == self.urls.graph_origin {
            self.cloud.graph.to_owned()
        } else {
            url.to_owned()
        }
    }
}

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

fn default_cloud() -> String {
    "global".into()
}

/// A running simulator. Dropping it stops the services.
pub struct Simulator {
    shared: Arc<Shared>,
    info: SimInfo,
    /// What login, Graph and Intune present, replaceable while running.
    microsoft_certs: [Arc<pki::SwappableCert>; 3],
    /// What each node presents on its own address, by host name.
    node_portals: BTreeMap<String, Arc<pki::SwappableCert>>,
    next_hierarchy: pki::Hierarchy,
    /// The workload issuer's key, to mint federated tokens.
    workload_issuer_key: Vec<u8>,
    shutdown: watch::Sender<bool>,
    _dir: TempDir,
}

/// A federated token from the simulated workload issuer, valid for `valid_secs` from
/// now (negative: already expired).
fn federated_token(
    issuer_key: &[u8],
    subject: &str,
    audience: &str,
    valid_secs: i64,
) -> Result<String, SimError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = now.saturating_add(valid_secs);
    let claims = serde_json::json!({
        "iss": WORKLOAD_ISSUER, "sub": subject, "aud": audience,
        "iat": now.min(exp - 1), "nbf": now.min(exp - 1), "exp": exp,
    });
    jwt::sign_rs256(issuer_key, "sim-workload-issuer", &claims)
        .ok_or_else(|| SimError::Config("signing a federated token failed".into()))
}

/// Writes `text` to a new file at `path` readable by its owner only (0600 on Unix).
/// Replaces the clock file with `offset` in whole seconds, atomically (a reader sees
/// the old or the new number, never half of one).
fn publish_clock(path: &std::path::Path, offset: Duration) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{}\n", offset.as_secs()))?;
    std::fs::rename(&tmp, path)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("graph_url", &self.info.graph_url)
            .field("ise_url", &self.info.ise.url)
            .finish()
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Entra directory a simulator starts with.
struct Directory {
    apps: Vec<App>,
    sps: Vec<Sp>,
    assignments: Vec<Assignment>,
    automation_app_id: String,
    automation_secret: String,
}

/// The issuer of the simulated workload identity's tokens (a Kubernetes cluster's
/// OIDC issuer, say).
pub const WORKLOAD_ISSUER: &str = "https://workload-issuer.sim.example/";
/// The subject the automating identity's federated credential accepts.
pub const WORKLOAD_SUBJECT: &str = "system:serviceaccount:ise-intune:automation";
/// The audience Entra expects of federated tokens.
pub const WORKLOAD_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Seeds the directory: Microsoft's first-party service principals (Graph, the Intune
/// API, Intune discovery with its endpoints), the automating identity and its roles,
/// and the applications the builder asked for.
/// A key credential seeded on an application: `der`'s certificate, named `name`, valid
/// from now to the certificate's expiry (as Graph fills a key's dates).
fn seeded_key(
    rng: &mut rng::Rng,
    der: &[u8],
    name: String,
    created: &str,
    now: Instant,
) -> state::KeyCred {
    let expiry = der::summary(der).and_then(|c| c.not_after).map(state::iso);
    state::KeyCred {
        key_id: rng.uuid(),
        display_name: Some(name),
        custom_key_identifier: pki::sha1(der),
        key_der: der.to_vec(),
        start: Some(created.to_owned()),
        end: Some(expiry.unwrap_or_else(|| "2030-01-01T00:00:00Z".into())),
        usage: "Verify".into(),
        key_type: "AsymmetricX509Cert".into(),
        usable_at: now,
    }
}

/// The endpoints Intune publishes for discovery, at this simulator's Intune host.
fn intune_endpoints(urls: &Urls) -> Vec<(String, String)> {
    let base = format!("{}/TrafficGateway/TrafficRoutingService", urls.intune);
    vec![
        (
            "NACAPIService".into(),
            format!("{base}/NACAPI/NACAPIService"),
        ),
        (
            "ComplianceRetrievalService".into(),
            format!("{base}/ResourceAccess/ComplianceRetrievalService"),
        ),
    ]
}

/// The automating identity's application and its client secret.
fn automation_app(
    rng: &mut rng::Rng,
    automation_cert_der: &[u8],
    created: &str,
    now: Instant,
) -> (App, String) {
    // The automating identity, allowed to manage applications and grant consent. It
    // authenticates with a secret, a certificate, or a federated token.
    let automation_app_id = rng.uuid();
    let automation_secret = format!("sim~{}", rng.token(34));
    let app = App {
        id: rng.uuid(),
        app_id: automation_app_id,
        display_name: "ise-intune automation".into(),
        sign_in_audience: "AzureADMyOrg".into(),
        key_credentials: vec![seeded_key(
            rng,
            automation_cert_der,
            "CN=ise-intune-automation".into(),
            created,
            now,
        )],
        required_resource_access: serde_json::json!([]),
        secrets: vec![automation_secret.clone()],
        created: created.to_owned(),
        visible_at: now,
        unique_name: None,
        owners: Vec::new(),
        federated: vec![state::FederatedCredential {
            issuer: WORKLOAD_ISSUER.into(),
            subject: WORKLOAD_SUBJECT.into(),
            audiences: vec![WORKLOAD_AUDIENCE.into()],
        }],
    };
    (app, automation_secret)
}

/// The automating identity's app role assignments: each role it is given, on the
/// resource that publishes it.
fn automation_assignments(
    rng: &mut rng::Rng,
    roles: &[String],
    principal_id: &str,
    resources: [&Sp; 2],
    created: &str,
    now: Instant,
) -> Vec<Assignment> {
    let mut assignments = Vec::new();
    for name in roles {
        // An unknown role is refused by `SimulatorBuilder::start` before seeding.
        let Some((resource, role)) = resources.iter().find_map(|sp| {
            sp.app_roles
                .iter()
                .find(|r| r.value == name)
                .map(|r| (sp, r.id))
        }) else {
            continue;
        };
        assignments.push(Assignment {
            id: rng.token(43),
            principal_id: principal_id.to_owned(),
            resource_id: resource.id.clone(),
            app_role_id: role.into(),
            created: created.to_owned(),
            visible_at: now,
        });
    }
    assignments
}

fn seed_directory(
    rng: &mut rng::Rng,
    builder: &SimulatorBuilder,
    urls: &Urls,
    automation_cert_der: &[u8],
    now: Instant,
    created: &str,
) -> Directory {
    let mut apps = Vec::new();
    let mut sps = Vec::new();
    let mut assignments = Vec::new();
    let first_party = |rng: &mut rng::Rng,
                       app_id: &str,
                       name: &str,
                       roles: Vec<Role>,
                       endpoints: Vec<(String, String)>| Sp {
        id: rng.uuid(),
        app_id: app_id.to_owned(),
        display_name: name.to_owned(),
        app_roles: roles,
        endpoints,
        visible_at: now,
    };
    let graph_sp = first_party(rng, GRAPH_APP_ID, "Microsoft Graph", graph_roles(), vec![]);
    let intune_api_sp = first_party(
        rng,
        INTUNE_API_APP_ID,
        "Microsoft Intune API",
        vec![Role {
            id: ROLE_GET_DEVICE_COMPLIANCE,
            value: "get_device_compliance",
            display_name: "Get device state and compliance information from Microsoft Intune",
        }],
        vec![],
    );
    let discovery_sp = first_party(
        rng,
        INTUNE_DISCOVERY_APP_ID,
        "Microsoft Intune",
        vec![],
        intune_endpoints(urls),
    );
    let (automation, automation_secret) = automation_app(rng, automation_cert_der, created, now);
    let automation_app_id = automation.app_id.clone();
    apps.push(automation);
    let automation_sp = first_party(
        rng,
        &automation_app_id,
        "ise-intune automation",
        vec![],
        vec![],
    );
    assignments.extend(automation_assignments(
        rng,
        &builder.automation_roles,
        &automation_sp.id,
        [&graph_sp, &intune_api_sp],
        created,
        now,
    ));
    for seed in &builder.seed_apps {
        let keys = (seed.key_certificates_der.iter().enumerate())
            .map(|(i, der)| {
                let name = format!("CN={} key {}", seed.display_name, i + 1);
                seeded_key(rng, der, name, created, now)
            })
            .collect();
        apps.push(App {
            id: rng.uuid(),
            app_id: rng.uuid(),
            display_name: seed.display_name.clone(),
            sign_in_audience: "AzureADMyOrg".into(),
            key_credentials: keys,
            required_resource_access: serde_json::json!([]),
            secrets: Vec::new(),
            created: created.to_owned(),
            visible_at: now,
            unique_name: None,
            owners: Vec::new(),
            federated: Vec::new(),
        });
    }
    sps.extend([graph_sp, intune_api_sp, discovery_sp, automation_sp]);
    Directory {
        apps,
        sps,
        assignments,
        automation_app_id,
        automation_secret,
    }
}

/// Public roots a fresh ISE ships, trusted for Cisco Services only (friendly name, PEM).
const ISE_SHIPPED_ROOTS: [(&str, &str); 2] = [
    (
        "DigiCert Global Root CA",
        include_str!("../roots/DigiCert_Global_Root_CA.pem"),
    ),
    (
        "DigiCert Global Root G2",
        include_str!("../roots/DigiCert_Global_Root_G2.pem"),
    ),
];

/// Seeds ISE: each node's self-signed Admin certificate and a trusted store like a
/// fresh ISE's (Cisco's roots, the nodes' own certificates) plus what the builder asked
/// for.
fn seed_ise(
    rng: &mut rng::Rng,
    builder: &SimulatorBuilder,
    pki: &pki::Pki,
    node_certs: &[(String, pki::Issued)],
    nodes: &[state::IseNode],
) -> Result<(Vec<SystemCert>, Vec<TrustedCert>), SimError> {
    let not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::days(730);
    let system_certs: Vec<SystemCert> = node_certs
        .iter()
        .map(|(host, issued)| SystemCert {
            host: host.clone(),
            id: rng.uuid(),
            friendly_name: "Default self-signed server certificate".into(),
            used_by: "Admin, EAP Authentication, RADIUS DTLS, pxGrid, Portal".into(),
            issued: issued.clone(),
            not_before,
            not_after,
            serial_decimal: (rng.next_u64() >> 1).to_string(),
            self_signed: true,
            ecdsa: builder.ecdsa_admin_certificates,
        })
        .collect();
    let mut trusted = Vec::new();
    let entry = |rng: &mut rng::Rng, name: &str, der: Vec<u8>, ise: bool, cisco: bool| {
        let (subject, issuer) = ise::names_of(&der);
        TrustedCert {
            id: rng.uuid(),
            friendly_name: name.to_owned(),
            description: String::new(),
            der,
            subject,
            issuer,
            not_before: state::ise_date(not_before),
            not_after: state::ise_date(not_after),
            trust_ise_auth: ise,
            trust_client_auth: false,
            trust_admin_auth: false,
            trust_cisco_services: cisco,
            enabled: true,
        }
    };
    for (i, r) in pki.extra_roots.iter().enumerate() {
        let name = if i == 0 {
            "Cisco Root CA 2099"
        } else {
            "Cisco ECC Root CA 2099"
        };
        trusted.push(entry(rng, name, r.cert_der.to_vec(), false, true));
    }
    if builder.ise_public_roots {
        // A fresh ISE ships public roots for its own cloud services (smart licensing,
        // feed updates) trusted for "Cisco Services" only; Test Connection to the MDM
        // server checks "Trust for authentication within ISE" (ISE admin guide,
        // "Certificates in Trusted Certificates Store"). The simulated Microsoft hosts
        // chain to the simulator's root, so it is seeded the way ISE seeds G2.
        for (name, pem) in ISE_SHIPPED_ROOTS {
            let der = ise::pem_to_der(pem).ok_or_else(|| {
                SimError::Config(format!("shipped root `{name}` is not a PEM certificate"))
            })?;
            trusted.push(entry(rng, name, der, false, true));
        }
        trusted.push(entry(
            rng,
            "Simulated Public Root G2",
            pki.current.root.cert_der.to_vec(),
            false,
            true,
        ));
    }
    let mut added: Vec<Vec<u8>> = Vec::new();
    for ((_, issued), node) in node_certs.iter().zip(nodes) {
        if added.contains(&issued.cert_der.to_vec()) {
            continue;
        }
        added.push(issued.cert_der.to_vec());
        let fqdn = &node.fqdn;
        trusted.push(entry(
            rng,
            &format!("{fqdn}#{fqdn}#{:05}", added.len()),
            issued.cert_der.to_vec(),
            true,
            false,
        ));
    }
    for (name, pem) in &builder.seed_trusted_pem {
        let der = ise::pem_to_der(pem).ok_or_else(|| {
            SimError::Config(format!(
                "seeded trusted certificate `{name}` is not a PEM certificate"
            ))
        })?;
        // ISE's store holds one certificate per content and per friendly name.
        let sha = pki::sha256(&der);
        trusted.retain(|t: &TrustedCert| t.friendly_name != *name && pki::sha256(&t.der) != sha);
        trusted.push(entry(rng, name, der, true, false));
    }
    Ok((system_certs, trusted))
}

fn graph_roles() -> Vec<Role> {
    vec![
        Role {
            id: ROLE_APPLICATION_READ_ALL,
            value: "Application.Read.All",
            display_name: "Read all applications",
        },
        Role {
            id: ROLE_APPLICATION_READWRITE_ALL,
            value: "Application.ReadWrite.All",
            display_name: "Read and write all applications",
        },
        Role {
            id: ROLE_APPLICATION_READWRITE_OWNEDBY,
            value: "Application.ReadWrite.OwnedBy",
            display_name: "Manage apps that this app creates or owns",
        },
        Role {
            id: ROLE_APP_ROLE_ASSIGNMENT_READWRITE_ALL,
            value: "AppRoleAssignment.ReadWrite.All",
            display_name: "Manage app permission grants and app role assignments",
        },
        Role {
            id: ROLE_POLICY_READ_ALL,
            value: "Policy.Read.All",
            display_name: "Read your organization's policies",
        },
    ]
}

/// Each node's Admin certificate (one wildcard when shared); the first is the primary's,
/// presented on ISE's HTTPS port.
fn node_admin_certificates(
    b: &SimulatorBuilder,
    nodes: &[state::IseNode],
    rng: &mut rng::Rng,
) -> Result<Vec<(String, pki::Issued)>, SimError> {
    // Each node's Admin certificate (one wildcard when shared); the first is the
    // primary's, presented on ISE's HTTPS port.
    let mut node_certs: Vec<(String, pki::Issued)> = Vec::new();
    if b.shared_admin_certificate {
        let wildcard = pki::ise_admin_certificate(
            "*.sim.example",
            0,
            rng.next_u64() >> 1,
            b.ecdsa_admin_certificates,
        )?;
        for n in nodes {
            node_certs.push((n.hostname.clone(), wildcard.clone()));
        }
    } else {
        for (i, n) in nodes.iter().enumerate() {
            let cert = pki::ise_admin_certificate(
                &n.fqdn,
                i,
                rng.next_u64() >> 1,
                b.ecdsa_admin_certificates,
            )?;
            node_certs.push((n.hostname.clone(), cert));
        }
    }
    Ok(node_certs)
}

/// The simulator's listeners, one per service, on loopback ports the system picks.
struct Listeners {
    ise: TcpListener,
    login: TcpListener,
    graph: TcpListener,
    intune: TcpListener,
    control: TcpListener,
}

impl Listeners {
    async fn bind() -> Result<Self, SimError> {
        let bind = || async {
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(SimError::Bind)
        };
        Ok(Self {
            ise: bind().await?,
            login: bind().await?,
            graph: bind().await?,
            intune: bind().await?,
            control: bind().await?,
        })
    }

    /// The services' URLs, and the control surface's.
    fn urls(&self) -> Result<(Urls, String), SimError> {
        let url = |l: &TcpListener| {
            l.local_addr()
                .map(|a| format!("https://127.0.0.1:{}", a.port()))
                .map_err(SimError::Bind)
        };
        let urls = Urls {
            ise: url(&self.ise)?,
            login: url(&self.login)?,
            graph_origin: url(&self.graph)?,
            intune: url(&self.intune)?,
        };
        Ok((urls, url(&self.control)?))
    }
}

/// What the simulator writes for its clients.
struct Files {
    dir: std::path::PathBuf,
    ca_path: std::path::PathBuf,
    admin_path: std::path::PathBuf,
    automation_cert_path: std::path::PathBuf,
    token_path: std::path::PathBuf,
}

/// Writes the public root, ISE's admin certificate, the automating identity's
/// certificate with its key, and a federated token valid for a day (the last two
/// readable by their owner only), in a directory of this simulator's own.
fn write_files(
    pki: &pki::Pki,
    admin: &pki::Issued,
    automation_cert: &pki::Issued,
    workload_issuer: &pki::Issued,
) -> Result<Files, SimError> {
    // One directory per simulator: simulators of one seed in one process (parallel
    // tests) must not share it, or the first to stop deletes the others' files.
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ise-intune-sim-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| SimError::Config(format!("temp dir: {e}")))?;
    let ca_path = dir.join("simulated-public-root.pem");
    let admin_path = dir.join("ise-admin-certificate.pem");
    std::fs::write(&ca_path, &pki.current.root.cert_pem)
        .and_then(|_| std::fs::write(&admin_path, &admin.cert_pem))
        .map_err(|e| SimError::Config(format!("writing certificates: {e}")))?;
    // The automating identity's certificate with its key, and a federated token
    // valid for a day: files readable by their owner only.
    let automation_cert_path = dir.join("automation-certificate.pem");
    let token_path = dir.join("federated-token.jwt");
    let token = federated_token(
        &workload_issuer.key_pkcs8,
        WORKLOAD_SUBJECT,
        WORKLOAD_AUDIENCE,
        24 * 3600,
    )?;
    write_private(
        &automation_cert_path,
        &format!("{}{}", automation_cert.cert_pem, pki::ISE_KEYS[1]),
    )
    .and_then(|_| write_private(&token_path, &token))
    .map_err(|e| SimError::Config(format!("writing credentials: {e}")))?;

    Ok(Files {
        dir,
        ca_path,
        admin_path,
        automation_cert_path,
        token_path,
    })
}

impl World {
    /// A world with the builder's settings and nothing in it yet.
    fn empty(mut rng: rng::Rng, b: &SimulatorBuilder, tenant_id: String) -> Self {
        let policy = policy::PolicyModel::seeded(&mut rng);
        World {
            rng,
            replication_lag: b.replication_lag,
            tenant_id,
            tenant_name: "Contoso (simulated)".into(),
            apps: Vec::new(),
            sps: Vec::new(),
            assignments: Vec::new(),
            tokens: HashMap::new(),
            jtis: HashSet::new(),
            ise_version: b.ise_version.clone(),
            ise_patch: b.ise_patch,
            ise_hostname: String::new(),
            nodes: Vec::new(),
            system_certs: Vec::new(),
            trusted: Vec::new(),
            mdm_servers: BTreeMap::new(),
            csrf_enabled: b.csrf,
            clock_offset: Duration::ZERO,
            started: Instant::now(),
            compliance_grace: b.compliance_grace,
            throttle_windows: HashMap::new(),
            throttle_per_tenant: b.throttle_per_tenant,
            unfiltered_queries: std::collections::BTreeMap::new(),
            throttled: std::collections::BTreeMap::new(),
            ise_role: b.ise_role,
            csrf_token: None,
            log: Vec::new(),
            seed: b.seed,
            id_counts: HashMap::new(),
            devices: state::seed_devices(b.seed, b.devices),
            staged_certs: HashMap::new(),
            private_key_exports: 0,
            workload_issuer_der: Vec::new(),
            default_key_policy: None,
            app_key_policies: Vec::new(),
            policy,
        }
    }
}

/// Where ISE is and who may call it, for the info file.
fn ise_info(
    b: &SimulatorBuilder,
    urls: &Urls,
    files: &Files,
    admin: &pki::Issued,
    hostname: String,
) -> IseInfo {
    IseInfo {
        url: urls.ise.clone(),
        username: b.ise_username.clone(),
        password: b.ise_password.clone(),
        version: b.ise_version.clone(),
        patch: b.ise_patch,
        admin_cert_pem_path: files.admin_path.display().to_string(),
        admin_cert_sha256: pki::hex(&pki::sha256(&admin.cert_der)),
        gui_url: format!("{}{GUI_BASE_PATH}", urls.ise),
        hostname,
        nodes: Vec::new(),
    }
}

/// Each node's own address: a loopback listener presenting the node's Admin
/// certificate (swapped when a renewed one is bound), serving what a node's port 443
/// serves to a browser — a redirect to the admin portal's login. Evidence: ISE's
/// certificate usage ("Admin: server authentication for the Admin portal and
/// inter-node communication", Cisco ISE Administrator Guide, Certificate Management) —
/// every node presents the certificate bound to its Admin role on TCP 443, and a newly
/// bound one after its application server restarts.
async fn spawn_node_portals(
    nodes: &[state::IseNode],
    node_certs: &[(String, pki::Issued)],
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(BTreeMap<String, Arc<pki::SwappableCert>>, Vec<IseNodeInfo>), SimError> {
    let mut portals = BTreeMap::new();
    let mut infos = Vec::new();
    for (node, (host, issued)) in nodes.iter().zip(node_certs) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let port = listener.local_addr().map_err(SimError::Bind)?.port();
        let cert = pki::SwappableCert::new(vec![issued.cert_der.clone()], &issued.key_der())?;
        let router = axum::Router::new().fallback(|| async {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, "/admin/login.jsp")],
            )
        });
        tokio::spawn(server::serve(
            listener,
            pki::swappable_server_config(cert.clone())?,
            router,
            None,
            shared.clone(),
            shutdown.clone(),
        ));
        portals.insert(host.clone(), cert);
        infos.push(IseNodeInfo {
            hostname: node.hostname.clone(),
            fqdn: node.fqdn.clone(),
            url: format!("https://127.0.0.1:{port}"),
        });
    }
    Ok((portals, infos))
}

/// Serves each service on its listener until `shutdown`.
fn spawn_services(
    listeners: Listeners,
    shared: &Arc<Shared>,
    pki: &pki::Pki,
    admin: &pki::Issued,
    microsoft_certs: &[Arc<pki::SwappableCert>; 3],
    shutdown: &watch::Receiver<bool>,
) -> Result<(), SimError> {
    let current = &pki.current;
    let spawn = |listener, tls, router, service| {
        tokio::spawn(server::serve(
            listener,
            tls,
            router,
            service,
            shared.clone(),
            shutdown.clone(),
        ));
    };
    spawn(
        listeners.ise,
        pki::server_config(vec![admin.cert_der.clone()], admin.key_der())?,
        ise::router(shared.clone()),
        Some(Service::Ise),
    );
    spawn(
        listeners.login,
        pki::swappable_server_config(microsoft_certs[0].clone())?,
        login::router(shared.clone()),
        Some(Service::Login),
    );
    spawn(
        listeners.graph,
        pki::swappable_server_config(microsoft_certs[1].clone())?,
        graph::router(shared.clone()),
        Some(Service::Graph),
    );
    spawn(
        listeners.intune,
        pki::swappable_server_config(microsoft_certs[2].clone())?,
        intune::router(shared.clone()),
        Some(Service::Intune),
    );

    spawn(
        listeners.control,
        pki::server_config(current.chain(&current.graph), current.graph.key_der())?,
        control::router(shared.clone()),
        None,
    );

    Ok(())
}

impl Simulator {
    /// Starts building.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    async fn start(b: SimulatorBuilder) -> Result<Self, SimError> {
        b.check()?;
        let mut rng = rng::Rng::new(b.seed);
        let tenant_id = b.tenant_id.clone().unwrap_or_else(|| rng.uuid());
        let pki = pki::Pki::generate(&["Cisco Root CA 2099", "Cisco ECC Root CA 2099"])?;
        let nodes = state::deployment(b.nodes);
        let ise_hostname = nodes[0].hostname.clone();
        let node_certs = node_admin_certificates(&b, &nodes, &mut rng)?;
        let admin = node_certs[0].1.clone();

        let listeners = Listeners::bind().await?;
        let (urls, control_url) = listeners.urls()?;

        let now = Instant::now();
        let created = state::iso(time::OffsetDateTime::now_utc());
        // The automating identity's certificate and the workload issuer's signing
        // certificate: RSA keys of the pool (rcgen makes no RSA keys), on certificates
        // of their own names.
        let automation_cert =
            pki::ise_admin_certificate("ise-intune-automation", 1, rng.next_u64() >> 1, false)?;
        let workload_issuer = pki::ise_admin_certificate(
            "workload-issuer.sim.example",
            2,
            rng.next_u64() >> 1,
            false,
        )?;
        let directory = seed_directory(
            &mut rng,
            &b,
            &urls,
            &automation_cert.cert_der,
            now,
            &created,
        );
        let (automation_app_id, automation_secret) = (
            directory.automation_app_id.clone(),
            directory.automation_secret.clone(),
        );
        let (system_certs, trusted) = seed_ise(&mut rng, &b, &pki, &node_certs, &nodes)?;
        let world = World {
            apps: directory.apps,
            sps: directory.sps,
            assignments: directory.assignments,
            ise_hostname: ise_hostname.clone(),
            nodes: nodes.clone(),
            system_certs,
            trusted,
            workload_issuer_der: workload_issuer.cert_der.to_vec(),
            ..World::empty(rng, &b, tenant_id.clone())
        };
        let faults = b.initial_faults();
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            faults: Mutex::new(faults),
            fault_seed: b.fault_seed.unwrap_or(b.seed),
            fault_counts: Mutex::new(HashMap::new()),
            urls: urls.clone(),
            ise_username: b.ise_username.clone(),
            ise_password: b.ise_password.clone(),
            cloud: cloud::named(&b.cloud).unwrap_or(&cloud::CLOUDS[0]),
            clock_file: Mutex::new(None),
        });

        let files = write_files(&pki, &admin, &automation_cert, &workload_issuer)?;

        let current = &pki.current;
        let microsoft_certs = [
            pki::SwappableCert::new(current.chain(&current.login), &current.login.key_der())?,
            pki::SwappableCert::new(current.chain(&current.graph), &current.graph.key_der())?,
            pki::SwappableCert::new(current.chain(&current.intune), &current.intune.key_der())?,
        ];
        let (tx, rx) = watch::channel(false);
        spawn_services(listeners, &shared, &pki, &admin, &microsoft_certs, &rx)?;
        let (node_portals, node_infos) =
            spawn_node_portals(&nodes, &node_certs, &shared, &rx).await?;

        let info = SimInfo {
            tenant_id,
            cloud: b.cloud.clone(),
            login_url: urls.login.clone(),
            graph_url: format!("{}/v1.0", urls.graph_origin),
            intune_url: urls.intune.clone(),
            ca_pem_path: files.ca_path.display().to_string(),
            ca_pem: pki.current.root.cert_pem.clone(),
            next_ca_pem: pki.next.root.cert_pem.clone(),
            ise: IseInfo {
                nodes: node_infos,
                ..ise_info(&b, &urls, &files, &admin, ise_hostname)
            },
            automation: AutomationInfo {
                client_id: automation_app_id,
                client_secret: automation_secret,
                certificate_path: files.automation_cert_path.display().to_string(),
                federated_token_file: files.token_path.display().to_string(),
            },
            control_url,
        };
        Ok(Self {
            shared,
            info,
            microsoft_certs,
            node_portals,
            next_hierarchy: pki.next,
            workload_issuer_key: workload_issuer.key_pkcs8,
            shutdown: tx,
            _dir: TempDir(files.dir),
        })
    }

    /// Sets an app-management policy restricting certificates to `max_days` of
    /// lifetime (`asymmetricKeyLifetime`, `maxLifetime` `P{max_days}D`): the tenant's
    /// default with `app_object_id` `None`, else one assigned to that application (it
    /// takes precedence over the default). Graph then refuses a new key that lives
    /// longer, as Entra does.
    pub fn set_key_lifetime_policy(&self, max_days: u32, app_object_id: Option<&str>) {
        self.shared.with_world(|w| {
            let id = w.rng.uuid();
            let policy = state::KeyLifetimePolicy { id, max_days };
            match app_object_id {
                None => w.default_key_policy = Some(policy),
                Some(app) => {
                    w.app_key_policies.retain(|(a, _)| a != app);
                    w.app_key_policies.push((app.to_owned(), policy));
                }
            }
        });
    }

    /// Moves ISE's API account to another admin group, as an ISE administrator would
    /// (Administration > System > Admin Access > Administrators > Admin Users); the next
    /// request is answered as the new group allows.
    pub fn set_ise_role(&self, role: IseRole) {
        self.shared.with_world(|w| w.ise_role = role);
    }

    /// Replaces the automating identity's application roles (by value, see
    /// [`AUTOMATION_ROLE_NAMES`]), as an administrator editing its API permissions
    /// would. Tokens issued before keep their roles until they expire, as Entra's do.
    pub fn set_automation_roles<S: AsRef<str>>(&self, roles: &[S]) -> Result<(), SimError> {
        let client_id = self.info.automation.client_id.clone();
        let roles: Vec<String> = roles.iter().map(|r| r.as_ref().to_owned()).collect();
        if let Some(unknown) = roles
            .iter()
            .find(|r| !AUTOMATION_ROLE_NAMES.contains(&r.as_str()))
        {
            return Err(SimError::Config(format!(
                "unknown automation role `{unknown}`"
            )));
        }
        self.shared.with_world(|w| {
            let Some(principal) = w.sps.iter().find(|s| s.app_id == client_id).cloned() else {
                return Err(SimError::Config("no automating identity".into()));
            };
            w.assignments.retain(|a| a.principal_id != principal.id);
            for name in &roles {
                let Some((resource, role)) = w.sps.iter().find_map(|s| {
                    s.app_roles
                        .iter()
                        .find(|r| r.value == name)
                        .map(|r| (s.id.clone(), r.id.to_owned()))
                }) else {
                    continue;
                };
                let id = w.rng.token(43);
                let created = w.now_iso();
                w.assignments.push(Assignment {
                    id,
                    principal_id: principal.id.clone(),
                    resource_id: resource,
                    app_role_id: role,
                    created,
                    visible_at: w.now(),
                });
            }
            Ok(())
        })
    }

    /// Grants admin consent to the application with client id `client_id`, as an
    /// administrator's click would: every application role it requests is assigned.
    /// Returns how many assignments were new.
    pub fn admin_consent(&self, client_id: &str) -> Result<usize, SimError> {
        self.shared
            .with_world(|w| w.admin_consent(client_id))
            .map_err(SimError::Config)
    }

    /// Where everything is and how to log in.
    pub fn info(&self) -> &SimInfo {
        &self.info
    }

    /// Writes the info file to `path`, readable by its owner only (mode 0600 on Unix,
    /// set when the file is created): it holds the ISE password and the automating
    /// identity's secret. An existing file is replaced, its mode reset.
    pub fn write_info_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(&self.info).map_err(std::io::Error::other)?;
        // A file left by an earlier run may be world-readable: it is replaced.
        write_private(path, &json)?;
        let clock = clock_file_of(path);
        let offset = self.shared.with_world(|w| w.clock_offset);
        publish_clock(&clock, offset)?;
        *self
            .shared
            .clock_file
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(clock);
        Ok(())
    }

    /// A federated token from the simulated workload issuer for `subject` and
    /// `audience`, valid for `valid_secs` from now (negative: already expired), to
    /// write into the federated token file.
    pub fn federated_token(
        &self,
        subject: &str,
        audience: &str,
        valid_secs: i64,
    ) -> Result<String, SimError> {
        federated_token(&self.workload_issuer_key, subject, audience, valid_secs)
    }

    /// A JSON snapshot of all state (no secrets or private keys).
    pub fn snapshot(&self) -> serde_json::Value {
        self.shared.with_world(|w| {
            w.settle_devices();
            w.snapshot()
        })
    }

    /// Moves the simulated clock forward by `by` (it never goes back): tokens expire,
    /// replication completes, Intune's throttle windows close and devices check in as
    /// they would have in that time. Returns the simulated time, ISO 8601.
    pub fn advance_clock(&self, by: Duration) -> String {
        self.shared.advance_clock(by).0
    }

    /// The simulated clock's time in seconds since the Unix epoch.
    pub fn now_unix(&self) -> u64 {
        self.shared.with_world(|w| w.now_unix())
    }

    /// Every request served so far.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.with_world(|w| w.log.clone())
    }

    /// Reads and writes served by one service.
    pub fn request_counts(&self, service: Service) -> Counts {
        self.shared.with_world(|w| w.counts(service.name()))
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) {
        self.shared.with_world(|w| w.log.clear());
    }

    /// Replaces every service's faults, as `PUT /faults` on the control API does
    /// (services not named get none).
    pub fn replace_faults(&self, faults: HashMap<Service, Faults>) {
        self.shared.replace_faults(faults);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.replace_faults(HashMap::new());
    }

    /// Changes the faults of one service while running.
    pub fn set_faults(&self, service: Service, faults: Faults) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service, faults);
    }

    /// Changes the replication lag while running.
    pub fn set_replication_lag(&self, lag: Duration) {
        self.shared.with_world(|w| w.replication_lag = lag);
    }

    /// Changes ISE's version (an upgrade).
    pub fn set_ise_version(&self, version: impl Into<String>, patch: u16) {
        let version = version.into();
        self.shared.with_world(|w| {
            w.ise_version = version;
            w.ise_patch = patch;
        });
    }

    /// ISE's authorization of the endpoint `mac` (any notation), as the control API's
    /// `POST /authorize` answers it: `{"policy_set", "rule", "profiles", "mdm": {…}}`.
    pub async fn authorize(&self, mac: &str) -> Result<serde_json::Value, SimError> {
        authorize::authorize(&self.shared, mac)
            .await
            .map_err(SimError::Config)
    }

    /// Changes a device in Intune, as the control API's `PUT /devices/{guid}` does.
    pub fn set_device(
        &self,
        guid: &str,
        compliant: Option<bool>,
        registered: Option<bool>,
    ) -> Result<serde_json::Value, SimError> {
        self.shared
            .with_world(|w| w.set_device(guid, compliant, registered, false))
            .ok_or_else(|| SimError::Config(format!("no device {guid} in Intune")))
    }

    /// The devices Intune knows: (GUID, MAC as uppercase hex, registered, compliant).
    pub fn devices(&self) -> Vec<(String, String, bool, bool)> {
        self.shared.with_world(|w| {
            w.settle_devices();
            w.devices
                .iter()
                .map(|d| (d.guid.clone(), d.mac.clone(), d.registered, d.compliant))
                .collect()
        })
    }

    /// Every write received by the network-access policy API, with its JSON body.
    pub fn policy_writes(&self) -> Vec<PolicyWrite> {
        self.shared.with_world(|w| w.policy.writes.clone())
    }

    /// The External MDM servers configured in the fake ISE.
    pub fn mdm_servers(&self) -> Vec<MdmServer> {
        self.shared
            .with_world(|w| w.mdm_servers.values().cloned().collect())
    }

    /// Runs ISE's Test Connection on the named External MDM server, as the GUI does.
    pub async fn test_connection(&self, name: &str) -> Result<String, String> {
        gui::test_connection(&self.shared, name).await
    }

    /// Renews `host`'s self-signed Admin certificate (same key, new serial and id),
    /// valid for `valid_days` from now; zero or less makes one that has already expired
    /// (a year's validity ending `-valid_days` days ago). Returns its SHA-1 (uppercase
    /// hex). ISE's HTTPS port keeps presenting the certificate it started with, so the
    /// pin stays valid.
    pub fn renew_admin_certificate(&self, host: &str, valid_days: i64) -> Result<String, SimError> {
        self.stage_admin_certificate(host, valid_days)?;
        self.activate_staged_certificate(host)
    }

    /// Makes `host`'s renewed Admin certificate (as [`Self::renew_admin_certificate`])
    /// without binding it to the Admin role yet, as an operator imports a renewed
    /// certificate ahead of time; returns its PEM. [`Self::activate_staged_certificate`]
    /// binds it.
    pub fn stage_admin_certificate(&self, host: &str, valid_days: i64) -> Result<String, SimError> {
        // Valid from the simulated clock's day (it may have been moved ahead).
        let now = self.shared.with_world(|w| w.now_utc());
        let (not_before, not_after) = if valid_days > 0 {
            (
                now - time::Duration::days(1),
                now + time::Duration::days(valid_days),
            )
        } else {
            let end = now + time::Duration::days(valid_days) - time::Duration::hours(1);
            (end - time::Duration::days(365), end)
        };
        let staged = self.shared.with_world(|w| {
            let fqdn = w
                .nodes
                .iter()
                .find(|n| n.hostname == host)
                .map(|n| n.fqdn.clone())
                .ok_or_else(|| SimError::Config(format!("no ISE node `{host}`")))?;
            let serial = w.rng.next_u64() >> 1;
            let current = w
                .system_certs
                .iter()
                .find(|c| c.host == host && c.used_by.split(',').any(|u| u.trim() == "Admin"))
                .ok_or_else(|| SimError::Config(format!("`{host}` has no Admin certificate")))?;
            let issued = pki::renew_ise_admin_certificate(
                &current.issued,
                &fqdn,
                serial,
                not_before,
                not_after,
            )?;
            Ok::<_, SimError>(state::StagedCert {
                issued,
                serial,
                not_before,
                not_after,
            })
        })?;
        let pem = staged.issued.cert_pem.clone();
        self.shared
            .with_world(|w| w.staged_certs.insert(host.to_owned(), staged));
        Ok(pem)
    }

    /// Binds `host`'s staged certificate to the Admin role (new id); returns its SHA-1.
    /// The node presents it on its own address ([`IseNodeInfo::url`]) from the next
    /// handshake on, as ISE does once its application server restarts.
    pub fn activate_staged_certificate(&self, host: &str) -> Result<String, SimError> {
        let (sha1, issued) = self.shared.with_world(|w| {
            let staged = w
                .staged_certs
                .remove(host)
                .ok_or_else(|| SimError::Config(format!("no staged certificate for `{host}`")))?;
            let id = w.rng.uuid();
            let cert = w
                .system_certs
                .iter_mut()
                .find(|c| c.host == host && c.used_by.split(',').any(|u| u.trim() == "Admin"))
                .ok_or_else(|| SimError::Config(format!("`{host}` has no Admin certificate")))?;
            cert.issued = staged.issued;
            cert.id = id;
            cert.serial_decimal = staged.serial.to_string();
            cert.not_before = staged.not_before;
            cert.not_after = staged.not_after;
            Ok::<_, SimError>((
                pki::hex(&pki::sha1(&cert.issued.cert_der)),
                cert.issued.clone(),
            ))
        })?;
        if let Some(portal) = self.node_portals.get(host) {
            portal.swap(vec![issued.cert_der.clone()], &issued.key_der())?;
        }
        Ok(sha1)
    }

    /// Moves login, Graph and Intune to the other public hierarchy ("Simulated Public
    /// Root G5", [`SimInfo::next_ca_pem`]) from the next TLS handshake on, as Microsoft
    /// moved its endpoints from DigiCert Global Root CA to G2. ISE's trusted store is not
    /// touched: Test Connection fails until the new root is trusted there.
    pub fn move_microsoft_chains(&self) -> Result<(), SimError> {
        let next = &self.next_hierarchy;
        for (cert, leaf) in
            self.microsoft_certs
                .iter()
                .zip([&next.login, &next.graph, &next.intune])
        {
            cert.swap(next.chain(leaf), &leaf.key_der())?;
        }
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
