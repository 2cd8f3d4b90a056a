//! The context every workflow runs in: [`Integration`] holds the ISE and Graph clients,
//! the trust anchors step 5 imports, the configurator of steps 6 and 7, and the
//! [`Options`]. Build it with [`Integration::builder`] from clients, or
//! [`Integration::from_config`] from a configuration; then pass it to the workflows,
//! modules of free functions beside it: [`crate::onboard`] (plan, apply),
//! [`crate::verify`], [`crate::doctor`], [`crate::rotate`], [`crate::trust_sync`],
//! [`crate::compliance`], [`crate::fleet`].

use std::sync::Arc;
use std::time::Duration;

use graph_client::{Credentials, GraphClient, TlsRoots};
use ise_client::{IseClient, TlsPolicy};

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::Certificate;
use crate::config::IntegrationConfig;
use crate::decide::AppIdentity;
use crate::keys::AdminKey;
use crate::mdm::{ManualChecklist, MdmServerConfigurator, MdmServerSettings};
use crate::report::{Requests, StepReport};
use crate::version::IseVersion;

/// How long verification waits, at most, for keys and roles to propagate.
pub const DEFAULT_PROPAGATION_WAIT: Duration = Duration::from_secs(120);

/// Called after each step (for progress output).
pub type Progress = Arc<dyn Fn(&StepReport) + Send + Sync>;

/// Options of a run.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// Display name of the Entra application.
    pub app_display_name: String,
    /// Name of the External MDM server entry.
    pub mdm_server_name: String,
    /// Where ISE's admin key for verification comes from.
    pub admin_key: AdminKey,
    /// How long to wait for admin consent to replicate.
    pub consent_wait: Duration,
    /// A hand-made application to adopt, by client id (when none carries the
    /// integration's uniqueName yet).
    pub app_client_id: Option<String>,
    /// How long verification waits for new keys and roles to propagate.
    pub propagation_wait: Duration,
    /// The desired state of enforcement ([`crate::enforce`]).
    pub enforcement: crate::config::EnforcementPolicy,
    /// Where a node presents its Admin certificate in a TLS handshake, by its short
    /// host name, when not at `https://<its FQDN>/` (configuration `[ise] node_urls`).
    /// Rotation registers a node's certificate only once the node presents it there.
    pub node_urls: std::collections::BTreeMap<String, url::Url>,
    /// Days before an expiry at which doctor names it, rising in severity as each
    /// passes (configuration `[expiry] thresholds_days`; default
    /// [`crate::config::DEFAULT_EXPIRY_THRESHOLDS_DAYS`]).
    pub expiry_thresholds_days: Vec<u32>,
}

impl Options {
    /// Who the integration's application is.
    pub fn app_identity(&self) -> AppIdentity {
        let identity = AppIdentity::new(self.app_display_name.clone());
        match &self.app_client_id {
            Some(id) => identity.adopting(id.clone()),
            None => identity,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            app_display_name: "Cisco ISE Intune integration".into(),
            mdm_server_name: "Intune".into(),
            admin_key: AdminKey::None,
            consent_wait: Duration::from_secs(300),
            app_client_id: None,
            propagation_wait: DEFAULT_PROPAGATION_WAIT,
            enforcement: crate::config::EnforcementPolicy::default(),
            node_urls: std::collections::BTreeMap::new(),
            expiry_thresholds_days: crate::config::DEFAULT_EXPIRY_THRESHOLDS_DAYS.to_vec(),
        }
    }
}

/// The automating identity's credentials from the configuration: a client secret, a
/// certificate (PEM with its key), or a federated token file (checked by
/// [`IntegrationConfig::validate`] to be exactly one).
fn automation_credentials(entra: &crate::config::EntraConfig) -> Result<Credentials, Error> {
    let client_id = entra.client_id.clone();
    match (
        &entra.client_secret,
        &entra.client_certificate_path,
        &entra.federated_token_file,
    ) {
        (Some(secret), None, None) => Ok(Credentials::ClientSecret {
            client_id,
            secret: secret.clone(),
        }),
        (None, Some(path), None) => {
            let (cert_der, key) = crate::keys::certificate_and_key_file(
                path,
                entra.client_certificate_password.as_ref(),
            )?;
            use secrecy::ExposeSecret as _;
            graph_client::ClientCertificate::from_der(
                client_id,
                cert_der,
                &rustls::pki_types::PrivateKeyDer::Pkcs8(
                    rustls::pki_types::PrivatePkcs8KeyDer::from(key.expose_secret().to_vec()),
                ),
                graph_client::AssertionAlgorithm::Rs256,
            )
            .map(Credentials::Certificate)
            .map_err(Error::Graph)
        }
        (None, None, Some(file)) => Ok(Credentials::FederatedTokenFile {
            client_id,
            token_file: file.clone(),
        }),
        _ => Err(Error::Config {
            what: "give exactly one credential for the automating identity: \
                   ISE_INTUNE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or \
                   AZURE_FEDERATED_TOKEN_FILE"
                .into(),
        }),
    }
}

/// The context of every workflow: the two clients, the anchors, the configurator of
/// steps 6 and 7, the options, and an optional progress callback. Cheap to clone.
///
/// ```no_run
/// # async fn run(config: intune_integration::config::IntegrationConfig) -> Result<(), intune_integration::Error> {
/// use intune_integration::{Integration, doctor, onboard};
///
/// // The manual configurator, confirmed by the configuration's `mdm_confirmed`.
/// let integration = Integration::from_config(&config)?;
/// for step in onboard::plan(&integration).await?.steps {
///     println!("{step:?}");
/// }
/// let report = onboard::apply(&integration).await?;
/// let diagnosis = doctor::diagnose(&integration).await?;
/// # let _ = (report, diagnosis); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Integration {
    pub(crate) ise: IseClient,
    pub(crate) graph: GraphClient,
    pub(crate) anchors: TrustAnchorSet,
    pub(crate) configurator: Arc<dyn MdmServerConfigurator>,
    pub(crate) options: Options,
    pub(crate) progress: Option<Progress>,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("ise", &self.ise)
            .field("graph", &self.graph)
            .field("anchors", &self.anchors.version())
            .finish()
    }
}

/// Builds an [`Integration`]: the clients are given; the anchors default to
/// [`TrustAnchorSet::builtin`], the configurator to a [`ManualChecklist`] on the ISE
/// client (confirmed by the configuration's `mdm_confirmed` when built from one), the
/// options to [`Options::default`].
#[derive(Clone)]
#[must_use]
pub struct IntegrationBuilder {
    ise: IseClient,
    graph: GraphClient,
    anchors: TrustAnchorSet,
    configurator: Option<Arc<dyn MdmServerConfigurator>>,
    mdm_confirmed: Option<String>,
    mdm_removed: bool,
    options: Options,
    progress: Option<Progress>,
}

impl std::fmt::Debug for IntegrationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationBuilder")
            .field("ise", &self.ise)
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl IntegrationBuilder {
    /// The ISE client (to build a configurator on).
    pub fn ise(&self) -> &IseClient {
        &self.ise
    }

    /// Replaces the trust anchors.
    pub fn anchors(mut self, anchors: TrustAnchorSet) -> Self {
        self.anchors = anchors;
        self
    }

    /// Adds one trust anchor to those step 5 imports.
    pub fn add_anchor(mut self, anchor: TrustAnchor) -> Self {
        self.anchors.add(anchor);
        self
    }

    /// The configurator of steps 6 and 7 (default: [`ManualChecklist`]).
    pub fn configurator(mut self, configurator: Arc<dyn MdmServerConfigurator>) -> Self {
        self.configurator = Some(configurator);
        self
    }

    /// The options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Where the nodes' keys come from (see [`AdminKey`]).
    pub fn admin_key(mut self, admin_key: AdminKey) -> Self {
        self.options.admin_key = admin_key;
        self
    }

    /// The clock every judgement of a date reads (expiry warnings, "expires in N
    /// days") and the Graph client's tokens and client assertions follow (default: the
    /// system's). A test or an embedder runs the library at any date with it.
    pub fn clock(mut self, clock: ise_intune_http::clock::SharedClock) -> Self {
        self.graph = self.graph.with_clock(clock);
        self
    }

    /// Called after every step of [`crate::onboard::apply`].
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Whether the operator confirmed that the External MDM entry was deleted in ISE
    /// (offboarding; for the default [`ManualChecklist`] configurator).
    pub fn mdm_removed(mut self, removed: bool) -> Self {
        self.mdm_removed = removed;
        self
    }

    /// The integration.
    pub fn build(self) -> Integration {
        let configurator = self.configurator.unwrap_or_else(|| {
            Arc::new(
                ManualChecklist::new(self.ise.clone())
                    .confirmed(self.mdm_confirmed)
                    .removal_confirmed(self.mdm_removed),
            )
        });
        Integration {
            ise: self.ise,
            graph: self.graph,
            anchors: self.anchors,
            configurator,
            options: self.options,
            progress: self.progress,
        }
    }
}

impl Integration {
    /// A builder over these clients.
    pub fn builder(ise: IseClient, graph: GraphClient) -> IntegrationBuilder {
        IntegrationBuilder {
            ise,
            graph,
            anchors: TrustAnchorSet::builtin(),
            configurator: None,
            mdm_confirmed: None,
            mdm_removed: false,
            options: Options::default(),
            progress: None,
        }
    }

    /// The integration a configuration describes: both clients, the anchors with the
    /// configuration's extra files, its names and key choice, and the manual
    /// configurator confirmed by its `mdm_confirmed`.
    pub fn from_config(config: &IntegrationConfig) -> Result<Self, Error> {
        Ok(Self::builder_from_config(config)?.build())
    }

    /// [`Self::from_config`] as a builder, to choose another configurator or options.
    pub fn builder_from_config(config: &IntegrationConfig) -> Result<IntegrationBuilder, Error> {
        config.validate()?;
        let read = crate::files::read_text;
        let tls = match (&config.ise.tls_pin_sha256, &config.ise.tls_ca_file) {
            (Some(pin), _) => TlsPolicy::PinnedSha256(pin.clone()),
            (None, Some(ca)) => TlsPolicy::CustomCa(read(ca)?),
            (None, None) => TlsPolicy::System,
        };
        let password = config.ise.password.clone().ok_or_else(|| Error::Config {
            what: "the ISE password (ISE_INTUNE_ISE_PASSWORD) is missing".into(),
        })?;
        let mut ise = IseClient::builder()
            .base_url(config.ise.url.clone())
            .credentials(config.ise.username.clone(), password)
            .tls(tls)
            .ers_csrf(config.ise.ers_csrf);
        if let Some(ers) = &config.ise.ers_url {
            ise = ise.ers_base_url(ers.clone());
        }
        let ise = ise.build()?;
        let mut graph = GraphClient::builder()
            .cloud(config.cloud)
            .tenant_id(config.entra.tenant_id.clone())
            .credentials(automation_credentials(&config.entra)?)
            .tls_roots(TlsRoots::System);
        if let Some(u) = &config.entra.login_url {
            graph = graph.login_authority(u.clone());
        }
        if let Some(u) = &config.entra.graph_url {
            graph = graph.graph_base(u.clone());
        }
        if let Some(r) = &config.entra.intune_resource {
            graph = graph.intune_resource(r.clone());
        }
        if let Some(ca) = &config.entra.extra_ca_file {
            graph = graph.add_root_certificates_pem(&read(ca)?)?;
        }
        let graph = graph.build()?;
        let mut anchors = TrustAnchorSet::builtin();
        for file in &config.anchors.extra_files {
            anchors.add_file(file)?;
        }
        let options = Options {
            app_display_name: config.app_display_name.clone(),
            mdm_server_name: config.mdm_server_name.clone(),
            app_client_id: config.app_client_id.clone(),
            admin_key: config.admin_key()?,
            enforcement: config.enforce.clone(),
            node_urls: config.ise.node_urls()?,
            expiry_thresholds_days: config.expiry.thresholds_days.clone(),
            ..Options::default()
        };
        let mut builder = Self::builder(ise, graph).anchors(anchors).options(options);
        builder.mdm_confirmed = config.mdm_confirmed.clone();
        builder.mdm_removed = config.mdm_removed;
        Ok(builder)
    }

    /// The same integration with every certificate of these PEM files added to its
    /// anchors ([`TrustAnchorSet::add_file`]).
    pub fn with_anchor_files(mut self, paths: &[std::path::PathBuf]) -> Result<Self, Error> {
        for p in paths {
            self.anchors.add_file(p)?;
        }
        Ok(self)
    }

    /// The same integration with another source for the nodes' keys (see [`AdminKey`]).
    pub fn with_admin_key(mut self, admin_key: AdminKey) -> Self {
        self.options.admin_key = admin_key;
        self
    }

    /// The same integration recording every write its clients send in `trail` (see
    /// [`crate::audit`]): ISE's as its API account (`ise:<username>`), Microsoft's as
    /// the automating identity (`entra:<client id>`). What the External MDM
    /// configurator does is a person's work in ISE's GUI, not recorded here. `pair`
    /// names a fleet's pair in each line.
    pub fn with_audit(mut self, trail: Arc<crate::audit::AuditTrail>, pair: Option<&str>) -> Self {
        let ise = crate::audit::IdentifiedSink {
            trail: trail.clone(),
            identity: format!("ise:{}", self.ise.username()),
            pair: pair.map(str::to_owned),
        };
        let graph = crate::audit::IdentifiedSink {
            trail,
            identity: format!("entra:{}", self.graph.identity().unwrap_or("(token)")),
            pair: pair.map(str::to_owned),
        };
        self.ise = self.ise.with_audit(Arc::new(ise));
        self.graph = self.graph.with_audit(Arc::new(graph));
        self
    }

    /// The same integration reading time from `clock` (see [`IntegrationBuilder::clock`]).
    pub fn with_clock(mut self, clock: ise_intune_http::clock::SharedClock) -> Self {
        self.graph = self.graph.with_clock(clock);
        self
    }

    /// The same integration sending its Graph requests under `limit` too (see
    /// [`crate::fleet::TenantBudgets`]).
    pub fn with_graph_in_flight_limit(mut self, limit: ise_intune_http::InFlightLimit) -> Self {
        self.graph = self.graph.with_in_flight_limit(limit);
        self
    }

    /// The same integration with one more trust anchor (see [`TrustAnchorSet::add`]).
    pub fn with_anchor(mut self, anchor: TrustAnchor) -> Self {
        self.anchors.add(anchor);
        self
    }

    /// The same integration, rolling enforcement's rules out as `rollout` says (the
    /// command's `--monitor` and `--promote`).
    pub fn with_rollout(mut self, rollout: crate::report::Rollout) -> Self {
        self.options.enforcement.rollout = rollout;
        self
    }

    /// The same integration, calling `progress` after every step of an apply.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The current time by the context's clock ([`IntegrationBuilder::clock`]).
    pub fn now(&self) -> time::OffsetDateTime {
        // A clock set beyond what a date can hold (year 9999) reads as the last date
        // there is, rather than ending the run.
        let now = self.graph.clock().now();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| time::Duration::try_from(d).ok())
            .and_then(|d| time::OffsetDateTime::UNIX_EPOCH.checked_add(d));
        since.unwrap_or_else(|| {
            if now < std::time::UNIX_EPOCH {
                time::OffsetDateTime::UNIX_EPOCH
            } else {
                time::PrimitiveDateTime::MAX.assume_utc()
            }
        })
    }

    /// The configurator of steps 6 and 7.
    pub fn configurator(&self) -> Arc<dyn MdmServerConfigurator> {
        self.configurator.clone()
    }

    /// The anchors step 5 imports.
    pub fn anchors(&self) -> &TrustAnchorSet {
        &self.anchors
    }

    /// The ISE client.
    pub fn ise(&self) -> &IseClient {
        &self.ise
    }

    /// The Graph client.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// Requests sent by both clients since they had sent `before` ([`Self::counts`]).
    pub(crate) fn requests_since(&self, before: Requests) -> Requests {
        let after = self.counts();
        Requests {
            reads: after.reads.saturating_sub(before.reads),
            writes: after.writes.saturating_sub(before.writes),
        }
    }

    /// Requests sent so far by both clients.
    pub(crate) fn counts(&self) -> Requests {
        let (i, g) = (self.ise.request_counts(), self.graph.request_counts());
        Requests {
            reads: i.reads + g.reads,
            writes: i.writes + g.writes,
        }
    }

    /// The External MDM settings for this release and application
    /// ([`crate::decide::mdm_settings`] with this tenant's endpoints).
    pub(crate) fn mdm_settings(
        &self,
        version: &IseVersion,
        client_id: &str,
        certificates: &[&Certificate],
    ) -> Result<MdmServerSettings, Error> {
        crate::decide::mdm_settings(
            version,
            self.graph.intune_resource(),
            &self.options.mdm_server_name,
            client_id,
            self.graph.token_endpoint(),
            self.graph.graph_base().origin().ascii_serialization(),
            certificates,
        )
    }

    /// Reports a finished step to the progress callback.
    pub(crate) fn report_progress(&self, report: &StepReport) {
        if let Some(p) = &self.progress {
            p(report);
        }
    }
}

/// Milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
