//! Live probes: ISE's Test Connection reproduced, and Intune's answer to a device query.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The External MDM entry, ISE's Test Connection reproduced, and a compliance
/// sample.
/// The External MDM entry as the configurator sees it, against the expected settings.
fn entry_finding(
    d: &mut Diagnosis,
    inspected: &crate::outcome::Step<()>,
    settings: &crate::mdm::MdmServerSettings,
) {
    let (severity, summary) = match inspected.outcome {
        Outcome::Unchanged => return,
        Outcome::ManualActionRequired => (
            Severity::Warning,
            "the External MDM entry's settings are not confirmed as expected",
        ),
        Outcome::Created => (Severity::Error, "no External MDM entry"),
        _ => (
            Severity::Error,
            "the External MDM entry differs from the expected settings",
        ),
    };
    d.push(
        ids::MDM_ENTRY,
        severity,
        None,
        summary,
        inspected
            .instructions
            .clone()
            .unwrap_or_else(|| settings.checklist()),
        "run onboard (step 6), or edit the entry in ISE as the evidence says",
    );
}

pub(super) async fn connection_findings(
    ctx: &Integration,
    d: &mut Diagnosis,
    version: &crate::version::IseVersion,
    client_id: &str,
    certs: &[&crate::certs::Certificate],
    admins: &[AdminCertificate],
    prefetched: crate::verify::Prefetched,
) -> Result<(), Error> {
    // The nodes' keys exported for the reproduction serve the compliance sample too.
    let node_keys = prefetched.node_keys.clone().unwrap_or_default();
    {
        let version = *version;
        let settings = ctx.mdm_settings(&version, client_id, certs)?;
        // The entry, the reproduction and (as the automating identity) a compliance
        // sample are independent reads: at once. The sample is kept only when the
        // reproduction passed.
        let as_identity = !ctx.options.admin_key.acts_as_node();
        let (inspected, report, sample) = tokio::join!(
            ctx.configurator.inspect(&settings),
            verify_connection_with(
                VerifyInput {
                    ise: &ctx.ise,
                    graph: &ctx.graph,
                    client_id,
                    version,
                    admin_key: ctx.options.admin_key.clone(),
                    anchors: &ctx.anchors,
                    propagation_wait: ctx.options.propagation_wait.min(DOCTOR_PROPAGATION_WAIT),
                },
                prefetched,
            ),
            async {
                if as_identity {
                    Some(identity_sample(ctx).await)
                } else {
                    None
                }
            },
        );
        entry_finding(d, &inspected?, &settings);
        let report = report?;
        for c in report.skipped() {
            d.push(
                ids::NOT_CHECKED,
                Severity::Info,
                c.node.as_deref(),
                "not checked: needs --as-node",
                c.detail.clone(),
                "run doctor --as-node (exports each policy service node's key from ISE, in \
                 memory only) to reproduce Test Connection as each node",
            );
        }
        // A node's registration is already named by `node.key_not_registered`.
        for c in report
            .checks
            .iter()
            .filter(|c| !c.ok && c.name != CheckName::Registered)
        {
            d.push(
                format!("{}{}", ids::CONNECTION_PREFIX, c.name.as_str()),
                Severity::Error,
                c.node.as_deref(),
                format!("Test Connection fails at {}", c.name.as_str()),
                c.detail.clone(),
                connection_remedy(c.name),
            );
        }
        let passed = |node: &str| {
            report
                .checks
                .iter()
                .any(|c| c.node.as_deref() == Some(node) && c.name == CheckName::Mdminfo && c.ok)
        };
        if let Some(sample) = sample {
            if report.ok {
                push_sample(d, None, sample, "the automating identity");
            }
        } else if let Some(admin) = admins
            .iter()
            .find(|a| crate::keys::is_policy_service(&a.node) && passed(&a.node.hostname))
        {
            let exported = node_keys
                .iter()
                .find(|m| m.admin.node.hostname == admin.node.hostname);
            compliance_sample(ctx, d, &version, client_id, admin, exported).await;
        }
    }
    Ok(())
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made as the
/// automating identity (no node key asked for).
pub(super) async fn identity_sample(
    ctx: &Integration,
) -> Result<Vec<crate::compliance::Device>, Error> {
    crate::compliance::client(ctx, None).await?.probe().await
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made with
/// `admin`'s own key: the one already
/// `exported` with its certificate when there is one (no second export), else the
/// supplied key or a fresh export.
pub(super) async fn compliance_sample(
    ctx: &Integration,
    d: &mut Diagnosis,
    version: &crate::version::IseVersion,
    client_id: &str,
    admin: &AdminCertificate,
    exported: Option<&AdminKeyMaterial>,
) {
    let host = admin.node.hostname.as_str();
    let sample = async {
        let audience = version.token_audience_for(ctx.graph.intune_resource())?;
        let cert = match exported.and_then(|m| m.client_certificate(client_id)) {
            Some(cert) => cert?,
            None => {
                node_client_certificate(&ctx.ise, client_id, &ctx.options.admin_key, Some(admin))
                    .await?
            }
        };
        let node = ctx.graph.with_credentials(Credentials::Certificate(cert));
        let intune = ComplianceClient::discover(node, audience).await?;
        intune.probe().await
    };
    let result = sample.await;
    push_sample(d, Some(host), result, host);
}

/// The finding of a compliance sample made by `who`.
pub(super) fn push_sample(
    d: &mut Diagnosis,
    node: Option<&str>,
    result: Result<Vec<crate::compliance::Device>, Error>,
    who: &str,
) {
    match result {
        Ok(devices) => d.push(
            ids::COMPLIANCE_SAMPLE,
            Severity::Info,
            node,
            format!("Intune answered a device query as {who}"),
            format!(
                "querycriteria=macaddress for the documentation MAC 00:00:5E:00:53:01: {} \
                 device(s) (a device-specific query: never throttled, reads no device)",
                devices.len()
            ),
            "nothing to do",
        ),
        Err(e) => d.push(
            format!("{}compliance", ids::CONNECTION_PREFIX),
            if node.is_some() {
                Severity::Error
            } else {
                Severity::Warning
            },
            node,
            format!("Intune's device query fails as {who}"),
            e.to_string(),
            if node.is_some() {
                "check get_device_compliance and its admin consent (run onboard)"
            } else {
                "grant the automating identity the Intune API's get_device_compliance role, \
                 or run with --as-node to query as a policy service node"
            },
        ),
    }
}

pub(super) fn connection_remedy(check: CheckName) -> String {
    match check {
        CheckName::TlsLogin | CheckName::TlsGraph | CheckName::TlsIntune => {
            "run trust-sync (imports the root the service now chains to) or onboard (step 5)".into()
        }
        CheckName::Token => "register the node's Admin certificate on the application: run \
                             rotate or onboard (step 3)"
            .into(),
        CheckName::Discovery => "grant Application.Read.All (Microsoft Graph) with admin \
                                 consent: run onboard (step 4)"
            .into(),
        CheckName::Registered => "register the node's Admin certificate on the application: \
                                  run rotate or onboard (step 3)"
            .into(),
        _ => "grant get_device_compliance (Microsoft Intune API) with admin consent: run \
              onboard (step 4)"
            .into(),
    }
}
