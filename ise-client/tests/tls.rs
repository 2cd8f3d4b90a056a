//! TLS policies against a local HTTPS server (tokio-rustls) presenting a self-signed
//! certificate or one issued by a private CA. Fingerprints computed with
//! `openssl x509 -noout -fingerprint -sha256`.

mod common;

use std::sync::Arc;

use common::*;
use ise_client::{Error, IseClient, TlsPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SELF_SIGNED: &str = include_str!("data/selfsigned.pem");
const SELF_SIGNED_KEY: &str = include_str!("data/selfsigned-key.pem");
const SELF_SIGNED_SHA256: &str = "E27D88898B2E59EB8622786F1F5D683DC6F00ED0DD4CF8CBBC87A3F7C9D6AAA4";
const CA: &str = include_str!("data/ca.pem");
const SERVER: &str = include_str!("data/server.pem");
const SERVER_KEY: &str = include_str!("data/server-key.pem");

/// Serves HTTPS on loopback until the test ends; answers every request with an empty
/// node list.
async fn https_server(cert: &str, key: &str) -> u16 {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"response":[],"version":"1.0.0"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn client(host: &str, port: u16, policy: TlsPolicy) -> IseClient {
    IseClient::builder()
        .base_url(format!("https://{host}:{port}"))
        .credentials(USER, PASSWORD.to_owned().into())
        .tls(policy)
        .retry_policy(ise_client::retry::RetryPolicy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn pinned_fingerprint_accepts_the_self_signed_certificate() {
    let port = https_server(SELF_SIGNED, SELF_SIGNED_KEY).await;
    let pinned = client(
        "127.0.0.1",
        port,
        TlsPolicy::PinnedSha256(SELF_SIGNED_SHA256.into()),
    );
    assert!(pinned.nodes().await.expect("pinned works").is_empty());
    // The colon-separated lowercase form OpenSSL users paste works too.
    let colons: String = SELF_SIGNED_SHA256
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let pinned = client("localhost", port, TlsPolicy::PinnedSha256(colons));
    assert!(pinned.nodes().await.is_ok());
}

#[tokio::test]
async fn wrong_pin_is_refused_with_the_presented_fingerprint() {
    let port = https_server(SELF_SIGNED, SELF_SIGNED_KEY).await;
    let wrong = "00".repeat(32);
    let c = client("127.0.0.1", port, TlsPolicy::PinnedSha256(wrong.clone()));
    match c.nodes().await {
        Err(Error::PinMismatch {
            expected,
            presented,
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(presented, SELF_SIGNED_SHA256);
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn custom_ca_accepts_the_certificate_it_issued() {
    let port = https_server(SERVER, SERVER_KEY).await;
    let c = client("localhost", port, TlsPolicy::CustomCa(CA.into()));
    assert!(c.nodes().await.expect("custom CA works").is_empty());
}

#[tokio::test]
async fn custom_ca_refuses_another_certificate() {
    let port = https_server(SELF_SIGNED, SELF_SIGNED_KEY).await;
    let c = client("localhost", port, TlsPolicy::CustomCa(CA.into()));
    match c.nodes().await {
        Err(Error::UntrustedCertificate { presented, reason }) => {
            assert_eq!(presented, SELF_SIGNED_SHA256);
            assert!(!reason.is_empty());
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn no_trust_configured_for_a_self_signed_certificate_is_refused() {
    let port = https_server(SELF_SIGNED, SELF_SIGNED_KEY).await;
    let c = client("localhost", port, TlsPolicy::System);
    let err = c.nodes().await.expect_err("refused");
    assert!(
        matches!(err, Error::UntrustedCertificate { ref presented, .. } if presented == SELF_SIGNED_SHA256),
        "{err:?}"
    );
    assert!(err.to_string().contains("pin its fingerprint"));
}
