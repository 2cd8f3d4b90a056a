//! Onboarding, the seven steps as one safe, re-runnable workflow over an
//! [`Integration`]: [`plan`] reads and says what would change; [`apply`] runs the
//! steps — the functions of [`crate::steps`], in three phases — and writes nothing when
//! everything is in place already.
//!
//! 1. **Reads**: one [`crate::observe::observe`] — ISE's release (checked before
//!    anything is sent to Microsoft), step 2's export, ISE's trusted store, and what
//!    steps 1, 3 and 4 decide from on the Microsoft side (the application with its
//!    keys and requested permissions, its service principal with the grants it holds).
//! 2. **Writes**, both sides at once: steps 1, then 3 and 4 together, on the Microsoft
//!    side; step 5 on ISE's.
//! 3. **Finish**: steps 6 and 7, verification (ISE's Test Connection reproduced, on
//!    the picture with phase 2's writes applied: only a store step 5 changed is read
//!    again) and the wait for just-granted consent to replicate, at once.
//!
//! A failure after anything ran is [`Error::Apply`], carrying the report so far.

use std::time::{Duration, Instant};

use ise_client::TrustedCertificate;

use crate::Error;
use crate::context::Integration;
use crate::decide::GrantedPermissions;
use crate::decide::{self, AppObservation, PermissionTargets};
pub use crate::error::{ApplyFailure, PartialReport};
use crate::keys::{AdminKeyMaterial, KeyExport, distinct_certificates};
use crate::observe::{Observed, Reading, observe};
use crate::outcome::{Outcome, Step, StepName};
pub use crate::report::{PlannedChange, Report, Requests, StepError, StepReport};
use crate::steps::{self, AnchorImport, RegisteredApp};
use crate::verify::{Seen, VerifyInput, verify_connection};
use crate::version::{IntuneGates as _, IseVersion};

mod plan;
mod run;

use plan::ise_blockers;
use plan::strong_mapping_warning;
pub use plan::{Decision, decide, plan};
use run::Run;
use run::Stopped;
use run::timed;

/// Runs the seven steps in three phases (see the module's docs): refuses unsupported
/// ISE releases before any write; a second run on an integrated pair writes nothing;
/// after [`Outcome::ManualActionRequired`] a later run carries on from the remote
/// state.
///
/// When a step fails after others ran, the error is [`Error::Apply`]: it holds the
/// report so far (each step's outcome, what was written) and every error of both
/// sides. A failure before any step completed (e.g. an unsupported release) is
/// returned as it is.
pub async fn apply(ctx: &Integration) -> Result<Report, Error> {
    let before = ctx.counts();
    let mut run = Run::new(ctx);
    let finished = run_phases(&mut run).await;
    run.conclude(finished, ctx.requests_since(before))
}

/// The three phases, recording into `run`; [`Stopped`] when one ended the run.
async fn run_phases(run: &mut Run<'_>) -> Result<Report, Stopped> {
    let (reads, microsoft) = read_phase(run).await?;
    let writes = write_phase(run.ctx, &reads, microsoft).await;
    let mut written = record_writes(run, &reads, writes)?;
    // Without consent ISE's Test Connection (steps 6 and 7) cannot pass: an
    // administrator acts first, and the next run carries on from here.
    if let Some(consent) = written.consent_needed.take()
        && !replicated_consent(run.ctx, &written).await
    {
        return Ok(Report {
            ise_version: reads.version.to_string(),
            manual_action: Some(format!(
                "{consent}\nIf an administrator granted it in the last minutes, Entra ID may \
                 still be replicating it (this run waited {} s for it): run onboard again in \
                 a minute.",
                consent_replication_wait(run.ctx).as_secs()
            )),
            ..Report::default()
        });
    }
    finish_phase(run, reads, written).await
}

/// How long a run waits for admin consent an administrator may have just given.
pub const CONSENT_REPLICATION_WAIT: Duration = Duration::from_secs(60);

/// The wait for replicating consent: [`CONSENT_REPLICATION_WAIT`], or the
/// integration's shorter `consent_wait`.
fn consent_replication_wait(ctx: &Integration) -> Duration {
    CONSENT_REPLICATION_WAIT.min(ctx.options.consent_wait)
}

/// Whether admin consent for an application that existed before this run becomes
/// visible within [`consent_replication_wait`]: an administrator may have approved it
/// moments ago, and Entra ID replicates grants with a lag. A line of progress says so
/// first. An application created by this run has had no consent to wait for.
async fn replicated_consent(ctx: &Integration, written: &Written) -> bool {
    if written.app.created_now {
        return false;
    }
    let bound = consent_replication_wait(ctx);
    ctx.report_progress(&StepReport {
        name: StepName::GrantPermissions,
        outcome: Outcome::ManualActionRequired,
        elapsed_ms: 0,
        detail: format!(
            "admin consent not visible yet: waiting up to {} s in case an administrator \
             has just granted it (Entra ID replicates it with a delay)",
            bound.as_secs()
        ),
    });
    wait_for_consent_within(
        ctx,
        &written.app.service_principal_id,
        &written.targets,
        bound,
    )
    .await
    .is_ok()
}

/// What the run decides from, read in phase 1.
struct Reads {
    version: IseVersion,
    /// Step 2's export (with the nodes' keys when verification acts as them).
    exported: Vec<AdminKeyMaterial>,
    /// The nodes' Admin certificates, taken from the export once.
    admins: Vec<crate::keys::AdminCertificate>,
    export_elapsed: Duration,
    store: Vec<TrustedCertificate>,
    /// The Compliance Retrieval endpoint the automating identity discovered.
    intune_endpoint: Option<String>,
}

impl Reads {
    /// The distinct certificates of the nodes (a shared certificate once): what step 3
    /// adds and step 6 names.
    fn certificates(&self) -> Vec<&crate::certs::Certificate> {
        distinct_certificates(&self.admins)
    }
}

/// What steps 1 and 4 decide from (their errors are theirs to report).
struct MicrosoftReads {
    seen: Result<AppObservation, Error>,
    targets: Result<PermissionTargets, Error>,
    /// What adding keys reads first (the app-management policies, the keys kept), read
    /// before any write; empty when no key is added.
    key_reads: Result<
        (
            crate::observe::KeyPolicies,
            Vec<graph_client::KeyCredential>,
        ),
        Error,
    >,
}

/// What step 3 reads before adding keys — the app-management policies that may refuse
/// them, the keys it keeps — read in phase 1 so that a policy that would refuse ISE's
/// certificate (a lifetime cap, or trusted CAs only) stops the run before step 1 writes.
async fn key_reads(
    ctx: &Integration,
    seen: &AppObservation,
    certs: &[&crate::certs::Certificate],
) -> Result<
    (
        crate::observe::KeyPolicies,
        Vec<graph_client::KeyCredential>,
    ),
    Error,
> {
    match seen.registration() {
        Ok(decide::Registration::Existing(app) | decide::Registration::Adopt(app))
            if decide::keys_outcome(&app.key_credentials, certs).is_write() =>
        {
            steps::key_write_reads(&ctx.graph, &app.id, &app.key_credentials).await
        }
        // An application created now has no key to keep and no policy assigned.
        Ok(decide::Registration::Create) => crate::observe::tenant_key_policies(&ctx.graph)
            .await
            .map(|p| (p, Vec::new())),
        _ => Ok(Default::default()),
    }
}

/// Phase 1: one [`crate::observe::observe`] of both systems, Microsoft's side only
/// once the release is known to be supported, so that nothing is sent to Microsoft
/// for a release that is refused. Every node's Admin certificate is there before any
/// write: a node without one, or with a key Entra ID would refuse, stops the run here.
async fn read_phase(run: &mut Run<'_>) -> Result<(Reads, MicrosoftReads), Stopped> {
    let ctx = run.ctx;
    let reading = Reading::onboarding(KeyExport::for_admin_key(&ctx.options.admin_key));
    let (observed, elapsed) = timed(StepName::CheckIseVersion, observe(ctx, &reading)).await;
    let Observed {
        version,
        nodes,
        store,
        microsoft,
        ..
    } = observed;
    let checked = version.and_then(|v| {
        let audience = v.check_release_for(ctx.graph.intune_resource())?;
        Ok((v, audience))
    });
    let (version, audience) = run.check(StepName::CheckIseVersion, checked)?;
    run.ise_version = version.to_string();
    run.record(
        StepName::CheckIseVersion,
        Outcome::Unchanged,
        elapsed,
        format!(
            "ISE {version}; token audience {audience}{}",
            strong_mapping_warning(&version)
        ),
    );
    let ise_missing = ise_blockers(nodes.as_ref().err(), store.as_ref().err());
    if !ise_missing.is_empty() {
        run.errors.push((
            StepName::CheckRights,
            Error::MissingRights {
                missing: ise_missing,
            },
        ));
        return Err(Stopped);
    }
    let exported = run.check(StepName::ExportAdminCertificate, nodes)?;
    let admins: Vec<_> = exported.iter().map(|m| m.admin.clone()).collect();
    let certs = distinct_certificates(&admins);
    let mut microsoft = microsoft.ok_or(Stopped)?;
    // The automating identity could not sign in: no Microsoft step can run, so the run
    // stops before it writes anything anywhere — with Entra's own refusal, which one of
    // the concurrent reads got (the others share it).
    if let Some(refusal) = sign_in_refusal(&mut microsoft) {
        run.errors.push((StepName::CheckRights, refusal));
        return Err(Stopped);
    }
    if let (Ok(Some(roles)), Ok(seen), Ok(targets)) =
        (&microsoft.roles, &microsoft.app, &microsoft.targets)
    {
        let missing = graph_rights(roles, seen, targets, &certs);
        if !missing.is_empty() {
            run.errors
                .push((StepName::CheckRights, Error::MissingRights { missing }));
            return Err(Stopped);
        }
    }
    // An app-management policy that would refuse ISE's certificate stops the run
    // before anything is written (a read it may not make is Graph's to refuse later).
    let key_reads = match &microsoft.app {
        Ok(seen) => {
            let reads = key_reads(ctx, seen, &certs).await;
            if let Ok((policies, _)) = &reads
                && let Some(refusal) = steps::key_refusal(seen, policies, &certs)
            {
                run.errors.push((StepName::UploadCertificate, refusal));
                return Err(Stopped);
            }
            reads
        }
        Err(_) => Ok(Default::default()),
    };
    let store = run.check(StepName::ImportTrustAnchors, store)?;
    let intune_endpoint = microsoft
        .discovery
        .ok()
        .and_then(|d| crate::observe::endpoint_for(&d, &version));
    Ok((
        Reads {
            version,
            admins,
            exported,
            export_elapsed: elapsed,
            store,
            intune_endpoint,
        },
        MicrosoftReads {
            seen: microsoft.app,
            targets: microsoft.targets,
            key_reads,
        },
    ))
}

/// Entra's refusal of the automating identity's sign-in, taken out of the reads that
/// met it: the token error itself where one read got it (the reads that waited on the
/// same token request share it as a credentials error).
fn sign_in_refusal(m: &mut crate::observe::Microsoft) -> Option<Error> {
    use graph_client::Error as G;
    let refused = |r: &Result<(), &Error>| {
        matches!(
            r,
            Err(Error::Graph(G::Token { .. } | G::Credentials { .. }))
        )
    };
    let results = [
        m.roles.as_ref().map(drop),
        m.app.as_ref().map(drop),
        m.targets.as_ref().map(drop),
        m.discovery.as_ref().map(drop),
    ];
    if !results.iter().any(refused) {
        return None;
    }
    let token = |r: &Result<(), &Error>| matches!(r, Err(Error::Graph(G::Token { .. })));
    let which = results
        .iter()
        .position(token)
        .or_else(|| results.iter().position(refused));
    // The run stops on the refusal: the placeholders left behind are never read.
    match which {
        Some(1) => {
            std::mem::replace(&mut m.app, Ok(crate::decide::AppObservation::default())).err()
        }
        Some(2) => std::mem::replace(
            &mut m.targets,
            Err(Error::Config {
                what: String::new(),
            }),
        )
        .err(),
        Some(3) => std::mem::replace(&mut m.discovery, Ok(Vec::new())).err(),
        _ => std::mem::replace(&mut m.roles, Ok(None)).err(),
    }
}

/// What the automating identity lacks for the application writes this run would make
/// ([`decide::microsoft`], the decision the plan prints), before the first write. An
/// identity that may write applications is not asked anything more.
fn graph_rights(
    roles: &[String],
    seen: &AppObservation,
    targets: &PermissionTargets,
    certs: &[&crate::certs::Certificate],
) -> Vec<crate::rights::MissingRight> {
    if crate::rights::graph_blockers(Some(roles), &["write"]).is_empty() {
        return Vec::new();
    }
    match decide::microsoft(seen, certs, targets) {
        Ok(d) => crate::rights::graph_blockers(Some(roles), &d.writes()),
        // The steps themselves will meet and report what failed here.
        Err(_) => Vec::new(),
    }
}

/// A step's result and how long it took.
type Timed<T> = (Result<T, Error>, Duration);

/// Phase 2's results, each with how long it took.
struct Writes {
    app: Result<(Step<RegisteredApp>, Duration), Error>,
    upload: Option<Timed<Step<Vec<String>>>>,
    permissions: Option<Timed<(Step<GrantedPermissions>, PermissionTargets)>>,
    anchors: (Result<Step<Vec<AnchorImport>>, Error>, Duration),
    /// Step 6's configurator's inspection, made while steps 1 (its service principal),
    /// 3 and 4 wrote; `None` when there was no client id yet.
    inspected: Option<Result<Step<()>, Error>>,
}

/// Phase 2: the Microsoft side and ISE's trusted store (step 5), at once. On the
/// Microsoft side, step 1's application with what adding ISE's keys needs read (when
/// step 3 will add one); then step 1's service principal beside step 3, which needs
/// only the application; then step 4. Every future runs to its end, so that what is
/// sent does not depend on which side finishes first.
async fn write_phase(ctx: &Integration, reads: &Reads, microsoft: MicrosoftReads) -> Writes {
    let certs = reads.certificates();
    let ise_side = timed(
        StepName::ImportTrustAnchors,
        steps::import_trust_anchors(&ctx.ise, &ctx.anchors, &reads.store),
    );
    let (microsoft_side, anchors) = tokio::join!(
        Box::pin(microsoft_writes(ctx, reads.version, &certs, microsoft)),
        ise_side
    );
    let MicrosoftWrites {
        app,
        upload,
        permissions,
        inspected,
    } = microsoft_side;
    Writes {
        app,
        upload,
        permissions,
        anchors,
        inspected,
    }
}

/// Phase 2's Microsoft side's results, and step 6's inspection.
struct MicrosoftWrites {
    app: Result<(Step<RegisteredApp>, Duration), Error>,
    upload: Option<Timed<Step<Vec<String>>>>,
    permissions: Option<Timed<(Step<GrantedPermissions>, PermissionTargets)>>,
    inspected: Option<Result<Step<()>, Error>>,
}

impl MicrosoftWrites {
    fn failed(e: Error) -> Self {
        Self {
            app: Err(e),
            upload: None,
            permissions: None,
            inspected: None,
        }
    }
}

/// Phase 2's Microsoft side (see [`write_phase`]); step 6's configurator inspects the
/// entry as soon as the application's client id is known, beside the writes.
async fn microsoft_writes(
    ctx: &Integration,
    version: IseVersion,
    certs: &[&crate::certs::Certificate],
    microsoft: MicrosoftReads,
) -> MicrosoftWrites {
    let identity = ctx.options.app_identity();
    let seen = match microsoft.seen {
        Ok(seen) => seen,
        Err(e) => return MicrosoftWrites::failed(e),
    };
    let key_reads = microsoft.key_reads;
    let (application, app_t) = timed(
        StepName::RegisterApp,
        crate::audit::naming(
            identity.display_name.clone(),
            steps::register_application(&ctx.graph, &identity, &seen),
        ),
    )
    .await;
    let application = match application {
        Ok(app) => app,
        Err(e) => return MicrosoftWrites::failed(e),
    };
    let inspect = async {
        let settings = ctx
            .mdm_settings(&version, &application.value.app_id, certs)
            .ok()?;
        Some(ctx.configurator.inspect(&settings).await)
    };
    let target = steps::KeyTarget {
        object_id: &application.value.id,
        name: &application.value.display_name,
        created_date_time: application.value.created_date_time.as_deref(),
        keys: &application.value.key_credentials,
    };
    let writes = async {
        let upload = timed(StepName::UploadCertificate, async {
            let (policies, kept) = key_reads?;
            steps::upload_to(&ctx.graph, &target, certs, &policies, kept).await
        });
        let ((principal, sp_t), upload) = tokio::join!(
            timed(
                StepName::RegisterApp,
                crate::audit::naming(
                    application.value.display_name.clone(),
                    steps::service_principal(&ctx.graph, &application, &seen),
                ),
            ),
            upload,
        );
        let principal = match principal {
            Ok(p) => p,
            Err(e) => return (Err(e), Some(upload), None),
        };
        let app = steps::registered(application.clone(), principal);
        let permissions = timed(StepName::GrantPermissions, async {
            let targets = microsoft.targets?;
            let step = steps::grant_permissions(&ctx.graph, &app.value, &targets).await?;
            Ok((step, targets))
        })
        .await;
        (Ok((app, app_t + sp_t)), Some(upload), Some(permissions))
    };
    let (inspected, (app, upload, permissions)) = tokio::join!(inspect, writes);
    MicrosoftWrites {
        app,
        upload,
        permissions,
        inspected,
    }
}

/// What phase 2 wrote, as phase 3 needs it.
struct Written {
    app: RegisteredApp,
    /// Whether step 3 changed the application's keys (step 7 then cycles the entry).
    keys_changed: bool,
    /// The SHA-1 thumbprints of the application's keys after step 3.
    registered: Vec<String>,
    /// Whether step 5 changed ISE's store (verification then reads it again).
    store_changed: bool,
    /// The grants to wait for, when step 4 granted some just now.
    consent_to_wait: Option<PermissionTargets>,
    /// What an administrator does when the automating identity may not consent.
    consent_needed: Option<String>,
    /// The grants admin consent gives.
    targets: PermissionTargets,
    /// Step 6's configurator's inspection in phase 2.
    inspected: Option<Result<Step<()>, Error>>,
}

/// Records phase 2 in the established order (register, export, upload, permissions,
/// details, anchors); [`Stopped`] when a step failed.
fn record_writes(run: &mut Run<'_>, reads: &Reads, writes: Writes) -> Result<Written, Stopped> {
    let ctx = run.ctx;
    let certs = reads.certificates();
    let app = run.check(StepName::RegisterApp, writes.app).ok();
    if let Some((app, t)) = &app {
        run.record_step(
            StepName::RegisterApp,
            app,
            *t,
            format!(
                "application `{}` (client id {})",
                app.value.display_name, app.value.client_id
            ),
        );
    }
    run.name_ise_key_holder(&certs);
    record_export(run, reads, &reads.admins);
    let upload = writes.upload.and_then(|(u, t)| {
        run.check(StepName::UploadCertificate, u)
            .ok()
            .map(|u| (u, t))
    });
    let permissions = writes.permissions.and_then(|(p, t)| {
        run.check(StepName::GrantPermissions, p)
            .ok()
            .map(|p| (p, t))
    });
    let (anchors, anchors_t) = writes.anchors;
    let anchors = run.check(StepName::ImportTrustAnchors, anchors).ok();
    if let Some((upload, t)) = &upload {
        let names: Vec<String> = certs.iter().map(|c| decide::key_display_name(c)).collect();
        run.record_step(
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
    let consent_needed = match (&permissions, &app) {
        (Some(((p, _), _)), Some((app, _))) if p.outcome == Outcome::ManualActionRequired => {
            Some(steps::admin_consent_instructions(&ctx.graph, &app.value))
        }
        _ => None,
    };
    if let Some(((p, _), t)) = &permissions {
        run.record_step(
            StepName::GrantPermissions,
            p,
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
        record_details(run, &app.value);
    }
    if let Some(anchors) = &anchors {
        record_anchors(run, anchors, anchors_t);
    }
    let (Some((app, _)), Some((upload, _)), Some(anchors), Some(((perms, targets), _))) =
        (app, upload, anchors, permissions)
    else {
        return Err(Stopped);
    };
    Ok(Written {
        registered: crate::verify::thumbprints(&app.value.keys)
            .into_iter()
            .chain(upload.value.iter().cloned())
            .collect(),
        app: app.value,
        keys_changed: upload.outcome.is_write(),
        store_changed: anchors.outcome.is_write(),
        consent_to_wait: perms.outcome.is_write().then(|| targets.clone()),
        consent_needed,
        targets,
        inspected: writes.inspected,
    })
}

/// Records step 2 (its reads ran in phase 1).
fn record_export(run: &mut Run<'_>, reads: &Reads, admins: &[crate::keys::AdminCertificate]) {
    run.record(
        StepName::ExportAdminCertificate,
        Outcome::Unchanged,
        reads.export_elapsed,
        admins
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
}

/// Records step 4b: the details ISE's External MDM form needs.
fn record_details(run: &mut Run<'_>, app: &RegisteredApp) {
    let details = steps::app_details(&run.ctx.graph, app);
    run.record(
        StepName::AppDetails,
        Outcome::Unchanged,
        Duration::ZERO,
        format!(
            "client id {}, tenant {}, token endpoint {}",
            details.client_id, details.tenant_id, details.token_endpoint
        ),
    );
}

/// Records step 5.
fn record_anchors(run: &mut Run<'_>, anchors: &Step<Vec<AnchorImport>>, elapsed: Duration) {
    let imported = anchors
        .value
        .iter()
        .filter(|a| a.outcome == Outcome::Created)
        .count();
    run.record_step(
        StepName::ImportTrustAnchors,
        anchors,
        elapsed,
        format!(
            "{imported} imported, {} already trusted",
            anchors.value.len().saturating_sub(imported)
        ),
    );
}

/// Phase 3: steps 6 and 7, verification (which reuses the keys and the discovery, and
/// needs only what is written by now) and the wait for consent, at once.
async fn finish_phase(
    run: &mut Run<'_>,
    reads: Reads,
    written: Written,
) -> Result<Report, Stopped> {
    let ctx = run.ctx;
    let certs = reads.certificates();
    let details = steps::app_details(&ctx.graph, &written.app);
    let settings = run.check(
        StepName::ConfigureMdmServer,
        ctx.mdm_settings(&reads.version, &details.client_id, &certs),
    )?;
    let mdm = configure_and_cycle(ctx, &settings, written.keys_changed, written.inspected);
    let verify = timed(StepName::VerifyConnection, async {
        // The picture with phase 2's writes applied: only a store step 5 changed is
        // read again.
        let trusted = if written.store_changed {
            crate::observe::trusted_store(&ctx.ise).await?
        } else {
            reads.store.clone()
        };
        let seen = Seen::new(
            trusted,
            reads.exported.clone(),
            written.registered.clone(),
            reads.intune_endpoint.clone(),
        );
        verify_connection(
            VerifyInput {
                ise: &ctx.ise,
                graph: &ctx.graph,
                client_id: &details.client_id,
                version: reads.version,
                admin_key: ctx.options.admin_key.clone(),
                anchors: &ctx.anchors,
                propagation_wait: ctx.options.propagation_wait,
            },
            &seen,
        )
        .await
    });
    let consent = async {
        match &written.consent_to_wait {
            Some(targets) => {
                wait_for_consent(ctx, &written.app.service_principal_id, targets).await
            }
            None => Ok(()),
        }
    };
    let (((configured, t), cycle), (verification, verify_t), consent) =
        tokio::join!(mdm, verify, consent);
    run.check(StepName::GrantPermissions, consent)?;
    let configured = run.check(StepName::ConfigureMdmServer, configured)?;
    run.record_step(
        StepName::ConfigureMdmServer,
        &configured,
        t,
        format!(
            "`{}` with audience {}",
            settings.name, settings.token_audience
        ),
    );
    let mut report = Report {
        ise_version: reads.version.to_string(),
        manual_action: configured.instructions.clone(),
        ..Report::default()
    };
    let Some((needs_cycle, (cycled, t))) = cycle else {
        return Ok(report);
    };
    let cycled = run.check(StepName::CycleMdmServer, cycled)?;
    report.manual_action = cycled.instructions.clone();
    run.record_step(
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
    run.record_verification(&verification, verify_t);
    report.complete = verification.ok;
    report.verification = verification;
    Ok(report)
}

/// Step 6's result (timed) and, when it did not stop for a person, whether step 7 was
/// needed and its result (timed).
type MdmResults = (Timed<Step<()>>, Option<(bool, Timed<Step<()>>)>);

/// Step 6, then step 7 when a certificate changed on an existing entry (disable →
/// test → enable).
async fn configure_and_cycle(
    ctx: &Integration,
    settings: &crate::mdm::MdmServerSettings,
    keys_changed: bool,
    inspected: Option<Result<Step<()>, Error>>,
) -> MdmResults {
    let configurator = ctx.configurator.as_ref();
    let (configured, t) = timed(StepName::ConfigureMdmServer, async {
        // What phase 2's inspection said, or (it could not run, or failed) a fresh one.
        let inspected = match inspected {
            Some(Ok(inspected)) => inspected,
            _ => configurator.inspect(settings).await?,
        };
        steps::configure_mdm_server(configurator, settings, &inspected).await
    })
    .await;
    let Ok(configured) = configured else {
        return ((configured, t), None);
    };
    if configured.outcome == Outcome::ManualActionRequired {
        return ((Ok(configured), t), None);
    }
    let needs_cycle = keys_changed && configured.outcome != Outcome::Created;
    let cycled = timed(StepName::CycleMdmServer, async {
        if needs_cycle {
            steps::cycle_mdm_server(ctx.configurator.as_ref(), &settings.name).await
        } else {
            Ok(Step::unchanged(()))
        }
    })
    .await;
    ((Ok(configured), t), Some((needs_cycle, cycled)))
}

/// Waits until every grant is visible (admin consent replicates), or fails naming
/// what is still missing.
async fn wait_for_consent(
    ctx: &Integration,
    sp_id: &str,
    targets: &PermissionTargets,
) -> Result<(), Error> {
    wait_for_consent_within(ctx, sp_id, targets, ctx.options.consent_wait).await
}

/// [`wait_for_consent`] within `bound`.
async fn wait_for_consent_within(
    ctx: &Integration,
    sp_id: &str,
    targets: &PermissionTargets,
    bound: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let held = ctx
            .graph
            .service_principal(sp_id.to_owned())
            .app_role_assignments()?
            .all()
            .await?;
        let missing = decide::missing_grants(&held, targets);
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > bound {
            return Err(Error::ConsentNotVisible {
                waited: started.elapsed(),
                missing: missing
                    .iter()
                    .map(|(resource, role)| format!("{resource} / {role}"))
                    .collect(),
            });
        }
        // 250 ms, doubling to 5 s: a few reads, not one every instant.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
