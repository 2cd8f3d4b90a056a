//! How a simulator is set up: [`SimulatorBuilder`] and its defaults.

#[allow(clippy::wildcard_imports)]
use crate::*;

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
    pub(crate) ise_version: String,
    pub(crate) ise_patch: u16,
    pub(crate) seed: u64,
    pub(crate) replication_lag: Duration,
    pub(crate) latency: Duration,
    pub(crate) faults: HashMap<Service, Faults>,
    pub(crate) fault_seed: Option<u64>,
    pub(crate) devices: usize,
    pub(crate) nodes: usize,
    pub(crate) shared_admin_certificate: bool,
    pub(crate) ecdsa_admin_certificates: bool,
    pub(crate) ise_public_roots: bool,
    pub(crate) csrf: bool,
    pub(crate) seed_apps: Vec<SeedApp>,
    pub(crate) seed_trusted_pem: Vec<(String, String)>,
    pub(crate) ise_username: String,
    pub(crate) ise_password: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) automation_roles: Vec<String>,
    pub(crate) ise_role: IseRole,
    pub(crate) throttle_per_tenant: bool,
    pub(crate) compliance_grace: Duration,
    pub(crate) cloud: String,
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
pub const AUTOMATION_ROLE_NAMES: [&str; 9] = [
    "Application.Read.All",
    "Policy.Read.All",
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementConfiguration.Read.All",
    "AuditLog.Read.All",
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
    pub(crate) fn check(&self) -> Result<(), SimError> {
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
    pub(crate) fn initial_faults(&self) -> HashMap<Service, Faults> {
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
