//! Shared set-up: a wiremock server standing for ISE and a client pointed at it.

#![allow(dead_code, missing_docs)]

use std::time::Duration;

use ise_client::retry::RetryPolicy;
use ise_client::{IseClient, TlsPolicy};
use wiremock::MockServer;

pub const USER: &str = "api-admin";
pub const PASSWORD: &str = "Pa55w0rd-never-shown";

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(
        3,
        Duration::from_secs(10),
        Duration::from_millis(10),
        Duration::from_millis(20),
    )
}

pub fn client(server: &MockServer) -> IseClient {
    IseClient::builder()
        .base_url(server.uri())
        .credentials(USER, PASSWORD.to_owned().into())
        .tls(TlsPolicy::System)
        .retry_policy(fast_retries())
        .build()
        .expect("client builds")
}

pub async fn setup() -> (MockServer, IseClient) {
    let server = MockServer::start().await;
    let c = client(&server);
    (server, c)
}

pub async fn received(server: &MockServer, m: &str, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .collect()
}

pub fn header<'a>(r: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Basic base64(user:password)`, computed by hand.
pub fn basic() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    )
}

pub fn assert_ise_headers(r: &wiremock::Request) {
    assert_eq!(header(r, "authorization"), Some(basic().as_str()));
    assert_eq!(header(r, "content-type"), Some("application/json"));
    assert!(header(r, "accept").is_some_and(|a| a.contains("application/json")));
}

/// Builds a ZIP like ISE's export.
pub fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("zip").into_inner()
}
