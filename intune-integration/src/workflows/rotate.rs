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
pub(crate) fn check_renewed(
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
/// certificates ISE does not use yet, and what each node presented on the wire.
struct State {
    version: IseVersion,
    app: RegisteredApp,
    missing: Vec<Certificate>,
    stale: Vec<String>,
    pending: Vec<RenewedCertificate>,
    /// One line per node checked in a TLS handshake (empty when nothing is to change).
    presented: Vec<String>,
}

/// Where `node` presents its Admin certificate: [`crate::context::Options::node_urls`]
/// when configured, else `https://<its FQDN>/`.
pub fn node_address(
    node: &ise_client::Node,
    node_urls: &std::collections::BTreeMap<String, url::Url>,
) -> Result<url::Url, Error> {
    if let Some(url) = node_urls.get(&node.hostname) {
        return Ok(url.clone());
    }
    url::Url::parse(&format!("https://{}/", node.fqdn)).map_err(|e| Error::Config {
        what: format!(
            "node `{}`'s FQDN `{}` makes no URL ({e}): set [ise] node_urls.{} in the \
             configuration",
            node.hostname, node.fqdn, node.hostname
        ),
    })
}

/// Whether `presented` — what a node presented in a TLS handshake — is `named`, the
/// certificate ISE's API names for it, and chains as the node's registered
/// certificate `old` did (self-signed as it was, or from the same issuer). Pure; the
/// error says what differs.
pub(crate) fn check_presented(
    named: &Certificate,
    presented: &Certificate,
    old: Option<&Certificate>,
) -> Result<(), String> {
    let named = named.sha1();
    if presented.sha1() != named {
        return Err(format!(
            "the API names SHA-1 {named}, the node presents SHA-1 {} ({})",
            presented.sha1(),
            presented.subject()
        ));
    }
    let Some(old) = old.filter(|o| o.sha1() != named) else {
        return Ok(());
    };
    match (old.is_self_issued(), presented.is_self_issued()) {
        (true, false) => Err(format!(
            "its registered certificate was self-signed, the presented one is issued by {}",
            presented.issuer()
        )),
        (false, true) => Err(format!(
            "its registered certificate was issued by {}, the presented one is self-signed",
            old.issuer()
        )),
        (false, false) if old.issuer() != presented.issuer() => Err(format!(
            "its registered certificate was issued by {}, the presented one by {}",
            old.issuer(),
            presented.issuer()
        )),
        _ => Ok(()),
    }
}

/// Checks, before anything is written, that every node presents on its own address
/// the Admin certificate ISE's API names for it (all nodes at once, each within
/// [`crate::tls_probe::PROBE_TIMEOUT`]); returns one line per node saying what it
/// presented. `keys` are the application's keys, for the node's registered certificate;
/// `adding` the certificates about to be registered, which must also be usable ones
/// ([`check_renewed`]).
async fn check_on_the_wire(
    ctx: &Integration,
    admins: &[AdminCertificate],
    keys: &[graph_client::KeyCredential],
    adding: &[Certificate],
) -> Result<Vec<String>, Error> {
    let now = ctx.now();
    let probes = admins.iter().map(|admin| async move {
        let address = node_address(&admin.node, &ctx.options.node_urls)?;
        let shown = format!(
            "{}://{}:{}",
            address.scheme(),
            address.host_str().unwrap_or_default(),
            address.port_or_known_default().unwrap_or(443)
        );
        let refuse = |why: String| Error::CertificateNotPresented {
            node: admin.node.hostname.clone(),
            address: shown.clone(),
            why: ise_intune_http::scrub::text_within(&why, &[], 400),
        };
        let chain = crate::tls_probe::presented_chain(&address)
            .await
            .map_err(|e| refuse(format!("no certificate seen: {e}")))?;
        let presented = chain
            .first()
            .map(|der| Certificate::from_der(der))
            .transpose()
            .map_err(|e| refuse(format!("the presented certificate does not parse: {e}")))?
            .ok_or_else(|| refuse("the node presented no certificate".into()))?;
        let fqdn = [admin.node.fqdn.clone()];
        let old = keys
            .iter()
            .filter(|k| is_ise_key(k.display_name.as_deref(), &fqdn))
            .filter_map(|k| k.key.as_deref())
            .filter_map(|b64| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b64).ok()
            })
            .filter_map(|der| Certificate::from_der(&der).ok())
            .find(|c| c.sha1() != admin.certificate.sha1());
        check_presented(&admin.certificate, &presented, old.as_ref()).map_err(refuse)?;
        if adding.iter().any(|c| c.sha1() == presented.sha1()) {
            // A certificate about to be registered: the node's own, usable one.
            check_renewed(
                &RenewedCertificate::new(admin.node.hostname.clone(), presented.clone()),
                admins,
                now,
            )
            .map_err(|e| refuse(e.to_string()))?;
        }
        Ok::<_, Error>(format!(
            "{} presents SHA-1 {} at {shown}, as ISE's API names",
            admin.node.hostname,
            presented.sha1()
        ))
    });
    futures_util::future::join_all(probes)
        .await
        .into_iter()
        .collect()
}

/// Reads what rotation decides from: the release, every node's Admin certificate
/// (without keys), the application's keys; refuses unusable renewed certificates
/// before anything is written.
async fn read_state(ctx: &Integration, renewed: &[RenewedCertificate]) -> Result<State, Error> {
    // The release, the nodes' certificates and the application (with its keys) at once.
    let identity = ctx.options.app_identity();
    let (version, exported, app) = tokio::join!(
        ctx.ise.version(),
        steps::export_admin_certificates(&ctx.ise, KeyExport::CertificatesOnly),
        steps::find_app(&ctx.graph, &identity),
    );
    let version = version?;
    version.check_release()?;
    let admins: Vec<AdminCertificate> = exported?.value.into_iter().map(|m| m.admin).collect();
    let fqdns: Vec<String> = admins.iter().map(|a| a.node.fqdn.clone()).collect();
    let mut wanted: Vec<&Certificate> = distinct_certificates(&admins);
    let now = ctx.now();
    for c in renewed {
        check_renewed(c, &admins, now)?;
        if !wanted.iter().any(|w| w.sha1() == c.certificate.sha1()) {
            wanted.push(&c.certificate);
        }
    }
    let app = app?;
    let keys = app.keys.clone();
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
    let mut state = State {
        version,
        app,
        missing,
        stale,
        pending,
        presented: Vec::new(),
    };
    // Rights before anything: adding or removing a key writes the application.
    let mut writes = Vec::new();
    if !state.missing.is_empty() || !state.pending.is_empty() {
        writes.push("add the nodes' key(s) to the application");
    }
    if !state.stale.is_empty() && ctx.options.admin_key.acts_as_node() {
        writes.push("remove old ISE key(s) from the application");
    }
    if !writes.is_empty() {
        let roles = ctx.graph.graph_roles().await?;
        let missing = crate::rights::graph_blockers(roles.as_deref(), &writes);
        if !missing.is_empty() {
            return Err(Error::MissingRights { missing });
        }
    }
    // Only what the nodes present is trusted: before a key is added for an API's
    // answer, or removed because the API says no node uses it.
    if !state.missing.is_empty() || !state.stale.is_empty() {
        state.presented = check_on_the_wire(ctx, &admins, &keys, &state.missing).await?;
    }
    Ok(state)
}

/// What rotation would do from `state`: its steps, in order, and the outcome it would
/// have. `Unchanged` when every node's certificate is registered and no old ISE key is
/// left; `ManualActionRequired` when a renewed certificate is not ISE's Admin
/// certificate yet (the run stops after adding its key); else `Updated`.
fn decide_rotation(ctx: &Integration, state: &State) -> Rotation {
    let mut r = Rotation {
        added: state.missing.iter().map(|c| c.sha1().to_hex()).collect(),
        removed: Vec::new(),
        kept: Vec::new(),
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
    r.steps
        .extend(state.presented.iter().map(|p| format!("checked: {p}")));
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
    let as_node = ctx.options.admin_key.acts_as_node();
    if state.missing.is_empty() && !as_node {
        // Only old keys are left, and they cannot be removed without proof.
        r.outcome = Outcome::ManualActionRequired;
        r.kept.clone_from(&state.stale);
        r.steps.push(keep_step(&state.stale));
        r.instructions = Some(keep_instructions(&state.stale));
        return r;
    }
    r.steps.push(format!(
        "cycle External MDM server `{}` (disable, Test Connection, enable)",
        ctx.options.mdm_server_name
    ));
    if as_node {
        r.steps
            .push("verify Test Connection with every node's key".into());
    } else {
        r.steps
            .push("verify what is observable without a node's key".into());
    }
    if !state.stale.is_empty() {
        if as_node {
            r.steps
                .push(format!("remove old ISE key(s) {}", state.stale.join(", ")));
        } else {
            r.kept.clone_from(&state.stale);
            r.steps.push(keep_step(&state.stale));
            r.instructions = Some(keep_instructions(&state.stale));
        }
    }
    r
}

/// The step of a rotation that keeps old keys for want of proof.
fn keep_step(stale: &[String]) -> String {
    format!(
        "keep old ISE key(s) {}: only verification as each node (--as-node) proves every \
         node works without them",
        stale.join(", ")
    )
}

/// What to do about old keys kept.
fn keep_instructions(stale: &[String]) -> String {
    format!(
        "Old ISE key(s) {} are no longer used by any node but were kept: removing a key \
         needs proof that every node obtains its token with what remains, which only \
         verification as each node gives. Run `ise-intune rotate --as-node` (or set \
         verify_as_node = true) to remove them.",
        stale.join(", ")
    )
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
/// 5. only then, and only when verification acted as each node
///    ([`AdminKey::acts_as_node`](crate::keys::AdminKey::acts_as_node)), removes ISE keys
///    (named `CN=<node FQDN>`) that no node uses; other keys are never touched.
///    Without it the old keys are kept and listed in [`Rotation::kept`].
///
/// Nothing is written for an API's word alone: before adding or removing a key, every
/// node must present, in a TLS handshake on its own address ([`node_address`]), the
/// Admin certificate ISE's API names for it, chaining as its registered one did;
/// otherwise [`Error::CertificateNotPresented`] and nothing was written.
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
        steps::upload_certificates(&ctx.graph, &state.app, &certs).await?;
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
    let input = VerifyInput {
        ise: &ctx.ise,
        graph: &ctx.graph,
        client_id: &state.app.client_id,
        version: state.version,
        admin_key: ctx.options.admin_key.clone(),
        anchors: &ctx.anchors,
        propagation_wait: ctx.options.propagation_wait,
    };
    // After the keys and the cycle: read what verification judges again.
    let seen = crate::verify::Seen::read(&input).await?;
    let report = crate::verify::verify_connection(input, &seen).await?;
    let failed_checks = report.failures();
    r.verification = Some(report);
    if !failed_checks.is_empty() {
        let e = Error::VerificationFailed {
            failed: failed_checks,
        };
        return Err(failed(r, StepName::VerifyConnection, e));
    }
    if !ctx.options.admin_key.acts_as_node() {
        return Ok(r);
    }
    let handle = ctx.graph.application(state.app.object_id.clone());
    for t in &state.stale {
        let mut raw = [0u8; 20];
        if let Ok(bytes) = hex::decode(t)
            && bytes.len() == 20
        {
            raw.copy_from_slice(&bytes);
            crate::audit::naming(
                state.app.display_name.clone(),
                handle.remove_key(&KeySelector::Thumbprint(raw)),
            )
            .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(pem: &str) -> Certificate {
        Certificate::from_pem(pem).expect("fixture")
    }

    #[test]
    fn only_the_certificate_the_api_names_and_chaining_as_before_passes() {
        let ise = cert(include_str!("../../tests/data/ise-selfsigned.pem"));
        let leaf = cert(include_str!("../../tests/data/leaf.pem"));
        let inter = cert(include_str!("../../tests/data/inter.pem"));
        // The node presents what the API names: no registered certificate to compare.
        assert_eq!(check_presented(&ise, &ise, None), Ok(()));
        // Another certificate on the wire: both fingerprints named.
        let other = check_presented(&ise, &leaf, None).expect_err("swapped");
        assert!(
            other.contains(&ise.sha1().to_string()) && other.contains(&leaf.sha1().to_string()),
            "{other}"
        );
        // Registered self-signed, now CA-issued (and the reverse): refused.
        let moved = check_presented(&leaf, &leaf, Some(&ise)).expect_err("issuer changed");
        assert!(moved.contains("was self-signed"), "{moved}");
        let back = check_presented(&ise, &ise, Some(&leaf)).expect_err("now self-signed");
        assert!(back.contains("the presented one is self-signed"), "{back}");
        // Registered CA-issued, now from another issuer: refused, both issuers named.
        let issuers = check_presented(&inter, &inter, Some(&leaf)).expect_err("other issuer");
        assert!(
            issuers.contains(&leaf.issuer()) && issuers.contains(&inter.issuer()),
            "{issuers}"
        );
        // The registered certificate is the one presented: nothing to compare.
        assert_eq!(check_presented(&leaf, &leaf, Some(&leaf)), Ok(()));
    }
}
