//! Reproducing ISE's Test Connection from the library: a token with ISE's own admin key,
//! Graph discovery of the Intune endpoint, an Intune token with the release's audience,
//! the `mdminfo` call, and every TLS chain checked against ISE's trusted store.
//! [`verify`] runs it for an [`Integration`]; [`verify_connection`] for given inputs.

use std::time::Duration;

use graph_client::{
    AssertionAlgorithm, ClientCertificate, Credentials, GraphClient, TokenAudience,
};
use ise_client::{IseClient, TrustedCertificate};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::Error;
use crate::anchors::TrustAnchorSet;
use crate::certs::Certificate;
use crate::context::Integration;
use crate::decide::Registration;
use crate::keys::{AdminKey, AdminKeyMaterial, KeyExport, node_client_certificate};
use crate::outcome::CheckName;
pub use crate::report::{Check, VerificationReport};
use crate::tls_probe::{chain_ends_at, presented_chain};
use crate::version::{IntuneGates as _, IseVersion};

/// Verification alone, for the integration's existing application: ISE's Test
/// Connection reproduced — from public material only, or per policy service node as
/// that node when [`crate::context::Options::admin_key`] names a key source. It starts
/// from one [`crate::observe::observe`] of both systems (ISE's version, the nodes'
/// certificates with the keys it needs, the trusted store, the application, Intune's
/// discovery, all at once). No application is [`Error::NotOnboarded`].
pub async fn verify(ctx: &Integration) -> Result<VerificationReport, Error> {
    let identity = ctx.options.app_identity();
    let reading = crate::observe::Reading {
        keys: KeyExport::for_admin_key(&ctx.options.admin_key),
        ..crate::observe::Reading::default()
    };
    let observed = crate::observe::observe(ctx, &reading).await;
    let intune_endpoint = observed.intune_endpoint();
    let crate::observe::Observed {
        version,
        nodes,
        store,
        microsoft,
        ..
    } = observed;
    let microsoft = microsoft.ok_or_else(|| Error::RemoteState {
        what: "Microsoft's side was not read".into(),
    })?;
    let seen = microsoft.app?;
    let app = match seen.registration()? {
        Registration::Existing(app) | Registration::Adopt(app) => app,
        Registration::Create => {
            return Err(Error::NotOnboarded {
                what: format!("no application `{}`", identity.display_name),
            });
        }
    };
    let seen = Seen {
        trusted: store?,
        nodes: nodes?,
        registered: thumbprints(&app.key_credentials),
        intune_endpoint,
    };
    verify_connection(
        VerifyInput {
            ise: &ctx.ise,
            graph: &ctx.graph,
            client_id: &app.app_id,
            version: version?,
            admin_key: ctx.options.admin_key.clone(),
            anchors: &ctx.anchors,
            propagation_wait: ctx.options.propagation_wait,
        },
        &seen,
    )
    .await
}

/// The SHA-1 thumbprints (hex) of an application's keys.
pub(crate) fn thumbprints(keys: &[graph_client::KeyCredential]) -> Vec<String> {
    keys.iter().filter_map(|k| k.thumbprint_hex()).collect()
}

/// What a report says of the checks that need a node's key when none was asked for.
pub const NOT_CHECKED_AS_NODE: &str = "not checked: needs --as-node (Entra accepting each \
     policy service node's assertion and Intune answering as that node need the node's \
     private key: export it from ISE with --as-node / verify_as_node = true, or supply it \
     from a file)";

/// Everything [`verify_connection`] needs.
#[derive(Debug, Clone)]
pub struct VerifyInput<'a> {
    /// ISE.
    pub ise: &'a IseClient,
    /// A Graph client for the tenant (its endpoints and TLS roots are reused; its
    /// credentials are not).
    pub graph: &'a GraphClient,
    /// The application (client) id ISE uses.
    pub client_id: &'a str,
    /// ISE's release.
    pub version: IseVersion,
    /// ISE's admin key.
    pub admin_key: AdminKey,
    /// Anchors, to name a missing root.
    pub anchors: &'a TrustAnchorSet,
    /// How long to wait for a just-registered key or just-granted role to propagate to
    /// the token service and Intune (see [`DEFAULT_PROPAGATION_WAIT`]).
    pub propagation_wait: Duration,
}

pub use crate::context::DEFAULT_PROPAGATION_WAIT;

/// What verification judges, as read: from one [`crate::observe::observe`] (the
/// workflows), with the writes a run made applied, or by [`Seen::read`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Seen {
    /// ISE's trusted store.
    pub trusted: Vec<TrustedCertificate>,
    /// The nodes' Admin certificates, with the policy service nodes' keys when
    /// verification acts as them with exported keys ([`KeyExport::PolicyServiceKeys`]).
    pub nodes: Vec<AdminKeyMaterial>,
    /// The SHA-1 thumbprints (hex) of the application's keys.
    pub registered: Vec<String>,
    /// The Compliance Retrieval endpoint Intune's discovery names for the automating
    /// identity, if any.
    pub intune_endpoint: Option<String>,
}

impl Seen {
    /// What verification judges, from its parts.
    pub fn new(
        trusted: Vec<TrustedCertificate>,
        nodes: Vec<AdminKeyMaterial>,
        registered: Vec<String>,
        intune_endpoint: Option<String>,
    ) -> Self {
        Self {
            trusted,
            nodes,
            registered,
            intune_endpoint,
        }
    }

    /// Reads what verification of `input` judges, all at once, through
    /// [`crate::observe`]'s functions: ISE's trusted store, the nodes' certificates
    /// (with the keys `input.admin_key` exports), the application's keys and Intune's
    /// discovery — for a caller that holds no picture of both systems.
    pub async fn read(input: &VerifyInput<'_>) -> Result<Self, Error> {
        let keys = KeyExport::for_admin_key(&input.admin_key);
        let (trusted, nodes, app, discovery) = tokio::join!(
            crate::observe::trusted_store(input.ise),
            crate::keys::export(input.ise, keys),
            crate::observe::application_by_client_id(input.graph, input.client_id),
            crate::observe::discovery(input.graph),
        );
        Ok(Self {
            trusted: trusted?,
            nodes: nodes?,
            registered: app?
                .map(|a| thumbprints(&a.key_credentials))
                .unwrap_or_default(),
            intune_endpoint: discovery
                .ok()
                .and_then(|d| crate::observe::endpoint_for(&d, &input.version)),
        })
    }
}

/// The keys to check: each policy service node's Admin key (a shared one once), from
/// the export `seen` holds, or the supplied one. Nodes are named for the report.
async fn node_keys(
    input: &VerifyInput<'_>,
    material: &[AdminKeyMaterial],
) -> Vec<(Option<String>, Result<ClientCertificate, Error>)> {
    if let AdminKey::Supplied { .. } = &input.admin_key {
        return vec![(
            None,
            node_client_certificate(input.ise, input.client_id, &input.admin_key, None).await,
        )];
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for m in material.iter().filter(|m| m.key_pkcs8().is_some()) {
        let sha1 = m.admin.certificate.sha1();
        if seen.contains(&sha1) {
            continue;
        }
        seen.push(sha1);
        let key = m.key_pkcs8().unwrap_or_default().to_vec();
        let cert = ClientCertificate::from_der(
            input.client_id,
            m.admin.certificate.der().to_vec(),
            &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            AssertionAlgorithm::Rs256,
        )
        .map_err(Error::Graph);
        out.push((Some(m.admin.node.hostname.clone()), cert));
    }
    out
}

/// A bounded wait for a key or role to propagate.
struct Propagation {
    started: std::time::Instant,
    limit: Duration,
    waited: std::sync::atomic::AtomicBool,
}

impl Propagation {
    fn new(limit: Duration) -> Self {
        Self {
            started: std::time::Instant::now(),
            limit,
            waited: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether waiting longer stays within the window.
    fn open(&self) -> bool {
        self.started.elapsed() < self.limit
    }

    async fn pause(&self) {
        self.waited
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    /// ` (after waiting N ms for propagation)` when a wait happened.
    fn waited(&self) -> String {
        if self.waited.load(std::sync::atomic::Ordering::Relaxed) {
            format!(
                " (after waiting {} ms for propagation)",
                self.started.elapsed().as_millis()
            )
        } else {
            String::new()
        }
    }
}

/// Entra's answer to a key it does not (yet) accept.
fn is_key_not_yet_usable(e: &graph_client::Error) -> bool {
    matches!(e, graph_client::Error::Token { body, .. } if body.error_codes.contains(&700027))
}

/// Runs every check ISE's Test Connection runs on what `seen` holds, and reports each
/// one. Never fails as a whole for a failed check: the report says which failed and
/// why. Independent requests run concurrently: the TLS probes together; every policy
/// service node at once.
pub async fn verify_connection(
    input: VerifyInput<'_>,
    seen: &Seen,
) -> Result<VerificationReport, Error> {
    let mut report = VerificationReport {
        ok: true,
        checks: Vec::new(),
    };
    if !input.admin_key.acts_as_node() {
        return Ok(public_verification(&input, seen).await);
    }
    let keys = node_keys(&input, &seen.nodes).await;
    let trusted = &seen.trusted;
    let endpoint = seen.intune_endpoint.clone();
    let tls_intune = tls_checks(&input, trusted, endpoint.as_deref(), &mut report).await;

    let nodes =
        futures_util::future::join_all(keys.into_iter().enumerate().map(|(i, (node, cert))| {
            let (input, endpoint, tls) = (&input, endpoint.as_deref(), tls_intune.clone());
            async move {
                check_node(
                    input,
                    trusted,
                    node.as_deref(),
                    cert,
                    endpoint,
                    (i == 0).then_some(tls),
                )
                .await
            }
        }))
        .await;
    for checks in nodes {
        for c in checks {
            report.push_for(c.node.as_deref(), c.name, c.ok, c.detail);
        }
    }
    Ok(report)
}

/// The TLS chains of login and Graph (recorded in `report`) and of the discovered
/// Intune host (returned: where it is recorded depends on the caller), probed at once
/// and checked against ISE's store. The Intune URL was learned from an answer, so only
/// an https one is probed.
async fn tls_checks(
    input: &VerifyInput<'_>,
    trusted: &[TrustedCertificate],
    intune_endpoint: Option<&str>,
    report: &mut VerificationReport,
) -> Option<(bool, String)> {
    let login = input.graph.login_authority().clone();
    let graph_origin = input.graph.graph_base().clone();
    let intune_url = intune_endpoint.and_then(|e| graph_client::learned_url(e).ok());
    let (tls_login, tls_graph, tls_intune) = tokio::join!(
        check_chain(input.ise, trusted, &login, input.anchors),
        check_chain(input.ise, trusted, &graph_origin, input.anchors),
        async {
            match &intune_url {
                Some(u) => Some(check_chain(input.ise, trusted, u, input.anchors).await),
                None => None,
            }
        },
    );
    report.push(CheckName::TlsLogin, tls_login.0, tls_login.1);
    report.push(CheckName::TlsGraph, tls_graph.0, tls_graph.1);
    tls_intune
}

/// Verification from public material only, with no node's key: the TLS chains of
/// login, Graph and the discovered Intune host against ISE's store, Intune's discovery
/// as the automating identity sees it, and each node's Admin certificate (exported
/// without its key) registered on the application. The checks that act as a node are
/// reported as not checked ([`NOT_CHECKED_AS_NODE`]).
async fn public_verification(input: &VerifyInput<'_>, seen: &Seen) -> VerificationReport {
    let mut report = VerificationReport {
        ok: true,
        checks: Vec::new(),
    };
    let trusted = &seen.trusted;
    let admins: Vec<crate::keys::AdminCertificate> =
        seen.nodes.iter().map(|m| m.admin.clone()).collect();
    let endpoint = &seen.intune_endpoint;
    let tls_intune = tls_checks(input, trusted, endpoint.as_deref(), &mut report).await;
    let provider = input.version.compliance_provider();
    match (&endpoint, tls_intune) {
        (Some(e), Some(tls)) => {
            report.push(
                CheckName::Discovery,
                true,
                format!("{provider} at {e} (as the automating identity)"),
            );
            report.push(CheckName::TlsIntune, tls.0, tls.1);
        }
        (Some(e), None) => report.push(
            CheckName::Discovery,
            false,
            match graph_client::learned_url(e) {
                Err(err) => format!("Intune's discovery for {provider}: {err}"),
                Ok(_) => format!("Intune's discovery for {provider} names an unusable URL"),
            },
        ),
        (None, _) => report.push(
            CheckName::Discovery,
            false,
            format!(
                "Intune's discovery names no {provider} endpoint for the automating identity \
                 (or it may not read it): grant Application.Read.All with admin consent"
            ),
        ),
    }
    registered_checks(&mut report, &seen.registered, &admins);
    report.skip(CheckName::AsNode, NOT_CHECKED_AS_NODE);
    report
}

/// Each node's Admin certificate (public part) against the application's keys'
/// thumbprints.
fn registered_checks(
    report: &mut VerificationReport,
    registered: &[String],
    admins: &[crate::keys::AdminCertificate],
) {
    for a in admins {
        let sha1 = a.certificate.sha1().to_hex();
        let ok = registered.contains(&sha1);
        report.push_for(
            Some(&a.node.hostname),
            CheckName::Registered,
            ok,
            if ok {
                format!("Admin certificate SHA-1 {sha1} is a key of the application")
            } else {
                format!(
                    "Admin certificate SHA-1 {sha1} is not a key of the application (its \
                     thumbprints: [{}]): run rotate or onboard (step 3)",
                    registered.join(", ")
                )
            },
        );
    }
}

/// The checks one node makes with its own key: Graph token then discovery, and — at
/// the same time, when the endpoint is already known — the Intune token then
/// `mdminfo`; the Intune host's chain once (`tls_intune` for the first node).
/// The Intune token audience of the release, and a Graph client signing in with the
/// node's key; what is missing otherwise.
fn as_the_node(
    input: &VerifyInput<'_>,
    cert: Result<ClientCertificate, Error>,
) -> Result<(graph_client::TokenAudience, GraphClient), String> {
    let audience = input
        .version
        .token_audience_for(input.graph.intune_resource())
        .map_err(|e| e.to_string())?;
    let cert = cert.map_err(|e| format!("ISE's admin key: {e}"))?;
    Ok((
        audience,
        input.graph.with_credentials(Credentials::Certificate(cert)),
    ))
}

async fn check_node(
    input: &VerifyInput<'_>,
    trusted: &[TrustedCertificate],
    node: Option<&str>,
    cert: Result<ClientCertificate, Error>,
    known_endpoint: Option<&str>,
    tls_intune: Option<Option<(bool, String)>>,
) -> Vec<Check> {
    let mut out = VerificationReport::default();
    let (audience, as_ise) = match as_the_node(input, cert) {
        Ok(both) => both,
        Err(detail) => {
            out.push_for(node, CheckName::Token, false, detail);
            return out.checks;
        }
    };
    let provider = input.version.compliance_provider();
    let graph_side = node_graph_checks(input, &as_ise);
    let intune_side = |endpoint: String| node_intune_checks(input, &as_ise, &audience, endpoint);
    let (graph_result, early) = match known_endpoint {
        Some(e) => {
            let (g, i) = tokio::join!(graph_side, intune_side(e.to_owned()));
            (g, Some(i))
        }
        None => (graph_side.await, None),
    };
    let (waited, endpoints) = match graph_result {
        Ok(r) => r,
        Err((name, detail)) => {
            out.push_for(node, name, false, detail);
            return out.checks;
        }
    };
    out.push_for(
        node,
        CheckName::Token,
        true,
        format!("Graph token issued to ISE's admin certificate{waited}"),
    );
    let Some(endpoint) = endpoints.iter().find(|e| e.provider_name == provider) else {
        out.push_for(
            node,
            CheckName::Discovery,
            false,
            format!("no {provider} endpoint published"),
        );
        return out.checks;
    };
    out.push_for(
        node,
        CheckName::Discovery,
        true,
        format!("{provider} at {}", endpoint.uri),
    );
    if let Some(tls) = tls_intune {
        let (ok, detail) = match tls {
            Some(t) if known_endpoint == Some(endpoint.uri.as_str()) => t,
            _ => match graph_client::learned_url(&endpoint.uri) {
                Ok(u) => check_chain(input.ise, trusted, &u, input.anchors).await,
                Err(e) => (false, e.to_string()),
            },
        };
        out.push(CheckName::TlsIntune, ok, detail);
    }
    // The Intune side ran against the endpoint known beforehand; when this node's own
    // discovery names another, ask that one.
    let (token, answer) = match early {
        Some(r) if known_endpoint == Some(endpoint.uri.as_str()) => r,
        _ => intune_side(endpoint.uri.clone()).await,
    };
    match token {
        Ok(()) => out.push_for(
            node,
            CheckName::IntuneToken,
            true,
            format!("token for `{}`", audience.as_str()),
        ),
        Err(e) => {
            out.push_for(node, CheckName::IntuneToken, false, e);
            return out.checks;
        }
    }
    if let Some((ok, detail)) = answer {
        out.push_for(node, CheckName::Mdminfo, ok, detail);
    }
    out.checks
}

/// A node's Graph side: a token with its key, then Intune's discovery. A key just
/// registered is refused (AADSTS700027) until it has propagated to the token service,
/// and Application.Read.All just granted reaches tokens once it has propagated (Graph
/// answers 403 until then): each is waited on, exactly, within the bounded window.
async fn node_graph_checks(
    input: &VerifyInput<'_>,
    as_ise: &GraphClient,
) -> Result<(String, Vec<graph_client::ServiceEndpoint>), (CheckName, String)> {
    // ISE asks for its Auto Discovery URL's scope: the cloud's Graph.
    let graph_scope = input.graph.graph_scope().clone();
    let window = Propagation::new(input.propagation_wait);
    loop {
        match as_ise.access_token(&graph_scope).await {
            Ok(_) => break,
            Err(e) if is_key_not_yet_usable(&e) && window.open() => window.pause().await,
            Err(e) => return Err((CheckName::Token, e.to_string())),
        }
    }
    loop {
        match crate::observe::discovery(as_ise).await {
            Ok(endpoints) => return Ok((window.waited(), endpoints)),
            Err(graph_client::Error::Api { status: 403, .. }) if window.open() => {
                window.pause().await;
                as_ise.clear_token_cache();
            }
            Err(e) => {
                return Err((
                    CheckName::Discovery,
                    format!("{e} — grant Application.Read.All with admin consent"),
                ));
            }
        }
    }
}

/// A node's Intune side at `endpoint`: a token for the release's audience (waiting
/// for a just-registered key), then `mdminfo`.
async fn node_intune_checks(
    input: &VerifyInput<'_>,
    as_ise: &GraphClient,
    audience: &TokenAudience,
    endpoint: String,
) -> (Result<(), String>, Option<(bool, String)>) {
    let window = Propagation::new(input.propagation_wait);
    let token = loop {
        match as_ise.access_token(audience).await {
            Ok(t) => break t,
            Err(e) if is_key_not_yet_usable(&e) && window.open() => window.pause().await,
            Err(e) => return (Err(e.to_string()), None),
        }
    };
    let answer = mdminfo(input, as_ise, audience, &endpoint, token).await;
    (Ok(()), Some(answer))
}

/// `mdminfo` with `token`; Intune answers 403 until a just-granted role has
/// propagated, so that answer is waited on, with a fresh token each time.
async fn mdminfo(
    input: &VerifyInput<'_>,
    as_ise: &GraphClient,
    audience: &TokenAudience,
    endpoint: &str,
    token: graph_client::AccessToken,
) -> (bool, String) {
    let url = format!(
        "{}/ciscoise/mdminfo/?ise_api_version={}",
        endpoint.trim_end_matches('/'),
        if input.version.supports_compliance_v3() {
            3
        } else {
            2
        }
    );
    let window = Propagation::new(input.propagation_wait);
    let mut answer = as_ise.get_with_token(&url, &token, "application/xml").await;
    while matches!(answer, Ok((403, _))) && window.open() {
        window.pause().await;
        as_ise.clear_token_cache();
        answer = match as_ise.access_token(audience).await {
            Ok(t) => as_ise.get_with_token(&url, &t, "application/xml").await,
            Err(e) => Err(e),
        };
    }
    match answer {
        Ok((200, body)) if body.contains("<name>mdminfo</name>") => {
            (true, format!("Intune answered mdminfo{}", window.waited()))
        }
        Ok((status, body)) => (
            false,
            format!(
                "Intune answered {status}: {} — check get_device_compliance and its admin consent",
                // Intune's XML as its elements' texts, not as markup.
                ise_intune_http::scrub::server_text(
                    &intune_client::summarise(&body).unwrap_or(body),
                    &[]
                )
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

fn trusted_for_ise_auth(t: &TrustedCertificate) -> bool {
    let enabled = t
        .status
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("enabled"));
    let infra = t
        .trusted_for
        .as_deref()
        .is_none_or(|f| f.contains("Infrastructure"));
    enabled && infra
}

/// The trusted store's entries that could be a chain's root, with their certificates:
/// those named like the top certificate's issuer, or equal to a presented certificate —
/// also those present but not enabled and trusted for authentication within ISE (a
/// fresh ISE ships public roots trusted for Cisco Services only), to say so. An entry
/// that is an anchor (same SHA-256) needs no export; the others are exported together.
async fn candidate_roots<'t>(
    ise: &IseClient,
    trusted: &'t [TrustedCertificate],
    parsed: &[Certificate],
    issuer_cn: &str,
    anchors: &TrustAnchorSet,
) -> Vec<(&'t TrustedCertificate, Certificate)> {
    let presented_sha: Vec<String> = parsed.iter().map(|c| c.sha256().to_hex()).collect();
    let candidates: Vec<&TrustedCertificate> = trusted
        .iter()
        .filter(|t| {
            t.issued_to == issuer_cn || t.sha256_hex().is_some_and(|h| presented_sha.contains(&h))
        })
        .collect();
    let known = |t: &TrustedCertificate| {
        let sha = t.sha256_hex()?;
        anchors
            .anchors()
            .iter()
            .find(|a| a.certificate().sha256().to_hex() == sha)
            .map(|a| a.certificate().clone())
    };
    futures_util::future::join_all(candidates.into_iter().map(|t| async move {
        if let Some(c) = known(t) {
            return Some((t, c));
        }
        let pem = ise.trusted_certificates().export(&t.id).await.ok()?;
        Certificate::from_pem(&pem).ok().map(|c| (t, c))
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Checks that `url`'s chain ends in a certificate of ISE's trusted store.
async fn check_chain(
    ise: &IseClient,
    trusted: &[TrustedCertificate],
    url: &url::Url,
    anchors: &TrustAnchorSet,
) -> (bool, String) {
    let host = url.host_str().unwrap_or_default().to_owned();
    let chain = match presented_chain(url).await {
        Ok(c) => c,
        Err(e) => return (false, e.to_string()),
    };
    let parsed: Vec<Certificate> = chain
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .collect();
    let Some(top) = parsed.last() else {
        return (false, format!("{host} presented no readable certificate"));
    };
    let issuer_cn = top.issuer_common_name().unwrap_or_else(|| top.issuer());
    let mut roots = candidate_roots(ise, trusted, &parsed, &issuer_cn, anchors).await;
    // Trusted entries first: one that works ends the search.
    roots.sort_by_key(|(t, _)| !trusted_for_ise_auth(t));
    let mut untrusted_match = None;
    for (entry, root) in &roots {
        if chain_ends_at(&chain, root.der()) {
            if trusted_for_ise_auth(entry) {
                return (
                    true,
                    format!(
                        "{host} chains to `{}` in ISE's trusted store",
                        entry.friendly_name
                    ),
                );
            }
            untrusted_match.get_or_insert(*entry);
        }
    }
    if let Some(entry) = untrusted_match {
        return (
            false,
            format!(
                "{host} chains to `{name}` in ISE's trusted store, but ISE does not use it for \
                 this connection: it is {status} and trusted for `{flags}`; enable it and tick \
                 \"Trust for authentication within ISE\" (Administration > System > \
                 Certificates > Trusted Certificates > {name}), or run `ise-intune onboard` \
                 (step 5) with an anchor set that holds it",
                name = entry.friendly_name,
                status = entry
                    .status
                    .as_deref()
                    .map_or_else(|| "of unknown status".to_owned(), str::to_ascii_lowercase),
                flags = entry.trusted_for.as_deref().unwrap_or("nothing"),
            ),
        );
    }
    let suggestion = anchors
        .anchors()
        .iter()
        .find(|a| a.certificate().common_name().as_deref() == Some(issuer_cn.as_str()))
        .map(|a| format!("import the trust anchor `{}`", a.name()))
        .unwrap_or_else(|| format!("import the root certificate `{issuer_cn}`"));
    (
        false,
        format!(
            "ISE's trusted store has no root for {host}: its chain ends at `{}`, issued by \
             `{issuer_cn}` (missing root `{issuer_cn}`); {suggestion} into ISE's trusted store, \
             trusted for authentication within ISE",
            top.subject()
        ),
    )
}
