//! Keeping an integration working after onboarding: trust sync when Microsoft moves its
//! endpoints to another root, and rotation when a node's Admin certificate is renewed.
//! Both are resumable, converge, never remove what they did not add, and have a dry
//! run.

use std::collections::BTreeMap;

use graph_client::KeySelector;
use serde::Serialize;

use crate::Error;
use crate::anchors::TrustAnchorSet;
use crate::certs::Certificate;
use crate::outcome::{Outcome, Step};
use crate::pipeline::Onboarding;
use crate::steps::{self, AnchorAction};
use crate::verify::{VerificationReport, VerifyInput, chain_ends_at, presented_chain};
use crate::version::IntuneGates as _;

/// What one Microsoft host presents and what ISE's store does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostChain {
    /// The host (`login.microsoftonline.com`, ...), with its port when not 443.
    pub host: String,
    /// Subjects of the presented chain, leaf first.
    pub chain: Vec<String>,
    /// The anchor the chain verifies to, if any anchor of the set does.
    pub root: Option<String>,
    /// `Unchanged` (already trusted), `Created` (imported), `Updated` (enabled and
    /// trusted in place), `Failed` (no anchor of the set verifies it, or the host could
    /// not be reached) — or, in a dry run, what would happen.
    pub outcome: Outcome,
    /// What was done or what to do.
    pub detail: String,
}

/// The result of [`Onboarding::sync_trust_anchors`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TrustSync {
    /// Each host probed.
    pub hosts: Vec<HostChain>,
    /// Whether ISE's store was (or, in a dry run, would be) changed.
    pub changed: bool,
}

impl TrustSync {
    /// Whether every host's chain ends at a root ISE trusts (or will).
    pub fn ok(&self) -> bool {
        self.hosts.iter().all(|h| h.outcome != Outcome::Failed)
    }
}

fn host_label(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// The most hosts trust sync probes: login, Graph and the few Intune hosts discovery
/// names; a longer list from discovery is cut here.
pub const MAX_PROBED_HOSTS: usize = 6;

impl Onboarding {
    /// Captures the chains login, Graph and the discovered Intune host present (TLS
    /// handshakes), maps each to the anchor of the set it verifies to, and imports into
    /// ISE — trusted for authentication within ISE — what the store lacks, or enables
    /// and trusts a present root in place. Never removes anything. With `dry_run` it
    /// only says what it would do.
    pub async fn sync_trust_anchors(&self, dry_run: bool) -> Result<TrustSync, Error> {
        let mut urls = vec![
            self.graph.login_authority().clone(),
            self.graph.graph_base().clone(),
        ];
        // The Intune host comes from Graph's discovery; without Application.Read.All for
        // the automating identity it is skipped and said so.
        let intune = self.graph.intune_endpoints().await;
        let mut hosts = Vec::new();
        match &intune {
            Ok(endpoints) => {
                // Learned from an answer: https only, distinct hosts, a few at most.
                for e in endpoints {
                    match graph_client::learned_url(&e.uri) {
                        Ok(u) if !urls.iter().any(|x| host_label(x) == host_label(&u)) => {
                            if urls.len() >= MAX_PROBED_HOSTS {
                                hosts.push(HostChain {
                                    host: "Intune (discovery)".into(),
                                    chain: Vec::new(),
                                    root: None,
                                    outcome: Outcome::Failed,
                                    detail: format!(
                                        "discovery names more than {MAX_PROBED_HOSTS} hosts: \
                                         the others were not probed"
                                    ),
                                });
                                break;
                            }
                            urls.push(u);
                        }
                        Ok(_) => {}
                        Err(err) => hosts.push(HostChain {
                            host: "Intune (discovery)".into(),
                            chain: Vec::new(),
                            root: None,
                            outcome: Outcome::Failed,
                            detail: err.to_string(),
                        }),
                    }
                }
            }
            Err(e) => hosts.push(HostChain {
                host: "Intune (discovery)".into(),
                chain: Vec::new(),
                root: None,
                outcome: Outcome::Failed,
                detail: format!("Intune's endpoints could not be discovered: {e}"),
            }),
        }
        let store = self.ise.trusted_certificates().list(&[]).await?;
        let mut needed = TrustAnchorSet::empty(self.anchors.version());
        let mut planned: BTreeMap<String, Outcome> = BTreeMap::new();
        // Every host's chain at once (a handful, bounded above): a silent host costs one
        // probe timeout, not one per host.
        let chains = futures_util::future::join_all(urls.iter().map(presented_chain)).await;
        for (url, chain) in urls.iter().zip(chains) {
            let host = host_label(url);
            let chain = match chain {
                Ok(c) => c,
                Err(e) => {
                    hosts.push(HostChain {
                        host,
                        chain: Vec::new(),
                        root: None,
                        outcome: Outcome::Failed,
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            let subjects: Vec<String> = chain
                .iter()
                .map(|d| {
                    Certificate::from_der(d).map_or_else(|_| "(unreadable)".into(), |c| c.subject())
                })
                .collect();
            let Some(anchor) = self
                .anchors
                .anchors()
                .iter()
                .find(|a| chain_ends_at(&chain, a.certificate().der()))
            else {
                let issuer = chain
                    .last()
                    .and_then(|d| Certificate::from_der(d).ok())
                    .map(|c| c.issuer())
                    .unwrap_or_default();
                hosts.push(HostChain {
                    host,
                    chain: subjects,
                    root: None,
                    outcome: Outcome::Failed,
                    detail: format!(
                        "the chain ends at a root no anchor of set {} is: `{issuer}`; get that \
                         root from its CA, check its fingerprint, and add it with \
                         TrustAnchorSet::add (or a newer library's anchor set)",
                        self.anchors.version()
                    ),
                });
                continue;
            };
            let one = {
                let mut s = TrustAnchorSet::empty(self.anchors.version());
                s.add(anchor.clone());
                s
            };
            let actions = steps::anchor_actions(&store, &one);
            let outcome = steps::anchors_outcome(&actions);
            needed.add(anchor.clone());
            planned.insert(anchor.name().to_owned(), outcome);
            hosts.push(HostChain {
                host,
                chain: subjects,
                root: Some(anchor.name().to_owned()),
                outcome,
                detail: match (actions.first().map(|(_, a)| a), dry_run) {
                    (Some(AnchorAction::Keep), _) => {
                        format!("`{}` is trusted in ISE", anchor.name())
                    }
                    (Some(AnchorAction::Import), true) => {
                        format!("would import `{}`", anchor.name())
                    }
                    (Some(AnchorAction::Fix { .. }), true) => {
                        format!("would enable and trust `{}`", anchor.name())
                    }
                    _ => String::new(),
                },
            });
        }
        let changed = planned.values().any(|o| o.is_write());
        if !dry_run && changed {
            let done = steps::import_trust_anchors(&self.ise, &needed).await?;
            for h in hosts.iter_mut() {
                let Some(root) = &h.root else { continue };
                if let Some(r) = done.value.iter().find(|r| &r.name == root)
                    && r.outcome.is_write()
                {
                    h.detail = r
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("`{root}` imported"));
                }
            }
        }
        Ok(TrustSync { hosts, changed })
    }
}

/// The result of [`Onboarding::rotate_admin_certificate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rotation {
    /// SHA-1s of keys added beside the old ones.
    pub added: Vec<String>,
    /// SHA-1s of ISE keys removed (after the new ones verified).
    pub removed: Vec<String>,
    /// `Unchanged` (nothing to rotate), `Updated` (done), `ManualActionRequired` (a
    /// person must bind a supplied certificate in ISE, or cycle the MDM server), or
    /// `Failed` (verification failed; nothing was removed).
    pub outcome: Outcome,
    /// What to do next, when a person must act.
    pub instructions: Option<String>,
    /// The verification run before removing anything.
    pub verification: Option<VerificationReport>,
    /// What a dry run would do, or what was done, step by step.
    pub steps: Vec<String>,
}

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
    admins: &[steps::AdminCertificate],
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
            admins
                .iter()
                .map(|a| a.node.hostname.as_str())
                .collect::<Vec<_>>()
                .join(", ")
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

impl Onboarding {
    /// Rotates the application's keys to the nodes' Admin certificates.
    ///
    /// 1. Adds, beside the old ones, a key for every node's current Admin certificate
    ///    and for each `renewed` certificate supplied ahead of time.
    /// 2. When a supplied certificate is not yet the node's Admin certificate in ISE,
    ///    stops with `ManualActionRequired`: bind it in ISE, then run again (the old key
    ///    stays until then, so ISE keeps working).
    /// 3. Cycles the External MDM server (step 7, through the configurator).
    /// 4. Verifies ISE's Test Connection with the keys now in use.
    /// 5. Only then removes ISE keys (named `CN=<node FQDN>`) that no node uses; other
    ///    keys are never touched.
    ///
    /// Resumable: the state lives in Entra (an old ISE key still registered means the
    /// rotation is unfinished), so a run after any failure carries on. With `dry_run`
    /// it reads only and lists what it would do.
    pub async fn rotate_admin_certificate(
        &self,
        renewed: &[RenewedCertificate],
        dry_run: bool,
    ) -> Result<Rotation, Error> {
        let mut r = Rotation {
            added: Vec::new(),
            removed: Vec::new(),
            outcome: Outcome::Unchanged,
            instructions: None,
            verification: None,
            steps: Vec::new(),
        };
        let version = self.ise.version().await?;
        version.check_release()?;
        let admins = steps::export_admin_certificates(&self.ise).await?.value;
        let fqdns: Vec<String> = admins.iter().map(|a| a.node.fqdn.clone()).collect();
        let mut wanted: Vec<&Certificate> = steps::distinct_certificates(&admins);
        let now = time::OffsetDateTime::now_utc();
        for c in renewed {
            check_renewed(c, &admins, now)?;
            if !wanted.iter().any(|w| w.sha1() == c.certificate.sha1()) {
                wanted.push(&c.certificate);
            }
        }
        let app = steps::find_app(&self.graph, &self.options.app_identity()).await?;
        let handle = self.graph.application(app.object_id.clone());
        let keys = handle.key_credentials().await?;
        let in_use: Vec<String> = admins
            .iter()
            .map(|a| a.certificate.sha1().to_hex())
            .collect();
        let supplied: Vec<String> = renewed
            .iter()
            .map(|c| c.certificate.sha1().to_hex())
            .collect();
        let missing: Vec<&Certificate> = wanted
            .iter()
            .copied()
            .filter(|c| steps::key_outcome(&keys, c) != Outcome::Unchanged)
            .collect();
        let stale: Vec<String> = keys
            .iter()
            .filter(|k| is_ise_key(k.display_name.as_deref(), &fqdns))
            .filter_map(|k| k.thumbprint_hex())
            .filter(|t| !in_use.contains(t) && !supplied.contains(t))
            .collect();
        let pending: Vec<&RenewedCertificate> = renewed
            .iter()
            .filter(|c| !in_use.contains(&c.certificate.sha1().to_hex()))
            .collect();

        r.added = missing.iter().map(|c| c.sha1().to_hex()).collect();
        if missing.is_empty() && stale.is_empty() && pending.is_empty() {
            r.outcome = Outcome::Unchanged;
            r.steps
                .push("every node's Admin certificate is registered; no old ISE key".into());
            return Ok(r);
        }
        if !missing.is_empty() {
            r.steps.push(format!("add key(s) {}", r.added.join(", ")));
            if !dry_run {
                steps::upload_certificates(&self.graph, &app, &missing).await?;
            }
        }
        if !pending.is_empty() {
            let todo = pending
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
            return Ok(r);
        }
        r.steps.push(format!(
            "cycle External MDM server `{}` (disable, Test Connection, enable)",
            self.options.mdm_server_name
        ));
        r.steps
            .push("verify Test Connection with every node's key".into());
        if !stale.is_empty() {
            r.steps
                .push(format!("remove old ISE key(s) {}", stale.join(", ")));
        }
        if dry_run {
            r.outcome = Outcome::Updated;
            return Ok(r);
        }
        let cycled: Step<()> = match self.configurator.cycle(&self.options.mdm_server_name).await {
            Ok(c) => c,
            Err(e) => {
                r.outcome = Outcome::Failed;
                r.instructions = Some(format!(
                    "cycling the External MDM server failed ({e}); no key was removed. Fix \
                     what it names (doctor helps) and run rotate again."
                ));
                return Ok(r);
            }
        };
        if cycled.outcome == Outcome::ManualActionRequired {
            r.outcome = Outcome::ManualActionRequired;
            r.instructions = cycled.instructions;
            return Ok(r);
        }
        let report = crate::verify::verify_connection(VerifyInput {
            ise: &self.ise,
            graph: &self.graph,
            client_id: &app.client_id,
            version,
            admin_key: self.options.admin_key.clone(),
            anchors: &self.anchors,
            propagation_wait: self.options.propagation_wait,
        })
        .await?;
        let ok = report.ok;
        r.verification = Some(report);
        if !ok {
            r.outcome = Outcome::Failed;
            r.instructions = Some(
                "verification failed with the new key(s); no key was removed. Fix what the \
                 verification names (doctor helps) and run rotate again."
                    .into(),
            );
            return Ok(r);
        }
        for t in &stale {
            let mut raw = [0u8; 20];
            if let Ok(bytes) = hex::decode(t)
                && bytes.len() == 20
            {
                raw.copy_from_slice(&bytes);
                handle.remove_key(&KeySelector::Thumbprint(raw)).await?;
                r.removed.push(t.clone());
            }
        }
        r.outcome = Outcome::Updated;
        Ok(r)
    }
}
