//! Drives the simulator with plain HTTP (reqwest), never through the library.

#![allow(dead_code, missing_docs)]

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ise_intune_simulator::{SimInfo, Simulator};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A client trusting the simulator's public root and ISE's admin certificate.
pub fn http(info: &SimInfo) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for pem in [
        info.ca_pem.clone(),
        std::fs::read_to_string(&info.ise.admin_cert_pem_path).expect("admin cert"),
    ] {
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.expect("pem")).expect("root");
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("client")
}

pub async fn sim() -> Simulator {
    Simulator::builder()
        .replication_lag(Duration::from_millis(150))
        .start()
        .await
        .expect("simulator starts")
}

pub fn token_url(info: &SimInfo) -> String {
    format!("{}/{}/oauth2/v2.0/token", info.login_url, info.tenant_id)
}

pub async fn automation_token(c: &reqwest::Client, info: &SimInfo) -> String {
    token_for(c, info, GRAPH_SCOPE).await
}

/// A token of the automating identity for `scope`.
pub async fn token_for(c: &reqwest::Client, info: &SimInfo, scope: &str) -> String {
    let r = c
        .post(token_url(info))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info.automation.client_id.as_str()),
            ("client_secret", info.automation.client_secret.as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["access_token"].as_str().expect("token").to_owned()
}

pub struct Ise<'a> {
    pub c: &'a reqwest::Client,
    pub info: &'a SimInfo,
}

impl Ise<'_> {
    pub fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(m, format!("{}{}", self.info.ise.url, path))
            .basic_auth(&self.info.ise.username, Some(&self.info.ise.password))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

pub struct Graph<'a> {
    pub c: &'a reqwest::Client,
    pub info: &'a SimInfo,
    pub token: String,
}

impl<'a> Graph<'a> {
    /// Graph as the automating identity.
    pub async fn automation(c: &'a reqwest::Client, info: &'a SimInfo) -> Self {
        Graph {
            c,
            info,
            token: automation_token(c, info).await,
        }
    }

    /// Creates an application; its (object id, client id).
    pub async fn create_app(&self, display_name: &str) -> (String, String) {
        let (_, app) = self
            .call(
                reqwest::Method::POST,
                "/applications",
                Some(&serde_json::json!({ "displayName": display_name })),
            )
            .await;
        (
            app["id"].as_str().expect("id").to_owned(),
            app["appId"].as_str().expect("appId").to_owned(),
        )
    }
    pub async fn call(&self, m: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.info.graph_url, path)
        };
        let mut r = self.c.request(m, url).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Retries an answer Graph gives while a new object replicates.
    pub async fn call_until(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        ok: u16,
    ) -> (u16, Value) {
        for _ in 0..50 {
            let (s, v) = self.call(m.clone(), path, body).await;
            if s == ok {
                return (s, v);
            }
            assert!(matches!(s, 400 | 404), "unexpected {s}: {v}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{path} never answered {ok}");
    }
}

/// The first `.pem` entry of a ZIP, as text.
pub fn unzip_entries(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
            let mut s = String::new();
            f.read_to_string(&mut s).expect("text");
            (name, s)
        })
        .collect()
}

pub fn pem_der(pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

/// Lowercase hex, as ISE writes fingerprints.
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// What a walk leaves out, to show each mistake's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Nothing,
    KeyUpload,
    Consent,
    RootImport,
}

pub struct WalkResult {
    pub app_id: String,
    pub ise_cert_der: Vec<u8>,
}

/// The seven steps by raw requests, leaving out `skip`; the MDM server is added with
/// `discovery_url` and `audience`, and Test Connection is run. Returns (success, message).
pub async fn walk(
    sim: &Simulator,
    skip: Skip,
    discovery_url: &str,
    audience: &str,
) -> (bool, String, WalkResult) {
    let info = sim.info();
    let c = http(info);
    let graph = Graph {
        c: &c,
        info,
        token: automation_token(&c, info).await,
    };
    let ise = Ise { c: &c, info };

    // 1. Register the application and its service principal.
    let (s, app) = graph
        .call(
            reqwest::Method::POST,
            "/applications",
            Some(&json!({"displayName": "Cisco ISE", "signInAudience": "AzureADMyOrg"})),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let (app_obj, app_id) = (
        app["id"].as_str().expect("id").to_owned(),
        app["appId"].as_str().expect("appId").to_owned(),
    );
    let (_, sp) = graph
        .call_until(
            reqwest::Method::POST,
            "/servicePrincipals",
            Some(&json!({"appId": app_id})),
            201,
        )
        .await;
    let sp_id = sp["id"].as_str().expect("sp id").to_owned();

    // 2. Export every node's admin certificate (each node has its own by default).
    let (s, nodes) = ise.get("/api/v1/deployment/node").await;
    assert_eq!(s, 200);
    let hosts: Vec<String> = nodes["response"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["hostname"].as_str().expect("hostname").to_owned())
        .collect();
    let mut keys = Vec::new();
    let mut ise_der = Vec::new();
    for host in &hosts {
        let (s, certs) = ise
            .get(&format!("/api/v1/certs/system-certificate/{host}"))
            .await;
        assert_eq!(s, 200);
        let admin = certs["response"]
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["usedBy"].as_str().unwrap_or_default().contains("Admin"))
            .expect("admin certificate")
            .clone();
        let r = ise
            .req(
                reqwest::Method::POST,
                "/api/v1/certs/system-certificate/export",
            )
            .json(&json!({"id": admin["id"], "hostName": host, "export": "CERTIFICATE"}))
            .send()
            .await
            .expect("export");
        assert_eq!(r.status(), 200);
        let entries = unzip_entries(&r.bytes().await.expect("zip"));
        let der = pem_der(&entries[0].1);
        if ise_der.is_empty() {
            ise_der = der.clone();
        }
        keys.push(
            json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": b64(&der),
            "displayName": format!("CN={}", admin["issuedTo"].as_str().unwrap_or_default())}),
        );
    }

    // 3. Upload them to the application.
    if skip != Skip::KeyUpload {
        let (s, v) = graph
            .call_until(
                reqwest::Method::PATCH,
                &format!("/applications/{app_obj}"),
                Some(&json!({ "keyCredentials": keys })),
                204,
            )
            .await;
        assert_eq!(s, 204, "{v}");
    }

    // 4. Permissions and admin consent.
    let (s, _) = graph
        .call(reqwest::Method::PATCH, &format!("/applications/{app_obj}"), Some(&json!({"requiredResourceAccess": [
            {"resourceAppId": ise_intune_simulator::INTUNE_API_APP_ID, "resourceAccess": [{"id": ise_intune_simulator::ROLE_GET_DEVICE_COMPLIANCE, "type": "Role"}]},
            {"resourceAppId": ise_intune_simulator::GRAPH_APP_ID, "resourceAccess": [{"id": ise_intune_simulator::ROLE_APPLICATION_READ_ALL, "type": "Role"}]}]})))
        .await;
    assert_eq!(s, 204);
    if skip != Skip::Consent {
        for (resource_app, role) in [
            (
                ise_intune_simulator::INTUNE_API_APP_ID,
                ise_intune_simulator::ROLE_GET_DEVICE_COMPLIANCE,
            ),
            (
                ise_intune_simulator::GRAPH_APP_ID,
                ise_intune_simulator::ROLE_APPLICATION_READ_ALL,
            ),
        ] {
            let (s, res) = graph
                .call(
                    reqwest::Method::GET,
                    &format!("/servicePrincipals(appId='{resource_app}')"),
                    None,
                )
                .await;
            assert_eq!(s, 200);
            let res_id = res["id"].as_str().expect("resource id").to_owned();
            graph
                .call_until(
                    reqwest::Method::POST,
                    &format!("/servicePrincipals/{res_id}/appRoleAssignedTo"),
                    Some(&json!({"principalId": sp_id, "resourceId": res_id, "appRoleId": role})),
                    201,
                )
                .await;
        }
    }

    // 5. The public root: ISE ships it trusted for Cisco Services only, so the operator
    // edits it and ticks "Trust for authentication within ISE"; a store without it
    // gets it imported.
    if skip != Skip::RootImport {
        let root_sha =
            hex_lower(ring::digest::digest(&ring::digest::SHA256, &pem_der(&info.ca_pem)).as_ref());
        let (s, list) = ise.get("/api/v1/certs/trusted-certificate").await;
        assert_eq!(s, 200);
        let shipped = list["response"]
            .as_array()
            .expect("list")
            .iter()
            .find(|t| t["sha256Fingerprint"] == root_sha.as_str())
            .cloned();
        let (s, v) = match shipped {
            Some(t) => {
                assert_eq!(t["trustedFor"], "Cisco Services", "{t}");
                let r = ise
                    .req(
                        reqwest::Method::PUT,
                        &format!("/api/v1/certs/trusted-certificate/{}", t["id"].as_str().expect("id")),
                    )
                    .json(&json!({"name": t["friendlyName"], "status": "Enabled",
                        "trustForIseAuth": true, "trustForCiscoServicesAuth": true}))
                    .send()
                    .await
                    .expect("update");
                (r.status().as_u16(), r.json().await.expect("json"))
            }
            None => {
                ise.post("/api/v1/certs/trusted-certificate/import", &json!({
                    "name": "Simulated Public Root G2", "description": "Intune trust anchor", "data": info.ca_pem,
                    "allowBasicConstraintCAFalse": false, "allowOutOfDateCert": false, "allowSHA1Certificates": false,
                    "trustForIseAuth": true, "trustForClientAuth": false, "trustForCertificateBasedAdminAuth": false,
                    "trustForCiscoServicesAuth": true, "validateCertificateExtensions": false}))
                    .await
            }
        };
        assert_eq!(s, 200, "{v}");
    }

    // Let the consent replicate, as an operator would before testing.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // 6. Add Intune as an External MDM server (GUI), 7. Test Connection.
    let (s, v) = ise
        .post("/sim-gui/external-mdm", &json!({
            "name": "Intune", "authenticationType": "OAuth - Client Credentials",
            "autoDiscoveryUrl": discovery_url, "clientId": app_id,
            "tokenIssuingUrl": format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", info.tenant_id),
            "tokenAudience": audience, "status": "Disabled"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = ise
        .post("/sim-gui/external-mdm/Intune/test", &json!({}))
        .await;
    assert_eq!(s, 200);
    (
        v["success"].as_bool().expect("success flag"),
        v["message"].as_str().unwrap_or_default().to_owned(),
        WalkResult {
            app_id,
            ise_cert_der: ise_der,
        },
    )
}
