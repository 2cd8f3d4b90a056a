//! Trust sync: when Microsoft moves an endpoint to another root, ISE must trust the new
//! root before its TLS connections to login, Graph or Intune fail. [`plan`] captures
//! the chains those hosts present (TLS handshakes), maps each to the anchor of the set
//! it verifies to, and says what ISE's store lacks; [`apply`] imports it — trusted for
//! authentication within ISE — or enables and trusts a present root in place. Never
//! removes anything.

use std::collections::BTreeMap;

use ise_client::TrustedCertificate;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::Certificate;
use crate::context::Integration;
use crate::decide::{self, AnchorAction};
use crate::error::{ApplyFailure, PartialReport};
use crate::outcome::{Outcome, StepName};
pub use crate::report::{HostChain, TrustSync};
use crate::steps;
use crate::tls_probe::{chain_ends_at, presented_chain};

fn host_label(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// The most hosts trust sync probes: login, Graph and the few Intune hosts discovery
/// names; a longer list from discovery is cut here.
pub const MAX_PROBED_HOSTS: usize = 6;

/// A host that could not be probed or matched, reported as failed.
fn failed_host(host: impl Into<String>, chain: Vec<String>, detail: String) -> HostChain {
    HostChain {
        host: host.into(),
        chain,
        root: None,
        outcome: Outcome::Failed,
        detail,
    }
}

/// The hosts to probe: login and Graph, then the Intune hosts Graph's discovery names
/// (https only, distinct, [`MAX_PROBED_HOSTS`] in all); without Application.Read.All
/// for the automating identity the Intune hosts are skipped and said so.
async fn hosts_to_probe(ctx: &Integration, hosts: &mut Vec<HostChain>) -> Vec<url::Url> {
    let mut urls = vec![
        ctx.graph.login_authority().clone(),
        ctx.graph.graph_base().clone(),
    ];
    let discovery = "Intune (discovery)";
    let endpoints = match crate::observe::discovery(&ctx.graph).await {
        Ok(e) => e,
        Err(e) => {
            hosts.push(failed_host(
                discovery,
                Vec::new(),
                format!("Intune's endpoints could not be discovered: {e}"),
            ));
            return urls;
        }
    };
    for e in endpoints {
        match graph_client::learned_url(&e.uri) {
            Ok(u) if !urls.iter().any(|x| host_label(x) == host_label(&u)) => {
                if urls.len() >= MAX_PROBED_HOSTS {
                    hosts.push(failed_host(
                        discovery,
                        Vec::new(),
                        format!(
                            "discovery names more than {MAX_PROBED_HOSTS} hosts: the others \
                             were not probed"
                        ),
                    ));
                    break;
                }
                urls.push(u);
            }
            Ok(_) => {}
            Err(err) => hosts.push(failed_host(discovery, Vec::new(), err.to_string())),
        }
    }
    urls
}

/// One host's chain against the anchors and ISE's store: the anchor it verifies to and
/// what step 5's decision ([`decide::anchor_actions`]) does about it.
fn classify(
    ctx: &Integration,
    store: &[TrustedCertificate],
    host: String,
    chain: &[Vec<u8>],
) -> (HostChain, Option<TrustAnchor>) {
    let subjects: Vec<String> = chain
        .iter()
        .map(|d| Certificate::from_der(d).map_or_else(|_| "(unreadable)".into(), |c| c.subject()))
        .collect();
    let Some(anchor) = ctx
        .anchors
        .anchors()
        .iter()
        .find(|a| chain_ends_at(chain, a.certificate().der()))
    else {
        let issuer = chain
            .last()
            .and_then(|d| Certificate::from_der(d).ok())
            .map(|c| c.issuer())
            .unwrap_or_default();
        let detail = format!(
            "the chain ends at a root no anchor of set {} is: `{issuer}`; get that root from \
             its CA, check its fingerprint, and add it to the configuration's \
             anchors.extra_files (or upgrade to a release with a newer anchor set)",
            ctx.anchors.version()
        );
        return (failed_host(host, subjects, detail), None);
    };
    let mut one = TrustAnchorSet::empty(ctx.anchors.version());
    one.add(anchor.clone());
    let actions = decide::anchor_actions(store, &one);
    let name = anchor.name();
    let detail = match actions.first().map(|(_, a)| a) {
        Some(AnchorAction::Import) => format!("would import `{name}`"),
        Some(AnchorAction::Fix { .. }) => format!("would enable and trust `{name}`"),
        _ => format!("`{name}` is trusted in ISE"),
    };
    let host = HostChain {
        host,
        chain: subjects,
        root: Some(name.to_owned()),
        outcome: decide::anchors_outcome(&actions),
        detail,
    };
    (host, Some(anchor.clone()))
}

/// Probes every host at once (a silent host costs one probe timeout, not one per host)
/// and says what ISE's store needs; the anchors to import or fix, and the store as
/// read.
async fn survey(
    ctx: &Integration,
) -> Result<
    (
        TrustSync,
        TrustAnchorSet,
        Vec<ise_client::TrustedCertificate>,
    ),
    Error,
> {
    let mut hosts = Vec::new();
    let urls = hosts_to_probe(ctx, &mut hosts).await;
    let (store, chains) = tokio::join!(
        crate::observe::trusted_store(&ctx.ise),
        futures_util::future::join_all(urls.iter().map(presented_chain)),
    );
    let store = store?;
    let mut needed = TrustAnchorSet::empty(ctx.anchors.version());
    let mut planned: BTreeMap<String, Outcome> = BTreeMap::new();
    for (url, chain) in urls.iter().zip(chains) {
        let host = host_label(url);
        let (h, anchor) = match chain {
            Ok(chain) => classify(ctx, &store, host, &chain),
            Err(e) => (failed_host(host, Vec::new(), e.to_string()), None),
        };
        if let Some(anchor) = anchor {
            planned.insert(anchor.name().to_owned(), h.outcome);
            if h.outcome.is_write() {
                needed.add(anchor);
            }
        }
        hosts.push(h);
    }
    let changed = planned.values().any(|o| o.is_write());
    Ok((TrustSync { hosts, changed }, needed, store))
}

/// What [`apply`] would do for each host. Reads only (the handshakes are refused
/// before any request is sent).
pub async fn plan(ctx: &Integration) -> Result<TrustSync, Error> {
    survey(ctx).await.map(|(s, _, _)| s)
}

/// Imports (or enables and trusts in place) the roots the hosts' chains end at that
/// ISE's store lacks, through step 5 ([`steps::import_trust_anchors`]); each import
/// reported once, on the host that needed it. When a host could not be probed or its
/// chain ends at no known anchor, the error is [`Error::Apply`] with the sync so far
/// (what could be imported was).
pub async fn apply(ctx: &Integration) -> Result<TrustSync, Error> {
    let (mut sync, needed, store) = survey(ctx).await?;
    let mut written = Vec::new();
    if sync.changed {
        // The first import proves ISE's write rights: an account that may only read is
        // refused there (every import is, the same way), and nothing was written.
        let done = steps::import_trust_anchors(&ctx.ise, &needed, &store)
            .await
            .map_err(|e| {
                crate::rights::refused_first_write(e, "import the roots Microsoft moved to")
            })?;
        let mut reported = Vec::new();
        for h in sync.hosts.iter_mut() {
            let Some(root) = h.root.clone() else { continue };
            let Some(r) = done.value.iter().find(|r| r.name == root) else {
                continue;
            };
            if !r.outcome.is_write() {
                h.outcome = Outcome::Unchanged;
                h.detail = format!("`{root}` is trusted in ISE");
            } else if reported.contains(&root) {
                h.outcome = Outcome::Unchanged;
                h.detail = format!("`{root}`: imported for another host above");
            } else {
                h.detail = r
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("`{root}` imported"));
                written.push(format!("{}: {}", h.host, h.detail));
                reported.push(root);
            }
        }
    }
    let errors: Vec<(StepName, Error)> = sync
        .hosts
        .iter()
        .filter(|h| h.outcome == Outcome::Failed)
        .map(|h| {
            let e = Error::HostNotTrusted {
                host: h.host.clone(),
                detail: h.detail.clone(),
            };
            (StepName::ImportTrustAnchors, e)
        })
        .collect();
    if errors.is_empty() {
        return Ok(sync);
    }
    Err(Error::Apply(Box::new(ApplyFailure::new(
        PartialReport::TrustSync(sync),
        written,
        errors,
    ))))
}
