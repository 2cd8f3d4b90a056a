//! Simulator-backed wiring for the tests and examples of `ise-intune`: the only crate
//! that depends on both the library and the simulator, so that no library crate knows a
//! simulator URL.
//!
//! * [`clients`] — ISE and Graph clients for a running simulator (ISE pinned to its
//!   admin certificate, the Microsoft services trusted through the simulator's root);
//! * [`anchors`] — the built-in trust anchors plus the simulator's public root;
//! * [`SimGuiConfigurator`] — an [`MdmServerConfigurator`] that plays the operator on
//!   the simulator's stand-in for ISE's admin GUI;
//! * [`integration`] — all of it as an [`Integration`], the context every workflow runs in.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use intune_integration::onboard;
//! use ise_intune_simulator::Simulator;
//! use ise_intune_testkit::{Configurator, integration};
//!
//! let sim = Simulator::builder().start().await?;
//! let integration = integration(sim.info(), Configurator::Gui, true, Default::default())?;
//! assert!(onboard::apply(&integration).await?.complete);
//! # Ok(()) }
//! ```
//!
//! Modules: [`attributes`] (the attribute bridge's simulator, settings and endpoints),
//! [`chaos`] (onboarding under seeded faults, checked against the simulator's
//! state) and [`logging`] (the `tracing` subscriber of the examples and the command).

use std::sync::Arc;

pub mod attributes;
pub mod chaos;
pub use intune_integration::logging;

use graph_client::{Credentials, GraphClient, TlsRoots};
use intune_integration::Error;
use intune_integration::anchors::{TrustAnchor, TrustAnchorSet};
use intune_integration::certs::Certificate;
use intune_integration::mdm::{ManualChecklist, MdmServerConfigurator, MdmServerSettings};
use intune_integration::offboard::{AuthorizationPreview, Authorized, Hypothesis, SampleDevice};
use intune_integration::outcome::{Outcome, Step};
use intune_integration::{Integration, context::Options};
use ise_client::{IseClient, Method, TlsPolicy};
use ise_intune_http::{HttpSettings, InFlightLimit};
use ise_intune_simulator::{GUI_BASE_PATH, SimInfo};
use serde::Deserialize;
use serde_json::json;

/// Graph as policy service node `host` signs in to it: with its Admin certificate's
/// key exported from ISE, for the onboarded application named `app` — what ISE does
/// for every compliance query.
pub async fn as_node_graph(info: &SimInfo, app: &str, host: &str) -> Result<GraphClient, Error> {
    use intune_integration::keys::{AdminKey, admin_certificates, node_client_certificate};
    let (ise, graph) = clients(info)?;
    let found = intune_integration::steps::find_app(&graph, &app.into()).await?;
    let client_id = intune_integration::steps::app_details(&graph, &found).client_id;
    let admins = admin_certificates(&ise).await?;
    let admin = admins
        .iter()
        .find(|a| a.node.hostname == host)
        .ok_or_else(|| Error::Config {
            what: format!("no node {host} in the simulator"),
        })?;
    let cert =
        node_client_certificate(&ise, &client_id, &AdminKey::ExportFromIse, Some(admin)).await?;
    Ok(graph.with_credentials(Credentials::Certificate(cert)))
}

/// Which configurator plays ISE's GUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configurator {
    /// Drives the simulator's GUI surface ([`SimGuiConfigurator`]).
    Gui,
    /// Prints the checklist and waits for a person ([`ManualChecklist`]).
    Manual,
}

/// The anchors for a simulator run: the built-in ones, plus (with `with_sim_root`) the
/// simulator's public root, which stands in for Microsoft's roots there.
pub fn anchors(info: &SimInfo, with_sim_root: bool) -> TrustAnchorSet {
    let mut set = TrustAnchorSet::builtin();
    if with_sim_root
        && let Ok(root) = Certificate::from_pem(&info.ca_pem)
        && let Ok(anchor) = TrustAnchor::new(
            "Simulated Public Root G2",
            "The simulator's public root: stands in for DigiCert Global Root G2 there",
            root,
        )
    {
        set.add(anchor);
    }
    set
}

/// The anchor for the root the simulated Microsoft hosts move to
/// (`Simulator::move_microsoft_chains`): stands in for a new Microsoft root that a newer
/// anchor set ships.
pub fn next_root_anchor(info: &SimInfo) -> Result<TrustAnchor, Error> {
    TrustAnchor::new(
        "Simulated Public Root G5",
        "The root the simulated Microsoft hosts move to",
        Certificate::from_pem(&info.next_ca_pem)?,
    )
    .map_err(Error::from)
}

/// The configuration file an operator writes for this simulator (TOML, no secret:
/// `ISE_INTUNE_ISE_PASSWORD` and `ISE_INTUNE_CLIENT_SECRET` come from the environment):
/// ISE pinned to its admin certificate, Entra ID and Graph at the simulator's URLs
/// trusted through its root, which is also an extra trust anchor. `top` is placed
/// before the first table (top-level keys such as `mdm_confirmed`).
pub fn config_toml(info: &SimInfo, top: &str) -> String {
    format!(
        "{top}\n[ise]\nurl = {:?}\nusername = {:?}\ntls_pin_sha256 = {:?}\n\
         [entra]\ntenant_id = {:?}\nclient_id = {:?}\nlogin_url = {:?}\n\
         graph_url = {:?}\nextra_ca_file = {:?}\n\
         [anchors]\nextra_files = [{:?}]\n",
        info.ise.url,
        info.ise.username,
        info.ise.admin_cert_sha256,
        info.tenant_id,
        info.automation.client_id,
        info.login_url,
        info.graph_url,
        info.ca_pem_path,
        info.ca_pem_path,
    )
}

/// The example program `name` of the test binary calling this, built by `cargo test`
/// next to it (`target/<profile>/examples/`).
///
/// # Panics
/// When it was not built (a test-only helper: the message says which).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join(name))
        .unwrap_or_default();
    assert!(
        path.exists(),
        "{} not built (cargo test builds the examples)",
        path.display()
    );
    path
}

/// ISE and Graph clients for the simulator: ISE pinned to its admin certificate, the
/// Microsoft services trusted through the simulator's root only.
pub fn clients(info: &SimInfo) -> Result<(IseClient, GraphClient), Error> {
    clients_with(info, Tuning::default())
}

/// How the clients of [`clients_with`] and [`integration_with`] send: HTTP settings
/// (timeouts, retries, caps) and a cap on requests in flight, both shared by the two
/// clients. `Tuning::default()` leaves the builders' defaults.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Settings for both clients.
    pub settings: Option<HttpSettings>,
    /// One cap shared by both clients (e.g. one request at a time).
    pub in_flight: Option<InFlightLimit>,
}

impl From<HttpSettings> for Tuning {
    fn from(settings: HttpSettings) -> Self {
        Self {
            settings: Some(settings),
            in_flight: None,
        }
    }
}

/// [`clients`] tuned for both.
pub fn clients_with(
    info: &SimInfo,
    tuning: impl Into<Tuning>,
) -> Result<(IseClient, GraphClient), Error> {
    let Tuning {
        settings,
        in_flight,
    } = tuning.into();
    let mut ise = IseClient::builder()
        .base_url(info.ise.url.clone())
        .credentials(info.ise.username.clone(), info.ise.password.clone().into())
        .tls(TlsPolicy::PinnedSha256(info.ise.admin_cert_sha256.clone()));
    if let Some(s) = settings {
        ise = ise.http_settings(s);
    }
    if let Some(limit) = &in_flight {
        ise = ise.in_flight_limit(limit.clone());
    }
    let ise = ise.build()?;
    // Like an operating system's store, the clients trust both of the simulator's
    // public roots, so Microsoft's hosts stay reachable after they move chains.
    let mut roots = vec![Certificate::from_pem(&info.ca_pem)?.der().to_vec()];
    if !info.next_ca_pem.is_empty() {
        roots.push(Certificate::from_pem(&info.next_ca_pem)?.der().to_vec());
    }
    // The simulator stands for a cloud: tokens are asked for that cloud's names.
    let cloud: graph_client::Cloud = info.cloud.parse().map_err(|what| Error::Config { what })?;
    let mut graph = GraphClient::builder()
        .cloud(cloud)
        .login_authority(info.login_url.clone())
        .graph_base(info.graph_url.clone())
        .tenant_id(info.tenant_id.clone())
        .credentials(Credentials::client_secret(
            info.automation.client_id.clone(),
            info.automation.client_secret.clone(),
        ))
        .tls_roots(TlsRoots::Only(roots));
    if let Some(s) = settings {
        graph = graph.http_settings(s);
    }
    if let Some(limit) = in_flight {
        graph = graph.in_flight_limit(limit);
    }
    let graph = graph.build()?;
    Ok((ise, graph))
}

/// The clock of a simulator running in another process, read from the file it
/// publishes beside its info file ([`ise_intune_simulator::clock_file_of`]): the
/// machine's time plus the simulator's offset, so that a client follows the simulated
/// clock as it is moved (`POST {control_url}/clock`). A file that cannot be read counts
/// as no offset.
#[derive(Debug, Clone)]
pub struct SimulatorClock {
    file: std::path::PathBuf,
}

impl SimulatorClock {
    /// The clock of the simulator that wrote `info_file`.
    pub fn of_info_file(info_file: &std::path::Path) -> Self {
        Self {
            file: ise_intune_simulator::clock_file_of(info_file),
        }
    }

    /// How far ahead the simulated clock is.
    pub fn ahead(&self) -> std::time::Duration {
        use std::io::Read as _;
        let mut text = String::new();
        let read = std::fs::File::open(&self.file)
            .and_then(|f| f.take(32).read_to_string(&mut text))
            .is_ok();
        let secs = if read {
            text.trim().parse::<u64>().unwrap_or(0)
        } else {
            0
        };
        std::time::Duration::from_secs(secs)
    }
}

impl ise_intune_http::clock::Clock for SimulatorClock {
    fn now(&self) -> std::time::SystemTime {
        let now = std::time::SystemTime::now();
        now.checked_add(self.ahead()).unwrap_or(now)
    }
}

/// A pipeline against the simulator.
pub fn integration(
    info: &SimInfo,
    configurator: Configurator,
    with_sim_root: bool,
    options: Options,
) -> Result<Integration, Error> {
    integration_with(
        info,
        configurator,
        with_sim_root,
        options,
        Tuning::default(),
    )
}

/// [`integration`] with both clients tuned.
pub fn integration_with(
    info: &SimInfo,
    configurator: Configurator,
    with_sim_root: bool,
    options: Options,
    tuning: impl Into<Tuning>,
) -> Result<Integration, Error> {
    let (ise, graph) = clients_with(info, tuning)?;
    let mut options = options;
    // Where each simulated node presents its Admin certificate (its own loopback port),
    // unless the caller said otherwise.
    for node in &info.ise.nodes {
        if let Ok(url) = url::Url::parse(&node.url) {
            options
                .node_urls
                .entry(node.hostname.clone())
                .or_insert(url);
        }
    }
    let configurator: Arc<dyn MdmServerConfigurator> = match configurator {
        Configurator::Gui => Arc::new(SimGuiConfigurator::new(ise.clone())),
        Configurator::Manual => Arc::new(ManualChecklist::new(ise.clone())),
    };
    Ok(Integration::builder(ise, graph)
        .anchors(anchors(info, with_sim_root))
        .configurator(configurator)
        .options(options)
        .build())
}

/// Plays the operator on the simulator's stand-in for ISE's admin GUI
/// ([`GUI_BASE_PATH`]), through the ISE client's TLS and credentials.
#[derive(Debug, Clone)]
pub struct SimGuiConfigurator {
    ise: IseClient,
}

impl SimGuiConfigurator {
    /// A configurator for the simulated GUI of this ISE.
    pub fn new(ise: IseClient) -> Self {
        Self { ise }
    }

    fn path(name: &str, action: &str) -> Result<String, Error> {
        if name.is_empty() || name.contains(['/', '?', '#', '\'', '"']) {
            return Err(Error::MdmConfiguration {
                message: format!("`{name}` is not a valid External MDM server name"),
            });
        }
        Ok(format!("{GUI_BASE_PATH}/{name}{action}"))
    }

    /// Like an operator, tries a Test Connection again while it fails only because a
    /// new key or role has not propagated yet (bounded).
    async fn patiently<T, F, Fut>(&self, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let started = std::time::Instant::now();
        loop {
            match attempt().await {
                Err(Error::MdmConfiguration { message })
                    if not_yet_propagated(&message) && started.elapsed() < PROPAGATION_PATIENCE =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn action(&self, name: &str, action: &str) -> Result<(), Error> {
        self.patiently(|| self.action_once(name, action)).await
    }

    async fn action_once(&self, name: &str, action: &str) -> Result<(), Error> {
        let path = Self::path(name, action)?;
        let answer = self
            .ise
            .request(Method::POST, &path, Some(json!({})))
            .await
            .map_err(gui_error)?;
        if answer.get("success").and_then(serde_json::Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(Error::MdmConfiguration {
                message: answer
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            })
        }
    }

    /// The entry as the GUI holds it, if any.
    async fn current(&self, name: &str) -> Result<Option<GuiEntry>, Error> {
        let path = Self::path(name, "")?;
        match self.ise.request(Method::GET, &path, None).await {
            Ok(v) => Ok(Some(serde_json::from_value::<GuiEntry>(v).map_err(
                |e| Error::MdmConfiguration {
                    message: format!("unreadable External MDM entry: {e}"),
                },
            )?)),
            Err(ise_client::Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(gui_error(e)),
        }
    }
}

/// How long the simulated operator keeps trying while keys and roles propagate.
const PROPAGATION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a Test Connection failed only because a new key or role is not usable yet.
fn not_yet_propagated(message: &str) -> bool {
    message.contains("AADSTS700027")
        || message.contains("(403)")
        || message.contains("answered 403")
}

/// The GUI answers refusals with `{"success":false,"message":...}` and an error status.
fn gui_error(e: ise_client::Error) -> Error {
    match e {
        ise_client::Error::Api { ref body, .. } if !body.message.is_empty() => {
            Error::MdmConfiguration {
                message: body.message.clone(),
            }
        }
        other => Error::Ise(other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GuiEntry {
    #[serde(flatten)]
    settings: MdmServerSettings,
    status: String,
}

/// What `apply` does given the entry found: create, leave, or edit it. Only the form's
/// fields count: the GUI does not show which certificate ISE signs with.
fn decide(current: Option<&GuiEntry>, settings: &MdmServerSettings) -> Outcome {
    let mut form = settings.clone();
    form.ise_certificates.clear();
    match current {
        None => Outcome::Created,
        Some(c) if c.settings == form && c.status == "Enabled" => Outcome::Unchanged,
        Some(_) => Outcome::Updated,
    }
}

impl SimGuiConfigurator {
    /// Adds or edits the entry given how the GUI shows it now (`current`, read again
    /// when `None`).
    async fn apply_once(
        &self,
        settings: &MdmServerSettings,
        current: Option<Option<GuiEntry>>,
    ) -> Result<(), Error> {
        let current = match current {
            Some(c) => c,
            None => self.current(&settings.name).await?,
        };
        let mut body = serde_json::to_value(settings).map_err(|e| Error::MdmConfiguration {
            message: e.to_string(),
        })?;
        body["status"] = json!("Enabled");
        match decide(current.as_ref(), settings) {
            Outcome::Created => {
                self.ise
                    .request(Method::POST, GUI_BASE_PATH, Some(body))
                    .await
                    .map_err(gui_error)?;
            }
            Outcome::Updated => {
                let path = Self::path(&settings.name, "")?;
                self.ise
                    .request(Method::PUT, &path, Some(body))
                    .await
                    .map_err(gui_error)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MdmServerConfigurator for SimGuiConfigurator {
    async fn inspect(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        let current = self.current(&settings.name).await?;
        Ok(Step::new(decide(current.as_ref(), settings), ()))
    }

    async fn apply(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        let current = self.current(&settings.name).await?;
        let first = decide(current.as_ref(), settings);
        // The first try uses what was just read; each later try looks again: a failed
        // Test Connection may have left the entry saved (disabled), so a second try
        // edits it instead of adding it twice.
        let mut known = Some(current);
        self.patiently(|| self.apply_once(settings, known.take()))
            .await?;
        Ok(Step::new(first, ()))
    }

    /// Acts on what the GUI showed moments ago in this run: nothing when the entry
    /// matched, adding it when there was none (a conflict reads again); an edit reads
    /// the entry first.
    async fn apply_inspected(
        &self,
        settings: &MdmServerSettings,
        inspected: &Step<()>,
    ) -> Result<Step<()>, Error> {
        match inspected.outcome {
            Outcome::Unchanged => Ok(Step::unchanged(())),
            Outcome::Created => {
                let mut known = Some(None);
                self.patiently(|| self.apply_once(settings, known.take()))
                    .await?;
                Ok(Step::new(Outcome::Created, ()))
            }
            _ => self.apply(settings).await,
        }
    }

    async fn cycle(&self, name: &str) -> Result<Step<()>, Error> {
        self.action(name, "/disable").await?;
        self.action(name, "/test").await?;
        self.action(name, "/enable").await?;
        Ok(Step::new(Outcome::Updated, ()))
    }

    async fn inspect_removal(&self, name: &str) -> Result<Step<()>, Error> {
        Ok(match self.current(name).await? {
            Some(_) => Step::new(Outcome::Removed, ()),
            None => Step::unchanged(()),
        })
    }

    /// As an operator does: Status to Disabled and Save, then Delete.
    async fn remove(&self, name: &str) -> Result<Step<()>, Error> {
        let Some(entry) = self.current(name).await? else {
            return Ok(Step::unchanged(()));
        };
        if entry.status == "Enabled" {
            self.action(name, "/disable").await?;
        }
        let path = Self::path(name, "")?;
        match self.ise.request(Method::DELETE, &path, None).await {
            Ok(_) => Ok(Step::new(Outcome::Removed, ())),
            // Gone since it was read (a retry after a lost answer): done.
            Err(e) if e.status() == Some(404) => Ok(Step::unchanged(())),
            Err(e) => Err(gui_error(e)),
        }
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Revokes the Intune API roles granted to the application with service principal
/// `principal_id` — what an administrator's "Revoke admin consent" does to the
/// integration. Returns how many were revoked.
pub async fn revoke_intune_consent(
    graph: &GraphClient,
    principal_id: &str,
) -> Result<usize, Error> {
    let Some(intune) = graph
        .service_principals()
        .by_app_id(graph_client::well_known::INTUNE_API_APP_ID)
        .await?
    else {
        return Ok(0);
    };
    let held = graph
        .service_principal(principal_id.to_owned())
        .app_role_assignments()?
        .all()
        .await?;
    let mut revoked = 0;
    for a in held.iter().filter(|a| a.resource_id == intune.id) {
        graph
            .service_principal(intune.id.clone())
            .revoke_app_role_assignment(&a.id)
            .await?;
        revoked += 1;
    }
    Ok(revoked)
}

/// Offboarding's [`AuthorizationPreview`] on the simulator: its control API's
/// `POST /authorize` for a compliant and a non-compliant device of its Intune (the
/// first of each in its snapshot) and a MAC address Intune does not know.
#[derive(Debug)]
pub struct SimAuthorizationPreview {
    control: ise_intune_simulator::ControlClient,
    macs: tokio::sync::OnceCell<[String; 3]>,
}

impl SimAuthorizationPreview {
    /// A preview on the simulator `info` describes.
    pub fn new(info: &SimInfo) -> Result<Self, Error> {
        Ok(Self {
            control: ise_intune_simulator::ControlClient::new(info).map_err(sim_error)?,
            macs: tokio::sync::OnceCell::new(),
        })
    }

    /// The sample devices' MAC addresses, from the snapshot read once.
    async fn macs(&self) -> Result<&[String; 3], Error> {
        self.macs
            .get_or_try_init(|| async {
                let snapshot = self.control.snapshot().await.map_err(sim_error)?;
                let devices = snapshot["intune"]["devices"].as_array().cloned();
                let devices = devices.unwrap_or_default();
                let first = |compliant: bool| {
                    devices
                        .iter()
                        .find(|d| d["registered"] == true && d["compliant"] == compliant)
                        .and_then(|d| d["mac"].as_str().map(str::to_owned))
                        .ok_or_else(|| Error::Config {
                            what: format!(
                                "the simulator's Intune has no {} device to preview",
                                if compliant {
                                    "compliant"
                                } else {
                                    "non-compliant"
                                }
                            ),
                        })
                };
                let known = |mac: &str| devices.iter().any(|d| d["mac"] == mac);
                let unknown = (0u8..=255)
                    .map(|i| format!("02005E0053{i:02X}"))
                    .find(|m| !known(m))
                    .unwrap_or_else(|| "02005E005300".to_owned());
                Ok([first(true)?, first(false)?, unknown])
            })
            .await
    }
}

fn sim_error(e: ise_intune_simulator::SimError) -> Error {
    Error::Config {
        what: format!("simulator: {e}"),
    }
}

#[async_trait::async_trait]
impl AuthorizationPreview for SimAuthorizationPreview {
    async fn authorize(
        &self,
        device: SampleDevice,
        without: &Hypothesis,
    ) -> Result<Authorized, Error> {
        let [compliant, non_compliant, unknown] = self.macs().await?;
        let mac = match device {
            SampleDevice::Compliant => compliant,
            SampleDevice::NonCompliant => non_compliant,
            _ => unknown,
        };
        let without = (without != &Hypothesis::default())
            .then(|| json!({"rules": without.rule_ids, "mdm_server": without.mdm_server}));
        let answer = self
            .control
            .authorize(mac, without)
            .await
            .map_err(sim_error)?;
        serde_json::from_value(answer).map_err(|e| Error::Config {
            what: format!("the simulator's authorization: {e}"),
        })
    }
}

/// ISE's authorization of the endpoint `mac` on the simulator (its control API's
/// `POST /authorize`): the rule that matched (empty when none) and its profiles.
///
/// # Panics
/// When the simulator refuses the request (a test-only helper).
pub async fn authorized(sim: &ise_intune_simulator::Simulator, mac: &str) -> (String, Vec<String>) {
    let answer = sim
        .authorize(mac)
        .await
        .unwrap_or_else(|e| panic!("authorize {mac}: {e}"));
    let rule = answer["rule"].as_str().unwrap_or_default().to_owned();
    let profiles = answer["profiles"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (rule, profiles)
}
