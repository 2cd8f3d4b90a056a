//! Client behaviour: client assertions, paging, retries, token caching, errors, secrets.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use der::DecodePem as _;
use graph_client::retry::RetryPolicy;
use graph_client::{
    AssertionAlgorithm, ClientCertificate, Credentials, Error, GraphClient, TokenAudience,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CERT: &str = include_str!("data/client-cert.pem");
const KEY: &str = include_str!("data/client-key.pem");
// openssl x509 -in client-cert.pem -noout -fingerprint -sha1 / -sha256, then
// python3 base64.urlsafe_b64encode(bytes.fromhex(...)).rstrip(b'=')
const X5T: &str = "klYlc-oYLG-bx1OG84xRHX48u_o";
const X5T_S256: &str = "CJ4wOj-ONzRz4j0bJDOm0VE5b6_Ofqw_YDVUEZbO9xw";

fn b64url_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Verifies a JWT's signature with the public key taken from the certificate by
/// x509-cert (not by the client's own code).
fn verify_with_certificate(jwt: &str, alg: &'static dyn ring::signature::VerificationAlgorithm) {
    let cert = x509_cert::Certificate::from_pem(CERT.as_bytes()).expect("cert");
    let spk = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let (signed, sig) = jwt.rsplit_once('.').expect("three parts");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("signature");
    ring::signature::UnparsedPublicKey::new(alg, spk)
        .verify(signed.as_bytes(), &sig)
        .expect("signature verifies with the certificate's public key");
}

async fn assertion_sent(alg: AssertionAlgorithm) -> (String, Vec<(String, String)>) {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let cert = ClientCertificate::from_pem("ise-app-id", CERT, KEY, alg).expect("credentials");
    let graph = client_for(&server, Credentials::Certificate(cert));
    graph
        .access_token(&TokenAudience::Scope(
            "https://graph.microsoft.com/.default".into(),
        ))
        .await
        .expect("token");
    let reqs = received(&server, "POST", &token_path()).await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&reqs[0].body)
        .into_owned()
        .collect();
    let jwt = form
        .iter()
        .find(|(k, _)| k == "client_assertion")
        .map(|(_, v)| v.clone())
        .expect("assertion sent");
    (format!("{}/{TENANT}/oauth2/v2.0/token", server.uri()), {
        let mut f = form;
        f.retain(|(k, _)| k != "client_assertion");
        f.push(("jwt".into(), jwt));
        f
    })
}

fn check_claims(jwt: &str, token_url: &str) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims = b64url_json(parts[1]);
    assert_eq!(claims["aud"], token_url);
    assert_eq!(claims["iss"], "ise-app-id");
    assert_eq!(claims["sub"], "ise-app-id");
    let jti = claims["jti"].as_str().expect("jti");
    assert_eq!(jti.len(), 36);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let nbf = claims["nbf"].as_u64().expect("nbf");
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(nbf <= now && now - nbf < 60, "nbf {nbf} now {now}");
    assert!(exp > now && exp - nbf <= 600, "exp {exp} nbf {nbf}");
}

#[tokio::test]
async fn rs256_client_assertion_is_signed_by_the_certificate_key() {
    let (token_url, form) = assertion_sent(AssertionAlgorithm::Rs256).await;
    let jwt = &form.iter().find(|(k, _)| k == "jwt").expect("jwt").1;
    let header = b64url_json(jwt.split('.').next().expect("header"));
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "x5t": X5T}));
    check_claims(jwt, &token_url);
    verify_with_certificate(jwt, &ring::signature::RSA_PKCS1_2048_8192_SHA256);
    let fields: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        fields,
        [
            "grant_type",
            "scope",
            "client_id",
            "client_assertion_type",
            "jwt"
        ]
    );
    assert!(form.contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    )));
    assert!(form.contains(&("client_id".into(), "ise-app-id".into())));
}

#[tokio::test]
async fn ps256_client_assertion_uses_x5t_s256() {
    let (token_url, form) = assertion_sent(AssertionAlgorithm::Ps256).await;
    let jwt = &form.iter().find(|(k, _)| k == "jwt").expect("jwt").1;
    let header = b64url_json(jwt.split('.').next().expect("header"));
    assert_eq!(
        header,
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": X5T_S256})
    );
    check_claims(jwt, &token_url);
    verify_with_certificate(jwt, &ring::signature::RSA_PSS_2048_8192_SHA256);
}

#[tokio::test]
async fn unusable_keys_are_typed_errors() {
    assert!(matches!(
        ClientCertificate::from_pem("a", CERT, "not a key", AssertionAlgorithm::Rs256),
        Err(Error::Credentials { .. })
    ));
    assert!(matches!(
        ClientCertificate::from_pem("a", "nothing", KEY, AssertionAlgorithm::Rs256),
        Err(Error::Credentials { .. })
    ));
    let ec_key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr\n-----END EC PRIVATE KEY-----\n";
    assert!(matches!(
        ClientCertificate::from_pem("a", CERT, ec_key, AssertionAlgorithm::Rs256),
        Err(Error::Credentials { .. })
    ));
}

#[tokio::test]
async fn paging_follows_next_link_across_three_pages() {
    let (server, graph) = setup().await;
    let base = format!("{}/v1.0", server.uri());
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(wiremock::matchers::query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "1"}, {"id": "2"}],
            "@odata.nextLink": format!("{base}/applications?$skiptoken=page2")})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(wiremock::matchers::query_param("$skiptoken", "page2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "3"}],
            "@odata.nextLink": format!("{base}/applications?$skiptoken=page3")})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(wiremock::matchers::query_param("$skiptoken", "page3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "4"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut pager = graph.applications().list(&Default::default());
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(page) = pager.next_page().await.expect("page") {
        sizes.push(page.len());
        ids.extend(page.into_iter().map(|a| a.id));
    }
    assert_eq!(sizes, [2, 1, 1]);
    assert_eq!(ids, ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "1"}],
            "@odata.nextLink": "https://attacker.example/v1.0/applications?$skiptoken=x"})))
        .mount(&server)
        .await;
    let err = graph
        .applications()
        .list(&Default::default())
        .all()
        .await
        .expect_err("refused");
    assert!(
        matches!(err, Error::ForeignNextLink { ref link } if link == "https://attacker.example/v1.0/applications")
    );
}

#[tokio::test]
async fn throttled_429_with_retry_after_then_success() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": TENANT}]})))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let org = graph.organization().await.expect("after retry");
    assert_eq!(org.id, TENANT);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    let gets = received(&server, "GET", "/v1.0/organization").await;
    assert_eq!(gets.len(), 2);
    // Each attempt carries its own client-request-id.
    assert_ne!(
        gets[0].headers.get("client-request-id"),
        gets[1].headers.get("client-request-id")
    );
}

#[tokio::test]
async fn replication_lag_404_is_retried_on_reads_of_new_objects() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-new"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "Request_ResourceNotFound",
            "message": "Resource 'obj-new' does not exist or one of its queried reference-property objects are not present."}})))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-new"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "obj-new", "appId": "a"})),
        )
        .mount(&server)
        .await;
    let app = graph
        .applications()
        .get("obj-new")
        .await
        .expect("after lag");
    assert_eq!(app.id, "obj-new");
    assert_eq!(
        received(&server, "GET", "/v1.0/applications/obj-new")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn service_principal_create_retries_the_invalid_application_answer() {
    let (server, graph) = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/servicePrincipals"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "Request_BadRequest",
            "message": "The appId 'a' of the service principal does not reference a valid application object."}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/servicePrincipals"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "sp", "appId": "a"})))
        .mount(&server)
        .await;
    let sp = graph
        .service_principals()
        .create("a")
        .await
        .expect("created");
    assert_eq!(sp.id, "sp");
}

#[tokio::test]
async fn a_plain_404_is_not_retried() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "Request_ResourceNotFound", "message": "gone"}})))
        .expect(1)
        .mount(&server)
        .await;
    let err = graph.organization().await.expect_err("404");
    assert_eq!(err.graph_code(), Some("Request_ResourceNotFound"));
}

#[tokio::test]
async fn retries_give_up_with_a_typed_error() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("request-id", "req-503")
                .set_body_json(
                    json!({"error": {"code": "serviceNotAvailable", "message": "busy"}}),
                ),
        )
        .expect(4)
        .mount(&server)
        .await;
    match graph.organization().await {
        Err(Error::Api {
            status,
            body,
            request_id,
            attempts,
            client_request_id,
            ..
        }) => {
            assert_eq!(status, 503);
            assert_eq!(body.code, "serviceNotAvailable");
            assert_eq!(request_id.as_deref(), Some("req-503"));
            assert_eq!(attempts, 4);
            assert_eq!(client_request_id.len(), 36);
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn a_post_is_not_replayed_on_503() {
    let (server, graph) = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let err = graph
        .applications()
        .create(&graph_client::NewApplication::single_tenant("x"))
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
}

#[tokio::test]
async fn fifty_concurrent_calls_share_one_token_request() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [{"id": TENANT}]}))
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&server)
        .await;
    let calls = (0..50).map(|_| {
        let g = graph.clone();
        tokio::spawn(async move { g.organization().await })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.expect("task").expect("call");
    }
    assert_eq!(received(&server, "POST", &token_path()).await.len(), 1);
    assert_eq!(graph.request_counts().tokens, 1);
    assert_eq!(graph.request_counts().reads, 50);
}

#[tokio::test]
async fn expired_tokens_are_renewed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 1, "access_token": "short-lived"})))
        .mount(&server)
        .await;
    let graph = GraphClient::builder()
        .login_authority(server.uri())
        .graph_base(format!("{}/v1.0", server.uri()))
        .tenant_id(TENANT)
        .credentials(Credentials::client_secret("a", SECRET))
        .token_refresh_margin(Duration::ZERO)
        .build()
        .expect("client");
    let aud = TokenAudience::Scope("s/.default".into());
    graph.access_token(&aud).await.expect("first");
    graph.access_token(&aud).await.expect("cached");
    assert_eq!(graph.request_counts().tokens, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    graph.access_token(&aud).await.expect("renewed");
    assert_eq!(graph.request_counts().tokens, 2);
}

/// A token Graph finds expired although the cache thought it fresh (it expired in
/// flight, or the clock moved): one new token and one more attempt; a second refusal
/// is final. And a clock moved ahead expires a cached token without waiting.
#[tokio::test]
async fn a_token_graph_refuses_as_expired_is_renewed_once() {
    let (server, graph) = setup().await;
    let expired = ResponseTemplate::new(401).set_body_json(json!({"error": {
        "code": "InvalidAuthenticationToken",
        "message": "Access token is empty, expired or not valid."}}));
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(expired.clone())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": TENANT}]})))
        .mount(&server)
        .await;
    let before = graph.request_counts().tokens;
    let org = graph.organization().await.expect("after a new token");
    assert_eq!(org.id, TENANT);
    assert_eq!(
        received(&server, "GET", "/v1.0/organization").await.len(),
        2
    );
    assert_eq!(
        graph.request_counts().tokens - before,
        2,
        "a new token for the retry"
    );

    // Refused twice: final, a typed error, no third attempt.
    server.reset().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(expired)
        .mount(&server)
        .await;
    let err = graph.organization().await.expect_err("refused");
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        received(&server, "GET", "/v1.0/organization").await.len(),
        2
    );

    // A clock moved a day ahead: the cached token is stale at once.
    let clock = std::sync::Arc::new(ise_intune_http::clock::OffsetClock::default());
    let moved = graph.with_clock(clock.clone());
    let aud = TokenAudience::Scope("s/.default".into());
    moved.access_token(&aud).await.expect("first");
    moved.access_token(&aud).await.expect("cached");
    assert_eq!(moved.request_counts().tokens, 1);
    clock.advance(Duration::from_secs(24 * 3600));
    moved.access_token(&aud).await.expect("renewed");
    assert_eq!(moved.request_counts().tokens, 2);
}

#[tokio::test]
async fn v1_resource_tokens_use_the_v1_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": "3599", "access_token": "v1-token",
            "resource": "https://api.manage.microsoft.com/"})))
        .expect(1)
        .mount(&server)
        .await;
    let graph = client_for(&server, Credentials::client_secret("a", SECRET));
    let token = graph
        .access_token(&TokenAudience::Resource(
            "https://api.manage.microsoft.com/".into(),
        ))
        .await
        .expect("v1 token");
    assert_eq!(token.secret(), "v1-token");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(
        &received(&server, "POST", &format!("/{TENANT}/oauth2/token")).await[0].body,
    )
    .into_owned()
    .collect();
    assert!(form.contains(&(
        "resource".into(),
        "https://api.manage.microsoft.com/".into()
    )));
}

#[tokio::test]
async fn token_errors_keep_the_aadsts_details() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. Trace ID: t Correlation ID: c Timestamp: 2026-11-27 00:00:00Z",
            "error_codes": [7000215], "timestamp": "2026-11-27 00:00:00Z",
            "trace_id": "trace-1", "correlation_id": "corr-1",
            "error_uri": "https://login.microsoftonline.com/error?code=7000215"})))
        .expect(1)
        .mount(&server)
        .await;
    let graph = client_for(&server, Credentials::client_secret("a", SECRET));
    let err = graph.organization().await.expect_err("refused");
    match &err {
        Error::Token {
            status,
            body,
            scope,
        } => {
            assert_eq!(*status, 401);
            assert_eq!(body.error, "invalid_client");
            assert_eq!(body.error_codes, [7000215]);
            assert_eq!(body.correlation_id.as_deref(), Some("corr-1"));
            assert_eq!(scope, "https://graph.microsoft.com/.default");
        }
        other => panic!("unexpected: {other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("secret is wrong"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test]
async fn secrets_never_show_in_debug_or_errors() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}})))
        .mount(&server)
        .await;
    let err = graph.organization().await.expect_err("403");
    let token = graph
        .access_token(&TokenAudience::Scope(
            "https://graph.microsoft.com/.default".into(),
        ))
        .await
        .expect("token");
    let cert = ClientCertificate::from_pem("ise", CERT, KEY, AssertionAlgorithm::Rs256)
        .expect("credentials");
    let shown = format!(
        "{graph:?} {err} {err:?} {token:?} {cert:?} {:?} {:?}",
        Credentials::client_secret("a", SECRET),
        Credentials::static_token(TOKEN)
    );
    for secret in [SECRET, TOKEN, "graph-token-value", "MIIE"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    assert!(shown.contains("[REDACTED]"));
    assert!(shown.contains("Authorization_RequestDenied"));
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "obj-1", "keyCredentials": [{"keyId": 5}]})))
        .mount(&server)
        .await;
    match graph.applications().get("obj-1").await {
        Err(Error::Decode(e)) => {
            assert_eq!(e.json_path, "keyCredentials[0].keyId");
            assert_eq!(e.what, "GET /applications/obj-1");
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn static_tokens_and_custom_providers() {
    #[derive(Debug)]
    struct Fixed;
    #[async_trait::async_trait]
    impl graph_client::TokenProvider for Fixed {
        async fn token(
            &self,
            audience: &TokenAudience,
        ) -> graph_client::Result<graph_client::AccessToken> {
            Ok(graph_client::AccessToken::new(
                format!("custom-for-{}", audience.as_str().len()),
                Duration::from_secs(3600),
            ))
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": TENANT}]})))
        .mount(&server)
        .await;
    for (creds, want) in [
        (Credentials::static_token("static-1"), "Bearer static-1"),
        (
            Credentials::Provider(std::sync::Arc::new(Fixed)),
            "Bearer custom-for-36",
        ),
    ] {
        let graph = client_for(&server, creds);
        graph.organization().await.expect("org");
        let last = received(&server, "GET", "/v1.0/organization").await;
        let auth = last
            .last()
            .and_then(|r| r.headers.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(auth.as_deref(), Some(want));
        assert_eq!(graph.request_counts().tokens, 0);
    }
}

#[test]
fn builder_refuses_bad_configuration() {
    let base = || {
        GraphClient::builder()
            .tenant_id(TENANT)
            .credentials(Credentials::client_secret("a", SECRET))
            .retry_policy(RetryPolicy::none())
    };
    assert!(matches!(
        base().graph_base("http://graph.example.com/v1.0").build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        base().login_authority("not a url").build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        GraphClient::builder()
            .credentials(Credentials::client_secret("a", SECRET))
            .build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        GraphClient::builder()
            .tenant_id("t/../x")
            .credentials(Credentials::client_secret("a", SECRET))
            .build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        base().add_root_certificates_pem("no pem here"),
        Err(Error::InvalidConfig { .. })
    ));
    let ok = base().build().expect("defaults build");
    assert_eq!(
        ok.token_endpoint(),
        format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(ok.graph_base().as_str(), "https://graph.microsoft.com/v1.0");
}
