//! Connecting the library to a simulator (in-process or described by its info file).

#![allow(dead_code)]

use std::sync::Arc;

use ise_intune::graph_client::{Credentials, GraphClient, TlsRoots};
use ise_intune::integration::anchors::{TrustAnchor, TrustAnchorSet};
use ise_intune::integration::certs::Certificate;
use ise_intune::integration::mdm::{GuiConfigurator, ManualChecklist, MdmServerConfigurator};
use ise_intune::integration::pipeline::{Onboarding, Options};
use ise_intune::ise_client::{IseClient, TlsPolicy};
use ise_intune_simulator::SimInfo;

/// Which configurator plays ISE's GUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configurator {
    /// Drives the simulator's GUI control surface.
    Gui,
    /// Prints the checklist and waits for a person.
    Manual,
}

/// The anchors for a simulator run: the built-in ones, plus (unless `without_sim_root`)
/// the simulator's public root, which stands in for Microsoft's roots there.
pub fn anchors(info: &SimInfo, with_sim_root: bool) -> TrustAnchorSet {
    let mut set = TrustAnchorSet::builtin();
    if with_sim_root {
        if let Ok(root) = Certificate::from_pem(&info.ca_pem) {
            if let Ok(anchor) = TrustAnchor::new(
                "Simulated Public Root G2",
                "The simulator's public root: stands in for DigiCert Global Root G2 there",
                root,
            ) {
                set.add(anchor);
            }
        }
    }
    set
}

/// ISE and Graph clients for the simulator: ISE pinned to its admin certificate, the
/// Microsoft services trusted through the simulator's root only.
pub fn clients(info: &SimInfo) -> Result<(IseClient, GraphClient), Box<dyn std::error::Error>> {
    let ise = IseClient::builder()
        .base_url(info.ise.url.clone())
        .credentials(info.ise.username.clone(), info.ise.password.clone().into())
        .tls(TlsPolicy::PinnedSha256(info.ise.admin_cert_sha256.clone()))
        .build()?;
    let ca = Certificate::from_pem(&info.ca_pem)?;
    let graph = GraphClient::builder()
        .login_authority(info.login_url.clone())
        .graph_base(info.graph_url.clone())
        .tenant_id(info.tenant_id.clone())
        .credentials(Credentials::client_secret(
            info.automation.client_id.clone(),
            info.automation.client_secret.clone(),
        ))
        .tls_roots(TlsRoots::Only(vec![ca.der().to_vec()]))
        .build()?;
    Ok((ise, graph))
}

/// A pipeline against the simulator.
pub fn onboarding(
    info: &SimInfo,
    configurator: Configurator,
    with_sim_root: bool,
    options: Options,
) -> Result<Onboarding, Box<dyn std::error::Error>> {
    let (ise, graph) = clients(info)?;
    let configurator: Arc<dyn MdmServerConfigurator> = match configurator {
        Configurator::Gui => Arc::new(GuiConfigurator::new(ise.clone())),
        Configurator::Manual => Arc::new(ManualChecklist::new(ise.clone())),
    };
    Ok(Onboarding::new(
        ise,
        graph,
        anchors(info, with_sim_root),
        configurator,
        options,
    ))
}
