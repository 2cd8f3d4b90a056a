//! [`plan`](super::plan): what onboarding would change — one reading of both systems, one
//! pure [`decide()`] into a [`Decision`] with an action per step, reported as the
//! [`Report`] [`apply`](super::apply) returns — written nowhere; and the rights a run
//! lacks, which the plan and the apply's read phase both report.

use crate::Error;
use crate::context::Integration;
use crate::decide;
use crate::decide::AnchorAction;
use crate::decide::MicrosoftDecision;
use crate::keys::AdminCertificate;
use crate::keys::KeyExport;
use crate::keys::distinct_certificates;
use crate::observe::Observed;
use crate::observe::Reading;
use crate::observe::observe;
use crate::outcome::Outcome;
use crate::outcome::StepName;
use crate::report::Report;
use crate::report::StepReport;
use crate::rights::MissingRight;
use crate::version::IntuneGates;
use crate::version::IseVersion;
use crate::version::TokenAudience;

/// Reads both systems once ([`crate::observe::observe`], as [`apply`](super::apply) does),
/// decides every step ([`decide()`], with the decision functions `apply` uses,
/// [`crate::decide`]) and reports what [`apply`](super::apply) would do, in the type it
/// returns: each step's outcome and detail, [`Report::planned`] set, nothing
/// [`Report::written`] ([`Report::changes`] gives the plan's rows). Writes nothing; the
/// only read after the decision is step 6's inspection of ISE's External MDM entry,
/// which needs the decided client id.
pub async fn plan(ctx: &Integration) -> Result<Report, Error> {
    let before = ctx.counts();
    let observed = observe(ctx, &Reading::onboarding(KeyExport::CertificatesOnly)).await;
    let decision = decide(ctx, observed)?;
    let mut steps = decision.steps(&ctx.options.app_display_name);
    if let (true, Some(microsoft)) = (decision.missing.is_empty(), &decision.microsoft) {
        let client_id = microsoft
            .client_id
            .clone()
            .unwrap_or_else(|| "<new application>".into());
        let certs = distinct_certificates(&decision.nodes);
        let settings = ctx.mdm_settings(&decision.version, &client_id, &certs)?;
        let inspected = ctx.configurator.inspect(&settings).await?;
        steps.push(planned(
            StepName::ConfigureMdmServer,
            inspected.outcome,
            format!("External MDM server `{}`", settings.name),
        ));
    }
    Ok(Report {
        ise_version: decision.version.to_string(),
        steps,
        requests: ctx.requests_since(before),
        planned: true,
        ..Report::default()
    })
}

/// Onboarding's decision: the action of every step, decided by [`decide()`] from one
/// reading of both systems.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// ISE's release (refused before anything else when unsupported).
    pub version: IseVersion,
    /// The token audience the release needs.
    pub audience: TokenAudience,
    /// Warnings on the release (Field Notice FN74227) and the cloud.
    pub warnings: Vec<String>,
    /// The rights the run lacks; with any, nothing would be written.
    pub missing: Vec<MissingRight>,
    /// Steps 1, 3 and 4; `None` when ISE refused a read the run starts from.
    pub microsoft: Option<MicrosoftDecision>,
    /// The nodes' Admin certificates: what step 3 uploads and step 6 names.
    pub nodes: Vec<AdminCertificate>,
    /// Step 5: the action for each of Microsoft's anchors, by name.
    pub anchors: Vec<(String, AnchorAction)>,
    /// Step 5's outcome ([`decide::anchors_outcome`] of [`Decision::anchors`]).
    pub anchors_outcome: Outcome,
}

/// Turns one reading of both systems into a [`Decision`]: no request; `ctx` gives only
/// the integration's settings (its cloud, its anchors). An unsupported release, or a
/// read of Microsoft's side that failed, is the error the run would stop with; a read
/// of ISE's refused for want of rights is a [`Decision::missing`] right.
pub fn decide(ctx: &Integration, observed: Observed) -> Result<Decision, Error> {
    let Observed {
        version,
        nodes,
        store,
        microsoft,
        ..
    } = observed;
    let version = version?;
    let audience = version.check_release_for(ctx.graph.intune_resource())?;
    let mut warnings: Vec<String> = strong_mapping_fix(&version).into_iter().collect();
    warnings.extend(ctx.graph.cloud_warnings().iter().map(ToString::to_string));
    let microsoft = microsoft.ok_or_else(|| Error::RemoteState {
        what: "Microsoft's side was not read".into(),
    })?;
    let ise_missing = ise_blockers(nodes.as_ref().err(), store.as_ref().err());
    let (seen, targets, roles) = (microsoft.app?, microsoft.targets?, microsoft.roles?);
    if !ise_missing.is_empty() {
        // ISE refused a read the run starts from: what Graph would lack is still told
        // (the application's writes, without ISE's keys, which could not be read).
        let writes = decide::microsoft(&seen, &[], &targets)?.writes();
        let mut missing = ise_missing;
        missing.extend(crate::rights::graph_blockers(roles.as_deref(), &writes));
        return Ok(Decision {
            version,
            audience,
            warnings,
            missing,
            microsoft: None,
            nodes: Vec::new(),
            anchors: Vec::new(),
            anchors_outcome: Outcome::Unchanged,
        });
    }
    let (exported, store) = (nodes?, store?);
    let nodes: Vec<AdminCertificate> = exported.into_iter().map(|m| m.admin).collect();
    let d = decide::microsoft(&seen, &distinct_certificates(&nodes), &targets)?;
    let missing = crate::rights::graph_blockers(roles.as_deref(), &d.writes());
    let actions = decide::anchor_actions(&store, &ctx.anchors);
    let anchors_outcome = decide::anchors_outcome(&actions);
    let anchors = actions
        .into_iter()
        .map(|(anchor, action)| (anchor.name().to_owned(), action))
        .collect();
    Ok(Decision {
        version,
        audience,
        warnings,
        missing,
        microsoft: Some(d),
        nodes,
        anchors,
        anchors_outcome,
    })
}

impl Decision {
    /// The steps as the plan reports them, step 6 excepted (its outcome needs ISE's
    /// entry inspected); the application named `app_name` when it is to be created.
    pub fn steps(&self, app_name: &str) -> Vec<StepReport> {
        let mut steps = vec![planned(
            StepName::CheckIseVersion,
            Outcome::Unchanged,
            format!(
                "ISE {}: token audience {}{}",
                self.version,
                self.audience,
                self.warnings
                    .iter()
                    .map(|w| format!("; warning: {w}"))
                    .collect::<String>()
            ),
        )];
        if !self.missing.is_empty() {
            steps.push(rights_blocked(&self.missing));
        }
        let Some(d) = &self.microsoft else {
            return steps;
        };
        let sha1 = distinct_certificates(&self.nodes)
            .iter()
            .map(|c| c.sha1().to_hex())
            .collect::<Vec<_>>()
            .join(", ");
        let (register, keys, grants) = match &d.client_id {
            None => (
                format!("application `{app_name}` and its service principal"),
                format!("add key(s) {sha1}"),
                "get_device_compliance and Application.Read.All with admin consent".to_owned(),
            ),
            Some(client_id) => (
                format!("application {client_id} exists"),
                format!("key(s) {sha1} (keeping {} existing key(s))", d.kept_keys),
                format!("{} of 2 admin consent grant(s) missing", d.missing_grants),
            ),
        };
        steps.extend([
            planned(StepName::RegisterApp, d.register(), register),
            planned(StepName::UploadCertificate, d.keys, keys),
            planned(StepName::GrantPermissions, d.grant(), grants),
            self.anchors_step(),
        ]);
        steps
    }

    /// Step 5's row.
    fn anchors_step(&self) -> StepReport {
        let names = |wanted: fn(&AnchorAction) -> bool| {
            self.anchors
                .iter()
                .filter(|(_, a)| wanted(a))
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
        };
        let imports = names(|a| matches!(a, AnchorAction::Import));
        let fixes = names(|a| matches!(a, AnchorAction::Fix { .. }));
        let mut detail = Vec::new();
        if !imports.is_empty() {
            detail.push(format!("import {}", imports.join(", ")));
        }
        if !fixes.is_empty() {
            detail.push(format!("enable and trust {}", fixes.join(", ")));
        }
        planned(
            StepName::ImportTrustAnchors,
            self.anchors_outcome,
            if detail.is_empty() {
                "every anchor is trusted in ISE's store".into()
            } else {
                detail.join("; ")
            },
        )
    }
}

/// A step of a plan: it took no time of its own.
fn planned(name: StepName, outcome: Outcome, detail: String) -> StepReport {
    StepReport {
        name,
        outcome,
        elapsed_ms: 0,
        detail,
    }
}

/// The fix for a release affected by Cisco Field Notice FN74227, as a warning.
fn strong_mapping_fix(version: &IseVersion) -> Option<String> {
    version.strong_mapping_fix().map(|install| {
        format!(
            "affected by Cisco Field Notice FN74227 (certificates with security \
             identifiers break certificate authentication and the Intune integration): \
             install {install}"
        )
    })
}

/// The warning for a release affected by Field Notice FN74227, or nothing.
pub(super) fn strong_mapping_warning(version: &IseVersion) -> String {
    strong_mapping_fix(version)
        .map(|w| format!("; warning: {w}"))
        .unwrap_or_default()
}

/// What ISE's account lacks, from the reads every onboarding starts from: exporting the
/// nodes' certificates (a POST in ISE's API, which an ERS Operator may not make) and
/// listing the trusted store.
pub(super) fn ise_blockers(export: Option<&Error>, store: Option<&Error>) -> Vec<MissingRight> {
    fn ise(e: &Error) -> Option<&ise_client::Error> {
        match e {
            Error::Ise(e) => Some(e),
            _ => None,
        }
    }
    let (export, store) = (export.and_then(ise), store.and_then(ise));
    [
        export.and_then(|e| crate::rights::ise_blocker(e, "export the nodes' Admin certificates")),
        store.and_then(|e| crate::rights::ise_blocker(e, "read and import trusted certificates")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The plan's row for rights the run lacks: a person must grant them first.
fn rights_blocked(missing: &[MissingRight]) -> StepReport {
    planned(
        StepName::CheckRights,
        Outcome::ManualActionRequired,
        format!(
            "blocked, nothing would be written: missing {}",
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    )
}
