//! `watch`'s HTTP listener, which sheds what it cannot serve: at most
//! [`MAX_CONNECTIONS`] connections (more are closed at once), of which one peer address
//! holds at most [`MAX_PER_PEER`] (one client's keep-alives cannot starve the
//! scraper), headers within
//! [`HEADER_TIMEOUT`], no connection kept beyond [`CONNECTION_LIFETIME`]; beyond
//! loopback, `Host:` checked against the bind (against DNS rebinding); a bearer token
//! for `/metrics` and the page when [`TOKEN_VAR`] is set; security headers on every
//! answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use intune_integration::Error;
use ise_intune_http::scrub::printable;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::watch;

/// Connections served at once; more are closed as they arrive.
pub(crate) const MAX_CONNECTIONS: usize = 128;
/// Connections one peer address may hold at once; more from it are closed as they
/// arrive.
pub(crate) const MAX_PER_PEER: usize = 16;
/// A request's headers arrive within this time, or the connection is closed
/// (slowloris).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection is kept longer (idle keep-alives included).
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// The environment variable holding the bearer token for `/metrics` and the page.
pub(crate) const TOKEN_VAR: &str = "ISE_INTUNE_WATCH_TOKEN";

/// The bearer token from [`TOKEN_VAR`], at least 16 characters, when set.
pub(crate) fn token_from_env() -> Result<Option<SecretString>, Error> {
    match std::env::var(TOKEN_VAR) {
        Ok(t) if t.trim().is_empty() => Ok(None),
        Ok(t)
            if t.chars().count() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(Error::Config {
                what: format!(
                    "{TOKEN_VAR} must be at least 16 characters, without spaces (e.g. 32 \
                     random hex digits)"
                ),
            })
        }
        Ok(t) => Ok(Some(SecretString::from(t))),
        Err(_) => Ok(None),
    }
}

/// What every request is checked against.
pub(crate) struct Guard {
    bound: SocketAddr,
    allowed_hosts: Vec<String>,
    token: Option<SecretString>,
}

impl Guard {
    /// The guard of a listener bound to `bound`.
    pub(crate) fn new(
        bound: SocketAddr,
        allowed_hosts: &[String],
        token: Option<SecretString>,
    ) -> Self {
        Self {
            bound,
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            token,
        }
    }

    /// Whether a token is required.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `host` (a `Host:` header's value) names this listener: always on
    /// loopback; beyond it, the address bound (any IP address when bound to all), or a
    /// name given with --allowed-host. A name a DNS record can point anywhere is what
    /// a rebinding attack needs, so names are refused unless allowed.
    fn host_allowed(&self, host: &str) -> bool {
        if self.bound.ip().is_loopback() {
            return true;
        }
        let name = host_name(host);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.bound.ip().is_unspecified() || ip == self.bound.ip();
        }
        self.allowed_hosts
            .iter()
            .any(|a| a == &name.to_ascii_lowercase())
    }

    /// Whether `authorization` carries the token (compared in constant time).
    fn authorized(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let (a, b) = (given.trim().as_bytes(), token.expose_secret().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The host part of a `Host:` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The middleware: refuses a foreign `Host:` (421) and a missing or wrong token (401,
/// except on the probes), and adds the security headers to every answer.
pub(crate) async fn guard(State(g): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz");
    let mut response = if !g.host_allowed(&host) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this listener does not answer to `{}`: use its address, or start watch \
                 with --allowed-host\n",
                printable(host_name(&host), 100)
            ),
        )
            .into_response()
    } else if !probe && !g.authorized(request.headers().get(header::AUTHORIZATION)) {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"ise-intune watch\"",
            )],
            "a bearer token is required (the value of ISE_INTUNE_WATCH_TOKEN)\n",
        )
            .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The connections open from each peer address.
type Peers = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// One connection of a peer, counted while it lives.
struct PeerSlot {
    peers: Peers,
    peer: IpAddr,
}

impl PeerSlot {
    /// A slot for `peer`, unless it holds [`MAX_PER_PEER`] already.
    fn take(peers: &Peers, peer: IpAddr) -> Option<Self> {
        let mut open = peers.lock().ok()?;
        let n = open.entry(peer).or_insert(0);
        if *n >= MAX_PER_PEER {
            return None;
        }
        *n += 1;
        Some(Self {
            peers: peers.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.peers.lock()
            && let Some(n) = open.get_mut(&self.peer)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

/// Serves `app` on `listener` until `stop`, shedding what it cannot serve.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let peers: Peers = Arc::default();
    let service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok((tcp, peer)) => (tcp, peer.ip()),
            Err(e) => {
                // Out of file descriptors, say: pause rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(peer_slot) = PeerSlot::take(&peers, peer) else {
            tracing::debug!("a connection was closed: {MAX_PER_PEER} are open from its peer");
            drop(tcp);
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("a connection was closed: {MAX_CONNECTIONS} are open already");
            drop(tcp);
            continue;
        };
        let (service, mut stop) = (service.clone(), stop.clone());
        tokio::spawn(async move {
            let _slot = (slot, peer_slot);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = tokio::time::sleep(CONNECTION_LIFETIME) => {}
                _ = stop.changed() => {}
            }
            // Finish the answer under way, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_holds_at_most_its_share_and_gets_it_back() {
        let peers: Peers = Arc::default();
        let greedy: IpAddr = "192.0.2.1".parse().expect("ip");
        let scraper: IpAddr = "192.0.2.2".parse().expect("ip");
        let held: Vec<PeerSlot> = (0..MAX_PER_PEER)
            .map(|_| PeerSlot::take(&peers, greedy).expect("a slot"))
            .collect();
        assert!(PeerSlot::take(&peers, greedy).is_none());
        // Another peer (the scraper) still gets in.
        assert!(PeerSlot::take(&peers, scraper).is_some());
        drop(held);
        assert!(PeerSlot::take(&peers, greedy).is_some());
        assert!(peers.lock().expect("lock").is_empty());
    }

    #[test]
    fn hosts_are_checked_beyond_loopback_only() {
        let loopback = Guard::new("127.0.0.1:9464".parse().expect("addr"), &[], None);
        assert!(loopback.host_allowed("evil.example"));
        let all = Guard::new(
            "0.0.0.0:9464".parse().expect("addr"),
            &["Watch.Svc".into()],
            None,
        );
        assert!(all.host_allowed("10.1.2.3:9464"));
        assert!(all.host_allowed("[::1]:9464"));
        assert!(all.host_allowed("watch.svc:9464"));
        assert!(!all.host_allowed("rebind.attacker.example:9464"));
        assert!(!all.host_allowed(""));
        let one = Guard::new("192.0.2.7:9464".parse().expect("addr"), &[], None);
        assert!(one.host_allowed("192.0.2.7:9464"));
        assert!(!one.host_allowed("192.0.2.8:9464"));
    }

    #[test]
    fn the_token_is_compared_whole() {
        let g = Guard::new(
            "0.0.0.0:9464".parse().expect("addr"),
            &[],
            Some(SecretString::from("0123456789abcdef".to_owned())),
        );
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert!(g.authorized(Some(&header("Bearer 0123456789abcdef"))));
        assert!(!g.authorized(Some(&header("Bearer 0123456789abcde"))));
        assert!(!g.authorized(Some(&header("Bearer 0123456789abcdeF"))));
        assert!(!g.authorized(Some(&header("Basic 0123456789abcdef"))));
        assert!(!g.authorized(None));
    }
}
