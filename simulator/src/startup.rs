//! The listeners and the services on them.

#[allow(clippy::wildcard_imports)]
use crate::*;

/// The simulator's listeners, one per service, on loopback ports the system picks.
pub(crate) struct Listeners {
    pub(crate) ise: TcpListener,
    pub(crate) login: TcpListener,
    pub(crate) graph: TcpListener,
    pub(crate) intune: TcpListener,
    pub(crate) control: TcpListener,
}

impl Listeners {
    pub(crate) async fn bind() -> Result<Self, SimError> {
        let bind = || async {
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(SimError::Bind)
        };
        Ok(Self {
            ise: bind().await?,
            login: bind().await?,
            graph: bind().await?,
            intune: bind().await?,
            control: bind().await?,
        })
    }

    /// The services' URLs, and the control surface's.
    pub(crate) fn urls(&self) -> Result<(Urls, String), SimError> {
        let url = |l: &TcpListener| {
            l.local_addr()
                .map(|a| format!("https://127.0.0.1:{}", a.port()))
                .map_err(SimError::Bind)
        };
        let urls = Urls {
            ise: url(&self.ise)?,
            login: url(&self.login)?,
            graph_origin: url(&self.graph)?,
            intune: url(&self.intune)?,
        };
        Ok((urls, url(&self.control)?))
    }
}

/// Each node's own address: a loopback listener presenting the node's Admin
/// certificate (swapped when a renewed one is bound), serving what a node's port 443
/// serves to a browser — a redirect to the admin portal's login. Evidence: ISE's
/// certificate usage ("Admin: server authentication for the Admin portal and
/// inter-node communication", Cisco ISE Administrator Guide, Certificate Management) —
/// every node presents the certificate bound to its Admin role on TCP 443, and a newly
/// bound one after its application server restarts.
pub(crate) async fn spawn_node_portals(
    nodes: &[state::IseNode],
    node_certs: &[(String, pki::Issued)],
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(BTreeMap<String, Arc<pki::SwappableCert>>, Vec<IseNodeInfo>), SimError> {
    let mut portals = BTreeMap::new();
    let mut infos = Vec::new();
    for (node, (host, issued)) in nodes.iter().zip(node_certs) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let port = listener.local_addr().map_err(SimError::Bind)?.port();
        let cert = pki::SwappableCert::new(vec![issued.cert_der.clone()], &issued.key_der())?;
        let router = axum::Router::new().fallback(|| async {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, "/admin/login.jsp")],
            )
        });
        tokio::spawn(server::serve(
            listener,
            pki::swappable_server_config(cert.clone())?,
            router,
            None,
            shared.clone(),
            shutdown.clone(),
        ));
        portals.insert(host.clone(), cert);
        infos.push(IseNodeInfo {
            hostname: node.hostname.clone(),
            fqdn: node.fqdn.clone(),
            url: format!("https://127.0.0.1:{port}"),
        });
    }
    Ok((portals, infos))
}

/// Serves each service on its listener until `shutdown`.
pub(crate) fn spawn_services(
    listeners: Listeners,
    shared: &Arc<Shared>,
    pki: &pki::Pki,
    admin: &pki::Issued,
    microsoft_certs: &[Arc<pki::SwappableCert>; 3],
    shutdown: &watch::Receiver<bool>,
) -> Result<(), SimError> {
    let current = &pki.current;
    let spawn = |listener, tls, router, service| {
        tokio::spawn(server::serve(
            listener,
            tls,
            router,
            service,
            shared.clone(),
            shutdown.clone(),
        ));
    };
    spawn(
        listeners.ise,
        pki::server_config(vec![admin.cert_der.clone()], admin.key_der())?,
        ise::router(shared.clone()),
        Some(Service::Ise),
    );
    spawn(
        listeners.login,
        pki::swappable_server_config(microsoft_certs[0].clone())?,
        login::router(shared.clone()),
        Some(Service::Login),
    );
    spawn(
        listeners.graph,
        pki::swappable_server_config(microsoft_certs[1].clone())?,
        graph::router(shared.clone()),
        Some(Service::Graph),
    );
    spawn(
        listeners.intune,
        pki::swappable_server_config(microsoft_certs[2].clone())?,
        intune::router(shared.clone()),
        Some(Service::Intune),
    );

    spawn(
        listeners.control,
        pki::server_config(current.chain(&current.graph), current.graph.key_der())?,
        control::router(shared.clone()),
        None,
    );

    Ok(())
}
