//! ISE's view of a device: Intune's Compliance Retrieval API through
//! [`intune_client`] (re-exported here), for an integration — as the automating
//! identity, or as a policy service node with its own Admin key ([`client`]).
//!
//! ```no_run
//! # async fn run(node_graph: graph_client::GraphClient) -> Result<(), intune_integration::Error> {
//! use graph_client::TokenAudience;
//! use intune_integration::compliance;
//!
//! // `node_graph` authenticates with a node's Admin certificate (see
//! // `keys::node_client_certificate`).
//! let intune = compliance::discover(
//!     node_graph,
//!     TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()),
//! )
//! .await?;
//! let info = intune.mdm_info().await?;
//! println!("{} v{}", info.product_name, info.api_version);
//! for device in intune.probe().await? {
//!     println!("{} registered={} compliant={}", device.guid, device.registered, device.compliant);
//! }
//! # Ok(()) }
//! ```

use graph_client::{GraphClient, TokenAudience};

/// The compliance client's own error; the integration's [`Error`] converts it.
pub use intune_client::Error as ClientError;
pub use intune_client::{
    ComplianceClient, Device, MAX_LISTING_BYTES, MAX_PAGES, MAX_XML_ATTRIBUTES, MAX_XML_DEPTH,
    MdmInfo, PROBE_MAC, normalize_mac,
};

use crate::Error;
use crate::context::Integration;
use crate::version::IntuneGates as _;

/// Discovers the Compliance Retrieval endpoint through Graph (as ISE does, with the
/// node's credentials in `node`; [`crate::observe::discovery`]) and uses `audience`
/// for Intune tokens.
pub async fn discover(
    node: GraphClient,
    audience: TokenAudience,
) -> Result<ComplianceClient, Error> {
    let endpoints = crate::observe::discovery(&node).await?;
    Ok(ComplianceClient::from_discovery(
        node, audience, &endpoints,
    )?)
}

/// The device a device certificate Intune issued names: its Intune device GUID from
/// the SAN URI ([`crate::certs::Certificate::intune_device_identity`]), queried as ISE
/// does for devices behind random MACs or docks. A certificate without one is
/// [`Error::NoDeviceIdentity`].
pub async fn device_by_certificate(
    intune: &ComplianceClient,
    cert: &crate::certs::Certificate,
) -> Result<Option<Device>, Error> {
    let guid = cert
        .intune_device_identity()
        .guid
        .ok_or_else(|| Error::NoDeviceIdentity {
            subject: cert.subject(),
        })?;
    Ok(intune.device_by_guid(&guid).await?)
}

/// The node a query is made as: the one named, or the first policy service node (the
/// first node when none runs the policy service).
fn node_to_ask_as<'m>(
    material: &'m [crate::keys::AdminKeyMaterial],
    node: Option<&str>,
) -> Result<&'m crate::keys::AdminKeyMaterial, Error> {
    match node {
        Some(n) => material
            .iter()
            .find(|m| m.admin.node.hostname == n)
            .ok_or_else(|| Error::UnknownNode {
                node: n.to_owned(),
                known: crate::keys::node_names(
                    &material.iter().map(|m| m.admin.clone()).collect::<Vec<_>>(),
                ),
            }),
        None => material
            .iter()
            .find(|m| crate::keys::is_policy_service(&m.admin.node))
            .or_else(|| material.first())
            .ok_or_else(|| Error::RemoteState {
                what: "ISE lists no node".into(),
            }),
    }
}

/// Intune's compliance API: as ISE node `node` calls it (the first policy service
/// node when `None`), with that node's own key, when the options name a key source
/// ([`crate::keys::AdminKey::acts_as_node`]); otherwise as the automating identity, which then
/// needs the Intune API's `get_device_compliance` role, and no key leaves ISE.
pub async fn client(ctx: &Integration, node: Option<&str>) -> Result<ComplianceClient, Error> {
    use crate::keys::{AdminKey, KeyExport};
    if let (false, Some(n)) = (ctx.options.admin_key.acts_as_node(), node) {
        return Err(Error::NodeKeyNotRequested {
            what: format!("querying Intune as node `{n}`"),
        });
    }
    // The release, Intune's endpoint (discovered by the automating identity), and —
    // as a node — the application and the node's key, all at once: the query then
    // needs only the Intune token.
    let supplied = matches!(ctx.options.admin_key, AdminKey::Supplied { .. });
    let needs_nodes = ctx.options.admin_key.acts_as_node() && (!supplied || node.is_some());
    let as_node = ctx.options.admin_key.acts_as_node();
    // As the automating identity, the Intune token is fetched as soon as the release
    // names its audience, beside the discovery (the token is cached for the query).
    let (audience, endpoints, app, material) = tokio::join!(
        async {
            let audience = ctx
                .ise
                .version()
                .await?
                .check_release_for(ctx.graph.intune_resource())?;
            if !as_node {
                // A failure here is the query's to report.
                let _ = ctx.graph.access_token(&audience).await;
            }
            Ok::<_, Error>(audience)
        },
        crate::observe::discovery(&ctx.graph),
        async {
            if as_node {
                crate::observe::application(&ctx.graph, &ctx.options.app_identity())
                    .await
                    .map(|app| Some(app.app_id))
            } else {
                Ok(None)
            }
        },
        async {
            if needs_nodes {
                // The key of the one node the query is made as, and no other.
                let keys = if ctx.options.admin_key.exports_from_ise() {
                    KeyExport::NodeKey(node.map(str::to_owned))
                } else {
                    KeyExport::CertificatesOnly
                };
                crate::keys::export(&ctx.ise, keys).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let audience = audience?;
    let endpoint =
        |graph: GraphClient,
         found: Result<Vec<graph_client::ServiceEndpoint>, graph_client::Error>| async move {
            match found.map(|list| {
                ComplianceClient::from_discovery(graph.clone(), audience.clone(), &list)
            }) {
                Ok(Ok(client)) => Ok(client),
                // Not published to (or not readable by) the identity: ask as the node,
                // which ISE does.
                _ => discover(graph, audience).await,
            }
        };
    let Some(client_id) = app? else {
        return endpoint(ctx.graph.clone(), endpoints).await;
    };
    let cert = match material? {
        None => {
            crate::keys::node_client_certificate(&ctx.ise, &client_id, &ctx.options.admin_key, None)
                .await?
        }
        Some(material) => {
            let chosen = node_to_ask_as(&material, node)?;
            match chosen.client_certificate(&client_id) {
                // The key came with the export.
                Some(cert) => cert?,
                None => {
                    crate::keys::node_client_certificate(
                        &ctx.ise,
                        &client_id,
                        &ctx.options.admin_key,
                        Some(&chosen.admin),
                    )
                    .await?
                }
            }
        }
    };
    let as_node = ctx
        .graph
        .with_credentials(graph_client::Credentials::Certificate(cert));
    endpoint(as_node, endpoints).await
}
