//! Rotation: registering nodes' renewed Admin certificates on the application, then
//! retiring the old keys — only after ISE's Test Connection passes with the new ones.
//! [`plan`] reads and says what [`apply`] would do; `apply` is resumable (the state
//! lives in Entra: an old ISE key still registered means the rotation is unfinished)
//! and never removes a key a node still uses or a key of another tool.

use graph_client::KeySelector;

use crate::Error;
use crate::certs::Certificate;
use crate::context::Integration;
use crate::decide;
use crate::error::{ApplyFailure, PartialReport};
use crate::keys::{AdminCertificate, KeyExport, distinct_certificates};
use crate::outcome::{Outcome, StepName};
pub use crate::report::Rotation;
use crate::steps::{self, RegisteredApp};
use crate::verify::VerifyInput;
use crate::version::{IntuneGates as _, IseVersion};

/// Where a renewed Admin certificate stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RenewedCertificate {
    /// The node whose Admin role it will take.
    pub node: String,
    /// The certificate (public part).
    pub certificate: Certificate,
}

impl RenewedCertificate {
    /// A renewed certificate for `node`.
    pub fn new(node: impl Into<String>, certificate: Certificate) -> Self {
        Self {
            node: node.into(),
            certificate,
        }
    }
}

/// Refuses, before anything is written, a renewed certificate that cannot become
/// `node`'s Admin certificate: an unknown node, a CA, one not valid now, one that
/// does not name the node's FQDN, or a key that is not RSA. Its key would otherwise be
/// registered on the application for nothing, or for the wrong host.
pub fn check_renewed(
    renewed: &RenewedCertificate,
    admins: &[AdminCertificate],
    now: time::OffsetDateTime,
) -> Result<(), Error> {
    let refuse = |why: String| Error::RenewedCertificateRefused {
        node: ise_intune_http::scrub::text_within(&renewed.node, &[], 80),
        why,
    };
    let cert = &renewed.certificate;
    let Some(admin) = admins
        .iter()
        .find(|a| a.node.hostname.eq_ignore_ascii_case(&renewed.node))
    else {
        return Err(refuse(format!(
            "ISE has no such node (nodes: {})",
            crate::keys::node_names(admins)
        )));
    };
    if cert.is_ca() {
        return Err(refuse(
            "it is a CA certificate, not the node's own (end-entity) certificate".into(),
        ));
    }
    if !cert.is_valid_at(now) {
        return Err(refuse(format!(
            "it is not valid now (valid {} to {})",
            cert.not_before().date(),
            cert.not_after().date()
        )));
    }
    if !cert.names_host(&admin.node.fqdn) {
        return Err(refuse(format!(
            "it does not name the node's FQDN `{}` (it names {})",
            admin.node.fqdn,
            {
                let names = cert.dns_names();
                if names.is_empty() {
                    cert.common_name().unwrap_or_else(|| cert.subject())
                } else {
                    names.join(", ")
                }
            }
        )));
    }
    if !cert.is_rsa() {
        return Err(Error::NonRsaAdminCertificate {
            node: admin.node.hostname.clone(),
            algorithm: cert.key_algorithm(),
        });
    }
    Ok(())
}

/// Whether `key`'s display name marks it as an ISE node's Admin certificate this
/// library registered (`CN=<node FQDN>` or a wildcard covering one).
fn is_ise_key(display_name: Option<&str>, fqdns: &[String]) -> bool {
    let Some(cn) = display_name.and_then(|n| n.strip_prefix("CN=")) else {
        return false;
    };
    fqdns.iter().any(|f| {
        f.eq_ignore_ascii_case(cn)
            || cn.strip_prefix("*.").is_some_and(|domain| {
                f.split_once('.')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
            })
    })
}

/// What rotation found: the keys to add, the old ones to retire, the renewed
/// certificates ISE does not use yet.
struct State {
    version: IseVersion,
    app: RegisteredApp,
    missing: Vec<Certificate>,
    stale: Vec<String>,
    pending: Vec<RenewedCertificate>,
}

/// Reads what rotation decides from: the release, every node's Admin certificate
/// (without keys), the application's keys; refuses unusable renewed certificates
/// before anything is written.
async fn read_state(ctx: &Integration, renewed: &[RenewedCertificate]) -> Result<State, Error> {
    let version = ctx.ise.version().await?;
    version.check_release()?;
    let admins: Vec<AdminCertificate> =
        steps::export_admin_certificates(&ctx.ise, KeyExport::CertificatesOnly)
            .await?
            .value
            .into_iter()
            .map(|m| m.admin)
            .collect();
    let fqdns: Vec<String> = admins.iter().map(|a| a.node.fqdn.clone()).collect();
    let mut wanted: Vec<&Certificate> = distinct_certificates(&admins);
    let now = time::OffsetDateTime::now_utc();
    for c in renewed {
        check_renewed(c, &admins, now)?;
        if !wanted.iter().any(|w| w.sha1() == c.certificate.sha1()) {
            wanted.push(&c.certificate);
        }
    }
    let app = steps::find_app(&ctx.graph, &ctx.options.app_identity()).await?;
    let keys = ctx
        .graph
        .application(app.object_id.clone())
        .key_credentials()
        .await?;
    let in_use: Vec<String> = admins
        .iter()
        .map(|a| a.certificate.sha1().to_hex())
        .collect();
    let supplied: Vec<String> = renewed
        .iter()
        .map(|c| c.certificate.sha1().to_hex())
        .collect();
    let missing = wanted
        .into_iter()
        .filter(|c| decide::keys_outcome(&keys, &[c]).is_write())
        .cloned()
        .collect();
    let stale = keys
        .iter()
        .filter(|k| is_ise_key(k.display_name.as_deref(), &fqdns))
        .filter_map(|k| k.thumbprint_hex())
        .filter(|t| !in_use.contains(t) && !supplied.contains(t))
        .collect();
    let pending = renewed
        .iter()
        .filter(|c| !in_use.contains(&c.certificate.sha1().to_hex()))
        .cloned()
        .collect();
    Ok(State {
        version,
        app,
        missing,
        stale,
        pending,
    })
}

/// What rotation would do from `state`: its steps, in order, and the outcome it would
/// have. `Unchanged` when every node's certificate is registered and no old ISE key is
/// left; `ManualActionRequired` when a renewed certificate is not ISE's Admin
/// certificate yet (the run stops after adding its key); else `Updated`.
fn decide_rotation(ctx: &Integration, state: &State) -> Rotation {
    let mut r = Rotation {
        added: state.missing.iter().map(|c| c.sha1().to_hex()).collect(),
        removed: Vec::new(),
        outcome: Outcome::Updated,
        instructions: None,
        verification: None,
        steps: Vec::new(),
    };
    if state.missing.is_empty() && state.stale.is_empty() && state.pending.is_empty() {
        r.outcome = Outcome::Unchanged;
        r.steps
            .push("every node's Admin certificate is registered; no old ISE key".into());
        return r;
    }
    if !state.missing.is_empty() {
        r.steps.push(format!("add key(s) {}", r.added.join(", ")));
    }
    if !state.pending.is_empty() {
        let todo = state
            .pending
            .iter()
            .map(|c| {
                format!(
                    "on {}: Administration > System > Certificates > System Certificates: \
                     import the renewed certificate (SHA-1 {}) and give it the Admin role",
                    c.node,
                    c.certificate.sha1()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        r.outcome = Outcome::ManualActionRequired;
        r.steps.push(format!(
            "wait for ISE to use the renewed certificate(s): {todo}"
        ));
        r.instructions = Some(format!(
            "The renewed certificate's key is registered beside the old one, so ISE keeps \
             working throughout. Wait a few minutes for Entra ID to propagate it, then {todo}, \
             and run rotate again."
        ));
        return r;
    }
    r.steps.push(format!(
        "cycle External MDM server `{}` (disable, Test Connection, enable)",
        ctx.options.mdm_server_name
    ));
    r.steps
        .push("verify Test Connection with every node's key".into());
    if !state.stale.is_empty() {
        r.steps
            .push(format!("remove old ISE key(s) {}", state.stale.join(", ")));
    }
    r
}

/// What [`apply`] would do, step by step, with the outcome it would have. Reads only.
pub async fn plan(ctx: &Integration, renewed: &[RenewedCertificate]) -> Result<Rotation, Error> {
    let state = read_state(ctx, renewed).await?;
    Ok(decide_rotation(ctx, &state))
}

/// Rotates the application's keys to the nodes' Admin certificates:
///
/// 1. adds, beside the old ones, a key for every node's current Admin certificate and
///    for each `renewed` certificate supplied ahead of time;
/// 2. when a supplied certificate is not yet the node's Admin certificate in ISE,
///    stops with `ManualActionRequired`: bind it in ISE, then run again (the old key
///    stays until then, so ISE keeps working);
/// 3. cycles the External MDM server (step 7, through the configurator);
/// 4. verifies ISE's Test Connection with the keys now in use;
/// 5. only then removes ISE keys (named `CN=<node FQDN>`) that no node uses; other
///    keys are never touched.
///
/// When cycling or verification fails after keys were added, the error is
/// [`Error::Apply`] with the rotation so far; no key was removed.
pub async fn apply(ctx: &Integration, renewed: &[RenewedCertificate]) -> Result<Rotation, Error> {
    let state = read_state(ctx, renewed).await?;
    let mut r = decide_rotation(ctx, &state);
    if r.outcome == Outcome::Unchanged {
        return Ok(r);
    }
    if !state.missing.is_empty() {
        let certs: Vec<&Certificate> = state.missing.iter().collect();
        steps::upload_certificates(&ctx.graph, &state.app, &certs, None).await?;
    }
    if r.outcome == Outcome::ManualActionRequired {
        return Ok(r);
    }
    let cycled = match ctx.configurator.cycle(&ctx.options.mdm_server_name).await {
        Ok(c) => c,
        Err(e) => return Err(failed(r, StepName::CycleMdmServer, e)),
    };
    if cycled.outcome == Outcome::ManualActionRequired {
        r.outcome = Outcome::ManualActionRequired;
        r.instructions = cycled.instructions;
        return Ok(r);
    }
    let report = crate::verify::verify_connection(VerifyInput {
        ise: &ctx.ise,
        graph: &ctx.graph,
        client_id: &state.app.client_id,
        version: state.version,
        admin_key: ctx.options.admin_key.clone(),
        anchors: &ctx.anchors,
        propagation_wait: ctx.options.propagation_wait,
    })
    .await?;
    let failed_checks = report.failures();
    r.verification = Some(report);
    if !failed_checks.is_empty() {
        let e = Error::VerificationFailed {
            failed: failed_checks,
        };
        return Err(failed(r, StepName::VerifyConnection, e));
    }
    let handle = ctx.graph.application(state.app.object_id.clone());
    for t in &state.stale {
        let mut raw = [0u8; 20];
        if let Ok(bytes) = hex::decode(t)
            && bytes.len() == 20
        {
            raw.copy_from_slice(&bytes);
            handle.remove_key(&KeySelector::Thumbprint(raw)).await?;
            r.removed.push(t.clone());
        }
    }
    Ok(r)
}

/// The failure of a rotation that added keys and removed none.
fn failed(mut r: Rotation, step: StepName, e: Error) -> Error {
    r.outcome = Outcome::Failed;
    r.instructions = Some(format!(
        "{step} failed ({e}); no key was removed. Fix what it names (`ise-intune doctor` \
         helps) and run `ise-intune rotate` again."
    ));
    let written = r.added.iter().map(|t| format!("key {t} added")).collect();
    Error::Apply(Box::new(ApplyFailure::new(
        PartialReport::Rotate(r),
        written,
        vec![(step, e)],
    )))
}
