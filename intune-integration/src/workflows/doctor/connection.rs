//! Live probes: ISE's Test Connection reproduced, and Intune's answer to a device query.

use super::DOCTOR_PROPAGATION_WAIT;
use super::Diagnosis;
use super::Severity;
use super::ids;
use crate::Error;
use crate::compliance::ComplianceClient;
use crate::context::Integration;
use crate::keys::AdminCertificate;
use crate::keys::AdminKeyMaterial;
use crate::keys::node_client_certificate;
use crate::observe::Observed;
use crate::outcome::CheckName;
use crate::outcome::Outcome;
use crate::verify::Seen;
use crate::verify::VerifyInput;
use crate::verify::verify_connection;
use crate::version::IntuneGates;
use graph_client::Credentials;

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

/// What the live probes found: the entry as the configurator sees it, ISE's Test
/// Connection reproduced, and a device-specific compliance query.
pub(super) struct Probes {
    settings: crate::mdm::MdmServerSettings,
    inspected: crate::outcome::Step<()>,
    report: crate::verify::VerificationReport,
    /// The compliance sample: the node it was made as (`None`: the automating
    /// identity) and its result; none when no policy service node passed.
    sample: Option<Sample>,
}

/// A compliance sample: the node it was made as (`None`: the automating identity) and
/// its result.
type Sample = (
    Option<String>,
    Result<Vec<crate::compliance::Device>, Error>,
);

/// The live probes, for a supported release and an existing application: the entry,
/// the reproduction and (as the automating identity) a compliance sample at once,
/// from the picture; as a node, the sample once the reproduction passed for it.
/// `None` when there is nothing to probe.
pub(super) async fn probe(ctx: &Integration, o: &Observed) -> Option<Result<Probes, Error>> {
    let version = o.version.as_ref().ok()?;
    version.check_release().ok()?;
    let microsoft = o.microsoft.as_ref()?;
    let app = microsoft.app.as_ref().ok()?.application()?;
    Some(probes(ctx, o, version, &app).await)
}

async fn probes(
    ctx: &Integration,
    o: &Observed,
    version: &crate::version::IseVersion,
    app: &graph_client::Application,
) -> Result<Probes, Error> {
    let client_id = app.app_id.as_str();
    let admins = o.admins();
    let certs = crate::keys::distinct_certificates(&admins);
    let settings = ctx.mdm_settings(version, client_id, &certs)?;
    let nodes = o.nodes.as_ref().map(Vec::clone).unwrap_or_default();
    let trusted = o.store.as_ref().map(Vec::clone).unwrap_or_default();
    let seen = Seen::new(
        trusted,
        nodes.clone(),
        crate::verify::thumbprints(&app.key_credentials),
        o.intune_endpoint(),
    );
    let discovery = o
        .microsoft
        .as_ref()
        .and_then(|m| m.discovery.as_ref().ok())
        .cloned()
        .unwrap_or_default();
    let as_identity = !ctx.options.admin_key.acts_as_node();
    let (inspected, report, sample) = tokio::join!(
        ctx.configurator.inspect(&settings),
        verify_connection(
            VerifyInput {
                ise: &ctx.ise,
                graph: &ctx.graph,
                client_id,
                version: *version,
                admin_key: ctx.options.admin_key.clone(),
                anchors: &ctx.anchors,
                propagation_wait: ctx.options.propagation_wait.min(DOCTOR_PROPAGATION_WAIT),
            },
            &seen,
        ),
        async {
            if as_identity {
                Some(identity_sample(ctx, version, &discovery).await)
            } else {
                None
            }
        },
    );
    let (inspected, report) = (inspected?, report?);
    let sample = match sample {
        Some(sample) => report.ok.then_some((None, sample)),
        None => {
            node_sample(
                ctx, version, client_id, &admins, &nodes, &report, &discovery,
            )
            .await
        }
    };
    Ok(Probes {
        settings,
        inspected,
        report,
        sample,
    })
}

/// The sample as the first policy service node whose reproduction passed, with its
/// own key.
async fn node_sample(
    ctx: &Integration,
    version: &crate::version::IseVersion,
    client_id: &str,
    admins: &[AdminCertificate],
    nodes: &[AdminKeyMaterial],
    report: &crate::verify::VerificationReport,
    discovery: &[graph_client::ServiceEndpoint],
) -> Option<(
    Option<String>,
    Result<Vec<crate::compliance::Device>, Error>,
)> {
    let passed = |node: &str| {
        report
            .checks
            .iter()
            .any(|c| c.node.as_deref() == Some(node) && c.name == CheckName::Mdminfo && c.ok)
    };
    let admin = admins
        .iter()
        .find(|a| crate::keys::is_policy_service(&a.node) && passed(&a.node.hostname))?;
    let exported = nodes
        .iter()
        .find(|m| m.admin.node.hostname == admin.node.hostname);
    let result = compliance_sample(ctx, version, client_id, admin, exported, discovery).await;
    Some((Some(admin.node.hostname.clone()), result))
}

/// The findings of the live probes.
pub(super) fn connection_checks(probes: Probes) -> Diagnosis {
    let mut d = Diagnosis::default();
    entry_finding(&mut d, &probes.inspected, &probes.settings);
    let report = &probes.report;
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
    if let Some((node, result)) = probes.sample {
        let who = node
            .clone()
            .unwrap_or_else(|| "the automating identity".into());
        push_sample(&mut d, node.as_deref(), result, &who);
    }
    d
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made as the
/// automating identity (no node key asked for), at the endpoint its discovery named.
async fn identity_sample(
    ctx: &Integration,
    version: &crate::version::IseVersion,
    discovery: &[graph_client::ServiceEndpoint],
) -> Result<Vec<crate::compliance::Device>, Error> {
    let audience = version.check_release_for(ctx.graph.intune_resource())?;
    Ok(
        ComplianceClient::from_discovery(ctx.graph.clone(), audience, discovery)?
            .probe()
            .await?,
    )
}

/// A device-specific compliance query ([`ComplianceClient::probe`]), made with
/// `admin`'s own key: the one already `exported` with its certificate when there is
/// one (no second export), else the supplied key or a fresh export; at the endpoint
/// the automating identity's discovery named, else the node's own discovery's.
async fn compliance_sample(
    ctx: &Integration,
    version: &crate::version::IseVersion,
    client_id: &str,
    admin: &AdminCertificate,
    exported: Option<&AdminKeyMaterial>,
    discovery: &[graph_client::ServiceEndpoint],
) -> Result<Vec<crate::compliance::Device>, Error> {
    let audience = version.token_audience_for(ctx.graph.intune_resource())?;
    let cert = match exported.and_then(|m| m.client_certificate(client_id)) {
        Some(cert) => cert?,
        None => {
            node_client_certificate(&ctx.ise, client_id, &ctx.options.admin_key, Some(admin))
                .await?
        }
    };
    let node = ctx.graph.with_credentials(Credentials::Certificate(cert));
    let intune = match ComplianceClient::from_discovery(node.clone(), audience.clone(), discovery) {
        Ok(intune) => intune,
        Err(_) => crate::compliance::discover(node, audience).await?,
    };
    Ok(intune.probe().await?)
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
