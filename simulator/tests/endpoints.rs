//! Each service's shapes and error answers, by plain HTTP.

mod common;

use std::time::Duration;

use common::*;
use ise_intune_simulator::{Faults, SeedApp, Service, Simulator};
use serde_json::{Value, json};

#[tokio::test]
async fn login_errors_carry_aadsts_codes() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let post = |url: String, form: Vec<(&'static str, String)>| {
        let c = c.clone();
        async move {
            let r = c.post(url).form(&form).send().await.expect("send");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.expect("json"))
        }
    };
    let base = |secret: &str, client: &str, scope: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.to_owned()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let id = info.automation.client_id.clone();
    let cases = [
        (
            token_url(info),
            base("wrong", &id, GRAPH_SCOPE),
            401,
            "invalid_client",
            7000215u64,
        ),
        (
            token_url(info),
            base("x", "00000000-0000-0000-0000-0000000000ff", GRAPH_SCOPE),
            400,
            "unauthorized_client",
            700016,
        ),
        (
            format!("{}/not-a-tenant/oauth2/v2.0/token", info.login_url),
            base("x", &id, GRAPH_SCOPE),
            400,
            "invalid_request",
            90002,
        ),
        (
            token_url(info),
            base(
                &info.automation.client_secret,
                &id,
                "https://example.com/.default",
            ),
            400,
            "invalid_scope",
            70011,
        ),
    ];
    for (url, form, status, error, code) in cases {
        let (s, v) = post(url, form).await;
        assert_eq!(s, status, "{v}");
        assert_eq!(v["error"], error);
        assert_eq!(v["error_codes"], json!([code]));
        assert!(
            v["error_description"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("AADSTS{code}:"))
        );
        for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(v.get(k).is_some(), "{k} in {v}");
        }
    }
}

#[tokio::test]
async fn standard_oauth_flow_with_secret_and_certificate() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    // Discovery, as any OAuth client does.
    let conf: Value = c
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            info.login_url, info.tenant_id
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let token_endpoint = conf["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_owned();
    assert_eq!(token_endpoint, token_url(info));
    assert!(
        conf["token_endpoint_auth_methods_supported"]
            .as_array()
            .expect("methods")
            .contains(&json!("private_key_jwt"))
    );

    // Client credentials with a secret.
    let r = c
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &info.automation.client_id),
            ("client_secret", &info.automation.client_secret),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    let graph = Graph {
        c: &c,
        info,
        token: v["access_token"].as_str().expect("token").to_owned(),
    };

    // Register a certificate on a new application, then a client assertion signed
    // with its key (RFC 7523), built here with ring.
    let cert_pem = include_str!("data/client-cert.pem");
    let key_pem = include_str!("data/client-key.pem");
    let (_, app) = graph
        .call(
            reqwest::Method::POST,
            "/applications",
            Some(&json!({"displayName": "oauth-client"})),
        )
        .await;
    let (obj, app_id) = (
        app["id"].as_str().expect("id").to_owned(),
        app["appId"].as_str().expect("appId").to_owned(),
    );
    graph
        .call_until(reqwest::Method::PATCH, &format!("/applications/{obj}"),
            Some(&json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": b64(&pem_der(cert_pem))}]})), 204)
        .await;
    let request = |assertion: String| {
        let (c, app_id, url) = (c.clone(), app_id.clone(), token_endpoint.clone());
        async move {
            c.post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", app_id.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                    ("scope", GRAPH_SCOPE),
                ])
                .send()
                .await
                .expect("token")
        }
    };
    // Listed by Graph at once, but usable at the token service only once propagated.
    let r = request(sign(&pem_der(cert_pem), key_pem, &app_id, &token_endpoint)).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("text").contains("AADSTS700027"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let jwt = sign(&pem_der(cert_pem), key_pem, &app_id, &token_endpoint);
    let r = request(jwt.clone()).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // The same assertion again is a replay.
    let r = request(jwt).await;
    assert_eq!(r.status(), 401);
}

fn sign(cert_der: &[u8], key_pem: &str, client_id: &str, aud: &str) -> String {
    use base64::Engine as _;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": b64.encode(sha1.as_ref())});
    let claims = json!({"aud": aud, "iss": client_id, "sub": client_id, "jti": format!("jti-{now}"), "nbf": now, "exp": now + 300});
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let PrivateKeyDer::Pkcs8(k) = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key")
    else {
        panic!("pkcs8 key expected")
    };
    let pair = ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()).expect("rsa");
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", b64.encode(sig))
}

#[tokio::test]
async fn graph_authorization_filters_paging_and_replication() {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(400))
        .seed_app(SeedApp {
            display_name: "Bob's app".into(),
            key_certificates_der: vec![],
        })
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let anonymous = Graph {
        c: &c,
        info,
        token: "nope".into(),
    };
    let (s, v) = anonymous
        .call(reqwest::Method::GET, "/applications", None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );

    let graph = Graph {
        c: &c,
        info,
        token: automation_token(&c, info).await,
    };
    let (s, v) = graph
        .call(
            reqwest::Method::GET,
            "/applications?$filter=displayName%20eq%20'Bob''s%20app'",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["value"][0]["displayName"], "Bob's app");

    // A new application is invisible to other calls until it replicates.
    let (s, app) = graph
        .call(
            reqwest::Method::POST,
            "/applications",
            Some(&json!({"displayName": "fresh"})),
        )
        .await;
    assert_eq!(s, 201);
    let id = app["id"].as_str().expect("id").to_owned();
    let (s, v) = graph
        .call(reqwest::Method::GET, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    let (s, v) = graph
        .call(
            reqwest::Method::POST,
            "/servicePrincipals",
            Some(&json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("does not reference a valid application object")
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (s, _) = graph
        .call(reqwest::Method::GET, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(s, 200);

    // Paging with $top follows @odata.nextLink.
    let mut url = "/applications?$top=1".to_owned();
    let mut seen = 0;
    loop {
        let (s, v) = graph.call(reqwest::Method::GET, &url, None).await;
        assert_eq!(s, 200);
        seen += v["value"].as_array().map(Vec::len).unwrap_or(0);
        match v["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 3, "automation app, Bob's app and the new one");

    // $select on one application returns the key material; lists never do.
    let (s, v) = graph
        .call(
            reqwest::Method::GET,
            &format!("/applications/{id}?$select=keyCredentials"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v.as_object().map(|o| o.len()),
        Some(2),
        "id and keyCredentials only: {v}"
    );

    // Bad key material is refused.
    let (s, v) = graph
        .call(reqwest::Method::PATCH, &format!("/applications/{id}"),
            Some(&json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "AAAA"}]})))
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn ise_certificate_endpoints_and_their_refusals() {
    let sim = Simulator::builder()
        .ise_version("3.2.0.542", 4)
        .ise_public_roots(false)
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let ise = Ise { c: &c, info };

    // Basic auth is required.
    let r = c
        .get(format!("{}/api/v1/deployment/node", info.ise.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    // ERS wants JSON or XML media types.
    let r = c
        .get(format!(
            "{}/ers/config/op/systemconfig/iseversion",
            info.ise.url
        ))
        .basic_auth(&info.ise.username, Some(&info.ise.password))
        .header("Accept", "text/plain")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);
    let (s, v) = ise.get("/ers/config/op/systemconfig/iseversion").await;
    assert_eq!(s, 200);
    assert_eq!(
        v["OperationResult"]["resultValue"][0],
        json!({"value": "3.2.0.542", "name": "version"})
    );

    // Export without hostName is refused from 3.2 on.
    let (_, certs) = ise.get("/api/v1/certs/system-certificate/ise-pan").await;
    let id = certs["response"][0]["id"].clone();
    let (s, v) = ise
        .post(
            "/api/v1/certs/system-certificate/export",
            &json!({"id": id, "export": "CERTIFICATE"}),
        )
        .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"status": "Fail", "message": "HostName should not be null"})
        )
    );

    // Export with the private key: a ZIP with the certificate and a PBES2-encrypted key.
    let r = ise
        .req(reqwest::Method::POST, "/api/v1/certs/system-certificate/export")
        .json(&json!({"id": id, "hostName": "ise-pan", "export": "CERTIFICATE_WITH_PRIVATE_KEY", "password": "Export1234"}))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    let entries = unzip_entries(&r.bytes().await.expect("bytes"));
    assert_eq!(entries.len(), 2);
    assert!(entries[0].1.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        entries[1]
            .1
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );

    // Trusted store: import, duplicate refusal, security filter, trust rules.
    let import = |name: &str, description: &str, client_auth: bool| {
        json!({
        "name": name, "description": description, "data": info.ca_pem,
        "allowBasicConstraintCAFalse": false, "allowOutOfDateCert": false, "allowSHA1Certificates": false,
        "trustForIseAuth": !client_auth, "trustForClientAuth": client_auth, "trustForCiscoServicesAuth": true})
    };
    let (s, v) = ise
        .post(
            "/api/v1/certs/trusted-certificate/import",
            &import("Sim root", "anchor", false),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["response"]["message"],
        "Trust certificate was added successfully"
    );
    let (s, v) = ise
        .post(
            "/api/v1/certs/trusted-certificate/import",
            &import("Sim root again", "anchor", false),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["response"]["message"],
        "Certificates are having same subject, same serial number and they are binary equal. Hence skipping the replace"
    );
    let (s, v) = ise
        .post(
            "/api/v1/certs/trusted-certificate/import",
            &import("Let's root", "x", false),
        )
        .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"message": "Security Check Failed", "status": "400"})
        )
    );
    let (s, _) = ise
        .post(
            "/api/v1/certs/trusted-certificate/import",
            &import("root", "a, b", false),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = ise
        .post(
            "/api/v1/certs/trusted-certificate/import",
            &import("client only", "x", true),
        )
        .await;
    assert_eq!(s, 400, "{v}");

    // Listing pages with ISE's envelope.
    let (s, v) = ise
        .get("/api/v1/certs/trusted-certificate?page=1&size=2")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["response"].as_array().map(Vec::len), Some(2));
    assert!(v["nextPage"]["href"].as_str().is_some());
    let (s, v) = ise
        .get("/api/v1/certs/trusted-certificate?filter=friendlyName.EQ.Sim%20root")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["response"].as_array().map(Vec::len), Some(1));
    let trusted_id = v["response"][0]["id"].as_str().expect("id").to_owned();
    let r = ise
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/certs/trusted-certificate/{trusted_id}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn ers_csrf_when_enabled() {
    let sim = Simulator::builder()
        .ers_csrf(true)
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let ise = Ise { c: &c, info };
    let r = ise
        .req(
            reqwest::Method::GET,
            "/ers/config/op/systemconfig/iseversion",
        )
        .header("X-CSRF-Token", "fetch")
        .send()
        .await
        .expect("fetch");
    let token = r
        .headers()
        .get("X-CSRF-Token")
        .and_then(|v| v.to_str().ok())
        .expect("token")
        .to_owned();
    // A write without the token is refused with ISE's message.
    let r = ise
        .req(
            reqwest::Method::POST,
            "/ers/config/op/systemconfig/iseversion",
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["ERSResponse"]["messages"][0]["title"],
        "CSRF nonce validation failed"
    );
    // With the token it passes the check (and meets the method's own answer).
    let r = ise
        .req(
            reqwest::Method::POST,
            "/ers/config/op/systemconfig/iseversion",
        )
        .header("X-CSRF-Token", token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 405);
}

/// ISE's API account's admin group: an ERS Operator reads and is refused every write
/// with 403 in the family's shape; an account outside the API groups is answered 401
/// like a wrong password; the control API moves the account between groups.
#[tokio::test]
async fn ise_account_roles_limit_the_api() {
    use ise_intune_simulator::IseRole;
    let sim = Simulator::builder()
        .ise_role(IseRole::ErsOperator)
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let ise = Ise { c: &c, info };
    let trusted = "/api/v1/certs/trusted-certificate";
    let r = ise
        .req(reqwest::Method::GET, trusted)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    let r = ise
        .req(
            reqwest::Method::POST,
            "/api/v1/certs/trusted-certificate/import",
        )
        .json(&json!({"data": "x", "name": "x"}))
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], "403");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("read operations only"))
    );
    let r = ise
        .req(reqwest::Method::POST, "/ers/config/authorizationprofile")
        .json(&json!({}))
        .send()
        .await
        .expect("ers write");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["ERSResponse"]["operation"],
        "POST-/ers/config/authorizationprofile"
    );
    let set_role = |role: &'static str| {
        c.put(format!("{}/ise-role", info.control_url))
            .json(&json!({ "role": role }))
            .send()
    };
    let list = || ise.req(reqwest::Method::GET, trusted).send();
    // Moved out of the API groups: 401, with the challenge a wrong password gets.
    assert_eq!(set_role("none").await.expect("control").status(), 204);
    let r = list().await.expect("list");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"Cisco ISE\"")
    );
    // Back to ERS Admin: reads and writes pass the role check.
    assert_eq!(set_role("ers-admin").await.expect("control").status(), 204);
    assert_eq!(list().await.expect("list").status(), 200);
    let r = set_role("root").await.expect("control");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn intune_answers_ise_xml_to_consented_tokens_only() {
    // The automation identity without the Intune API's get_device_compliance role.
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(150))
        .automation_roles([
            "Application.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "Application.Read.All",
        ])
        .start()
        .await
        .expect("simulator starts");
    let (ok, message, walked) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        "https://api.manage.microsoft.com//.default",
    )
    .await;
    assert!(ok, "{message}");
    let info = sim.info();
    let c = http(info);
    // The automation identity has no get_device_compliance role.
    let r = c
        .post(token_url(info))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info.automation.client_id.as_str()),
            ("client_secret", info.automation.client_secret.as_str()),
            ("scope", "https://api.manage.microsoft.com//.default"),
        ])
        .send()
        .await
        .expect("token");
    let t: Value = r.json().await.expect("json");
    let base = format!(
        "{}/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService",
        info.intune_url
    );
    let r = c
        .get(format!("{base}/ciscoise/mdminfo/?ise_api_version=3"))
        .bearer_auth(t["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("mdminfo");
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!(
            "{base}/cisco/devices/?paging=0&querycriteria=macaddress&value=AABBCC000001&filter=all"
        ))
        .send()
        .await
        .expect("devices");
    assert_eq!(r.status(), 401);
    assert!(!walked.app_id.is_empty());
}

#[tokio::test]
async fn faults_snapshot_and_request_log() {
    let sim = Simulator::builder()
        .seed(42)
        .faults(
            Service::Graph,
            Faults {
                error_rate: 1.0,
                error_status: 429,
                retry_after_secs: Some(3),
                ..Faults::default()
            },
        )
        .start()
        .await
        .expect("sim");
    let same_seed = Simulator::builder().seed(42).start().await.expect("sim");
    assert_eq!(sim.info().tenant_id, same_seed.info().tenant_id);
    assert_eq!(
        sim.info().automation.client_id,
        same_seed.info().automation.client_id
    );

    let info = sim.info();
    let c = http(info);
    let token = automation_token(&c, info).await;
    let r = c
        .get(format!("{}/organization", info.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "TooManyRequests");

    sim.set_faults(
        Service::Graph,
        Faults {
            drop_rate: 1.0,
            ..Faults::default()
        },
    );
    assert!(
        c.get(format!("{}/organization", info.graph_url))
            .bearer_auth(&token)
            .send()
            .await
            .is_err()
    );

    sim.set_faults(Service::Graph, Faults::default());
    let r = c
        .get(format!("{}/organization", info.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    let graph_counts = sim.request_counts(Service::Graph);
    assert_eq!((graph_counts.reads, graph_counts.writes), (3, 0));
    assert_eq!(sim.request_counts(Service::Login).writes, 1);
    let statuses: Vec<u16> = sim
        .request_log()
        .iter()
        .filter(|r| r.service == "graph")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 0, 200]);
    let snap = sim.snapshot();
    assert_eq!(snap["tenant_id"], info.tenant_id.as_str());
    assert!(
        snap["ise"]["trustedCertificates"]
            .as_array()
            .is_some_and(|t| t.len() >= 3)
    );
    assert!(!snap.to_string().contains(&info.automation.client_secret));
}

#[tokio::test]
async fn intune_device_queries_answer_ise_xml() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let graph = Graph::automation(&c, info).await;
    // An application with a certificate and get_device_compliance consented.
    let cert_pem = include_str!("data/client-cert.pem");
    let (obj, app_id) = graph.create_app("compliance-reader").await;
    graph
        .call_until(reqwest::Method::PATCH, &format!("/applications/{obj}"),
            Some(&json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": b64(&pem_der(cert_pem))}]})), 204)
        .await;
    let (_, sp) = graph
        .call_until(
            reqwest::Method::POST,
            "/servicePrincipals",
            Some(&json!({"appId": app_id})),
            201,
        )
        .await;
    let (_, intune) = graph
        .call(
            reqwest::Method::GET,
            &format!(
                "/servicePrincipals(appId='{}')",
                ise_intune_simulator::INTUNE_API_APP_ID
            ),
            None,
        )
        .await;
    graph
        .call_until(reqwest::Method::POST, &format!("/servicePrincipals/{}/appRoleAssignedTo", intune["id"].as_str().expect("id")),
            Some(&json!({"principalId": sp["id"], "resourceId": intune["id"], "appRoleId": ise_intune_simulator::ROLE_GET_DEVICE_COMPLIANCE})), 201)
        .await;
    // The key and the role reach the token service once propagated.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let jwt = sign(
        &pem_der(cert_pem),
        include_str!("data/client-key.pem"),
        &app_id,
        &token_url(info),
    );
    let r = c
        .post(token_url(info))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app_id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt.as_str()),
            ("scope", "https://api.manage.microsoft.com//.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.expect("json");
    let token = token["access_token"].as_str().expect("token").to_owned();
    let base = format!(
        "{}/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService",
        info.intune_url
    );
    let get = |path: String| {
        let (c, token) = (c.clone(), token.clone());
        async move {
            let r = c
                .get(path)
                .bearer_auth(token)
                .header("Accept", "application/xml")
                .send()
                .await
                .expect("send");
            (r.status().as_u16(), r.text().await.expect("text"))
        }
    };
    let (s, xml) = get(format!("{base}/ciscoise/mdminfo/?ise_api_version=3")).await;
    assert_eq!(s, 200);
    assert!(
        xml.contains("<ise_api xmlns=\"http://schemas.datacontract.org/2004/07/Microsoft.Intune.ResourceAccess.ComplianceRetrievalService.Model\""),
        "{xml}"
    );
    assert!(
        xml.contains("<name>mdminfo</name><api_version>3</api_version><api_path>/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService/cisco</api_path>"),
        "{xml}"
    );
    assert!(
        xml.contains("<query_max_size>100</query_max_size>"),
        "{xml}"
    );
    // ISE's poll of non-compliant devices, page by page.
    let poll = |page: usize| {
        get(format!(
            "{base}/cisco/devices/?paging={page}&querycriteria=compliance&value=false&deviceidentifier=guid&filter=all"
        ))
    };
    let (s, first) = poll(0).await;
    assert_eq!(s, 200);
    assert!(
        first.contains("<name>attributes</name><api_version>3</api_version>"),
        "{first}"
    );
    assert!(
        !first.contains("<status>true</status>"),
        "only non-compliant devices"
    );
    let mut non_compliant = first.matches("<device>").count();
    assert!(non_compliant > 0 && non_compliant <= 100);
    let mut page = 0;
    let mut xml = first;
    while !xml.contains("<paging_info>0</paging_info>") {
        page += 1;
        assert!(
            xml.contains(&format!("<paging_info>{page}</paging_info>")),
            "{xml}"
        );
        xml = poll(page).await.1;
        non_compliant += xml.matches("<device>").count();
    }
    // Every device, paged: 250 by default.
    let mut total = 0;
    for p in 0..3 {
        total += get(format!("{base}/cisco/devices/?paging={p}&filter=all"))
            .await
            .1
            .matches("<device>")
            .count();
    }
    assert_eq!(total, 250);
    assert!(non_compliant > 20 && non_compliant < 130, "{non_compliant}");
    // One device by GUID, in the v3 shape.
    let guid = xml_value(
        &get(format!("{base}/cisco/devices/?paging=0&filter=all"))
            .await
            .1,
        "guid",
    );
    let (s, one) = get(format!(
        "{base}/cisco/devices/?paging=0&querycriteria=guid&value={guid}&filter=all"
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(one.matches("<device>").count(), 1);
    assert!(
        one.contains(&format!(
            "<device><guid>{guid}</guid><Attributes><guid>{guid}</guid>"
        )),
        "{one}"
    );
    assert!(one.contains("<Compliance><status>"), "{one}");
    // The retired v2 service answers as retired.
    let v2 = format!(
        "{}/TrafficGateway/TrafficRoutingService/NACAPI/NACAPIService/ciscoise/mdminfo/?ise_api_version=2",
        info.intune_url
    );
    let (s, retired) = get(v2).await;
    assert_eq!(s, 410, "{retired}");
}

/// The first value of an XML element.
fn xml_value(xml: &str, element: &str) -> String {
    let open = format!("<{element}>");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&format!("</{element}>")))
        .map(|(v, _)| v.to_owned())
        .expect("element present")
}

#[tokio::test]
async fn automation_roles_ownership_and_admin_consent() {
    use base64::Engine as _;
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(0))
        .automation_roles(["Application.ReadWrite.OwnedBy"])
        .seed_app(SeedApp {
            display_name: "Someone else's app".into(),
            key_certificates_der: Vec::new(),
        })
        .start()
        .await
        .expect("simulator");
    assert!(matches!(
        Simulator::builder().automation_roles(["Directory.ReadWrite.All"]).start().await,
        Err(ise_intune_simulator::SimError::Config(m)) if m.contains("unknown automation role")
    ));
    let info = sim.info();
    let c = http(info);
    let token = automation_token(&c, info).await;
    // Shaped like Entra's: a JWT whose `roles` claim lists what was granted.
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("base64url"),
    )
    .expect("claims");
    assert_eq!(claims["roles"], json!(["Application.ReadWrite.OwnedBy"]));
    assert_eq!(claims["appid"], json!(info.automation.client_id));

    // It may make an application, which it then owns and may change.
    let r = c
        .patch(format!(
            "{}/applications(uniqueName='ise-x')",
            info.graph_url
        ))
        .bearer_auth(&token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .expect("upsert");
    assert_eq!(r.status(), 201);
    let app: Value = r.json().await.expect("json");
    let app_id = app["appId"].as_str().expect("appId").to_owned();
    let r = c
        .patch(format!(
            "{}/applications/{}",
            info.graph_url,
            app["id"].as_str().expect("id")
        ))
        .bearer_auth(&token)
        .json(&json!({"requiredResourceAccess": [
            {"resourceAppId": "c161e42e-d4df-4a3d-9b42-e7a3c31f59d4",
             "resourceAccess": [{"id": "7ec88bad-30c7-4928-a005-4455362cfd98", "type": "Role"}]},
            {"resourceAppId": "00000003-0000-0000-c000-000000000000",
             "resourceAccess": [{"id": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "type": "Role"}]}
        ]}))
        .send()
        .await
        .expect("patch own");
    assert_eq!(r.status(), 204);
    let r = c
        .patch(format!(
            "{}/servicePrincipals(appId='{app_id}')",
            info.graph_url
        ))
        .bearer_auth(&token)
        .header("Prefer", "create-if-missing")
        .json(&json!({}))
        .send()
        .await
        .expect("sp");
    assert_eq!(r.status(), 201);
    let sp: Value = r.json().await.expect("json");
    // Another's application: refused as Graph refuses it.
    let apps: Value = c
        .get(format!("{}/applications", info.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let other = apps["value"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == "Someone else's app")
        .expect("listed: OwnedBy reads every application");
    let r = c
        .patch(format!(
            "{}/applications/{}",
            info.graph_url,
            other["id"].as_str().expect("id")
        ))
        .bearer_auth(&token)
        .json(&json!({"displayName": "mine now"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        e["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // Consent is not its to grant.
    let graph_sp = sim.snapshot()["servicePrincipals"]
        .as_array()
        .expect("sps")
        .iter()
        .find(|s| s["appId"] == "00000003-0000-0000-c000-000000000000")
        .and_then(|s| s["id"].as_str().map(str::to_owned))
        .expect("graph sp");
    let r = c
        .post(format!(
            "{}/servicePrincipals/{graph_sp}/appRoleAssignedTo",
            info.graph_url
        ))
        .bearer_auth(&token)
        .json(&json!({"principalId": sp["id"], "resourceId": graph_sp,
                      "appRoleId": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"}))
        .send()
        .await
        .expect("assign");
    assert_eq!(r.status(), 403);

    // The administrator's click: both requested roles granted, once.
    let consent = |body: Value| {
        c.post(format!("{}/admin-consent", info.control_url))
            .json(&body)
            .send()
    };
    let r = consent(json!({"client_id": app_id}))
        .await
        .expect("consent");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"granted": 2})
    );
    let r = consent(json!({"client_id": app_id})).await.expect("again");
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"granted": 0})
    );
    let r = consent(json!({"client": "x"})).await.expect("bad");
    assert_eq!(r.status(), 400);
    let r = consent(json!({"client_id": "00000000-0000-0000-0000-00000000dead"}))
        .await
        .expect("unknown");
    assert_eq!(r.status(), 400);
}

/// Four behaviours Microsoft's Graph SDK and Cisco's schemas showed the simulator
/// lacked: a key's dates filled from its certificate, an end past the certificate's
/// expiry refused, a service principal named by its upsert, one node by host name.
#[tokio::test]
async fn key_dates_service_principal_names_and_one_node() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let graph = Graph::automation(&c, info).await;
    let cert_pem = include_str!("data/client-cert.pem");
    let (obj, app_id) = graph.create_app("dates").await;
    let key = |end: Option<&str>| {
        let mut k = json!({"type": "AsymmetricX509Cert", "usage": "Verify",
            "key": b64(&pem_der(cert_pem))});
        if let Some(e) = end {
            k["endDateTime"] = e.into();
        }
        json!({"keyCredentials": [k]})
    };
    // Past the certificate's expiry (2029-03-01T00:22:33Z): refused, as Entra does.
    let (s, v) = graph
        .call_until(
            reqwest::Method::PATCH,
            &format!("/applications/{obj}"),
            Some(&key(Some("2029-03-01T00:22:34Z"))),
            400,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "KeyCredentialsInvalidEndDate", "{v}");
    assert_eq!(v["error"]["message"], "Key credential end date is invalid.");
    // Without dates: read back with the certificate's validity.
    graph
        .call_until(
            reqwest::Method::PATCH,
            &format!("/applications/{obj}"),
            Some(&key(None)),
            204,
        )
        .await;
    let (_, v) = graph
        .call(
            reqwest::Method::GET,
            &format!("/applications/{obj}?$select=keyCredentials"),
            None,
        )
        .await;
    assert_eq!(
        v["keyCredentials"][0]["startDateTime"], "2026-11-27T00:22:33Z",
        "{v}"
    );
    assert_eq!(
        v["keyCredentials"][0]["endDateTime"], "2029-03-01T00:22:33Z",
        "{v}"
    );

    // A service principal upserted with a displayName carries it.
    let upsert = c
        .patch(format!(
            "{}/servicePrincipals(appId='{app_id}')",
            info.graph_url
        ))
        .bearer_auth(&graph.token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "named by its upsert"}))
        .send()
        .await
        .expect("upsert");
    assert_eq!(upsert.status().as_u16(), 201);
    let (_, v) = graph
        .call_until(
            reqwest::Method::GET,
            &format!("/servicePrincipals(appId='{app_id}')"),
            None,
            200,
        )
        .await;
    assert_eq!(v["displayName"], "named by its upsert", "{v}");

    // One node by host name (getNodeDetails), and 404 for another.
    let ise = Ise { c: &c, info };
    let (s, v) = ise.get("/api/v1/deployment/node/ise-psn").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["response"]["fqdn"], "ise-psn.sim.example");
    assert_eq!(v["version"], "1.0.0");
    let (s, v) = ise.get("/api/v1/deployment/node/nowhere").await;
    assert_eq!(s, 404, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
}

/// The policy API refuses what ISE refuses, in Cisco's error shape; the control API
/// authorizes an endpoint and changes a device.
#[tokio::test]
async fn policy_refusals_and_the_authorization_control_routes() {
    let sim = common::sim().await;
    let info = sim.info();
    let c = common::http(info);
    let ise = common::Ise { c: &c, info };
    let (status, sets) = ise.get("/api/v1/policy/network-access/policy-set").await;
    assert_eq!(status, 200);
    let set = sets["response"][0]["id"].as_str().expect("id").to_owned();
    let rules = format!("/api/v1/policy/network-access/policy-set/{set}/authorization");
    let leaf = |attribute: &str, value: &str| {
        json!({"conditionType": "ConditionAttributes", "dictionaryName": "MDM",
            "attributeName": attribute, "operator": "equals", "attributeValue": value})
    };
    let refused = [
        (
            json!({"rule": {"name": "A", "condition": leaf("DeviceCompliantStatus", "true")},
                "profile": ["PermitAccess"]}),
            "Value true is not allowed for attribute MDM:DeviceCompliantStatus; allowed values are Compliant, NonCompliant",
        ),
        (
            json!({"rule": {"name": "A", "condition": leaf("DeviceCompliantStatus", "Compliant")},
                "profile": ["Quarantine_VLAN"]}),
            "Authorization profile Quarantine_VLAN does not exist",
        ),
        (
            json!({"rule": {"name": "A:B", "condition": leaf("DeviceCompliantStatus", "Compliant")},
                "profile": ["PermitAccess"]}),
            "Rule name A:B is not valid: valid characters are alphanumerics, underscore, hyphen, space, period, parentheses",
        ),
        (
            json!({"rule": {"name": "Default", "condition": leaf("DeviceCompliantStatus", "Compliant")},
                "profile": ["PermitAccess"]}),
            "Rule name Default already exists in this policy set",
        ),
        (
            json!({"rule": {"name": "A", "rank": 9, "condition": leaf("DeviceCompliantStatus", "Compliant")},
                "profile": ["PermitAccess"]}),
            "Rank 9 is out of range: the default rule is at rank 3",
        ),
        (
            json!({"rule": {"name": "A"}, "profile": ["PermitAccess"]}),
            "Rule must include a condition",
        ),
    ];
    for (body, message) in refused {
        let (status, answer) = ise.post(&rules, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer, json!({"code": "400", "message": message}));
    }
    let (status, answer) = ise
        .get("/api/v1/policy/network-access/policy-set/00000000-0000-0000-0000-000000000000/authorization")
        .await;
    assert_eq!(status, 404);
    assert_eq!(answer["code"], "404");

    // No MDM entry enabled: ISE cannot reach Intune; the default rule denies.
    let authorize = |body: Value| {
        c.post(format!("{}/authorize", info.control_url))
            .json(&body)
            .send()
    };
    let r = authorize(json!({"mac": "02-00-00-00-00-01"}))
        .await
        .expect("authorize");
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["policy_set"], "Default");
    assert_eq!(answer["rule"], "Default");
    assert_eq!(answer["profiles"], json!(["DenyAccess"]));
    assert_eq!(answer["mdm"]["MDMServerReachable"], "UnReachable");
    assert_eq!(answer["mdm"]["detail"], "no External MDM server is enabled");
    let r = authorize(json!({"mac": "not a mac"})).await.expect("bad");
    assert_eq!(r.status(), 400);

    // A device changed in Intune.
    let guid = sim.devices()[0].0.clone();
    let r = c
        .put(format!("{}/devices/{guid}", info.control_url))
        .json(&json!({"registered": false}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let device: Value = r.json().await.expect("json");
    assert_eq!(device["registered"], false);
    assert_eq!(device["compliant"], false);
    let r = c
        .put(format!("{}/devices/{guid}", info.control_url))
        .json(&json!({"compliant": "yes"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    let r = c
        .put(format!(
            "{}/devices/00000000-0000-0000-0000-00000000dead",
            info.control_url
        ))
        .json(&json!({"compliant": true}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 404);
}

/// Intune's throttle of unfiltered compliance queries (Microsoft Learn, "503 errors that
/// NAC partners receive from Intune"): a four-hour window opens at the first one, whose
/// first hour is answered and the rest refused with 503; device-specific queries are
/// never throttled. The clock is the simulator's, moved through the control API.
#[tokio::test]
async fn unfiltered_compliance_queries_are_throttled_by_a_four_hour_window() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let client_id = info.automation.client_id.clone();
    let base = format!(
        "{}/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService/cisco/devices/",
        info.intune_url
    );
    // A fresh token each time: one lives an hour, as the clock moves hours.
    let query = |q: &'static str| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            let token = token_for(&c, info, "https://api.manage.microsoft.com//.default").await;
            let r = c
                .get(format!("{base}?paging=0&{q}&filter=all"))
                .bearer_auth(token)
                .send()
                .await
                .expect("query");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let advance = |secs: u64| {
        let c = c.clone();
        async move {
            let r = c
                .post(format!("{}/clock", info.control_url))
                .json(&json!({ "advance_secs": secs }))
                .send()
                .await
                .expect("clock");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    let unfiltered = "querycriteria=compliance&value=false";
    let one = "querycriteria=macaddress&value=AABBCC000001";
    assert_eq!(query(unfiltered).await.0, 200);
    // 59 minutes into the window: still answered.
    advance(59 * 60).await;
    assert_eq!(query(unfiltered).await.0, 200);
    assert_eq!(query("querycriteria=compliance&value=true").await.0, 200);
    // 61 minutes: refused until the window closes; a device-specific query is not.
    let moved = advance(2 * 60).await;
    assert_eq!(moved["offset_secs"], 61 * 60);
    let (status, body) = query(unfiltered).await;
    assert_eq!(status, 503);
    assert!(body.contains("throttled"), "{body}");
    assert_eq!(query("filter=all&paging=1").await.0, 503);
    assert_eq!(query(one).await.0, 200);
    // 3 h 59 min: still the same window.
    advance(178 * 60).await;
    assert_eq!(query(unfiltered).await.0, 503);
    // 4 h 1 min: the window has closed; the next unfiltered query opens a new one.
    advance(2 * 60).await;
    assert_eq!(query(unfiltered).await.0, 200);
    let snapshot = sim.snapshot();
    assert_eq!(snapshot["intune"]["unfiltered_queries"][&client_id], 4);
    assert_eq!(snapshot["intune"]["throttled"][&client_id], 3);
    assert_eq!(snapshot["clock"]["offset_secs"], 4 * 3600 + 60);
    // The clock only moves forward, and says why not.
    let r = c
        .post(format!("{}/clock", info.control_url))
        .json(&json!({ "at": "2001-01-01T00:00:00Z" }))
        .send()
        .await
        .expect("clock");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("only moves forward")),
        "{v}"
    );
    // Nor beyond a century ahead: a clock in year 9999 would overflow the first date
    // computed from it. Refused, and the simulator goes on answering.
    for body in [
        json!({ "at": "9999-12-31T23:59:59Z" }),
        json!({ "advance_secs": u64::MAX }),
    ] {
        let r = c
            .post(format!("{}/clock", info.control_url))
            .json(&body)
            .send()
            .await
            .expect("clock");
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.expect("json");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("at most 100 years")),
            "{v}"
        );
    }
    assert_eq!(query(one).await.0, 200);
}

/// Devices take a compliance change at their next check-in (every 8 hours, each at its
/// own time), and a lost compliance only after the grace period: the simulated clock
/// moves them.
#[tokio::test]
async fn devices_change_compliance_at_check_in_after_the_grace_period() {
    let sim = Simulator::builder()
        .compliance_grace(Duration::from_secs(3600))
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let (guid, _, _, compliant) = sim
        .devices()
        .into_iter()
        .find(|d| d.2 && d.3)
        .expect("a compliant device");
    assert!(compliant);
    let r = c
        .put(format!("{}/devices/{guid}", info.control_url))
        .json(&json!({"compliant": false, "at_check_in": true}))
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["compliant"], true, "{v}");
    assert_eq!(v["pending_compliant"], false, "{v}");
    let next = v["next_check_in_secs"].as_u64().expect("next check-in");
    assert!(next <= 8 * 3600, "{next}");
    let state = |sim: &Simulator| {
        sim.devices()
            .into_iter()
            .find(|d| d.0 == guid)
            .map(|d| d.3)
            .expect("device")
    };
    // Just before its check-in (counted from the simulator's start, moments ago):
    // unchanged.
    sim.advance_clock(Duration::from_secs(next.saturating_sub(5)));
    assert!(state(&sim));
    // Checked in, within the grace hour: still reported compliant.
    sim.advance_clock(Duration::from_secs(30 * 60));
    assert!(state(&sim));
    // The grace hour over: non-compliant.
    sim.advance_clock(Duration::from_secs(31 * 60));
    assert!(!state(&sim));
    // Compliance regained at the next check-in, without grace.
    let r = c
        .put(format!("{}/devices/{guid}", info.control_url))
        .json(&json!({"compliant": true, "at_check_in": true}))
        .send()
        .await
        .expect("change");
    assert_eq!(r.status(), 200);
    assert!(!state(&sim));
    sim.advance_clock(Duration::from_secs(8 * 3600));
    assert!(state(&sim));
}

/// Intune's managed devices through Graph: refused without
/// DeviceManagementManagedDevices.Read.All (Intune's wording), pages of at most 1,000
/// with a nextLink, only the properties selected, and `lastSyncDateTime ge` filtering
/// by each device's last check-in on the simulated clock.
#[tokio::test]
async fn managed_devices_page_filter_and_need_their_role() {
    let sim = Simulator::builder()
        .devices(1500)
        .automation_roles(["Application.Read.All"])
        .start()
        .await
        .expect("sim");
    let info = sim.info();
    let c = http(info);
    let without = Graph {
        c: &c,
        info,
        token: automation_token(&c, info).await,
    };
    let (s, v) = without
        .call(
            reqwest::Method::GET,
            "/deviceManagement/managedDevices",
            None,
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "Forbidden");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("DeviceManagementManagedDevices.Read.All")),
        "{v}"
    );

    sim.set_automation_roles(&["DeviceManagementManagedDevices.Read.All"])
        .expect("roles");
    let graph = Graph {
        c: &c,
        info,
        token: automation_token(&c, info).await,
    };
    let (s, first) = graph
        .call(
            reqwest::Method::GET,
            "/deviceManagement/managedDevices?$top=5000&$select=id,wiFiMacAddress,lastSyncDateTime",
            None,
        )
        .await;
    assert_eq!(s, 200, "{first}");
    let page = first["value"].as_array().expect("value");
    assert_eq!(page.len(), 1000, "at most 1,000 a page");
    let keys: Vec<&String> = page[0].as_object().expect("object").keys().collect();
    assert_eq!(keys, ["id", "lastSyncDateTime", "wiFiMacAddress"]);
    // The same GUID and MAC as Intune's compliance service knows.
    let known = sim.devices();
    assert!(
        known
            .iter()
            .any(|d| d.0 == page[0]["id"] && d.1 == page[0]["wiFiMacAddress"]),
        "{}",
        page[0]
    );
    let next = first["@odata.nextLink"].as_str().expect("a nextLink");
    let r = c
        .get(next)
        .bearer_auth(&graph.token)
        .send()
        .await
        .expect("next");
    let second: Value = r.json().await.expect("json");
    assert_eq!(second["value"].as_array().map(Vec::len), Some(500));
    assert!(second.get("@odata.nextLink").is_none());

    // Every device checked in within the last 8 hours; none after now.
    let now = sim.now_unix();
    let ago = |h: u64| {
        time::OffsetDateTime::from_unix_timestamp(i64::try_from(now - h * 3600).expect("time"))
            .expect("date")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let count = |token: String, filter: String| {
        let c = &c;
        async move {
            let graph = Graph { c, info, token };
            let path = format!(
                "/deviceManagement/managedDevices?$top=1000&$select=id&$filter={}",
                filter.replace(' ', "%20").replace(':', "%3A")
            );
            let (s, v) = graph.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(s, 200, "{v}");
            v["value"].as_array().map_or(0, Vec::len)
        }
    };
    let token = graph.token.clone();
    assert_eq!(
        count(token.clone(), format!("lastSyncDateTime ge {}", ago(9))).await,
        1000
    );
    let recent = count(token, format!("lastSyncDateTime ge {}", ago(4))).await;
    assert!((200..800).contains(&recent), "{recent} in the last 4 hours");
    // Half a cycle later (a fresh token: the old one has expired), the devices that
    // checked in since are the ones found.
    sim.advance_clock(Duration::from_secs(4 * 3600));
    let fresh = automation_token(&c, info).await;
    let since_before = count(fresh.clone(), format!("lastSyncDateTime ge {}", ago(0))).await;
    assert!((200..800).contains(&since_before), "{since_before}");
    let graph = Graph {
        c: &c,
        info,
        token: fresh,
    };
    // Another filter is refused.
    let (s, _) = graph
        .call(
            reqwest::Method::GET,
            "/deviceManagement/managedDevices?$filter=operatingSystem%20eq%20'iOS'",
            None,
        )
        .await;
    assert_eq!(s, 400);
}
