//! The simulated systems' state, behind one lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::pki::Issued;
use crate::rng::Rng;

/// Microsoft Graph's appId.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Intune API's appId.
pub const INTUNE_API_APP_ID: &str = "c161e42e-d4df-4a3d-9b42-e7a3c31f59d4";
/// The "Microsoft Intune" service principal ISE reads for discovery.
pub const INTUNE_DISCOVERY_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// Graph `Application.Read.All`.
pub const ROLE_APPLICATION_READ_ALL: &str = "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30";
/// Graph `Application.ReadWrite.All`.
pub const ROLE_APPLICATION_READWRITE_ALL: &str = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9";
/// Graph `Application.ReadWrite.OwnedBy`.
pub const ROLE_APPLICATION_READWRITE_OWNEDBY: &str = "18a4783c-866b-4cc7-a460-3d5e5662c884";
/// Graph `AppRoleAssignment.ReadWrite.All`.
pub const ROLE_APP_ROLE_ASSIGNMENT_READWRITE_ALL: &str = "06b708a9-e830-4db3-a914-8e69da51d44f";
/// Microsoft Graph `Policy.Read.All` (application permission).
pub const ROLE_POLICY_READ_ALL: &str = "246dd0d5-5bd0-4def-940b-0421030a5b68";
/// Microsoft Graph `DeviceManagementManagedDevices.Read.All` (application permission).
pub const ROLE_MANAGED_DEVICES_READ_ALL: &str = "2f51be20-0bb4-4fed-bf7b-db946066c75e";
/// Microsoft Graph `DeviceManagementConfiguration.Read.All` (application permission).
pub const ROLE_DEVICE_CONFIGURATION_READ_ALL: &str = "dc377aa6-52d8-4e23-b271-2a7ae04cedf3";
/// Microsoft Graph `AuditLog.Read.All` (application permission).
pub const ROLE_AUDIT_LOG_READ_ALL: &str = "b0afded3-3588-46d8-8b3d-9842eff778da";
/// Intune API `get_device_compliance`.
pub const ROLE_GET_DEVICE_COMPLIANCE: &str = "7ec88bad-30c7-4928-a005-4455362cfd98";

/// A key credential as Graph stores it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyCred {
    pub(crate) key_id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) key_der: Vec<u8>,
    pub(crate) custom_key_identifier: Vec<u8>,
    pub(crate) start: Option<String>,
    pub(crate) end: Option<String>,
    pub(crate) usage: String,
    pub(crate) key_type: String,
    /// When the token service accepts assertions signed with it (a new key propagates
    /// after Graph lists it).
    #[serde(skip)]
    pub(crate) usable_at: Instant,
}

/// An application registration.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) display_name: String,
    pub(crate) sign_in_audience: String,
    pub(crate) key_credentials: Vec<KeyCred>,
    pub(crate) required_resource_access: Value,
    pub(crate) secrets: Vec<String>,
    pub(crate) created: String,
    pub(crate) visible_at: Instant,
    /// The client-chosen alternate key, immutable once set.
    pub(crate) unique_name: Option<String>,
    /// Federated identity credentials: external tokens this application accepts as
    /// its client assertion.
    pub(crate) federated: Vec<FederatedCredential>,
    /// Owners (service principal object ids): an application made by an application
    /// is owned by the maker's service principal, which `Application.ReadWrite.OwnedBy`
    /// then lets it manage.
    pub(crate) owners: Vec<String>,
    /// Custom strings (`tags`), kept in the order written.
    pub(crate) tags: Vec<String>,
    /// `notes`.
    pub(crate) notes: Option<String>,
}

/// An object in the directory's deleted items: Entra keeps a deleted application or
/// service principal for 30 days, restorable (Microsoft Graph, "directory resource
/// type": "Deleted items remain available to restore for up to 30 days").
#[derive(Debug, Clone)]
pub(crate) struct DeletedItem {
    /// `application` or `servicePrincipal`.
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) display_name: String,
    /// `deletedDateTime`.
    pub(crate) deleted: String,
}

/// A federated identity credential: Entra accepts, as the application's client
/// assertion, a token from `issuer` about `subject` for one of `audiences`.
#[derive(Debug, Clone)]
pub(crate) struct FederatedCredential {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
}

/// An app role a resource offers.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) id: &'static str,
    pub(crate) value: &'static str,
    pub(crate) display_name: &'static str,
}

/// A service principal.
#[derive(Debug, Clone)]
pub(crate) struct Sp {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) display_name: String,
    pub(crate) app_roles: Vec<Role>,
    pub(crate) endpoints: Vec<(String, String)>,
    pub(crate) visible_at: Instant,
}

/// An app role assignment.
#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    pub(crate) id: String,
    pub(crate) principal_id: String,
    pub(crate) resource_id: String,
    pub(crate) app_role_id: String,
    pub(crate) created: String,
    pub(crate) visible_at: Instant,
}

/// What an access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    Graph,
    Intune,
}

/// An access token the login service issued.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) audience: Audience,
    /// The caller's application (client) id.
    pub(crate) client_id: String,
    pub(crate) roles: Vec<String>,
    pub(crate) expires: Instant,
}

/// A system certificate of the ISE node.
#[derive(Clone)]
pub(crate) struct SystemCert {
    /// The node holding it.
    pub(crate) host: String,
    pub(crate) id: String,
    pub(crate) friendly_name: String,
    pub(crate) used_by: String,
    pub(crate) issued: Issued,
    pub(crate) not_before: time::OffsetDateTime,
    pub(crate) not_after: time::OffsetDateTime,
    pub(crate) serial_decimal: String,
    pub(crate) self_signed: bool,
    /// ECDSA P-256 rather than RSA 2048.
    pub(crate) ecdsa: bool,
}

/// A renewed Admin certificate waiting to be bound to the Admin role.
#[derive(Clone)]
pub(crate) struct StagedCert {
    pub(crate) issued: Issued,
    pub(crate) serial: u64,
    pub(crate) not_before: time::OffsetDateTime,
    pub(crate) not_after: time::OffsetDateTime,
}

/// A certificate of ISE's trusted store.
#[derive(Debug, Clone)]
pub(crate) struct TrustedCert {
    pub(crate) id: String,
    pub(crate) friendly_name: String,
    pub(crate) description: String,
    pub(crate) der: Vec<u8>,
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) not_before: String,
    pub(crate) not_after: String,
    pub(crate) trust_ise_auth: bool,
    pub(crate) trust_client_auth: bool,
    pub(crate) trust_admin_auth: bool,
    pub(crate) trust_cisco_services: bool,
    pub(crate) enabled: bool,
}

/// An External MDM server entry (exists only behind ISE's GUI).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MdmServer {
    /// Name.
    pub name: String,
    /// "OAuth - Client Credentials".
    #[serde(default = "default_auth")]
    pub authentication_type: String,
    /// `https://graph.microsoft.com` (or the retired `https://graph.windows.net<tenant>`).
    pub auto_discovery_url: String,
    /// The Entra application (client) id.
    pub client_id: String,
    /// The v2 token endpoint.
    pub token_issuing_url: String,
    /// The token audience.
    pub token_audience: String,
    /// Polling interval in minutes.
    #[serde(default = "default_polling")]
    pub polling_interval_minutes: u32,
    /// Time interval for compliance device re-auth query, minutes.
    #[serde(default = "default_reauth")]
    pub compliance_reauth_query_minutes: u32,
    /// `Enabled` or `Disabled`.
    #[serde(default = "default_status")]
    pub status: String,
    /// Result of the last Test Connection, if any.
    #[serde(default)]
    pub last_test: Option<String>,
}

fn default_auth() -> String {
    "OAuth - Client Credentials".into()
}
fn default_polling() -> u32 {
    240
}
fn default_reauth() -> u32 {
    1
}
fn default_status() -> String {
    "Disabled".into()
}

/// One logged request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `ise`, `login`, `graph` or `intune`.
    pub service: &'static str,
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Status answered (0 when the connection was dropped before handling).
    pub status: u16,
    /// The fault injected, if any: `dropped`, `error` or `lost_response` (handled with
    /// `status`, then the connection dropped).
    pub fault: Option<&'static str>,
}

/// Per-service request counts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// GET/HEAD requests.
    pub reads: u64,
    /// Other requests.
    pub writes: u64,
}

/// The whole simulated world.
pub(crate) struct World {
    pub(crate) rng: Rng,
    pub(crate) replication_lag: Duration,
    pub(crate) tenant_id: String,
    pub(crate) tenant_name: String,
    pub(crate) apps: Vec<App>,
    pub(crate) sps: Vec<Sp>,
    pub(crate) assignments: Vec<Assignment>,
    /// The directory's deleted items (applications and service principals).
    pub(crate) deleted: Vec<DeletedItem>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) jtis: HashSet<String>,
    pub(crate) ise_version: String,
    pub(crate) ise_patch: u16,
    pub(crate) ise_hostname: String,
    /// The deployment's nodes, the primary admin node first.
    pub(crate) nodes: Vec<IseNode>,
    pub(crate) system_certs: Vec<SystemCert>,
    pub(crate) trusted: Vec<TrustedCert>,
    pub(crate) mdm_servers: BTreeMap<String, MdmServer>,
    pub(crate) csrf_enabled: bool,
    /// How far the simulated clock is ahead of this machine's (`POST /clock`).
    pub(crate) clock_offset: Duration,
    /// When the simulator started (devices' check-in cycles count from it).
    pub(crate) started: Instant,
    /// How long after a check-in that fails compliance a device is still reported
    /// compliant (Intune's grace period; 0: marked non-compliant at once).
    pub(crate) compliance_grace: Duration,
    /// Intune's throttle windows of unfiltered compliance queries, by tenant and
    /// calling application (by tenant alone with `throttle_per_tenant`): when each
    /// opened.
    pub(crate) throttle_windows: HashMap<String, Instant>,
    /// One window per tenant across applications (the stricter reading).
    pub(crate) throttle_per_tenant: bool,
    /// Unfiltered compliance queries answered, by calling application.
    pub(crate) unfiltered_queries: BTreeMap<String, u64>,
    /// Unfiltered compliance queries refused by the throttle, by calling application.
    pub(crate) throttled: BTreeMap<String, u64>,
    /// The admin group of the API account.
    pub(crate) ise_role: crate::IseRole,
    pub(crate) csrf_token: Option<String>,
    pub(crate) log: Vec<LoggedRequest>,
    /// The seed, for ids derived from content.
    pub(crate) seed: u64,
    /// How many ids of each (kind, content) were derived.
    pub(crate) id_counts: HashMap<String, u64>,
    /// The devices Intune knows.
    pub(crate) devices: Vec<Device>,
    /// ISE's endpoints, by MAC (`AA:BB:CC:DD:EE:FF`).
    pub(crate) endpoints: BTreeMap<String, IseEndpoint>,
    /// Intune's throttle of managed-device reads (`GET /deviceManagement/managedDevices`,
    /// per application): the requests in the window, and (limit, window).
    pub(crate) device_reads: std::collections::VecDeque<Instant>,
    pub(crate) device_read_limit: (usize, Duration),
    /// 429s answered to device reads (every other one carries `Retry-After`).
    pub(crate) device_reads_throttled: u64,
    /// Active sessions (MnT): endpoint MAC → the policy service node that holds it.
    pub(crate) sessions: BTreeMap<String, String>,
    /// Changes of Authorization sent (re-authenticate): (node, MAC), in order.
    pub(crate) coa: Vec<(String, String)>,
    /// Renewed Admin certificates imported but not yet bound, by host.
    pub(crate) staged_certs: HashMap<String, StagedCert>,
    /// The workload identity issuer's certificate (it signs federated tokens).
    pub(crate) workload_issuer_der: Vec<u8>,
    /// How many exports carried a private key (`CERTIFICATE_WITH_PRIVATE_KEY`), so
    /// that tests can assert a workflow took no key it was not asked to.
    pub(crate) private_key_exports: u64,
    /// The tenant's default app-management policy: its key-lifetime restriction.
    pub(crate) default_key_policy: Option<KeyLifetimePolicy>,
    /// App-management policies assigned to applications (by object id).
    pub(crate) app_key_policies: Vec<(String, KeyLifetimePolicy)>,
    /// ISE's network-access policy.
    pub(crate) policy: crate::policy::PolicyModel,
    /// Intune's compliance settings and certificate profiles, Entra's sign-in log.
    pub(crate) evidence: crate::evidence::Evidence,
}

/// An app-management policy's restrictions on keys: `asymmetricKeyLifetime` (when
/// `max_days` is not 0) and `trustedCertificateAuthority` (when `trusted_ca`).
#[derive(Debug, Clone)]
pub(crate) struct KeyLifetimePolicy {
    /// The policy's id.
    pub(crate) id: String,
    /// The longest lifetime allowed, in days (`P{days}D`); 0 for no lifetime cap.
    pub(crate) max_days: u32,
    /// Only certificates issued by a CA the tenant trusts for applications (a
    /// `certificateBasedApplicationConfiguration`) are accepted.
    pub(crate) trusted_ca: bool,
}

/// A node of the ISE deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IseNode {
    pub(crate) hostname: String,
    pub(crate) fqdn: String,
    pub(crate) roles: Vec<&'static str>,
    pub(crate) services: Vec<&'static str>,
}

impl IseNode {
    /// Whether the node runs the policy service (queries Intune at authorization).
    pub(crate) fn is_policy_service(&self) -> bool {
        self.services.contains(&"Session")
    }
}

/// The nodes of a deployment of `count`: one standalone node, or a primary admin (and
/// monitoring) node, a secondary admin node that also serves policy, and policy
/// service nodes.
pub(crate) fn deployment(count: usize) -> Vec<IseNode> {
    let node = |hostname: String, roles: Vec<&'static str>, services: Vec<&'static str>| IseNode {
        fqdn: format!("{hostname}.sim.example"),
        hostname,
        roles,
        services,
    };
    if count <= 1 {
        return vec![node(
            "ise-pan".into(),
            vec!["Standalone"],
            vec!["Session", "Profiler", "DeviceAdmin"],
        )];
    }
    let mut nodes = vec![
        node(
            "ise-pan".into(),
            vec!["PrimaryAdmin", "PrimaryMonitoring"],
            vec![],
        ),
        node(
            "ise-san".into(),
            vec!["SecondaryAdmin", "SecondaryMonitoring"],
            vec!["Session", "Profiler"],
        ),
    ];
    for i in 1..count.saturating_sub(1) {
        let name = if i == 1 {
            "ise-psn".to_owned()
        } else {
            format!("ise-psn{i}")
        };
        nodes.push(node(name, vec![], vec!["Session", "Profiler"]));
    }
    nodes
}

/// A device as Intune knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    /// Intune's device id (ISE's `guid`).
    pub(crate) guid: String,
    /// Wi-Fi MAC, uppercase hex without separators.
    pub(crate) mac: String,
    /// Enrolled in Intune.
    pub(crate) registered: bool,
    /// Compliant with its policies, as Intune reports it.
    pub(crate) compliant: bool,
    /// When in each check-in cycle it checks in (since the simulator started).
    pub(crate) check_in_phase: Duration,
    /// A compliance state the device takes at its next check-in after the instant
    /// given (`PUT /devices/{guid}` with `at_check_in`).
    pub(crate) pending: Option<(bool, Instant)>,
    /// How many times `POST /devices/mutate` changed it (its Graph properties are
    /// derived from the seed and this), and when it last did (a check-in).
    pub(crate) revision: u32,
    /// The check-in that carried its last mutation.
    pub(crate) changed_at: Option<Instant>,
    /// It stopped checking in at this instant (a laptop in a drawer).
    pub(crate) silent_from: Option<Instant>,
}

/// An endpoint as ISE knows it (`/api/v1/endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IseEndpoint {
    /// ISE's id.
    pub(crate) id: String,
    /// Its custom attributes, by name.
    pub(crate) attributes: BTreeMap<String, String>,
}

/// How often a device checks in with Intune: about every 8 hours (Microsoft Learn,
/// "Intune device check-in": devices check in roughly every 8 hours once past their
/// first hours after enrollment).
pub(crate) const CHECK_IN_EVERY: Duration = Duration::from_secs(8 * 3600);

impl Device {
    /// Its first check-in at or after `after`, for a simulator started at `started`.
    pub(crate) fn next_check_in(&self, started: Instant, after: Instant) -> Instant {
        let first = started + self.check_in_phase;
        if after <= first {
            return first;
        }
        let cycles = (after - first).as_secs().div_ceil(CHECK_IN_EVERY.as_secs());
        let cycles = u32::try_from(cycles).unwrap_or(u32::MAX);
        first + CHECK_IN_EVERY.saturating_mul(cycles)
    }

    /// Applies a pending change whose check-in has come by `now`: compliance gained at
    /// once; compliance lost once the grace period after that check-in has passed
    /// (Intune's "Mark device noncompliant" action, scheduled some days after a
    /// failure; until then it reports the device compliant, "in grace period").
    pub(crate) fn settle(&mut self, started: Instant, now: Instant, grace: Duration) {
        let Some((want, since)) = self.pending else {
            return;
        };
        let check_in = self.next_check_in(started, since);
        let effective = if want { check_in } else { check_in + grace };
        if now >= effective {
            self.compliant = want && self.registered;
            self.pending = None;
        }
    }
}

/// `count` devices derived from the seed: about a quarter non-compliant, one in
/// twenty-five not registered (and so not compliant).
pub(crate) fn seed_devices(seed: u64, count: usize) -> Vec<Device> {
    let mut macs = HashSet::with_capacity(count);
    (0..count)
        .map(|i| {
            let n = i.to_string();
            let mut r = Rng::keyed(seed, &["device", &n]);
            let guid = r.uuid();
            let mut mac_bits = r.next_u64() & 0x00FF_FFFF;
            // Distinct Wi-Fi MACs however many devices (24 bits collide by the
            // thousands at 100,000); the first draw is kept when it is free.
            while !macs.insert(mac_bits) {
                mac_bits = Rng::keyed(seed, &["device-mac", &n, &mac_bits.to_string()]).next_u64()
                    & 0x00FF_FFFF;
            }
            let registered = !r.next_u64().is_multiple_of(25);
            let compliant = registered && !r.next_u64().is_multiple_of(4);
            let phase = Duration::from_secs(r.next_u64() % CHECK_IN_EVERY.as_secs());
            Device {
                guid,
                mac: format!("005056{mac_bits:06X}"),
                registered,
                compliant,
                check_in_phase: phase,
                pending: None,
                revision: 0,
                changed_at: None,
                silent_from: None,
            }
        })
        .collect()
}

/// The endpoints ISE has seen, as on a network the devices joined: about nine in ten
/// managed devices by their Wi-Fi MAC (deterministic from the seed), and three
/// printers carrying a custom attribute of the site's own (`AssetTag`).
pub(crate) fn seed_endpoints(
    seed: u64,
    devices: &[Device],
) -> (BTreeMap<String, IseEndpoint>, BTreeMap<String, String>) {
    let mut endpoints = BTreeMap::new();
    for d in devices {
        let mut r = Rng::keyed(seed, &["endpoint-seen", &d.guid]);
        if !r.next_u64().is_multiple_of(10) {
            endpoints.insert(
                colon_mac(&d.mac),
                IseEndpoint {
                    id: r.uuid(),
                    attributes: BTreeMap::new(),
                },
            );
        }
    }
    for i in 1..=3u8 {
        let mut r = Rng::keyed(seed, &["printer", &i.to_string()]);
        endpoints.insert(
            format!("00:00:AA:00:00:0{i}"),
            IseEndpoint {
                id: r.uuid(),
                attributes: BTreeMap::from([("AssetTag".to_owned(), format!("PRN-{i:04}"))]),
            },
        );
    }
    let definitions = BTreeMap::from([("AssetTag".to_owned(), "String".to_owned())]);
    (endpoints, definitions)
}

/// `005056ABCDEF` → `00:50:56:AB:CD:EF`.
pub(crate) fn colon_mac(bare: &str) -> String {
    bare.as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

impl World {
    /// Moves service principal `sp` to the deleted items at `deleted`, with every app
    /// role assignment it holds or is the resource of.
    pub(crate) fn remove_sp(&mut self, sp: &Sp, deleted: &str) {
        self.sps.retain(|s| s.id != sp.id);
        self.assignments
            .retain(|a| a.principal_id != sp.id && a.resource_id != sp.id);
        self.deleted.push(DeletedItem {
            kind: "servicePrincipal",
            id: sp.id.clone(),
            app_id: sp.app_id.clone(),
            display_name: sp.display_name.clone(),
            deleted: deleted.to_owned(),
        });
    }

    /// A generator for an object's id, keyed by what the object is (its kind and
    /// identifying content) rather than by when it was made, so concurrent requests
    /// give every object the same id whatever their order.
    pub(crate) fn id_rng(&mut self, kind: &str, content: &str) -> Rng {
        let key = format!("{kind}\u{0}{content}");
        let n = self.id_counts.entry(key).or_insert(0);
        *n += 1;
        Rng::keyed(self.seed, &[kind, content, &n.to_string()])
    }

    pub(crate) fn now_iso(&self) -> String {
        iso(self.now_utc())
    }

    /// The simulated clock's instant: this machine's plus the offset. Everything that
    /// happens with time (tokens expiring, replication, throttle windows, check-ins)
    /// reads it, so advancing the clock moves all of them.
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// The simulated clock's date and time.
    pub(crate) fn now_utc(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + self.clock_offset
    }

    /// The simulated clock in seconds since the Unix epoch.
    pub(crate) fn now_unix(&self) -> u64 {
        u64::try_from(self.now_utc().unix_timestamp()).unwrap_or(0)
    }

    pub(crate) fn visible_app_by_app_id(&self, app_id: &str) -> Option<&App> {
        let now = self.now();
        self.apps
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id) && a.visible_at <= now)
    }

    pub(crate) fn visible_sp_by_app_id(&self, app_id: &str) -> Option<&Sp> {
        let now = self.now();
        self.sps
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id) && s.visible_at <= now)
    }

    pub(crate) fn visible_sp(&self, id: &str) -> Option<&Sp> {
        let now = self.now();
        self.sps
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id) && s.visible_at <= now)
    }

    /// Roles the application's service principal holds on the resource with `resource_app_id`.
    /// What an administrator's click on "Grant admin consent" does for the application
    /// with client id `client_id`: every application role its `requiredResourceAccess`
    /// requests is assigned to its service principal (those already assigned are
    /// kept). Returns how many were new.
    pub(crate) fn admin_consent(&mut self, client_id: &str) -> Result<usize, String> {
        let Some(app) = self.apps.iter().find(|a| a.app_id == client_id).cloned() else {
            return Err(format!("no application with client id `{client_id}`"));
        };
        let Some(principal) = self.sps.iter().find(|s| s.app_id == app.app_id).cloned() else {
            return Err(format!(
                "the application `{}` has no service principal in the tenant",
                app.display_name
            ));
        };
        let mut wanted = Vec::new();
        for resource in app
            .required_resource_access
            .as_array()
            .into_iter()
            .flatten()
        {
            let resource_app = resource["resourceAppId"].as_str().unwrap_or_default();
            let Some(sp) = self.sps.iter().find(|s| s.app_id == resource_app) else {
                continue;
            };
            for access in resource["resourceAccess"].as_array().into_iter().flatten() {
                let id = access["id"].as_str().unwrap_or_default();
                if access["type"] == "Role" && sp.app_roles.iter().any(|r| r.id == id) {
                    wanted.push((sp.id.clone(), id.to_owned()));
                }
            }
        }
        let mut granted = 0;
        for (resource_id, role) in wanted {
            if self.assignments.iter().any(|a| {
                a.principal_id == principal.id
                    && a.resource_id == resource_id
                    && a.app_role_id == role
            }) {
                continue;
            }
            let id = self
                .id_rng(
                    "appRoleAssignment",
                    &format!("{}/{resource_id}/{role}", principal.id),
                )
                .token(43);
            let created = self.now_iso();
            self.assignments.push(Assignment {
                id,
                principal_id: principal.id.clone(),
                resource_id,
                app_role_id: role,
                created,
                visible_at: self.now() + self.replication_lag,
            });
            granted += 1;
        }
        Ok(granted)
    }

    pub(crate) fn roles_of(&self, app_id: &str, resource_app_id: &str) -> Vec<String> {
        let (Some(sp), Some(resource)) = (
            self.sps.iter().find(|s| s.app_id == app_id),
            self.sps.iter().find(|s| s.app_id == resource_app_id),
        ) else {
            return Vec::new();
        };
        // A new role reaches tokens once it has propagated (as it becomes visible).
        let now = self.now();
        self.assignments
            .iter()
            .filter(|a| a.principal_id == sp.id && a.resource_id == resource.id)
            .filter(|a| a.visible_at <= now)
            .filter_map(|a| {
                resource
                    .app_roles
                    .iter()
                    .find(|r| r.id == a.app_role_id)
                    .map(|r| r.value.to_owned())
            })
            .collect()
    }

    pub(crate) fn counts(&self, service: &str) -> Counts {
        let mut c = Counts::default();
        for r in self.log.iter().filter(|r| r.service == service) {
            if r.method == "GET" || r.method == "HEAD" {
                c.reads += 1;
            } else {
                c.writes += 1;
            }
        }
        c
    }

    /// A JSON snapshot of everything (secrets and private keys left out).
    /// Changes a device in Intune (an unregistered device is never compliant); the
    /// device as the snapshot shows it, or `None` for an unknown GUID.
    pub(crate) fn set_device(
        &mut self,
        guid: &str,
        compliant: Option<bool>,
        registered: Option<bool>,
        at_check_in: bool,
    ) -> Option<Value> {
        let now = self.now();
        let d = self
            .devices
            .iter_mut()
            .find(|d| d.guid.eq_ignore_ascii_case(guid))?;
        if let Some(r) = registered {
            d.registered = r;
        }
        match (compliant, at_check_in) {
            (Some(c), true) => d.pending = Some((c, now)),
            (Some(c), false) => {
                d.compliant = c;
                d.pending = None;
            }
            (None, _) => {}
        }
        d.compliant &= d.registered;
        Some(device_json(d, self.started))
    }

    /// Every device's pending change whose check-in (and grace period) has come.
    /// `count` distinct devices, chosen from `seed`, change in Intune and check in now
    /// (`POST /devices/mutate`): each flips its encryption and moves its operating
    /// system's version. Their GUIDs.
    pub(crate) fn mutate_devices(&mut self, count: u64, seed: u64) -> Vec<String> {
        self.settle_devices();
        let now = self.now();
        let n = self.devices.len();
        let count = usize::try_from(count).unwrap_or(usize::MAX).min(n);
        // A seeded partial shuffle: `count` distinct devices.
        let mut order: Vec<usize> = (0..n).collect();
        let mut r = Rng::keyed(seed, &["mutate"]);
        let mut changed = Vec::with_capacity(count);
        for i in 0..count {
            let left = u64::try_from(n - i).unwrap_or(1);
            let j = i + usize::try_from(r.next_u64() % left).unwrap_or(0);
            order.swap(i, j);
            let d = &mut self.devices[order[i]];
            d.revision = d.revision.saturating_add(1);
            d.changed_at = Some(now);
            changed.push(d.guid.clone());
        }
        changed
    }

    pub(crate) fn settle_devices(&mut self) {
        let (started, now, grace) = (self.started, self.now(), self.compliance_grace);
        for d in &mut self.devices {
            d.settle(started, now, grace);
        }
    }

    pub(crate) fn snapshot(&self) -> Value {
        json!({
            "tenant_id": self.tenant_id,
            "applications": self.apps.iter().map(|a| json!({
                "id": a.id, "appId": a.app_id, "displayName": a.display_name,
                "uniqueName": a.unique_name, "tags": a.tags, "notes": a.notes,
                "keyCredentials": a.key_credentials.iter().map(|k| json!({
                    "keyId": k.key_id, "displayName": k.display_name,
                    "thumbprint": crate::pki::hex(&crate::pki::sha1(&k.key_der)),
                })).collect::<Vec<_>>(),
                "requiredResourceAccess": a.required_resource_access,
            })).collect::<Vec<_>>(),
            "servicePrincipals": self.sps.iter().map(|s| json!({
                "id": s.id, "appId": s.app_id, "displayName": s.display_name,
            })).collect::<Vec<_>>(),
            "appRoleAssignments": self.assignments.iter().map(|a| json!({
                "id": a.id, "principalId": a.principal_id, "resourceId": a.resource_id,
                "appRoleId": a.app_role_id,
            })).collect::<Vec<_>>(),
            "deletedItems": self.deleted.iter().map(|d| json!({
                "kind": d.kind, "id": d.id, "appId": d.app_id, "displayName": d.display_name,
                "deletedDateTime": d.deleted,
            })).collect::<Vec<_>>(),
            "ise": {
                "version": self.ise_version, "patch": self.ise_patch,
                "hostname": self.ise_hostname,
                "nodes": self.nodes.iter().map(|n| json!({
                    "hostname": n.hostname, "roles": n.roles, "services": n.services,
                })).collect::<Vec<_>>(),
                "systemCertificates": self.system_certs.iter().map(|c| json!({
                    "host": c.host, "id": c.id, "friendlyName": c.friendly_name, "usedBy": c.used_by,
                    "sha1": crate::pki::hex(&crate::pki::sha1(&c.issued.cert_der)),
                    "sha256": crate::pki::hex(&crate::pki::sha256(&c.issued.cert_der)),
                })).collect::<Vec<_>>(),
                "endpoints": self.endpoints.iter().map(|(mac, e)| json!({
                    "mac": mac, "id": e.id, "customAttributes": e.attributes,
                })).collect::<Vec<_>>(),
                "endpointCustomAttributes": self.policy.endpoint_attributes,
                "coa": self.coa.iter().map(|(node, mac)| json!({"node": node, "mac": mac})).collect::<Vec<_>>(),
                "trustedCertificates": self.trusted.iter().map(|t| json!({
                    "id": t.id, "friendlyName": t.friendly_name, "subject": t.subject,
                    "sha256": crate::pki::hex(&crate::pki::sha256(&t.der)),
                    "trustForIseAuth": t.trust_ise_auth,
                    "trustForCiscoServicesAuth": t.trust_cisco_services,
                    "enabled": t.enabled, "description": t.description,
                })).collect::<Vec<_>>(),
                "policySets": self.policy.snapshot(),
                "authorizationProfiles": self.policy.profiles.iter()
                    .map(|(_, name)| name.clone()).collect::<Vec<_>>(),
                "mdmServers": self.mdm_servers.values().collect::<Vec<_>>(),
                "private_key_exports": self.private_key_exports,
            },
            "intune": {
                "devices": self.devices.iter().map(|d| json!({
                    "guid": d.guid, "mac": d.mac, "registered": d.registered,
                    "compliant": d.compliant,
                    "pending_compliant": d.pending.map(|(c, _)| c),
                })).collect::<Vec<_>>(),
                "unfiltered_queries": self.unfiltered_queries,
                "throttled": self.throttled,
                "settings": {
                    "secureByDefault": self.evidence.secure_by_default,
                    "deviceComplianceCheckinThresholdDays": self.evidence.checkin_threshold_days,
                },
                "certificateProfiles": self.evidence.profiles,
            },

            "clock": {"now": self.now_iso(), "offset_secs": self.clock_offset.as_secs()},
        })
    }
}

/// A device as the control API shows it, with its next check-in when a change waits.
pub(crate) fn device_json(d: &Device, started: Instant) -> Value {
    json!({"guid": d.guid, "mac": d.mac, "registered": d.registered, "compliant": d.compliant,
    "pending_compliant": d.pending.map(|(c, _)| c),
    "next_check_in_secs": d.pending.map(|(_, since)| {
        d.next_check_in(started, since).saturating_duration_since(started).as_secs()
    })})
}

/// ISO 8601 with seconds, UTC.
pub(crate) fn iso(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// ISE's date format: `Wed Jul 23 13:42:05 UTC 2025`.
pub(crate) fn ise_date(t: time::OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[t.weekday().number_days_from_monday() as usize],
        MONTHS[t.month() as usize - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// The admin groups an ISE account used by the API can be in, as far as the API
/// tells them apart.
///
/// Evidence: Cisco's ERS "Setting up" page (developer.cisco.com, identity-services-engine
/// 3.0 and latest): "the users must be assigned to one of the following Admin Groups …
/// External RESTful Services Admin: Full access to all ERS APIs (GET, POST, DELETE,
/// PUT) … External RESTful Services Operator: Read Only access (GET request only). If
/// you do not have the required permissions … an error response is received"; Super
/// Admin reaches every API service. An account in none of them is answered as one with
/// a wrong password (401 and the same challenge: ISE's Basic authentication for the API
/// only admits the API groups); an ERS Operator's write is refused with 403 in the
/// answering family's error shape (ERS: `ERSResponse`; Open API: the `Error` schema of
/// cisco-ise-open-api-certificates.yaml, `{message, status}`). The exact message texts
/// were not captured from a real ISE; the statuses and shapes are what the library
/// relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IseRole {
    /// Super Admin: every API, every method (the default, like ISE's `admin`).
    #[default]
    SuperAdmin,
    /// ERS Admin: every API, every method.
    ErsAdmin,
    /// ERS Operator: GET only; every write answers 403.
    ErsOperator,
    /// An admin group the API does not admit (e.g. Network Device Admin): 401.
    NoApiAccess,
}

impl IseRole {
    /// Its name on the command line: `super-admin`, `ers-admin`, `ers-operator`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super-admin",
            Self::ErsAdmin => "ers-admin",
            Self::ErsOperator => "ers-operator",
            Self::NoApiAccess => "none",
        }
    }
}

impl std::str::FromStr for IseRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::SuperAdmin,
            Self::ErsAdmin,
            Self::ErsOperator,
            Self::NoApiAccess,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("unknown ISE role `{s}` (known: super-admin, ers-admin, ers-operator, none)")
        })
    }
}
