//! [`plan`](super::plan): what onboarding would change, read and decided, written nowhere; and
//! the rights a run lacks, which the plan and the apply's read phase both report.

use crate::Error;
use crate::context::Integration;
use crate::decide;
use crate::decide::AnchorAction;
use crate::decide::AppObservation;
use crate::decide::PermissionTargets;
use crate::keys::KeyExport;
use crate::keys::distinct_certificates;
use crate::observe::Observed;
use crate::observe::Reading;
use crate::observe::observe;
use crate::outcome::Outcome;
use crate::outcome::StepName;
use crate::report::PlannedChange;
use crate::version::IntuneGates;
use crate::version::IseVersion;
use ise_client::TrustedCertificate;

/// Reads both systems once ([`crate::observe::observe`], as [`apply`](super::apply) does) and says
/// what [`apply`](super::apply) would change, step by step, with the decision functions `apply` uses
/// ([`crate::decide`]). Writes nothing.
pub async fn plan(ctx: &Integration) -> Result<Vec<PlannedChange>, Error> {
    let observed = observe(ctx, &Reading::onboarding(KeyExport::CertificatesOnly)).await;
    let Observed {
        version,
        nodes,
        store,
        microsoft,
        ..
    } = observed;
    let version = version?;
    let audience = version.check_release_for(ctx.graph.intune_resource())?;
    let mut plan = vec![PlannedChange::new(
        StepName::CheckIseVersion,
        Outcome::Unchanged,
        format!(
            "ISE {version}: token audience {audience}{}{}",
            strong_mapping_warning(&version),
            ctx.graph
                .cloud_warnings()
                .iter()
                .map(|w| format!("; warning: {w}"))
                .collect::<String>()
        ),
    )];
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
        plan.push(rights_blocked(&missing));
        return Ok(plan);
    }
    let (exported, store) = (nodes?, store?);
    let admins: Vec<_> = exported.into_iter().map(|m| m.admin).collect();
    let certs = distinct_certificates(&admins);
    let writes = decide::microsoft(&seen, &certs, &targets)?.writes();
    let client_id = plan_microsoft(ctx, &seen, &certs, &targets, &mut plan)?;
    let missing = crate::rights::graph_blockers(roles.as_deref(), &writes);
    if !missing.is_empty() {
        plan.insert(1, rights_blocked(&missing));
    }
    plan.push(plan_anchors(ctx, &store));
    let settings = ctx.mdm_settings(&version, &client_id, &certs)?;
    let inspected = ctx.configurator.inspect(&settings).await?;
    plan.push(PlannedChange::new(
        StepName::ConfigureMdmServer,
        inspected.outcome,
        format!("External MDM server `{}`", settings.name),
    ));
    Ok(plan)
}

/// The warning for a release affected by Field Notice FN74227, or nothing.
pub(super) fn strong_mapping_warning(version: &IseVersion) -> String {
    version
        .strong_mapping_fix()
        .map(|install| {
            format!(
                "; warning: affected by Cisco Field Notice FN74227 (certificates with \
                 security identifiers break certificate authentication and the Intune \
                 integration): install {install}"
            )
        })
        .unwrap_or_default()
}

/// What ISE's account lacks, from the reads every onboarding starts from: exporting the
/// nodes' certificates (a POST in ISE's API, which an ERS Operator may not make) and
/// listing the trusted store.
pub(super) fn ise_blockers(
    export: Option<&Error>,
    store: Option<&Error>,
) -> Vec<crate::rights::MissingRight> {
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
pub(super) fn rights_blocked(missing: &[crate::rights::MissingRight]) -> PlannedChange {
    PlannedChange::new(
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

/// Steps 1, 3 and 4 of a plan, as [`decide::microsoft`] decides them from what
/// [`crate::observe::app`] read; the client id steps 6 and 7 would use.
pub(super) fn plan_microsoft(
    ctx: &Integration,
    seen: &AppObservation,
    certs: &[&crate::certs::Certificate],
    targets: &PermissionTargets,
    plan: &mut Vec<PlannedChange>,
) -> Result<String, Error> {
    let name = &ctx.options.app_display_name;
    let d = decide::microsoft(seen, certs, targets)?;
    let sha1 = certs
        .iter()
        .map(|c| c.sha1().to_hex())
        .collect::<Vec<_>>()
        .join(", ");
    let (register, keys, grants) = match &d.client_id {
        None => (
            format!("application `{name}` and its service principal"),
            format!("add key(s) {sha1}"),
            "get_device_compliance and Application.Read.All with admin consent".to_owned(),
        ),
        Some(client_id) => (
            format!("application {client_id} exists"),
            format!("key(s) {sha1} (keeping {} existing key(s))", d.kept_keys),
            format!("{} of 2 admin consent grant(s) missing", d.missing_grants),
        ),
    };
    plan.extend([
        PlannedChange::new(StepName::RegisterApp, d.register(), register),
        PlannedChange::new(StepName::UploadCertificate, d.keys, keys),
        PlannedChange::new(StepName::GrantPermissions, d.grant(), grants),
    ]);
    Ok(d.client_id.unwrap_or_else(|| "<new application>".into()))
}

/// Step 5 of a plan.
pub(super) fn plan_anchors(ctx: &Integration, store: &[TrustedCertificate]) -> PlannedChange {
    let actions = decide::anchor_actions(store, &ctx.anchors);
    let names = |wanted: fn(&AnchorAction) -> bool| {
        actions
            .iter()
            .filter(|(_, a)| wanted(a))
            .map(|(anchor, _)| anchor.name().to_owned())
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
    PlannedChange::new(
        StepName::ImportTrustAnchors,
        decide::anchors_outcome(&actions),
        if detail.is_empty() {
            "every anchor is trusted in ISE's store".into()
        } else {
            detail.join("; ")
        },
    )
}
