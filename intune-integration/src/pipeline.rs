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
use crate::steps::{self, Outcome};
use crate::verify::{AdminKey, VerificationReport, VerifyInput, verify_connection};
use crate::version::{IntuneGates as _, IseVersion};

/// How a step ended, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Made something new.
    Created,
    /// Changed something.
    Updated,
    /// Wrote nothing.
    Unchanged,
    /// Waits for a person.
    ManualActionRequired,
    /// Failed; the detail says why.
    Failed,
}

impl From<Outcome> for StepStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Created => Self::Created,
            Outcome::Updated => Self::Updated,
            Outcome::Unchanged => Self::Unchanged,
            Outcome::ManualActionRequired => Self::ManualActionRequired,
        }
    }
}

/// One step of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step's function name, e.g. `register_app`.
    pub name: &'static str,
    /// How it ended.
    pub outcome: StepStatus,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What it found or did.
    pub detail: String,
}

/// HTTP requests a run sent (every attempt counts; token requests are neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    /// Reads (GET, and ISE's certificate export).
    pub reads: u64,
    /// Writes (anything that may change state).
    pub writes: u64,
}

/// The result of [`Onboarding::apply`].
#[derive(Debug, Clone, Serialize)]
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

/// One change [`Onboarding::plan`] expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    /// The step.
    pub step: &'static str,
    /// `create`, `update`, `none` or `configurator decides`.
    pub change: &'static str,
    /// What exactly.
    pub detail: String,
}

/// Called after each step (for progress output).
pub type Progress = Arc<dyn Fn(&StepReport) + Send + Sync>;

/// Options of a run.
#[derive(Clone)]
pub struct Options {
    /// Display name of the Entra application.
    pub app_display_name: String,
    /// Name of the External MDM server entry.
    pub mdm_server_name: String,
    /// Where ISE's admin key for verification comes from.
    pub admin_key: AdminKey,
    /// How long to wait for admin consent to replicate.
    pub consent_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            app_display_name: "Cisco ISE Intune integration".into(),
            mdm_server_name: "Intune".into(),
            admin_key: AdminKey::ExportFromIse,
            consent_wait: Duration::from_secs(300),
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
            std::fs::read_to_string(p).map_err(|e| Error::Config {
                what: format!("cannot read {}: {e}", p.display()),
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

    fn record(&self, steps: &mut Vec<StepReport>, step: StepReport) {
        if let Some(p) = &self.progress {
            p(&step);
        }
        steps.push(step);
    }

    /// Reads ISE's version and refuses releases without Microsoft Graph support.
    async fn checked_version(&self) -> Result<IseVersion, Error> {
        let version = self.ise.version().await?;
        version.token_audience()?;
        Ok(version)
    }

    /// Reads everything and says what [`Self::apply`] would change. Writes nothing.
    pub async fn plan(&self) -> Result<Vec<PlannedChange>, Error> {
        let version = self.checked_version().await?;
        let mut plan = vec![PlannedChange {
            step: "check_ise_version",
            change: "none",
            detail: format!(
                "ISE {version}: token audience {}",
                version.token_audience()?
            ),
        }];
        let apps = self
            .graph
            .applications()
            .find_by_display_name(&self.options.app_display_name)
            .await?;
        let admin = steps::export_admin_certificate(&self.ise).await?.value;
        match apps.first() {
            None => {
                plan.push(PlannedChange {
                    step: "register_app",
                    change: "create",
                    detail: format!(
                        "application `{}` and its service principal",
                        self.options.app_display_name
                    ),
                });
                plan.push(PlannedChange {
                    step: "upload_certificate",
                    change: "update",
                    detail: format!("add key {}", admin.certificate.sha1()),
                });
                plan.push(PlannedChange {
                    step: "grant_permissions",
                    change: "update",
                    detail: "get_device_compliance and Application.Read.All with admin consent"
                        .into(),
                });
            }
            Some(app) => {
                let sp = self
                    .graph
                    .service_principals()
                    .by_app_id(&app.app_id)
                    .await?;
                plan.push(PlannedChange {
                    step: "register_app",
                    change: if sp.is_some() { "none" } else { "create" },
                    detail: format!("application {} exists", app.app_id),
                });
                let keys = self
                    .graph
                    .application(app.id.clone())
                    .key_credentials()
                    .await?;
                let sha1 = admin.certificate.sha1().to_hex();
                let present = keys
                    .iter()
                    .any(|k| k.thumbprint_hex().as_deref() == Some(sha1.as_str()));
                plan.push(PlannedChange {
                    step: "upload_certificate",
                    change: if present { "none" } else { "update" },
                    detail: format!("key {sha1} (keeping {} existing key(s))", keys.len()),
                });
                let held = match &sp {
                    Some(sp) => self
                        .graph
                        .service_principal(sp.id.clone())
                        .app_role_assignments()?
                        .all()
                        .await?
                        .len(),
                    None => 0,
                };
                plan.push(PlannedChange {
                    step: "grant_permissions",
                    change: if held >= 2 { "none" } else { "update" },
                    detail: format!("{held} app role assignment(s) held"),
                });
            }
        }
        let present = steps::trusted_fingerprints(&self.ise).await?;
        let missing: Vec<String> = self
            .anchors
            .missing_from(&present)
            .iter()
            .map(|a| a.name().to_owned())
            .collect();
        plan.push(PlannedChange {
            step: "import_trust_anchors",
            change: if missing.is_empty() { "none" } else { "create" },
            detail: if missing.is_empty() {
                "every anchor is in ISE's trusted store".into()
            } else {
                format!("import {}", missing.join(", "))
            },
        });
        plan.push(PlannedChange {
            step: "configure_mdm_server",
            change: "configurator decides",
            detail: format!("External MDM server `{}`", self.options.mdm_server_name),
        });
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

    /// Runs every step. Refuses unsupported ISE releases before any write. A second
    /// run on an integrated pair writes nothing; after
    /// [`StepStatus::ManualActionRequired`] a later run carries on from the remote
    /// state.
    pub async fn apply(&self) -> Result<Report, Error> {
        let before = self.counts();
        let mut steps_done = Vec::new();
        let t = Instant::now();
        let version = self.checked_version().await?;
        self.record(
            &mut steps_done,
            StepReport {
                name: "check_ise_version",
                outcome: StepStatus::Unchanged,
                elapsed_ms: ms(t.elapsed()),
                detail: format!(
                    "ISE {version}; token audience {}",
                    version.token_audience()?
                ),
            },
        );

        // The Microsoft side and the ISE side are independent until the upload.
        let microsoft = async {
            let t = Instant::now();
            let app = steps::register_app(&self.graph, &self.options.app_display_name).await?;
            let app_elapsed = t.elapsed();
            let t = Instant::now();
            let perms = steps::grant_permissions(&self.graph, &app.value).await?;
            if perms.outcome != Outcome::Unchanged {
                self.wait_for_consent(&app.value.service_principal_id)
                    .await?;
            }
            Ok::<_, Error>((app, app_elapsed, perms, t.elapsed()))
        };
        let ise_side = async {
            let export = async {
                let t = Instant::now();
                steps::export_admin_certificate(&self.ise)
                    .await
                    .map(|s| (s, t.elapsed()))
            };
            let anchors = async {
                let t = Instant::now();
                steps::import_trust_anchors(&self.ise, &self.anchors)
                    .await
                    .map(|s| (s, t.elapsed()))
            };
            tokio::try_join!(export, anchors)
        };
        let (ms_side, ise_result) = tokio::join!(microsoft, ise_side);
        let ((export, export_elapsed), (anchors, anchors_elapsed)) = ise_result?;
        let (app, app_elapsed, perms, perms_elapsed) = ms_side?;
        self.record(
            &mut steps_done,
            StepReport {
                name: "register_app",
                outcome: app.outcome.into(),
                elapsed_ms: ms(app_elapsed),
                detail: format!(
                    "application `{}` (client id {})",
                    app.value.display_name, app.value.client_id
                ),
            },
        );
        self.record(
            &mut steps_done,
            StepReport {
                name: "export_admin_certificate",
                outcome: export.outcome.into(),
                elapsed_ms: ms(export_elapsed),
                detail: format!(
                    "`{}` of {} (SHA-1 {})",
                    export.value.system_certificate.friendly_name,
                    export.value.node.hostname,
                    export.value.certificate.sha1()
                ),
            },
        );
        let t = Instant::now();
        let upload =
            steps::upload_certificate(&self.graph, &app.value, &export.value.certificate).await?;
        self.record(
            &mut steps_done,
            StepReport {
                name: "upload_certificate",
                outcome: upload.outcome.into(),
                elapsed_ms: ms(t.elapsed()),
                detail: format!(
                    "thumbprint {} registered and named {}",
                    upload.value,
                    steps::key_display_name(&export.value.certificate)
                ),
            },
        );
        self.record(
            &mut steps_done,
            StepReport {
                name: "grant_permissions",
                outcome: perms.outcome.into(),
                elapsed_ms: ms(perms_elapsed),
                detail: "get_device_compliance and Application.Read.All consented".into(),
            },
        );
        let details = steps::app_details(&self.graph, &app.value);
        self.record(
            &mut steps_done,
            StepReport {
                name: "app_details",
                outcome: StepStatus::Unchanged,
                elapsed_ms: 0,
                detail: format!(
                    "client id {}, tenant {}, token endpoint {}",
                    details.client_id, details.tenant_id, details.token_endpoint
                ),
            },
        );
        let imported = anchors
            .value
            .iter()
            .filter(|a| a.result == "imported")
            .count();
        self.record(
            &mut steps_done,
            StepReport {
                name: "import_trust_anchors",
                outcome: anchors.outcome.into(),
                elapsed_ms: ms(anchors_elapsed),
                detail: format!(
                    "{imported} imported, {} already trusted",
                    anchors.value.len() - imported
                ),
            },
        );

        let settings = MdmServerSettings::for_release(
            &version,
            self.options.mdm_server_name.clone(),
            details.client_id.clone(),
            details.token_endpoint.clone(),
            details.auto_discovery_url.clone(),
        )?;
        let t = Instant::now();
        let configured = steps::configure_mdm_server(self.configurator.as_ref(), &settings).await?;
        self.record(
            &mut steps_done,
            StepReport {
                name: "configure_mdm_server",
                outcome: configured.outcome.into(),
                elapsed_ms: ms(t.elapsed()),
                detail: format!(
                    "`{}` with audience {}",
                    settings.name, settings.token_audience
                ),
            },
        );
        let mut report = Report {
            ise_version: version.to_string(),
            steps: Vec::new(),
            requests: Requests::default(),
            verification: VerificationReport {
                ok: false,
                checks: Vec::new(),
            },
            manual_action: None,
            complete: false,
        };
        if configured.outcome == Outcome::ManualActionRequired {
            report.manual_action = configured.value;
        } else {
            // A certificate change on an existing entry needs disable → test → enable.
            let t = Instant::now();
            let needs_cycle =
                upload.outcome != Outcome::Unchanged && configured.outcome != Outcome::Created;
            let (outcome, detail) = if needs_cycle {
                let cycled =
                    steps::cycle_mdm_server(self.configurator.as_ref(), &settings.name).await?;
                if cycled.outcome == Outcome::ManualActionRequired {
                    report.manual_action = cycled.value;
                }
                (
                    cycled.outcome,
                    "disabled, tested and re-enabled after the certificate change".to_owned(),
                )
            } else {
                (
                    Outcome::Unchanged,
                    "not needed: no certificate change on an existing entry".to_owned(),
                )
            };
            self.record(
                &mut steps_done,
                StepReport {
                    name: "cycle_mdm_server",
                    outcome: outcome.into(),
                    elapsed_ms: ms(t.elapsed()),
                    detail,
                },
            );
            if report.manual_action.is_none() {
                let t = Instant::now();
                let verification = verify_connection(VerifyInput {
                    ise: &self.ise,
                    graph: &self.graph,
                    client_id: &details.client_id,
                    version,
                    admin_key: self.options.admin_key.clone(),
                    anchors: &self.anchors,
                })
                .await?;
                let failed: Vec<String> = verification
                    .checks
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect();
                self.record(
                    &mut steps_done,
                    StepReport {
                        name: "verify_connection",
                        outcome: if verification.ok {
                            StepStatus::Unchanged
                        } else {
                            StepStatus::Failed
                        },
                        elapsed_ms: ms(t.elapsed()),
                        detail: if verification.ok {
                            format!("{} checks passed", verification.checks.len())
                        } else {
                            failed.join("; ")
                        },
                    },
                );
                report.complete = verification.ok;
                report.verification = verification;
            }
        }
        let after = self.counts();
        report.steps = steps_done;
        report.requests = Requests {
            reads: after.reads - before.reads,
            writes: after.writes - before.writes,
        };
        Ok(report)
    }
}
