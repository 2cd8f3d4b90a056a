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

/// Faults injected into one service.
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
    /// Share of requests (0.0–1.0) whose connection is dropped without an answer.
    pub drop_rate: f64,
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

/// Accepts TLS connections until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    service: Service,
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
                    let method = req.method().to_string();
                    let path = req.uri().path().to_owned();
                    let faults = shared.faults(service);
                    if !faults.latency.is_zero() {
                        tokio::time::sleep(faults.latency).await;
                    }
                    let roll = shared.roll();
                    let log = |status: u16| {
                        shared.with_world(|w| {
                            w.log.push(LoggedRequest {
                                service: service.name(),
                                method: method.clone(),
                                path: path.clone(),
                                status,
                            })
                        })
                    };
                    if roll < faults.drop_rate {
                        log(0);
                        return Err(std::io::Error::other(
                            "connection dropped by fault injection",
                        ));
                    }
                    if roll < faults.drop_rate + faults.error_rate {
                        let resp =
                            fault_response(service, faults.error_status, faults.retry_after_secs);
                        log(resp.status().as_u16());
                        return Ok(resp);
                    }
                    let resp = match router.oneshot(req.map(Body::new)).await {
                        Ok(r) => r,
                        Err(e) => match e {},
                    };
                    log(resp.status().as_u16());
                    Ok::<_, std::io::Error>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
