//! Serving one service over TLS on a loopback port, with injected faults and the
//! request log.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::state::LoggedRequest;
use crate::{Service, Shared};

/// Faults injected into one service. Each request's fate is decided from (fault seed,
/// service, method, path, how many times that method and path were asked before), so a
/// seed replays whatever the concurrency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every answer.
    pub latency: Duration,
    /// Share of requests (0.0–1.0) answered with `error_status` instead.
    pub error_rate: f64,
    /// Status of injected errors (500, 502, 503 or 429); 503 when 0.
    pub error_status: u16,
    /// `Retry-After` seconds sent with injected 429/503 errors.
    pub retry_after_secs: Option<u64>,
    /// Share of requests (0.0–1.0) whose connection is dropped without an answer
    /// (nothing was processed).
    pub drop_rate: f64,
    /// Share of requests (0.0–1.0) that are handled and committed, then whose
    /// connection is dropped before the answer: the client cannot know it happened.
    pub lost_response_rate: f64,
}

impl Faults {
    /// Reads the keys of `--faults` and `PUT /faults`: `error_rate`, `error_status`,
    /// `retry_after`, `drop_rate`, `lost_response_rate`, `latency_ms`.
    pub fn set(&mut self, key: &str, value: f64) -> Result<(), String> {
        let rate = |v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("{key} must be between 0 and 1, not {v}"))
            }
        };
        let whole = |v: f64| {
            if v >= 0.0 && v.fract() == 0.0 && v <= 1.0e9 {
                Ok(v as u64)
            } else {
                Err(format!("{key} must be a whole number, not {v}"))
            }
        };
        match key {
            "error_rate" => self.error_rate = rate(value)?,
            "drop_rate" => self.drop_rate = rate(value)?,
            "lost_response_rate" => self.lost_response_rate = rate(value)?,
            "error_status" => {
                let s = whole(value)?;
                if !matches!(s, 429 | 500 | 502 | 503 | 504) {
                    return Err(format!(
                        "error_status must be 429, 500, 502, 503 or 504, not {s}"
                    ));
                }
                self.error_status = s as u16;
            }
            "retry_after" => self.retry_after_secs = Some(whole(value)?),
            "latency_ms" => self.latency = Duration::from_millis(whole(value)?),
            other => {
                return Err(format!(
                    "unknown fault `{other}` (error_rate, error_status, retry_after, drop_rate, \
                     lost_response_rate, latency_ms)"
                ));
            }
        }
        Ok(())
    }
}

/// Parses one `--faults` value: `SERVICE:key=value,key=value` where SERVICE is `ise`,
/// `login`, `graph`, `intune` or `all`. Returns the services it names and the faults.
pub fn parse_fault_spec(spec: &str) -> Result<(Vec<Service>, Faults), String> {
    let (service, pairs) = spec
        .split_once(':')
        .ok_or_else(|| format!("`{spec}`: expected SERVICE:key=value,..."))?;
    let services = services_named(service)?;
    let mut faults = Faults::default();
    for pair in pairs.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: expected key=value"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("`{pair}`: the value is not a number"))?;
        faults.set(k.trim(), v)?;
    }
    Ok((services, faults))
}

/// The services a name stands for (`all` for every one).
pub(crate) fn services_named(name: &str) -> Result<Vec<Service>, String> {
    Ok(match name.trim() {
        "ise" => vec![Service::Ise],
        "login" => vec![Service::Login],
        "graph" => vec![Service::Graph],
        "intune" => vec![Service::Intune],
        "all" => vec![
            Service::Ise,
            Service::Login,
            Service::Graph,
            Service::Intune,
        ],
        other => {
            return Err(format!(
                "unknown service `{other}` (ise, login, graph, intune or all)"
            ));
        }
    })
}

fn fault_response(service: Service, status: u16, retry_after: Option<u64>) -> Response<Body> {
    let status = StatusCode::from_u16(if status == 0 { 503 } else { status })
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (content_type, body) = match service {
        Service::Graph => (
            "application/json",
            serde_json::json!({"error": {
                "code": if status == StatusCode::TOO_MANY_REQUESTS { "TooManyRequests" } else { "serviceNotAvailable" },
                "message": if status == StatusCode::TOO_MANY_REQUESTS {
                    "Too many requests. Please try again later."
                } else {
                    "The service is temporarily unavailable. Please try again later."
                }}})
            .to_string(),
        ),
        Service::Login => (
            "application/json",
            serde_json::json!({"error": "temporarily_unavailable",
                "error_description": "AADSTS90033: A transient error has occurred. Please try again.",
                "error_codes": [90033]})
            .to_string(),
        ),
        Service::Ise => (
            "text/html",
            format!(
                "<!DOCTYPE html><html><head><title>{} {}</title></head><body>The application server is starting.</body></html>",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            ),
        ),
        Service::Intune => ("text/plain", "Service Unavailable".to_owned()),
    };
    let mut b = Response::builder()
        .status(status)
        .header("Content-Type", content_type);
    if let Some(s) = retry_after {
        b = b.header("Retry-After", s.to_string());
    }
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The lane of a token request for fault decisions: its client, the audience asked
/// for, and the certificate its assertion names (never a secret: the assertion's
/// header only).
fn token_lane(body: &[u8]) -> String {
    let mut client = String::new();
    let mut audience = String::new();
    let mut x5t = String::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "client_id" => client = v.into_owned(),
            "scope" | "resource" => audience = v.into_owned(),
            "client_assertion" => {
                use base64::Engine as _;
                let header = v.split('.').next().unwrap_or_default().to_owned();
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(header.trim_end_matches('='))
                    .unwrap_or_default();
                x5t = serde_json::from_slice::<serde_json::Value>(&decoded)
                    .ok()
                    .and_then(|h| h.get("x5t").and_then(|t| t.as_str()).map(str::to_owned))
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    format!("#{client}|{audience}|{x5t}")
}

/// Marks the simulated ISE's own calls to the Microsoft services.
pub(crate) const ISE_ORIGIN_HEADER: &str = "x-ise-intune-sim-origin";

/// One request to `service`: its latency, then the fault the roll decides — a dropped
/// connection, an error answer, or a lost response (handled, then dropped) — else the
/// router's answer; each logged.
async fn handle(
    router: Router,
    shared: Arc<Shared>,
    service: Service,
    req: Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let faults = shared.faults(service);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    // ISE's own Test Connection (the GUI surface's calls to Microsoft)
    // travels ISE's network, not the client's: the faults configured
    // model what the library meets, so those calls are not faulted and
    // do not advance the per-path counts a seed replays.
    let from_ise = req.headers().contains_key(ISE_ORIGIN_HEADER);
    // Token requests of several clients (or of one client for two
    // audiences) go to one path at once; each is counted in its own
    // lane, so which of them meets a fault does not depend on timing.
    let (req, lane) = if service == Service::Login && method == "POST" {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(Body::new(body), 256 * 1024)
            .await
            .unwrap_or_default();
        let lane = token_lane(&bytes);
        (Request::from_parts(parts, Body::from(bytes)), lane)
    } else {
        (req.map(Body::new), String::new())
    };
    let roll = if from_ise {
        1.0
    } else {
        shared.fault_roll(service, &method, &format!("{path}{lane}"))
    };
    let log = |status: u16, fault: Option<&'static str>| {
        tracing::info!(
            service = service.name(),
            %method,
            %path,
            status,
            fault = fault.unwrap_or("none"),
            "served"
        );
        shared.with_world(|w| {
            w.log.push(LoggedRequest {
                service: service.name(),
                method: method.clone(),
                path: path.clone(),
                status,
                fault,
            })
        })
    };
    let mut edge = faults.drop_rate;
    if roll < edge {
        log(0, Some("dropped"));
        return Err(std::io::Error::other(
            "connection dropped by fault injection",
        ));
    }
    edge += faults.error_rate;
    if roll < edge {
        let resp = fault_response(service, faults.error_status, faults.retry_after_secs);
        log(resp.status().as_u16(), Some("error"));
        return Ok(resp);
    }
    edge += faults.lost_response_rate;
    let lose = roll < edge;
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    if lose {
        // Handled and committed; the client never hears of it.
        log(resp.status().as_u16(), Some("lost_response"));
        return Err(std::io::Error::other("response lost by fault injection"));
    }
    log(resp.status().as_u16(), None);
    Ok::<_, std::io::Error>(resp)
}

/// Accepts TLS connections until `shutdown` turns true. `service` is `None` for the
/// control API, which has no faults and is not logged.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    service: Option<Service>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let router = router.clone();
                let shared = shared.clone();
                async move {
                    let Some(service) = service else {
                        return match router.oneshot(req.map(Body::new)).await {
                            Ok(r) => Ok::<_, std::io::Error>(r),
                            Err(e) => match e {},
                        };
                    };
                    handle(router, shared, service, req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
