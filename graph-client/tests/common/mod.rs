//! Shared set-up for the wiremock tests: a mock server that answers the token endpoint,
//! and a client pointed at it.

#![allow(dead_code, missing_docs)]

use std::time::Duration;

use graph_client::retry::RetryPolicy;
use graph_client::{Credentials, GraphClient};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "s3cr3t-Value~never-shown";
pub const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.graph-token-value";

pub fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(
        4,
        Duration::from_secs(20),
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

pub async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": TOKEN
        })))
        .mount(server)
        .await;
}

pub fn client_for(server: &MockServer, credentials: Credentials) -> GraphClient {
    GraphClient::builder()
        .login_authority(server.uri())
        .graph_base(format!("{}/v1.0", server.uri()))
        .tenant_id(TENANT)
        .credentials(credentials)
        .retry_policy(fast_retries())
        .build()
        .expect("client builds")
}

pub async fn setup() -> (MockServer, GraphClient) {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let client = client_for(
        &server,
        Credentials::client_secret("automation-app", SECRET),
    );
    (server, client)
}

/// The requests the server received on `p`, in order.
pub async fn received(server: &MockServer, m: &str, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .collect()
}

pub fn body_json(r: &wiremock::Request) -> serde_json::Value {
    serde_json::from_slice(&r.body).expect("JSON body")
}
