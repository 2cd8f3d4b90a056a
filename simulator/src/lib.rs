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
mod builder;
mod cloud;
mod control;
mod control_client;
mod der;
mod evidence;
mod graph;
mod gui;
mod info;
mod intune;
mod ise;
mod jwt;
mod keywrap;
pub mod launcher;
mod login;
mod pki;
mod policy;
mod rng;
mod seed;
mod server;
mod simulator;
mod startup;
mod state;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use builder::*;
pub use control_client::ControlClient;
pub use evidence::{
    CLIENT_AUTHENTICATION_OID, CertificateProfile, GUID_SAN_URI, SID_SAN_URI, SanEntry,
};
pub use info::*;
pub use policy::PolicyWrite;
use seed::*;
pub use seed::{WORKLOAD_AUDIENCE, WORKLOAD_ISSUER, WORKLOAD_SUBJECT};
pub use server::{Faults, parse_fault_spec};
use startup::*;
pub use state::IseRole;
pub use state::{
    Counts, GRAPH_APP_ID, INTUNE_API_APP_ID, INTUNE_DISCOVERY_APP_ID, LoggedRequest, MdmServer,
    ROLE_APP_ROLE_ASSIGNMENT_READWRITE_ALL, ROLE_APPLICATION_READ_ALL,
    ROLE_APPLICATION_READWRITE_ALL, ROLE_APPLICATION_READWRITE_OWNEDBY, ROLE_AUDIT_LOG_READ_ALL,
    ROLE_DEVICE_CONFIGURATION_READ_ALL, ROLE_GET_DEVICE_COMPLIANCE, ROLE_MANAGED_DEVICES_READ_ALL,
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
    /// An endpoint bulk job is running (ISE runs one at a time).
    pub(crate) bulk_running: std::sync::atomic::AtomicBool,
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
    /// The state shared by the services of a simulator `b` describes, starting at
    /// `world`.
    pub(crate) fn new(b: &SimulatorBuilder, world: World, urls: Urls) -> Self {
        Self {
            world: Mutex::new(world),
            faults: Mutex::new(b.initial_faults()),
            fault_seed: b.fault_seed.unwrap_or(b.seed),
            fault_counts: Mutex::new(HashMap::new()),
            urls,
            ise_username: b.ise_username.clone(),
            ise_password: b.ise_password.clone(),
            cloud: cloud::named(&b.cloud).unwrap_or(&cloud::CLOUDS[0]),
            clock_file: Mutex::new(None),
            bulk_running: std::sync::atomic::AtomicBool::new(false),
        }
    }

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
/// `now` (Unix seconds, the simulated clock's; negative: already expired).
fn federated_token(
    issuer_key: &[u8],
    subject: &str,
    audience: &str,
    valid_secs: i64,
    now: i64,
) -> Result<String, SimError> {
    let exp = now.saturating_add(valid_secs);
    let claims = serde_json::json!({
        "iss": WORKLOAD_ISSUER, "sub": subject, "aud": audience,
        "iat": now.min(exp - 1), "nbf": now.min(exp - 1), "exp": exp,
    });
    jwt::sign_rs256(issuer_key, "sim-workload-issuer", &claims)
        .ok_or_else(|| SimError::Config("signing a federated token failed".into()))
}

/// Replaces the clock file with `offset` in whole seconds, atomically (a reader sees
/// the old or the new number, never half of one).
fn publish_clock(path: &std::path::Path, offset: Duration) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{}\n", offset.as_secs()))?;
    std::fs::rename(&tmp, path)
}

/// Writes `text` to a new file at `path` readable by its owner only (0600 on Unix).
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

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
