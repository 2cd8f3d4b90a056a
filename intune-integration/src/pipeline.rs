//! The whole procedure as one safe, re-runnable pipeline: [`Onboarding::plan`] reads and
//! says what would change; [`Onboarding::apply`] runs the steps, the ISE side and the
//! Microsoft side concurrently, and writes nothing when everything is already in place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_client::{Credentials, GraphClient, TlsRoots};
use ise_client::{IseClient, TlsPolicy};
use serde::Serialize;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::Certificate;
use crate::config::IntegrationConfig;
use crate::mdm::{MdmServerConfigurator, MdmServerSettings};
use crate::outcome::{Outcome, Step, StepName};
use crate::steps;
use crate::verify::{
    AdminKey, Prefetched, VerificationReport, VerifyInput, verify_connection_with,
};
use crate::version::{IntuneGates as _, IseVersion, TokenAudience};

/// One step of a run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// The step, named after its function, e.g. `register_app`.
    pub name: StepName,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What it found or did.
    pub detail: String,
}

/// HTTP requests a run sent (every attempt counts; token requests are neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Requests {
    /// Reads (GET, and ISE's certificate export).
    pub reads: u64,
    /// Writes (anything that may change state).
    pub writes: u64,
}

/// The result of [`Onboarding::apply`].
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// ISE's release.
    pub ise_version: String,
    /// Every step, in order.
    pub steps: Vec<StepReport>,
    /// Requests sent by this run.
    pub requests: Requests,
    /// The reproduced Test Connection (empty and not ok when it did not run).
    pub verification: VerificationReport,
    /// What a person has to do, when a step needs it.
    pub manual_action: Option<String>,
    /// Whether every step completed and verification passed.
    pub complete: bool,
    /// What this run wrote, step by step (`register_app (created): …`).
    pub written: Vec<String>,
    /// The errors that ended the run, with their steps (empty when it ran through).
    pub errors: Vec<StepError>,
}

/// An error that ended a step, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StepError {
    /// The step.
    pub step: StepName,
    /// The error, as text.
    pub message: String,
}

/// One change [`Onboarding::plan`] expects: the outcome [`Onboarding::apply`] would
/// report for the step, decided by the same functions on the same reads.
///
/// Serialised as `{"step", "change", "outcome", "detail"}`, where `change` is the plan's
/// word for the outcome (`create`, `update`, `none`, `manual action`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedChange {
    /// The step.
    pub step: StepName,
    /// The outcome the step would have.
    pub outcome: Outcome,
    /// What exactly.
    pub detail: String,
}

impl PlannedChange {
    fn new(step: StepName, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            step,
            outcome,
            detail: detail.into(),
        }
    }
}

impl Serialize for PlannedChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = serializer.serialize_struct("PlannedChange", 4)?;
        st.serialize_field("step", &self.step)?;
        st.serialize_field("change", self.outcome.planned())?;
        st.serialize_field("outcome", &self.outcome)?;
        st.serialize_field("detail", &self.detail)?;
        st.end()
    }
}

impl StepReport {
    /// One line: outcome, step, elapsed time, detail.
    pub fn render(&self) -> String {
        let symbol = match self.outcome {
            Outcome::Created => "+ created  ",
            Outcome::Updated => "~ updated  ",
            Outcome::Unchanged => "= unchanged",
            Outcome::ManualActionRequired => "! manual   ",
            _ => "x FAILED   ",
        };
        format!(
            "{symbol} {:<26} {:>6} ms  {}",
            self.name, self.elapsed_ms, self.detail
        )
    }
}

impl Report {
    /// The report after the steps, for a person: version, requests, each check, what
    /// was written, what to do by hand, and the verdict.
    pub fn render_summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "\nISE {}", self.ise_version);
        let _ = writeln!(
            s,
            "Requests: {} reads, {} writes{}",
            self.requests.reads,
            self.requests.writes,
            if self.requests.writes == 0 {
                " (nothing changed)"
            } else {
                ""
            }
        );
        for c in &self.verification.checks {
            let _ = writeln!(
                s,
                "  [{}] {:<13} {}{}",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.node
                    .as_deref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default(),
                c.detail
            );
        }
        if !self.written.is_empty() {
            let _ = writeln!(s, "Written by this run:");
            for w in &self.written {
                let _ = writeln!(s, "  {w}");
            }
        }
        if let Some(m) = &self.manual_action {
            let _ = writeln!(s, "\nAction required:\n{m}");
        }
        let _ = writeln!(
            s,
            "\n{}",
            if self.complete {
                "Onboarding complete: ISE reaches Intune through Microsoft Graph."
            } else if self.manual_action.is_some() {
                "Onboarding paused: do the steps above, then run again."
            } else if !self.errors.is_empty() {
                "Onboarding failed: run again to carry on from here."
            } else {
                "Onboarding incomplete: see the failed checks above."
            }
        );
        s
    }
}

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
}

impl Options {
    /// Who the integration's application is.
    pub fn app_identity(&self) -> steps::AppIdentity {
        let identity = steps::AppIdentity::new(self.app_display_name.clone());
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
            propagation_wait: crate::verify::DEFAULT_PROPAGATION_WAIT,
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
            let (cert_der, key) = crate::verify::certificate_and_key_file(
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

/// The onboarding pipeline.
#[derive(Clone)]
pub struct Onboarding {
    pub(crate) ise: IseClient,
    pub(crate) graph: GraphClient,
    pub(crate) anchors: TrustAnchorSet,
    pub(crate) configurator: Arc<dyn MdmServerConfigurator>,
    pub(crate) options: Options,
    progress: Option<Progress>,
}

impl std::fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onboarding")
            .field("ise", &self.ise)
            .field("graph", &self.graph)
            .field("anchors", &self.anchors.version())
            .finish()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Onboarding {
    /// Verification alone (ISE's Test Connection reproduced per policy service node)
    /// for the integration's existing application. Everything it reads first — ISE's
    /// version, the application, the nodes' keys, the trusted store, Intune's
    /// discovery — is read at once.
    pub async fn verify(&self) -> Result<VerificationReport, Error> {
        let identity = self.options.app_identity();
        let export_keys = matches!(self.options.admin_key, AdminKey::ExportFromIse);
        let (version, app, keys, trusted, endpoints) = tokio::join!(
            self.ise.version(),
            async {
                let seen = steps::observe_app(&self.graph, &identity).await?;
                match steps::decide_registration(&seen, &identity)? {
                    steps::Registration::Existing(app) | steps::Registration::Adopt(app) => {
                        Ok(app.app_id)
                    }
                    steps::Registration::Create => Err(Error::Config {
                        what: format!(
                            "no application `{}`: run onboard first",
                            identity.display_name
                        ),
                    }),
                }
            },
            async {
                if export_keys {
                    steps::export_admin_certificates_with_keys(&self.ise)
                        .await
                        .map(|s| Some(s.value))
                } else {
                    Ok(None)
                }
            },
            async { self.ise.trusted_certificates().list(&[]).await },
            self.graph.intune_endpoints(),
        );
        let (version, client_id, keys, trusted) = (version?, app?, keys?, trusted?);
        let provider = version.compliance_provider();
        verify_connection_with(
            VerifyInput {
                ise: &self.ise,
                graph: &self.graph,
                client_id: &client_id,
                version,
                admin_key: self.options.admin_key.clone(),
                anchors: &self.anchors,
                propagation_wait: self.options.propagation_wait,
            },
            Prefetched {
                trusted: Some(trusted),
                node_keys: keys,
                intune_endpoint: endpoints
                    .ok()
                    .and_then(|e| e.into_iter().find(|e| e.provider_name == provider))
                    .map(|e| e.uri),
            },
        )
        .await
    }

    /// The run's options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The configurator of steps 6 and 7.
    pub fn configurator(&self) -> Arc<dyn MdmServerConfigurator> {
        self.configurator.clone()
    }

    /// The anchors step 5 imports.
    pub fn anchors(&self) -> &TrustAnchorSet {
        &self.anchors
    }

    /// Intune's compliance API: as ISE node `node` calls it (the first policy service
    /// node when `None`), with that node's own key, when the options name a key source
    /// ([`AdminKey::acts_as_node`]); otherwise as the automating identity, which then
    /// needs the Intune API's `get_device_compliance` role, and no key leaves ISE.
    pub async fn compliance_client(
        &self,
        node: Option<&str>,
    ) -> Result<crate::compliance::ComplianceClient, Error> {
        let version = self.ise.version().await?;
        let audience = version.check_release()?;
        if !self.options.admin_key.acts_as_node() {
            if let Some(n) = node {
                return Err(Error::NodeKeyNotRequested {
                    what: format!("querying Intune as node `{n}`"),
                });
            }
            return crate::compliance::ComplianceClient::discover(self.graph.clone(), audience)
                .await;
        }
        let app = steps::find_app(&self.graph, &self.options.app_identity()).await?;
        let admins = steps::export_admin_certificates(&self.ise).await?.value;
        let admin = match node {
            Some(n) => admins
                .iter()
                .find(|a| a.node.hostname == n)
                .ok_or_else(|| Error::Config {
                    what: format!(
                        "no ISE node `{n}` (nodes: {})",
                        admins
                            .iter()
                            .map(|a| a.node.hostname.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?,
            None => admins
                .iter()
                .find(|a| steps::is_policy_service(&a.node))
                .or_else(|| admins.first())
                .ok_or_else(|| Error::Config {
                    what: "ISE lists no node".into(),
                })?,
        };
        let cert = crate::verify::node_client_certificate(
            &self.ise,
            &app.client_id,
            &self.options.admin_key,
            Some(admin),
        )
        .await?;
        let as_node = self
            .graph
            .with_credentials(graph_client::Credentials::Certificate(cert));
        crate::compliance::ComplianceClient::discover(as_node, audience).await
    }

    /// A pipeline over these clients.
    pub fn new(
        ise: IseClient,
        graph: GraphClient,
        anchors: TrustAnchorSet,
        configurator: Arc<dyn MdmServerConfigurator>,
        options: Options,
    ) -> Self {
        Self {
            ise,
            graph,
            anchors,
            configurator,
            options,
            progress: None,
        }
    }

    /// Builds both clients from a configuration. `configurator` receives the ISE client.
    pub fn from_config(
        config: &IntegrationConfig,
        configurator: impl FnOnce(IseClient) -> Arc<dyn MdmServerConfigurator>,
    ) -> Result<Self, Error> {
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
            .tenant_id(config.entra.tenant_id.clone())
            .credentials(automation_credentials(&config.entra)?)
            .tls_roots(TlsRoots::System);
        if let Some(u) = &config.entra.login_url {
            graph = graph.login_authority(u.clone());
        }
        if let Some(u) = &config.entra.graph_url {
            graph = graph.graph_base(u.clone());
        }
        if let Some(ca) = &config.entra.extra_ca_file {
            graph = graph.add_root_certificates_pem(&read(ca)?)?;
        }
        let graph = graph.build()?;
        let mut anchors = TrustAnchorSet::builtin();
        for file in &config.anchors.extra_files {
            for cert in Certificate::parse_pem_bundle(&read(file)?)? {
                let name = cert.common_name().unwrap_or_else(|| cert.subject());
                anchors.add(TrustAnchor::new(
                    name,
                    format!("added from {}", file.display()),
                    cert,
                )?);
            }
        }
        let options = Options {
            app_display_name: config.app_display_name.clone(),
            mdm_server_name: config.mdm_server_name.clone(),
            app_client_id: config.app_client_id.clone(),
            admin_key: config.admin_key()?,
            ..Options::default()
        };
        Ok(Self::new(
            ise.clone(),
            graph,
            anchors,
            configurator(ise),
            options,
        ))
    }

    /// The same pipeline with another source for the nodes' keys (see [`AdminKey`]).
    pub fn with_admin_key(mut self, admin_key: AdminKey) -> Self {
        self.options.admin_key = admin_key;
        self
    }

    /// Calls `progress` after every step.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The ISE client.
    pub fn ise(&self) -> &IseClient {
        &self.ise
    }

    /// The Graph client.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    fn counts(&self) -> Requests {
        let (i, g) = (self.ise.request_counts(), self.graph.request_counts());
        Requests {
            reads: i.reads + g.reads,
            writes: i.writes + g.writes,
        }
    }

    /// Reads ISE's version and refuses releases without Microsoft Graph support.
    async fn checked_version(&self) -> Result<(IseVersion, TokenAudience), Error> {
        let version = self.ise.version().await?;
        let audience = version.check_release()?;
        Ok((version, audience))
    }

    /// The External MDM settings for this release and application.
    pub(crate) fn mdm_settings(
        &self,
        version: &IseVersion,
        client_id: &str,
        certificates: &[&Certificate],
    ) -> Result<MdmServerSettings, Error> {
        Ok(MdmServerSettings::for_release(
            version,
            self.options.mdm_server_name.clone(),
            client_id.to_owned(),
            self.graph.token_endpoint(),
            self.graph.graph_base().origin().ascii_serialization(),
        )?
        .with_ise_certificates(certificates.iter().map(|c| c.sha1().to_hex())))
    }

    /// Reads everything and says what [`Self::apply`] would change, step by step, with
    /// the decision functions `apply` uses. Writes nothing.
    pub async fn plan(&self) -> Result<Vec<PlannedChange>, Error> {
        let (version, audience) = self.checked_version().await?;
        let mut plan = vec![PlannedChange::new(
            StepName::CheckIseVersion,
            Outcome::Unchanged,
            format!("ISE {version}: token audience {audience}"),
        )];
        let name = &self.options.app_display_name;
        let identity = self.options.app_identity();
        let (seen, admin, targets, store) = tokio::try_join!(
            steps::observe_app(&self.graph, &identity),
            async { Ok(steps::export_admin_certificates(&self.ise).await?.value) },
            steps::permission_targets(&self.graph),
            async { Ok(self.ise.trusted_certificates().list(&[]).await?) },
        )?;
        let registration = steps::decide_registration(&seen, &identity)?;
        let certs = steps::distinct_certificates(&admin);
        let sha1 = certs
            .iter()
            .map(|c| c.sha1().to_hex())
            .collect::<Vec<_>>()
            .join(", ");
        let mut client_id = String::from("<new application>");
        let existing = match &registration {
            steps::Registration::Existing(app) | steps::Registration::Adopt(app) => Some(app),
            _ => None,
        };
        let registration = registration.outcome();
        match existing {
            None => {
                plan.push(PlannedChange::new(
                    StepName::RegisterApp,
                    registration,
                    format!("application `{name}` and its service principal"),
                ));
                plan.push(PlannedChange::new(
                    StepName::UploadCertificate,
                    steps::keys_outcome(&[], &certs),
                    format!("add key(s) {sha1}"),
                ));
                plan.push(PlannedChange::new(
                    StepName::GrantPermissions,
                    steps::access_outcome(&[], &targets),
                    "get_device_compliance and Application.Read.All with admin consent",
                ));
            }
            Some(app) => {
                client_id.clone_from(&app.app_id);
                let handle = self.graph.application(app.id.clone());
                let principals = self.graph.service_principals();
                let (sp, keys, access) = tokio::try_join!(
                    principals.by_app_id(&app.app_id),
                    handle.key_credentials(),
                    handle.required_resource_access(),
                )?;
                plan.push(PlannedChange::new(
                    StepName::RegisterApp,
                    registration.and(if sp.is_some() {
                        Outcome::Unchanged
                    } else {
                        Outcome::Created
                    }),
                    format!("application {} exists", app.app_id),
                ));
                plan.push(PlannedChange::new(
                    StepName::UploadCertificate,
                    steps::keys_outcome(&keys, &certs),
                    format!("key(s) {sha1} (keeping {} existing key(s))", keys.len()),
                ));
                let held = match &sp {
                    Some(sp) => {
                        self.graph
                            .service_principal(sp.id.clone())
                            .app_role_assignments()?
                            .all()
                            .await?
                    }
                    None => Vec::new(),
                };
                let missing = steps::missing_grants(&held, &targets);
                let consent = if missing.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated
                };
                plan.push(PlannedChange::new(
                    StepName::GrantPermissions,
                    steps::access_outcome(&access, &targets).and(consent),
                    format!("{} of 2 admin consent grant(s) missing", missing.len()),
                ));
            }
        }
        let actions = steps::anchor_actions(&store, &self.anchors);
        let describe = |wanted: fn(&steps::AnchorAction) -> bool| {
            actions
                .iter()
                .filter(|(_, a)| wanted(a))
                .map(|(anchor, _)| anchor.name().to_owned())
                .collect::<Vec<_>>()
        };
        let imports = describe(|a| matches!(a, steps::AnchorAction::Import));
        let fixes = describe(|a| matches!(a, steps::AnchorAction::Fix { .. }));
        let mut detail = Vec::new();
        if !imports.is_empty() {
            detail.push(format!("import {}", imports.join(", ")));
        }
        if !fixes.is_empty() {
            detail.push(format!("enable and trust {}", fixes.join(", ")));
        }
        plan.push(PlannedChange::new(
            StepName::ImportTrustAnchors,
            steps::anchors_outcome(&actions),
            if detail.is_empty() {
                "every anchor is trusted in ISE's store".into()
            } else {
                detail.join("; ")
            },
        ));
        let settings = self.mdm_settings(&version, &client_id, &certs)?;
        let inspected = self.configurator.inspect(&settings).await?;
        plan.push(PlannedChange::new(
            StepName::ConfigureMdmServer,
            inspected.outcome,
            format!("External MDM server `{}`", settings.name),
        ));
        Ok(plan)
    }

    /// Waits until every grant is visible (admin consent replicates), or fails naming
    /// what is still missing.
    async fn wait_for_consent(
        &self,
        sp_id: &str,
        targets: &steps::PermissionTargets,
    ) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let held = self
                .graph
                .service_principal(sp_id.to_owned())
                .app_role_assignments()?
                .all()
                .await?;
            let missing = steps::missing_grants(&held, targets);
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() > self.options.consent_wait {
                return Err(Error::ConsentNotVisible {
                    waited: started.elapsed(),
                    missing: missing
                        .iter()
                        .map(|(resource, role)| format!("{resource} / {role}"))
                        .collect(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Records a finished step: progress callback, then the run's list.
    fn record<T>(
        &self,
        log: &mut Vec<StepReport>,
        name: StepName,
        step: &Step<T>,
        elapsed: Duration,
        detail: String,
    ) {
        let report = StepReport {
            name,
            outcome: step.outcome,
            elapsed_ms: ms(elapsed),
            detail,
        };
        if let Some(p) = &self.progress {
            p(&report);
        }
        log.push(report);
    }

    /// Runs each step in order (the Microsoft and ISE sides concurrently). Refuses
    /// unsupported ISE releases before any write. A second run on an integrated pair
    /// writes nothing; after [`Outcome::ManualActionRequired`] a later run carries on
    /// from the remote state.
    ///
    /// When a step fails after others ran, the error is [`Error::Apply`]: it holds the
    /// report so far (each step's outcome, what was written) and every error of both
    /// sides. A failure before any step completed (e.g. an unsupported release) is
    /// returned as it is.
    pub async fn apply(&self) -> Result<Report, Error> {
        let before = self.counts();
        let mut run = Run::default();
        let outcome = self.run_steps(&mut run).await;
        let after = self.counts();
        let requests = Requests {
            reads: after.reads.saturating_sub(before.reads),
            writes: after.writes.saturating_sub(before.writes),
        };
        let mut report = match outcome {
            Ok(report) => report,
            Err(()) if run.log.is_empty() && run.errors.len() == 1 => {
                return Err(run.errors.remove(0).1);
            }
            Err(()) => Report {
                ise_version: run.ise_version.clone(),
                ..Report::default()
            },
        };
        report.written = run
            .log
            .iter()
            .filter(|s| s.outcome.is_write())
            .map(|s| format!("{} ({}): {}", s.name, s.outcome, s.detail))
            .collect();
        report.errors = run
            .errors
            .iter()
            .map(|(step, e)| StepError {
                step: *step,
                message: e.to_string(),
            })
            .collect();
        report.steps = run.log;
        report.requests = requests;
        if run.errors.is_empty() {
            return Ok(report);
        }
        report.complete = false;
        Err(Error::Apply(Box::new(ApplyFailure {
            report,
            errors: run.errors,
        })))
    }

    /// The steps of [`Self::apply`], recording into `run`; `Err(())` when one failed
    /// (its error is in `run.errors`).
    async fn run_steps(&self, run: &mut Run) -> Result<Report, ()> {
        let identity = self.options.app_identity();
        let export_keys = matches!(self.options.admin_key, AdminKey::ExportFromIse);
        // Every read the run decides from, at once: ISE's exports (with the policy
        // service nodes' keys, which verification reuses) and trusted store from the
        // start; Microsoft's only once the release is known to be supported, so that
        // nothing is sent to Microsoft for a release that is refused.
        let ise_reads = async {
            tokio::join!(
                timed(StepName::ExportAdminCertificate, async {
                    if export_keys {
                        steps::export_admin_certificates_with_keys(&self.ise).await
                    } else {
                        steps::export_admin_certificates(&self.ise).await.map(|s| {
                            Step::unchanged(
                                s.value
                                    .into_iter()
                                    .map(steps::AdminKeyMaterial::without_key)
                                    .collect(),
                            )
                        })
                    }
                }),
                async { self.ise.trusted_certificates().list(&[]).await },
            )
        };
        let microsoft_reads = async {
            let (version, t) = timed(StepName::CheckIseVersion, self.checked_version()).await;
            if version.is_err() {
                return ((version, t), None);
            }
            let reads = tokio::join!(
                steps::observe_app(&self.graph, &identity),
                steps::permission_targets(&self.graph),
                self.graph.intune_endpoints(),
            );
            ((version, t), Some(reads))
        };
        let (((export, export_t), store), ((version, version_t), microsoft)) =
            tokio::join!(ise_reads, microsoft_reads);
        let (version, audience) = run.check(StepName::CheckIseVersion, version)?;
        run.ise_version = version.to_string();
        self.record(
            &mut run.log,
            StepName::CheckIseVersion,
            &Step::unchanged(()),
            version_t,
            format!("ISE {version}; token audience {audience}"),
        );
        // Every node's Admin certificate before any write: a node without one, or with
        // a key Entra ID would refuse (ECDSA), stops the run here.
        let material = match export {
            Ok(m) => m.value,
            Err(e) => {
                run.errors.push((StepName::ExportAdminCertificate, e));
                return Err(());
            }
        };
        let admins: Vec<steps::AdminCertificate> =
            material.iter().map(|m| m.admin.clone()).collect();
        let export = Step::unchanged(admins);
        let Some((seen, targets, endpoints)) = microsoft else {
            return Err(());
        };
        let store = run.check(StepName::ImportTrustAnchors, store.map_err(Error::from))?;
        let certs = steps::distinct_certificates(&export.value);

        // The writes: the Microsoft side (application, then keys and permissions
        // together) and ISE's trusted store, at once.
        let microsoft = async {
            let seen = seen?;
            let started = Instant::now();
            let app = steps::application_from(&self.graph, &identity, &seen).await?;
            // An application created just now is known as Graph answered it: no keys,
            // no permissions, a new service principal that holds no grant. Its keys and
            // requested permissions are written without a read, beside the service
            // principal's creation; consent follows the service principal.
            let fresh = app.outcome == Outcome::Created;
            let upload = timed(
                StepName::UploadCertificate,
                steps::upload_certificates_knowing(
                    &self.graph,
                    &app.value.id,
                    &certs,
                    fresh.then(|| app.value.key_credentials.clone()),
                ),
            );
            let grant_started = Instant::now();
            let requested = async {
                match &targets {
                    Ok(t) => {
                        let known = fresh.then(|| app.value.required_resource_access.clone());
                        steps::request_permissions(&self.graph, &app.value.id, t, known)
                            .await
                            .map(Some)
                    }
                    // Reported from `targets` below.
                    Err(_) => Ok(None),
                }
            };
            let principal = steps::principal_for(&self.graph, &app);
            let (principal, upload, requested) = tokio::join!(principal, upload, requested);
            let app = steps::registered(app, principal?);
            let app_t = started.elapsed();
            let (perms, _) = timed(StepName::GrantPermissions, async {
                let targets = targets?;
                let requested = requested?.unwrap_or(Outcome::Unchanged);
                let consented = steps::consent_permissions(
                    &self.graph,
                    &app.value.service_principal_id,
                    &targets,
                    fresh.then(Vec::new),
                )
                .await?;
                let step = Step::new(requested.and(consented), targets.roles.clone());
                Ok::<_, Error>((step, targets))
            })
            .await;
            let perms = (perms, grant_started.elapsed());
            Ok::<_, Error>(((app, app_t), upload, perms))
        };
        let ise_side = timed(
            StepName::ImportTrustAnchors,
            steps::import_trust_anchors_in(&self.ise, &self.anchors, &store),
        );
        let (microsoft, (anchors, anchors_t)) = tokio::join!(microsoft, ise_side);
        let (app, upload, perms) = match microsoft {
            Ok((app, upload, perms)) => (Some(app), Some(upload), Some(perms)),
            Err(e) => {
                run.errors.push((StepName::RegisterApp, e));
                (None, None, None)
            }
        };
        if let Some((app, t)) = &app {
            self.record(
                &mut run.log,
                StepName::RegisterApp,
                app,
                *t,
                format!(
                    "application `{}` (client id {})",
                    app.value.display_name, app.value.client_id
                ),
            );
        }
        // Say which candidate holds ISE's key when the application was ambiguous.
        let ise_keys: Vec<String> = certs.iter().map(|c| c.sha1().to_hex()).collect();
        for (_, e) in &mut run.errors {
            if let Error::AmbiguousApplication { candidates, .. } = e {
                for c in candidates.iter_mut() {
                    c.holds_ise_key = Some(c.key_thumbprints.iter().any(|t| ise_keys.contains(t)));
                }
            }
        }
        self.record(
            &mut run.log,
            StepName::ExportAdminCertificate,
            &export,
            export_t,
            export
                .value
                .iter()
                .map(|a| {
                    format!(
                        "`{}` of {} (SHA-1 {})",
                        a.system_certificate.friendly_name,
                        a.node.hostname,
                        a.certificate.sha1()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
        // Reported in the established order: upload, permissions, details, anchors.
        let upload = upload.and_then(|(u, t)| {
            run.check(StepName::UploadCertificate, u)
                .ok()
                .map(|u| (u, t))
        });
        let perms = perms.and_then(|(p, t)| {
            run.check(StepName::GrantPermissions, p)
                .ok()
                .map(|p| (p, t))
        });
        // Consent just granted must become visible; that wait runs alongside steps 6
        // and 7 and verification, which each wait for what they need themselves.
        let consent_to_wait = perms
            .as_ref()
            .and_then(|((p, targets), _)| p.outcome.is_write().then(|| targets.clone()));
        let perms = perms.map(|((p, _), t)| (p, t));
        let anchors = run.check(StepName::ImportTrustAnchors, anchors).ok();
        if let Some((upload, t)) = &upload {
            let names: Vec<String> = certs.iter().map(|c| steps::key_display_name(c)).collect();
            self.record(
                &mut run.log,
                StepName::UploadCertificate,
                upload,
                *t,
                format!(
                    "thumbprint(s) {} registered and named {}",
                    upload.value.join(", "),
                    names.join(", ")
                ),
            );
        }
        let consent_needed = match (&perms, &app) {
            (Some((p, _)), Some((app, _))) if p.outcome == Outcome::ManualActionRequired => {
                Some(steps::admin_consent_instructions(&self.graph, &app.value))
            }
            _ => None,
        };
        if let Some((perms, t)) = &perms {
            self.record(
                &mut run.log,
                StepName::GrantPermissions,
                perms,
                *t,
                if consent_needed.is_some() {
                    "get_device_compliance and Application.Read.All requested; an administrator \
                     must grant admin consent"
                        .into()
                } else {
                    "get_device_compliance and Application.Read.All consented".into()
                },
            );
        }
        if let (Some((app, _)), Some(_)) = (&app, &upload) {
            let details = steps::app_details(&self.graph, &app.value);
            self.record(
                &mut run.log,
                StepName::AppDetails,
                &Step::unchanged(()),
                Duration::ZERO,
                format!(
                    "client id {}, tenant {}, token endpoint {}",
                    details.client_id, details.tenant_id, details.token_endpoint
                ),
            );
        }
        if let Some(anchors) = &anchors {
            let imported = anchors
                .value
                .iter()
                .filter(|a| a.outcome == Outcome::Created)
                .count();
            self.record(
                &mut run.log,
                StepName::ImportTrustAnchors,
                anchors,
                anchors_t,
                format!(
                    "{imported} imported, {} already trusted",
                    anchors.value.len().saturating_sub(imported)
                ),
            );
        }
        let (Some((app_step, _)), Some((upload, _)), true, true) =
            (&app, &upload, anchors.is_some(), perms.is_some())
        else {
            return Err(());
        };
        // Without consent ISE's Test Connection (steps 6 and 7) cannot pass: an
        // administrator acts first, and the next run carries on from here.
        if let Some(consent) = consent_needed {
            return Ok(Report {
                ise_version: version.to_string(),
                manual_action: Some(consent),
                ..Report::default()
            });
        }
        let details = steps::app_details(&self.graph, &app_step.value);
        let settings = run.check(
            StepName::ConfigureMdmServer,
            self.mdm_settings(&version, &details.client_id, &certs),
        )?;

        // Steps 6 and 7, and verification (which reuses the keys, the discovery and
        // needs only what is written by now), at once.
        let provider = version.compliance_provider();
        let intune_endpoint = endpoints
            .ok()
            .and_then(|e| e.into_iter().find(|e| e.provider_name == provider))
            .map(|e| e.uri);
        let mdm = async {
            let (configured, t) = timed(
                StepName::ConfigureMdmServer,
                steps::configure_mdm_server(self.configurator.as_ref(), &settings),
            )
            .await;
            let Ok(configured) = configured else {
                return ((configured, t), None);
            };
            if configured.outcome == Outcome::ManualActionRequired {
                return ((Ok(configured), t), None);
            }
            // A certificate change on an existing entry needs disable → test → enable.
            let needs_cycle = upload.outcome.is_write() && configured.outcome != Outcome::Created;
            let cycled = timed(StepName::CycleMdmServer, async {
                if needs_cycle {
                    steps::cycle_mdm_server(self.configurator.as_ref(), &settings.name).await
                } else {
                    Ok(Step::unchanged(()))
                }
            })
            .await;
            ((Ok(configured), t), Some((needs_cycle, cycled)))
        };
        let verify = timed(
            StepName::VerifyConnection,
            verify_connection_with(
                VerifyInput {
                    ise: &self.ise,
                    graph: &self.graph,
                    client_id: &details.client_id,
                    version,
                    admin_key: self.options.admin_key.clone(),
                    anchors: &self.anchors,
                    propagation_wait: self.options.propagation_wait,
                },
                Prefetched {
                    // The store as read before step 5, when step 5 changed nothing.
                    trusted: anchors
                        .as_ref()
                        .is_some_and(|a| !a.outcome.is_write())
                        .then(|| store.clone()),
                    node_keys: export_keys.then_some(material),
                    intune_endpoint,
                },
            ),
        );
        let consent = async {
            match &consent_to_wait {
                Some(targets) => {
                    self.wait_for_consent(&app_step.value.service_principal_id, targets)
                        .await
                }
                None => Ok(()),
            }
        };
        let (((configured, t), cycle), (verification, verify_t), consent) =
            tokio::join!(mdm, verify, consent);
        run.check(StepName::GrantPermissions, consent)?;
        let configured = run.check(StepName::ConfigureMdmServer, configured)?;
        self.record(
            &mut run.log,
            StepName::ConfigureMdmServer,
            &configured,
            t,
            format!(
                "`{}` with audience {}",
                settings.name, settings.token_audience
            ),
        );
        let mut report = Report {
            ise_version: version.to_string(),
            manual_action: configured.instructions.clone(),
            ..Report::default()
        };

        let Some((needs_cycle, (cycled, t))) = cycle else {
            return Ok(report);
        };
        let cycled = run.check(StepName::CycleMdmServer, cycled)?;
        report.manual_action = cycled.instructions.clone();
        self.record(
            &mut run.log,
            StepName::CycleMdmServer,
            &cycled,
            t,
            if needs_cycle {
                "disabled, tested and re-enabled after the certificate change".into()
            } else {
                "not needed: no certificate change on an existing entry".into()
            },
        );
        if report.manual_action.is_some() {
            return Ok(report);
        }
        let verification = run.check(StepName::VerifyConnection, verification)?;
        let failed: Vec<String> = verification
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        let step = Step::new(
            if verification.ok {
                Outcome::Unchanged
            } else {
                Outcome::Failed
            },
            (),
        );
        self.record(
            &mut run.log,
            StepName::VerifyConnection,
            &step,
            verify_t,
            if verification.ok {
                format!("{} checks passed", verification.checks.len())
            } else {
                failed.join("; ")
            },
        );
        report.complete = verification.ok;
        report.verification = verification;
        Ok(report)
    }
}

/// What a run has done so far.
#[derive(Default)]
struct Run {
    log: Vec<StepReport>,
    errors: Vec<(StepName, Error)>,
    ise_version: String,
}

impl Run {
    /// The value, or `Err(())` with the error recorded against `step`.
    fn check<T>(&mut self, step: StepName, result: Result<T, Error>) -> Result<T, ()> {
        result.map_err(|e| self.errors.push((step, e)))
    }
}

/// A failed [`Onboarding::apply`]: the report so far and every error.
#[derive(Debug)]
#[non_exhaustive]
pub struct ApplyFailure {
    /// Each step's outcome until the failure, what was written, and the errors as text.
    pub report: Report,
    /// Every error, with the step it ended (both sides of the run).
    pub errors: Vec<(StepName, Error)>,
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed: Vec<String> = self
            .errors
            .iter()
            .map(|(step, e)| format!("{step}: {e}"))
            .collect();
        write!(f, "{}", failed.join("; "))?;
        if self.report.written.is_empty() {
            write!(f, " (nothing was written)")
        } else {
            write!(f, " (already written: {})", self.report.written.join("; "))
        }
    }
}

/// Awaits `f` inside a `step` span named after the step, measuring how long it took.
async fn timed<T>(step: StepName, f: impl std::future::Future<Output = T>) -> (T, Duration) {
    use tracing::Instrument as _;
    let started = Instant::now();
    let out = f
        .instrument(tracing::info_span!("step", name = step.as_str()))
        .await;
    let elapsed = started.elapsed();
    tracing::debug!(
        step = step.as_str(),
        elapsed_ms = ms(elapsed),
        "step finished"
    );
    (out, elapsed)
}
