//! One test per ISE endpoint: the exact request sent, and an ISE-shaped answer decoded.

mod common;

use common::*;
use ise_client::{
    Error, ExportKind, Filter, ImportOutcome, KeyFormat, Method, TrustedCertificateImport,
};
use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const CERT_PEM: &str = include_str!("data/selfsigned.pem");

#[tokio::test]
async fn deployment_nodes_and_primary_admin() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response": [
            {"hostname": "ise-psn1", "fqdn": "ise-psn1.example.com", "ipAddress": "10.0.0.2",
             "roles": [], "services": ["Session", "Profiler"], "nodeStatus": "Connected"},
            {"hostname": "ise-pan", "fqdn": "ise-pan.example.com", "ipAddress": "10.0.0.1",
             "roles": ["PrimaryAdmin", "PrimaryMonitoring"], "services": ["Session"], "nodeStatus": "Connected"}
        ], "version": "1.0.0"})))
        .expect(2)
        .mount(&server)
        .await;
    let nodes = ise.nodes().await.expect("nodes");
    assert_eq!(nodes.len(), 2);
    let pan = ise.primary_admin_node().await.expect("pan");
    assert_eq!(
        (pan.hostname.as_str(), pan.fqdn.as_str()),
        ("ise-pan", "ise-pan.example.com")
    );
    let r = &received(&server, "GET", "/api/v1/deployment/node").await[0];
    assert_ise_headers(r);
    assert_eq!(r.url.query(), None);
}

#[tokio::test]
async fn no_primary_admin_is_a_typed_error() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"response": [
            {"hostname": "ise-psn1", "roles": ["SecondaryAdmin"], "services": []}]})),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        ise.primary_admin_node().await,
        Err(Error::NoPrimaryAdmin { nodes: 1 })
    ));
}

#[tokio::test]
async fn version_from_ers_takes_the_highest_patch() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/ers/config/op/systemconfig/iseversion"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"OperationResult": {"resultValue": [
            {"value": "3.1.0.518", "name": "version"},
            {"value": "1,3,8", "name": "patch information"}]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let v = ise.version().await.expect("version");
    assert_eq!(v.to_string(), "3.1.0.518 patch 8");
    assert_ise_headers(
        &received(&server, "GET", "/ers/config/op/systemconfig/iseversion").await[0],
    );
}

#[tokio::test]
async fn version_falls_back_to_the_patch_api() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/ers/config/op/systemconfig/iseversion"))
        .respond_with(ResponseTemplate::new(401).set_body_string(""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/patch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "iseVersion": "3.2.0.542",
            "patchVersion": [{"patchNumber": 1, "installDate": "2025-01-10 10:00:00"},
                             {"patchNumber": 4, "installDate": "2025-06-10 10:00:00"}]})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        ise.version().await.expect("version").to_string(),
        "3.2.0.542 patch 4"
    );
}

fn system_cert(id: &str, name: &str, used_by: &str) -> serde_json::Value {
    json!({"id": id, "friendlyName": name, "issuedTo": "ise-pan.example.com",
           "issuedBy": "ise-pan.example.com", "validFrom": "Wed Jul 23 13:42:05 UTC 2025",
           "expirationDate": "Fri Jul 23 13:42:05 UTC 2027", "keySize": 4096, "selfSigned": true,
           "sha256Fingerprint": "aa:bb", "signatureAlgorithm": "SHA256withRSA", "usedBy": used_by,
           "serialNumberDecimalFormat": "1234", "groupTag": "Default Portal Certificate Group",
           "portalsUsingTheTag": "", "link": {"rel": "self", "href": "https://ise/x", "type": "application/json"}})
}

#[tokio::test]
async fn system_certificates_list_all_pages_with_filter() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/system-certificate/ise-pan"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "response": [system_cert("c1", "Default self-signed server certificate", "Admin, EAP Authentication")],
            "nextPage": {"rel": "next", "href": "https://ise-pan:443/api/v1/certs/system-certificate/ise-pan?page=2&size=100", "type": "application/json"},
            "version": "1.0.0"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/system-certificate/ise-pan"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "response": [system_cert("c2", "Portal", "Portal")],
            "previousPage": {"rel": "previous", "href": "x", "type": "application/json"},
            "version": "1.0.0"})))
        .mount(&server)
        .await;
    let certs = ise
        .system_certificates("ise-pan")
        .list(&[Filter::contains("friendlyName", "e")])
        .await
        .expect("list");
    assert_eq!(certs.len(), 2);
    assert!(certs[0].is_admin() && !certs[1].is_admin());
    assert_eq!(certs[0].key_size, Some(4096));
    assert_eq!(certs[0].expiration_date.utc().map(|d| d.year()), Some(2027));
    let reqs = received(&server, "GET", "/api/v1/certs/system-certificate/ise-pan").await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].url.query(),
        Some("page=1&size=100&filter=friendlyName.CONTAINS.e")
    );
}

#[tokio::test]
async fn system_certificate_get() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/system-certificate/ise-pan/c1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "response": system_cert("c1", "Admin cert", "Admin"), "version": "1.0.0"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = ise
        .system_certificates("ise-pan")
        .get("c1")
        .await
        .expect("get");
    assert_eq!(c.friendly_name, "Admin cert");
    assert!(c.self_signed);
}

#[tokio::test]
async fn export_certificate_only_sends_host_name_and_unpacks_the_zip() {
    let (server, ise) = setup().await;
    let zip = zip_of(&[("Defaultselfsignedservercerti.pem", CERT_PEM)]);
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/system-certificate/export"))
        .and(body_json(
            json!({"id": "c1", "hostName": "ise-pan", "export": "CERTIFICATE"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Type", "application/octet-stream")
                .set_body_bytes(zip),
        )
        .expect(1)
        .mount(&server)
        .await;
    let export = ise
        .system_certificates("ise-pan")
        .export("c1", &ExportKind::CertificateOnly)
        .await
        .expect("export");
    assert_eq!(export.certificates_pem.len(), 1);
    assert_eq!(export.certificates_pem[0], CERT_PEM);
    assert!(export.private_key.is_none());
    assert_eq!(export.entries, ["Defaultselfsignedservercerti.pem"]);
    // An export changes nothing on ISE: it counts as a read.
    assert_eq!(
        (ise.request_counts().reads, ise.request_counts().writes),
        (1, 0)
    );
}

const ENCRYPTED_KEY: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
const LEGACY_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0A1B2C3D4E5F60718293A4B5C6D7E8F9\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";

#[tokio::test]
async fn export_with_private_key_and_unusual_entry_names() {
    let (server, ise) = setup().await;
    let zip = zip_of(&[
        ("export/ise-pan.example.com_Admin#1.crt.txt", CERT_PEM),
        ("export/ise-pan.example.com_Admin#1 (key)", ENCRYPTED_KEY),
    ]);
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/system-certificate/export"))
        .and(body_json(json!({"id": "c1", "hostName": "ise-pan",
                              "export": "CERTIFICATE_WITH_PRIVATE_KEY", "password": "Export1234"})))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(zip))
        .expect(1)
        .mount(&server)
        .await;
    let export = ise
        .system_certificates("ise-pan")
        .export(
            "c1",
            &ExportKind::WithPrivateKey("Export1234".to_owned().into()),
        )
        .await
        .expect("export");
    let key = export.private_key.expect("key present");
    assert_eq!(key.format, KeyFormat::EncryptedPkcs8);
    assert_eq!(key.entry, "export/ise-pan.example.com_Admin#1 (key)");
    assert_eq!(key.pem(), ENCRYPTED_KEY);
    assert!(!format!("{key:?}").contains("MIIFHDBO"));
}

#[test]
fn legacy_encrypted_keys_are_recognised() {
    let zip = zip_of(&[("a.pem", CERT_PEM), ("b.pem", LEGACY_KEY)]);
    let export = ise_client::unpack_export(&zip).expect("unpacks");
    assert_eq!(
        export.private_key.expect("key").format,
        KeyFormat::LegacyEncrypted {
            dek_info: "AES-256-CBC,0A1B2C3D4E5F60718293A4B5C6D7E8F9".into(),
            algorithm: "RSA".into()
        }
    );
}

#[test]
fn broken_exports_are_typed_errors() {
    assert!(matches!(
        ise_client::unpack_export(b"not a zip"),
        Err(Error::Export { .. })
    ));
    let no_cert = zip_of(&[("readme.txt", "nothing here")]);
    assert!(matches!(
        ise_client::unpack_export(&no_cert),
        Err(Error::Export { .. })
    ));
}

#[tokio::test]
async fn export_password_rules_are_checked_before_sending() {
    let (server, ise) = setup().await;
    for bad in ["short1", "has space 123", "ünïcödé1234"] {
        let err = ise
            .system_certificates("ise-pan")
            .export("c1", &ExportKind::WithPrivateKey(bad.to_owned().into()))
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}");
        assert!(!err.to_string().contains(bad));
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

fn trusted(id: &str, name: &str, sha: &str) -> serde_json::Value {
    json!({"id": id, "friendlyName": name, "subject": "CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US",
           "issuedTo": "DigiCert Global Root G2", "issuedBy": "DigiCert Global Root G2",
           "validFrom": "Thu Aug 01 12:00:00 UTC 2013", "expirationDate": "Fri Jan 15 12:00:00 UTC 2038",
           "sha256Fingerprint": sha, "status": "Enabled",
           "trustedFor": "Infrastructure,Cisco Services", "description": "", "internalCA": false,
           "keySize": "2048", "enableOCSPValidation": "false", "downloadCRL": "true",
           "authenticateBeforeCRLReceived": "false", "link": {"rel": "self", "href": "h", "type": "t"}})
}

#[tokio::test]
async fn trusted_certificates_list_and_get() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "response": [trusted("t1", "DigiCert Global Root G2", "cb:3c:cb:b7")], "version": "1.0.0"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate/t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "response": trusted("t1", "DigiCert Global Root G2", "CB3CCBB7"), "version": "1.0.0"})))
        .expect(1)
        .mount(&server)
        .await;
    let list = ise.trusted_certificates().list(&[]).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].sha256_hex().as_deref(), Some("CB3CCBB7"));
    assert_eq!(list[0].key_size, Some(2048));
    assert!(list[0].download_crl && !list[0].enable_ocsp_validation);
    let r = &received(&server, "GET", "/api/v1/certs/trusted-certificate").await[0];
    assert_eq!(r.url.query(), Some("page=1&size=100"));
    let one = ise.trusted_certificates().get("t1").await.expect("get");
    assert_eq!(one.friendly_name, "DigiCert Global Root G2");
}

fn intune_anchor_import() -> TrustedCertificateImport {
    let mut req = TrustedCertificateImport::new(
        "DigiCert Global Root G2",
        format!("subject=CN = DigiCert\n{CERT_PEM}"),
    );
    req.description = Some("Intune trust anchor".into());
    req.trust_for_ise_auth = true;
    req.trust_for_cisco_services_auth = true;
    req
}

#[tokio::test]
async fn import_sends_the_exact_body() {
    let (server, ise) = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/trusted-certificate/import"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response": {
            "id": "new-id", "message": "Trust certificate was added successfully", "status": "Trust certificate was added successfully"},
            "version": "1.0.0"})))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = ise
        .trusted_certificates()
        .import(&intune_anchor_import())
        .await
        .expect("import");
    assert_eq!(
        outcome,
        ImportOutcome::Imported {
            id: Some("new-id".into()),
            message: "Trust certificate was added successfully".into()
        }
    );
    let r = &received(&server, "POST", "/api/v1/certs/trusted-certificate/import").await[0];
    assert_ise_headers(r);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        body,
        json!({"name": "DigiCert Global Root G2", "description": "Intune trust anchor",
               "data": CERT_PEM,
               "allowBasicConstraintCAFalse": false, "allowOutOfDateCert": false,
               "allowSHA1Certificates": false, "trustForIseAuth": true,
               "trustForClientAuth": false, "trustForCertificateBasedAdminAuth": false,
               "trustForCiscoServicesAuth": true, "validateCertificateExtensions": false})
    );
}

#[tokio::test]
async fn duplicates_are_already_present_not_failures() {
    for (status, message) in [
        (409, "Certificate Already Exists"),
        (
            400,
            "Certificates are having same subject, same serial number and they are binary equal. Hence skipping the replace",
        ),
        (
            500,
            "Certificates are having same subject, same serial number and they are binary equal. Hence skipping the replace",
        ),
    ] {
        let (server, ise) = setup().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/certs/trusted-certificate/import"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "response": {"status": "Fail", "message": message, "id": null}, "version": "1.0.0"})))
            .expect(1)
            .mount(&server)
            .await;
        let outcome = ise
            .trusted_certificates()
            .import(&intune_anchor_import())
            .await
            .expect("not an error");
        assert_eq!(
            outcome,
            ImportOutcome::AlreadyPresent {
                message: message.into()
            },
            "{status}"
        );
    }
}

#[tokio::test]
async fn security_filter_and_trust_rules_are_enforced_before_sending() {
    let (server, ise) = setup().await;
    let mut apostrophe = intune_anchor_import();
    apostrophe.name = "Let's Encrypt".into();
    let mut comma = intune_anchor_import();
    comma.description = Some("Intune, root".into());
    let mut client_only = intune_anchor_import();
    client_only.trust_for_ise_auth = false;
    client_only.trust_for_client_auth = true;
    let mut admin_only = intune_anchor_import();
    admin_only.trust_for_certificate_based_admin_auth = true;
    let no_pem = TrustedCertificateImport::new("x", "no certificate here");
    let two = TrustedCertificateImport::new("x", format!("{CERT_PEM}{CERT_PEM}"));

    let trusted = ise.trusted_certificates();
    assert!(matches!(
        trusted.import(&apostrophe).await,
        Err(Error::SecurityFilter {
            field: "name",
            character: '\''
        })
    ));
    assert!(matches!(
        trusted.import(&comma).await,
        Err(Error::SecurityFilter {
            field: "description",
            character: ','
        })
    ));
    for bad in [client_only, admin_only, no_pem, two] {
        assert!(matches!(
            trusted.import(&bad).await,
            Err(Error::InvalidInput { .. })
        ));
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn security_check_failed_answer_is_kept() {
    let (server, ise) = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/trusted-certificate/import"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"message": "Security Check Failed", "status": "400"})),
        )
        .mount(&server)
        .await;
    match ise
        .trusted_certificates()
        .import(&intune_anchor_import())
        .await
    {
        Err(Error::Api {
            status: 400, body, ..
        }) => {
            assert_eq!(body.message, "Security Check Failed");
            assert_eq!(body.shape, ise_client::ErrorShape::MessageStatus);
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn trusted_delete_and_export() {
    let (server, ise) = setup().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/certs/trusted-certificate/t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response": {"message": "Trust certificate deleted successfully"}, "version": "1.0.0"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate/export/t1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(zip_of(&[("DigiCert.pem", CERT_PEM)])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate/export/t2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(CERT_PEM.replace('\n', "\r\n")))
        .expect(1)
        .mount(&server)
        .await;
    ise.trusted_certificates()
        .delete("t1")
        .await
        .expect("delete");
    assert_eq!(
        ise.trusted_certificates().export("t1").await.expect("zip"),
        CERT_PEM
    );
    assert_eq!(
        ise.trusted_certificates().export("t2").await.expect("text"),
        CERT_PEM
    );
    assert_eq!(ise.request_counts().writes, 1);
}

#[tokio::test]
async fn ids_that_would_change_the_path_are_refused() {
    let (server, ise) = setup().await;
    assert!(matches!(
        ise.trusted_certificates().get("../x").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        ise.system_certificates("a/b").list(&[]).await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn deployment_info_mdm_counts() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/ers/config/deploymentinfo/getAllInfo"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ERSDeploymentInfo": {
            "networkAccessInfo": {"deploymentID": "d"},
            "mdmInfo": {"activeMdmServersCount": 1, "activeDesktopMdmServersCount": 0,
                        "activeMobileMdmServersCount": 1, "deploymentID": "d",
                        "nodeList": {"nodeAndScope": []}}}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mdm = ise.mdm_info().await.expect("mdm");
    assert_eq!(
        (
            mdm.active_mdm_servers_count,
            mdm.active_mobile_mdm_servers_count
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn ers_csrf_fetch_use_and_refetch_after_403() {
    let server = wiremock::MockServer::start().await;
    let ise = ise_client::IseClient::builder()
        .base_url(server.uri())
        .credentials(USER, PASSWORD.to_owned().into())
        .tls(ise_client::TlsPolicy::System)
        .retry_policy(fast_retries())
        .ers_csrf(true)
        .build()
        .expect("client");
    // Token fetches hand out token-1, then token-2.
    Mock::given(method("GET"))
        .and(path("/ers/config/op/systemconfig/iseversion"))
        .and(wiremock::matchers::header("X-CSRF-Token", "fetch"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-CSRF-Token", "token-1")
                .set_body_json(json!({"OperationResult": {"resultValue": []}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ers/config/op/systemconfig/iseversion"))
        .and(wiremock::matchers::header("X-CSRF-Token", "fetch"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-CSRF-Token", "token-2")
                .set_body_json(json!({"OperationResult": {"resultValue": []}})),
        )
        .mount(&server)
        .await;
    // The first write with token-1 works; the second is refused as stale once.
    Mock::given(method("POST"))
        .and(path("/ers/config/networkdevicegroup"))
        .and(wiremock::matchers::header("X-CSRF-Token", "token-1"))
        .respond_with(ResponseTemplate::new(201))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/ers/config/networkdevicegroup"))
        .and(wiremock::matchers::header("X-CSRF-Token", "token-1"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"ERSResponse": {
            "operation": "POST-create-networkdevicegroup",
            "messages": [{"title": "CSRF nonce validation failed", "type": "ERROR", "code": "Application resource validation exception"}]}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/ers/config/networkdevicegroup"))
        .and(wiremock::matchers::header("X-CSRF-Token", "token-2"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let body = json!({"NetworkDeviceGroup": {"name": "Location#All Locations#Lab"}});
    ise.ers()
        .write(
            Method::POST,
            "/ers/config/networkdevicegroup",
            Some(body.clone()),
        )
        .await
        .expect("first write");
    ise.ers()
        .write(Method::POST, "/ers/config/networkdevicegroup", Some(body))
        .await
        .expect("write after refetch");
    let posts = received(&server, "POST", "/ers/config/networkdevicegroup").await;
    let tokens: Vec<_> = posts
        .iter()
        .map(|r| header(r, "x-csrf-token").unwrap_or_default())
        .collect();
    assert_eq!(tokens, ["token-1", "token-1", "token-2"]);
    let fetches = received(&server, "GET", "/ers/config/op/systemconfig/iseversion").await;
    assert_eq!(fetches.len(), 2);
}

#[tokio::test]
async fn every_error_shape_is_parsed() {
    use ise_client::ErrorShape::*;
    let cases: Vec<(u16, ResponseTemplate, ise_client::ErrorShape, &str, Option<&str>)> = vec![
        (400, ResponseTemplate::new(400).set_body_json(json!({"message": "HostName should not be null", "status": "Fail"})), MessageStatus, "HostName should not be null", Some("Fail")),
        (400, ResponseTemplate::new(400).set_body_json(json!({"response": {"status": "Fail", "message": "HostName should not be null", "id": null}, "version": "1.0.0"})), Response, "HostName should not be null", Some("Fail")),
        (500, ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "Internal error"}, "version": "1.0.0"})), ErrorMessage, "Internal error", None),
        (400, ResponseTemplate::new(400).set_body_json(json!({"ERSResponse": {"operation": "GET", "messages": [{"title": "Resource not found", "type": "ERROR", "code": "Resource not found exception"}], "link": {}}})), Ers, "Resource not found", None),
        (404, ResponseTemplate::new(404).set_body_string("<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>x</body></html>"), Html, "404 Not Found", None),
        (500, ResponseTemplate::new(500), Empty, "", None),
        (500, ResponseTemplate::new(500).set_body_string("plain failure"), Other, "plain failure", None),
    ];
    for (status, template, shape, message, status_text) in cases {
        let (server, ise) = setup().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/deployment/node"))
            .respond_with(template)
            .mount(&server)
            .await;
        match ise.nodes().await {
            Err(Error::Api {
                status: s,
                body,
                attempts,
                ..
            }) => {
                assert_eq!(s, status);
                assert_eq!(body.shape, shape);
                assert_eq!(body.message, message);
                assert_eq!(body.status.as_deref(), status_text);
                // A 500 on a read is transient: retried up to the policy's 3 attempts.
                assert_eq!(attempts, if status == 500 { 3 } else { 1 });
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
}

#[tokio::test]
async fn application_server_restart_502_is_retried_for_reads() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_string("<html><head><title>502 Bad Gateway</title></head></html>"),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response": []})))
        .mount(&server)
        .await;
    assert!(ise.nodes().await.expect("after restart").is_empty());
    assert_eq!(
        received(&server, "GET", "/api/v1/deployment/node")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn retries_are_bounded_and_imports_are_resent_only_after_checking_the_store() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/trusted-certificate/import"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    // The store is read before each further import: the certificate is not there.
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response": []})))
        .expect(2)
        .mount(&server)
        .await;
    assert!(matches!(
        ise.nodes().await,
        Err(Error::Api {
            status: 502,
            attempts: 3,
            ..
        })
    ));
    assert!(matches!(
        ise.trusted_certificates()
            .import(&intune_anchor_import())
            .await,
        Err(Error::Api {
            status: 502,
            attempts: 1,
            ..
        })
    ));
}

#[tokio::test]
async fn an_import_whose_answer_was_lost_is_confirmed_in_the_store_not_resent() {
    let (server, ise) = setup().await;
    let request = intune_anchor_import();
    let sha256 = request.sha256_hex().expect("one certificate");
    Mock::given(method("POST"))
        .and(path("/api/v1/certs/trusted-certificate/import"))
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/certs/trusted-certificate"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"response": [{
                "id": "b1f5c0de-0000-4000-8000-000000000001",
                "friendlyName": "DigiCert Global Root G2",
                "sha256Fingerprint": sha256.to_ascii_lowercase(),
            }]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        ise.trusted_certificates()
            .import(&request)
            .await
            .expect("confirmed"),
        ImportOutcome::Imported {
            id: Some("b1f5c0de-0000-4000-8000-000000000001".into()),
            message: "imported (confirmed in the trusted store after the answer was lost)".into(),
        }
    );
}

#[tokio::test]
async fn the_password_never_shows() {
    let (server, ise) = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployment/node"))
        .respond_with(ResponseTemplate::new(401).set_body_string(""))
        .mount(&server)
        .await;
    let err = ise.nodes().await.expect_err("401");
    let shown = format!(
        "{ise:?} {err} {err:?} {:?}",
        ExportKind::WithPrivateKey(PASSWORD.to_owned().into())
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("[REDACTED]"));
    assert!(err.to_string().contains("check the username and password"));
}

#[test]
fn builder_requires_tls_policy_and_credentials() {
    let b = || ise_client::IseClient::builder().base_url("https://ise.example.com");
    assert!(matches!(
        b().credentials(USER, PASSWORD.to_owned().into()).build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        b().tls(ise_client::TlsPolicy::System).build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        ise_client::IseClient::builder()
            .base_url("http://ise.example.com")
            .credentials(USER, PASSWORD.to_owned().into())
            .tls(ise_client::TlsPolicy::System)
            .build(),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        b().credentials(USER, PASSWORD.to_owned().into())
            .tls(ise_client::TlsPolicy::PinnedSha256("abcd".into()))
            .build(),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn ise_dates() {
    let d = ise_client::IseDate("Wed Jul 23 13:42:05 UTC 2025".into());
    let t = d.utc().expect("utc");
    assert_eq!(
        (
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        (2025, 7, 23, 13, 42, 5)
    );
    assert_eq!(
        ise_client::IseDate("Wed Jul  3 13:42:05 GMT 2025".into())
            .utc()
            .map(|t| t.day()),
        Some(3)
    );
    assert_eq!(
        ise_client::IseDate("Wed Jul 23 13:42:05 PDT 2025".into()).utc(),
        None
    );
    assert_eq!(ise_client::IseDate("garbage".into()).utc(), None);
}
