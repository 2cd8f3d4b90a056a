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
use crate::verify::{AdminKey, VerificationReport, VerifyInput, verify_connection};
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
#[derive(Debug, Clone, Serialize)]
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
            admin_key: AdminKey::ExportFromIse,
            consent_wait: Duration::from_secs(300),
            app_client_id: None,
        }
    }
}

/// The onboarding pipeline.
#[derive(Clone)]
pub struct Onboarding {
    ise: IseClient,
    graph: GraphClient,
    anchors: TrustAnchorSet,
    configurator: Arc<dyn MdmServerConfigurator>,
    options: Options,
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
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|source| Error::ReadFile {
                path: p.to_owned(),
                source,
            })
        };
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
        let secret = config
            .entra
            .client_secret
            .clone()
            .ok_or_else(|| Error::Config {
                what: "the client secret (ISE_INTUNE_CLIENT_SECRET) is missing".into(),
            })?;
        let mut graph = GraphClient::builder()
            .tenant_id(config.entra.tenant_id.clone())
            .credentials(Credentials::ClientSecret {
                client_id: config.entra.client_id.clone(),
                secret,
            })
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
        let audience = version.token_audience()?;
        Ok((version, audience))
    }

    /// The External MDM settings for this release and application.
    fn mdm_settings(
        &self,
        version: &IseVersion,
        client_id: &str,
    ) -> Result<MdmServerSettings, Error> {
        MdmServerSettings::for_release(
            version,
            self.options.mdm_server_name.clone(),
            client_id.to_owned(),
            self.graph.token_endpoint(),
            self.graph.graph_base().origin().ascii_serialization(),
        )
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
        let (seen, admin, targets, present) = tokio::try_join!(
            steps::observe_app(&self.graph, &identity),
            async { Ok(steps::export_admin_certificate(&self.ise).await?.value) },
            steps::permission_targets(&self.graph),
            steps::trusted_fingerprints(&self.ise),
        )?;
        let registration = steps::decide_registration(&seen, &identity)?;
        let sha1 = admin.certificate.sha1().to_hex();
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
                    steps::key_outcome(&[], &admin.certificate),
                    format!("add key {sha1}"),
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
                    steps::key_outcome(&keys, &admin.certificate),
                    format!("key {sha1} (keeping {} existing key(s))", keys.len()),
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
        let missing: Vec<String> = self
            .anchors
            .missing_from(&present)
            .iter()
            .map(|a| a.name().to_owned())
            .collect();
        plan.push(PlannedChange::new(
            StepName::ImportTrustAnchors,
            if missing.is_empty() {
                Outcome::Unchanged
            } else {
                Outcome::Created
            },
            if missing.is_empty() {
                "every anchor is in ISE's trusted store".into()
            } else {
                format!("import {}", missing.join(", "))
            },
        ));
        let settings = self.mdm_settings(&version, &client_id)?;
        let inspected = self.configurator.inspect(&settings).await?;
        plan.push(PlannedChange::new(
            StepName::ConfigureMdmServer,
            inspected.outcome,
            format!("External MDM server `{}`", settings.name),
        ));
        Ok(plan)
    }

    /// Waits until both app role assignments are visible (admin consent replicates).
    async fn wait_for_consent(&self, sp_id: &str) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let held = self
                .graph
                .service_principal(sp_id.to_owned())
                .app_role_assignments()?
                .all()
                .await?;
            if held.len() >= 2 || started.elapsed() > self.options.consent_wait {
                return Ok(());
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
    pub async fn apply(&self) -> Result<Report, Error> {
        let before = self.counts();
        let mut log = Vec::new();
        let (version, t) = timed(StepName::CheckIseVersion, self.checked_version()).await;
        let (version, audience) = version?;
        self.record(
            &mut log,
            StepName::CheckIseVersion,
            &Step::unchanged(()),
            t,
            format!("ISE {version}; token audience {audience}"),
        );

        // The Microsoft side and the ISE side are independent until the upload.
        let microsoft = async {
            let (app, app_t) = timed(
                StepName::RegisterApp,
                steps::register_app(&self.graph, self.options.app_identity()),
            )
            .await;
            let app = app?;
            let (perms, perms_t) = timed(StepName::GrantPermissions, async {
                let perms = steps::grant_permissions(&self.graph, &app.value).await?;
                if perms.outcome.is_write() {
                    self.wait_for_consent(&app.value.service_principal_id)
                        .await?;
                }
                Ok::<_, Error>(perms)
            })
            .await;
            Ok::<_, Error>(((app, app_t), (perms?, perms_t)))
        };
        let ise_side = async {
            let (export, anchors) = tokio::join!(
                timed(
                    StepName::ExportAdminCertificate,
                    steps::export_admin_certificate(&self.ise)
                ),
                timed(
                    StepName::ImportTrustAnchors,
                    steps::import_trust_anchors(&self.ise, &self.anchors)
                ),
            );
            Ok::<_, Error>(((export.0?, export.1), (anchors.0?, anchors.1)))
        };
        let (ms_side, ise_result) = tokio::join!(microsoft, ise_side);
        let ((export, export_t), (anchors, anchors_t)) = ise_result?;
        let ((app, app_t), (perms, perms_t)) = ms_side?;
        self.record(
            &mut log,
            StepName::RegisterApp,
            &app,
            app_t,
            format!(
                "application `{}` (client id {})",
                app.value.display_name, app.value.client_id
            ),
        );
        self.record(
            &mut log,
            StepName::ExportAdminCertificate,
            &export,
            export_t,
            format!(
                "`{}` of {} (SHA-1 {})",
                export.value.system_certificate.friendly_name,
                export.value.node.hostname,
                export.value.certificate.sha1()
            ),
        );
        let (upload, t) = timed(
            StepName::UploadCertificate,
            steps::upload_certificate(&self.graph, &app.value, &export.value.certificate),
        )
        .await;
        let upload = upload?;
        self.record(
            &mut log,
            StepName::UploadCertificate,
            &upload,
            t,
            format!(
                "thumbprint {} registered and named {}",
                upload.value,
                steps::key_display_name(&export.value.certificate)
            ),
        );
        self.record(
            &mut log,
            StepName::GrantPermissions,
            &perms,
            perms_t,
            "get_device_compliance and Application.Read.All consented".into(),
        );
        let details = steps::app_details(&self.graph, &app.value);
        self.record(
            &mut log,
            StepName::AppDetails,
            &Step::unchanged(()),
            Duration::ZERO,
            format!(
                "client id {}, tenant {}, token endpoint {}",
                details.client_id, details.tenant_id, details.token_endpoint
            ),
        );
        let imported = anchors
            .value
            .iter()
            .filter(|a| a.outcome == Outcome::Created)
            .count();
        self.record(
            &mut log,
            StepName::ImportTrustAnchors,
            &anchors,
            anchors_t,
            format!(
                "{imported} imported, {} already trusted",
                anchors.value.len() - imported
            ),
        );

        let settings = self.mdm_settings(&version, &details.client_id)?;
        let (configured, t) = timed(
            StepName::ConfigureMdmServer,
            steps::configure_mdm_server(self.configurator.as_ref(), &settings),
        )
        .await;
        let configured = configured?;
        self.record(
            &mut log,
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
            steps: Vec::new(),
            requests: Requests::default(),
            verification: VerificationReport {
                ok: false,
                checks: Vec::new(),
            },
            manual_action: configured.instructions.clone(),
            complete: false,
        };
        if configured.outcome != Outcome::ManualActionRequired {
            // A certificate change on an existing entry needs disable → test → enable.
            let needs_cycle = upload.outcome.is_write() && configured.outcome != Outcome::Created;
            let (cycled, t) = timed(StepName::CycleMdmServer, async {
                if needs_cycle {
                    steps::cycle_mdm_server(self.configurator.as_ref(), &settings.name).await
                } else {
                    Ok(Step::unchanged(()))
                }
            })
            .await;
            let cycled = cycled?;
            report.manual_action = cycled.instructions.clone();
            self.record(
                &mut log,
                StepName::CycleMdmServer,
                &cycled,
                t,
                if needs_cycle {
                    "disabled, tested and re-enabled after the certificate change".into()
                } else {
                    "not needed: no certificate change on an existing entry".into()
                },
            );
            if report.manual_action.is_none() {
                let (verification, t) = timed(
                    StepName::VerifyConnection,
                    verify_connection(VerifyInput {
                        ise: &self.ise,
                        graph: &self.graph,
                        client_id: &details.client_id,
                        version,
                        admin_key: self.options.admin_key.clone(),
                        anchors: &self.anchors,
                    }),
                )
                .await;
                let verification = verification?;
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
                    &mut log,
                    StepName::VerifyConnection,
                    &step,
                    t,
                    if verification.ok {
                        format!("{} checks passed", verification.checks.len())
                    } else {
                        failed.join("; ")
                    },
                );
                report.complete = verification.ok;
                report.verification = verification;
            }
        }
        let after = self.counts();
        report.steps = log;
        report.requests = Requests {
            reads: after.reads.saturating_sub(before.reads),
            writes: after.writes.saturating_sub(before.writes),
        };
        Ok(report)
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
