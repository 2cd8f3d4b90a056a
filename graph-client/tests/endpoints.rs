//! One test per Graph endpoint: the exact request sent, and a Graph-shaped answer decoded.

mod common;

use common::*;
use graph_client::well_known::*;
use graph_client::{
    ApplicationUpdate, CertificateKey, Change, Error, KeySelector, ListOptions, NewApplication,
    RequiredResourceAccess, ResourceAccess,
};
use serde_json::json;
use wiremock::matchers::{body_json as body_is, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn assert_graph_headers(r: &wiremock::Request) {
    assert_eq!(
        r.headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        r.headers.get("accept").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let id = r
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("client-request-id sent");
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "4", "a v4 UUID: {id}");
}

fn app_json(id: &str, app_id: &str, name: &str) -> serde_json::Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
        "id": id, "appId": app_id, "displayName": name, "signInAudience": "AzureADMyOrg",
        "createdDateTime": "2026-11-27T00:00:00Z", "keyCredentials": [], "requiredResourceAccess": [],
        "web": {"redirectUris": []}, "unknownFutureField": 7
    })
}

#[tokio::test]
async fn client_secret_token_request_is_exact() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            {"id": TENANT, "displayName": "Contoso", "verifiedDomains": [
                {"name": "contoso.onmicrosoft.com", "isDefault": true, "isInitial": true}]}
        ]})))
        .mount(&server)
        .await;
    let org = graph.organization().await.expect("organization");
    assert_eq!(org.id, TENANT);
    assert_eq!(org.display_name, "Contoso");
    assert!(org.verified_domains[0].is_default);

    let tokens = received(&server, "POST", &token_path()).await;
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(
        t.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&t.body).into_owned().collect();
    assert_eq!(
        form,
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "scope".into(),
                "https://graph.microsoft.com/.default".into()
            ),
            ("client_id".into(), "automation-app".into()),
            ("client_secret".into(), SECRET.into()),
        ]
    );
    let gets = received(&server, "GET", "/v1.0/organization").await;
    assert_graph_headers(&gets[0]);
    assert_eq!(graph.request_counts().reads, 1);
    assert_eq!(graph.request_counts().tokens, 1);
}

#[tokio::test]
async fn list_applications_by_display_name_escapes_quotes() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(query_param("$filter", "displayName eq 'Bob''s ISE'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications",
            "value": [app_json("obj-1", "app-1", "Bob's ISE")]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let apps = graph
        .applications()
        .find_by_display_name("Bob's ISE")
        .await
        .expect("list");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].app_id, "app-1");
    let r = &received(&server, "GET", "/v1.0/applications").await[0];
    assert_eq!(
        r.url.query(),
        Some("$filter=displayName%20eq%20%27Bob%27%27s%20ISE%27")
    );
    assert_graph_headers(r);
}

#[tokio::test]
async fn list_with_select_and_top() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let apps = graph
        .applications()
        .list(
            &ListOptions::default()
                .filter("appId eq 'x'")
                .select(["id", "appId"])
                .top(5),
        )
        .all()
        .await
        .expect("list");
    assert!(apps.is_empty());
    let r = &received(&server, "GET", "/v1.0/applications").await[0];
    assert_eq!(
        r.url.query(),
        Some("$filter=appId%20eq%20%27x%27&$select=id%2CappId&$top=5")
    );
}

#[tokio::test]
async fn find_by_app_id() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications"))
        .and(query_param("$filter", "appId eq 'app-9'"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [app_json("obj-9", "app-9", "ISE")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let app = graph
        .applications()
        .find_by_app_id("app-9")
        .await
        .expect("find");
    assert_eq!(app.map(|a| a.id).as_deref(), Some("obj-9"));
}

#[tokio::test]
async fn get_application() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(app_json("obj-1", "app-1", "ISE")))
        .expect(1)
        .mount(&server)
        .await;
    let app = graph.applications().get("obj-1").await.expect("get");
    assert_eq!(
        (
            app.id.as_str(),
            app.app_id.as_str(),
            app.display_name.as_str()
        ),
        ("obj-1", "app-1", "ISE")
    );
    assert_eq!(app.sign_in_audience.as_deref(), Some("AzureADMyOrg"));
}

#[tokio::test]
async fn create_application_sends_single_tenant_body() {
    let (server, graph) = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/applications"))
        .and(body_is(
            json!({"displayName": "Cisco ISE", "signInAudience": "AzureADMyOrg"}),
        ))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(app_json(
            "obj-2",
            "app-2",
            "Cisco ISE",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let app = graph
        .applications()
        .create(&NewApplication::single_tenant("Cisco ISE"))
        .await
        .expect("create");
    assert_eq!(app.id, "obj-2");
    assert_graph_headers(&received(&server, "POST", "/v1.0/applications").await[0]);
    assert_eq!(graph.request_counts().writes, 1);
}

#[tokio::test]
async fn update_and_delete_application() {
    let (server, graph) = setup().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .and(body_is(
            json!({"displayName": "Cisco ISE (prod)", "tags": ["team-a", "ise-intune-managed"]}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    graph
        .applications()
        .update(
            "obj-1",
            &ApplicationUpdate {
                display_name: Some("Cisco ISE (prod)".into()),
                notes: None,
                unique_name: None,
                tags: Some(vec!["team-a".into(), "ise-intune-managed".into()]),
            },
        )
        .await
        .expect("update");
    graph.applications().delete("obj-1").await.expect("delete");
    Mock::given(method("DELETE"))
        .and(path("/v1.0/servicePrincipals/sp-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    graph
        .service_principals()
        .delete("sp-1")
        .await
        .expect("delete the service principal");
}

const KEY_A: &str = "MIIBAAAAAQ=="; // arbitrary bytes standing for a DER certificate
const KEY_B: &str = "MIIBAAAAAg==";

fn existing_keys() -> serde_json::Value {
    json!({"@odata.context": "...", "id": "obj-1", "keyCredentials": [
        {"customKeyIdentifier": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "displayName": "CN=other-a",
         "endDateTime": "2027-01-01T00:00:00Z", "key": KEY_A, "keyId": "key-a",
         "startDateTime": "2025-01-01T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"},
        {"customKeyIdentifier": null, "displayName": "CN=other-b",
         "endDateTime": "2028-01-01T00:00:00Z", "key": KEY_B, "keyId": "key-b",
         "startDateTime": "2025-06-01T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"}
    ]})
}

fn ise_key() -> CertificateKey {
    CertificateKey {
        der: vec![0x30, 0x03, 0x02, 0x01, 0x07],
        display_name: "CN=ise.example.test".into(),
        start_date_time: Some("2026-11-27T00:22:33Z".into()),
        end_date_time: Some("2028-11-26T00:22:33Z".into()),
    }
}

async fn mount_keys(server: &wiremock::MockServer, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-1"))
        .and(query_param("$select", "keyCredentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn read_key_credentials_with_select() {
    let (server, graph) = setup().await;
    mount_keys(&server, existing_keys()).await;
    let keys = graph
        .application("obj-1")
        .key_credentials()
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].key_id.as_deref(), Some("key-a"));
    assert_eq!(keys[0].key.as_deref(), Some(KEY_A));
    assert_eq!(keys[0].thumbprint_hex().map(|t| t.len()), Some(40));
    let r = &received(&server, "GET", "/v1.0/applications/obj-1").await[0];
    assert_eq!(r.url.query(), Some("$select=keyCredentials"));
}

#[tokio::test]
async fn add_certificate_keeps_two_existing_keys() {
    let (server, graph) = setup().await;
    mount_keys(&server, existing_keys()).await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let change = graph
        .application("obj-1")
        .add_certificate(&ise_key())
        .await
        .expect("merge");
    assert!(matches!(change, Change::Updated(ref k) if k.len() == 3));
    let patch = &received(&server, "PATCH", "/v1.0/applications/obj-1").await[0];
    assert_eq!(
        body_json(patch),
        json!({"keyCredentials": [
            {"customKeyIdentifier": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "displayName": "CN=other-a",
             "endDateTime": "2027-01-01T00:00:00Z", "key": KEY_A, "keyId": "key-a",
             "startDateTime": "2025-01-01T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"},
            {"displayName": "CN=other-b",
             "endDateTime": "2028-01-01T00:00:00Z", "key": KEY_B, "keyId": "key-b",
             "startDateTime": "2025-06-01T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"},
            {"displayName": "CN=ise.example.test", "key": "MAMCAQc=",
             "startDateTime": "2026-11-27T00:22:33Z", "endDateTime": "2028-11-26T00:22:33Z",
             "type": "AsymmetricX509Cert", "usage": "Verify"}
        ]})
    );
}

#[tokio::test]
async fn add_certificate_is_a_no_op_when_the_thumbprint_is_registered() {
    let (server, graph) = setup().await;
    let mut body = existing_keys();
    body["keyCredentials"][1]["key"] = json!("MAMCAQc=");
    mount_keys(&server, body).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let change = graph
        .application("obj-1")
        .add_certificate(&ise_key())
        .await
        .expect("merge");
    assert!(matches!(change, Change::Unchanged(_)));
    assert_eq!(graph.request_counts().writes, 0);
}

#[tokio::test]
async fn a_key_without_material_is_never_dropped() {
    let (server, graph) = setup().await;
    let mut body = existing_keys();
    body["keyCredentials"][0]["key"] = serde_json::Value::Null;
    mount_keys(&server, body).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let err = graph
        .application("obj-1")
        .add_certificate(&ise_key())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::KeyMaterialUnavailable { ref key_id } if key_id == "key-a"));
}

#[tokio::test]
async fn remove_key_by_id_and_by_thumbprint() {
    let (server, graph) = setup().await;
    mount_keys(&server, existing_keys()).await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let change = graph
        .application("obj-1")
        .remove_key(&KeySelector::KeyId("key-a".into()))
        .await
        .expect("remove");
    assert!(change.is_write());
    let patch = &received(&server, "PATCH", "/v1.0/applications/obj-1").await[0];
    let sent = body_json(patch);
    assert_eq!(sent["keyCredentials"].as_array().map(Vec::len), Some(1));
    assert_eq!(sent["keyCredentials"][0]["keyId"], "key-b");

    let unchanged = graph
        .application("obj-1")
        .remove_key(&KeySelector::Thumbprint([9; 20]))
        .await
        .expect("nothing to remove");
    assert!(matches!(unchanged, Change::Unchanged(ref k) if k.len() == 2));
}

fn intune_and_graph_access() -> Vec<RequiredResourceAccess> {
    vec![
        RequiredResourceAccess {
            resource_app_id: INTUNE_API_APP_ID.into(),
            resource_access: vec![ResourceAccess::role(GET_DEVICE_COMPLIANCE_ROLE_ID)],
        },
        RequiredResourceAccess {
            resource_app_id: MICROSOFT_GRAPH_APP_ID.into(),
            resource_access: vec![ResourceAccess::role(APPLICATION_READ_ALL_ROLE_ID)],
        },
    ]
}

#[tokio::test]
async fn merge_required_resource_access_keeps_other_entries() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-1"))
        .and(query_param("$select", "requiredResourceAccess"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"requiredResourceAccess": [
                {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [
                    {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}
            ]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let change = graph
        .application("obj-1")
        .merge_required_resource_access(&intune_and_graph_access())
        .await
        .expect("merge");
    assert_eq!(change.label(), "updated");
    let patch = &received(&server, "PATCH", "/v1.0/applications/obj-1").await[0];
    assert_eq!(
        body_json(patch),
        json!({"requiredResourceAccess": [
            {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [
                {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"},
                {"id": APPLICATION_READ_ALL_ROLE_ID, "type": "Role"}]},
            {"resourceAppId": INTUNE_API_APP_ID, "resourceAccess": [
                {"id": GET_DEVICE_COMPLIANCE_ROLE_ID, "type": "Role"}]}
        ]})
    );
}

#[tokio::test]
async fn merge_required_resource_access_unchanged_writes_nothing() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "requiredResourceAccess": serde_json::to_value(intune_and_graph_access()).expect("json")
        })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let change = graph
        .application("obj-1")
        .merge_required_resource_access(&intune_and_graph_access())
        .await
        .expect("merge");
    assert!(!change.is_write());
}

fn sp_json(id: &str, app_id: &str) -> serde_json::Value {
    json!({"id": id, "appId": app_id, "displayName": "Microsoft Intune API",
           "servicePrincipalType": "Application",
           "appRoles": [{"allowedMemberTypes": ["Application"], "description": "d",
                         "displayName": "Get device state and compliance information from Microsoft Intune",
                         "id": GET_DEVICE_COMPLIANCE_ROLE_ID, "isEnabled": true, "origin": "Application",
                         "value": GET_DEVICE_COMPLIANCE}]})
}

#[tokio::test]
async fn service_principal_by_app_id_get_and_create() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1.0/servicePrincipals(appId='{INTUNE_API_APP_ID}')"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(sp_json("sp-intune", INTUNE_API_APP_ID)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/servicePrincipals(appId='app-new')"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "Request_ResourceNotFound",
            "message": "Resource 'app-new' does not exist or one of its queried reference-property objects are not present.",
            "innerError": {"date": "2026-11-27T00:00:00", "request-id": "r-1", "client-request-id": "c-1"}}})))
        .mount(&server)
        .await;
    // Missing: upserted by appId, so a lost answer or a concurrent run cannot make two.
    Mock::given(method("PATCH"))
        .and(path("/v1.0/servicePrincipals(appId='app-new')"))
        .and(header("Prefer", "create-if-missing"))
        .and(body_is(json!({})))
        .respond_with(ResponseTemplate::new(201).set_body_json(sp_json("sp-new", "app-new")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/servicePrincipals/sp-intune"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(sp_json("sp-intune", INTUNE_API_APP_ID)),
        )
        .expect(1)
        .mount(&server)
        .await;

    let sps = graph.service_principals();
    let intune = sps
        .by_app_id(INTUNE_API_APP_ID)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        intune
            .app_role_by_value(GET_DEVICE_COMPLIANCE)
            .map(|r| r.id.as_str()),
        Some(GET_DEVICE_COMPLIANCE_ROLE_ID)
    );
    let created = sps.ensure("app-new").await.expect("ensure");
    assert!(matches!(created, Change::Created(ref sp) if sp.id == "sp-new"));
    assert_eq!(
        sps.get("sp-intune").await.expect("get").app_id,
        INTUNE_API_APP_ID
    );
}

fn assignment(resource: &str, role: &str) -> serde_json::Value {
    json!({"id": "asg-1", "appRoleId": role, "principalId": "sp-ise", "principalDisplayName": "Cisco ISE",
           "principalType": "ServicePrincipal", "resourceId": resource,
           "resourceDisplayName": "Microsoft Intune API", "createdDateTime": "2026-11-27T00:00:00Z",
           "deletedDateTime": null})
}

#[tokio::test]
async fn grant_app_role_creates_the_assignment_once() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/servicePrincipals/sp-ise/appRoleAssignments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            assignment("sp-graph", APPLICATION_READ_ALL_ROLE_ID)]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/servicePrincipals/sp-intune/appRoleAssignedTo"))
        .and(body_is(
            json!({"principalId": "sp-ise", "resourceId": "sp-intune",
                           "appRoleId": GET_DEVICE_COMPLIANCE_ROLE_ID}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(assignment("sp-intune", GET_DEVICE_COMPLIANCE_ROLE_ID)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ise = graph.service_principal("sp-ise");
    let created = ise
        .grant_app_role("sp-intune", GET_DEVICE_COMPLIANCE_ROLE_ID)
        .await
        .expect("grant");
    assert!(matches!(created, Change::Created(ref a) if a.resource_id == "sp-intune"));
    let existing = ise
        .grant_app_role("sp-graph", APPLICATION_READ_ALL_ROLE_ID)
        .await
        .expect("already granted");
    assert!(matches!(existing, Change::Unchanged(_)));
}

#[tokio::test]
async fn list_app_role_assigned_to() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/servicePrincipals/sp-intune/appRoleAssignedTo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [
            assignment("sp-intune", GET_DEVICE_COMPLIANCE_ROLE_ID)]})))
        .expect(1)
        .mount(&server)
        .await;
    let list = graph
        .service_principal("sp-intune")
        .app_role_assigned_to()
        .expect("handle")
        .all()
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].principal_id, "sp-ise");
    assert_eq!(list[0].app_role_id, GET_DEVICE_COMPLIANCE_ROLE_ID);
}

#[tokio::test]
async fn intune_discovery_endpoints() {
    let (server, graph) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/servicePrincipals/appId={INTUNE_DISCOVERY_APP_ID}/endpoints")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals('...')/endpoints",
            "value": [
                {"id": "e1", "capability": "NACAPIService", "providerId": null,
                 "providerName": "NACAPIService", "providerResourceId": null,
                 "uri": "https://fef.msub03.manage.microsoft.com/TrafficGateway/TrafficRoutingService/NACAPI/NACAPIService"},
                {"id": "e2", "capability": "ComplianceRetrievalService", "providerId": null,
                 "providerName": "ComplianceRetrievalService", "providerResourceId": null,
                 "uri": "https://fef.msub03.manage.microsoft.com/TrafficGateway/TrafficRoutingService/ComplianceRetrievalService"}
            ]})))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = graph.intune_endpoints().await.expect("endpoints");
    let v3 = endpoints
        .iter()
        .find(|e| e.provider_name == COMPLIANCE_RETRIEVAL_SERVICE)
        .expect("v3 endpoint");
    assert!(v3.uri.ends_with("/ComplianceRetrievalService"));
    assert_eq!(endpoints.len(), 2);
}

#[tokio::test]
async fn application_upsert_by_unique_name() {
    let (server, graph) = setup().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications(uniqueName='ise-intune-x')"))
        .and(header("Prefer", "create-if-missing"))
        .and(body_is(
            json!({"displayName": "Cisco ISE", "signInAudience": "AzureADMyOrg"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "obj-9", "appId": "app-9", "displayName": "Cisco ISE", "uniqueName": "ise-intune-x"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications(uniqueName='ise-intune-x')"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/applications(uniqueName='ise-intune-y')"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": "Request_ResourceNotFound", "message": "Resource 'ise-intune-y' does not exist"}})))
        .mount(&server)
        .await;
    let apps = graph.applications();
    let new = NewApplication::single_tenant("Cisco ISE");
    match apps.upsert("ise-intune-x", &new).await.expect("create") {
        Change::Created(Some(app)) => {
            assert_eq!(
                (app.id.as_str(), app.unique_name.as_deref()),
                ("obj-9", Some("ise-intune-x"))
            )
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert!(matches!(
        apps.upsert("ise-intune-x", &new).await.expect("exists"),
        Change::Updated(None)
    ));
    assert_eq!(
        apps.get_by_unique_name("ise-intune-y", false)
            .await
            .expect("absent"),
        None
    );
}

#[tokio::test]
async fn a_duplicate_assignment_is_unchanged_not_an_error() {
    let (server, graph) = setup().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/servicePrincipals/sp-intune/appRoleAssignedTo"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "Request_BadRequest",
            "message": "Permission being assigned already exists on the object"}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/servicePrincipals/sp-ise/appRoleAssignments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let got = graph
        .service_principal("sp-ise")
        .assign_app_role("sp-intune", GET_DEVICE_COMPLIANCE_ROLE_ID)
        .await
        .expect("duplicate is fine");
    match got {
        Change::Unchanged(a) => assert_eq!(
            (
                a.resource_id.as_str(),
                a.app_role_id.as_str(),
                a.principal_id.as_str()
            ),
            ("sp-intune", GET_DEVICE_COMPLIANCE_ROLE_ID, "sp-ise")
        ),
        other => panic!("unexpected: {other:?}"),
    }
}

/// Keys already known (as Graph answered a create) are merged without a read: one
/// PATCH with the known keys and the new one, no GET.
#[tokio::test]
async fn add_certificates_to_known_keys_sends_no_read() {
    let (server, graph) = setup().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let known: Vec<graph_client::KeyCredential> =
        serde_json::from_value(existing_keys()["keyCredentials"].clone()).expect("keys");
    let change = graph
        .application("obj-1")
        .add_certificates_to(known, &[ise_key()])
        .await
        .expect("merge");
    assert!(matches!(change, Change::Updated(ref k) if k.len() == 3));
    assert!(
        received(&server, "GET", "/v1.0/applications/obj-1")
            .await
            .is_empty()
    );
    let patch = &received(&server, "PATCH", "/v1.0/applications/obj-1").await[0];
    let keys = body_json(patch)["keyCredentials"].clone();
    assert_eq!(keys[0]["keyId"], "key-a");
    assert_eq!(keys[1]["keyId"], "key-b");
    assert_eq!(keys[2]["displayName"], "CN=ise.example.test");
    assert_eq!(keys[2]["key"], "MAMCAQc=");
    // A known key without its material is refused, never dropped; nothing is sent.
    let mut bare: Vec<graph_client::KeyCredential> =
        serde_json::from_value(existing_keys()["keyCredentials"].clone()).expect("keys");
    bare[1].key = None;
    let refused = graph
        .application("obj-1")
        .add_certificates_to(bare, &[ise_key()])
        .await;
    assert!(
        matches!(refused, Err(Error::KeyMaterialUnavailable { .. })),
        "{refused:?}"
    );
    assert_eq!(
        received(&server, "PATCH", "/v1.0/applications/obj-1")
            .await
            .len(),
        1
    );
}

/// A known `requiredResourceAccess` (empty, as for an application created just now)
/// is merged without a read; one already complete writes nothing.
#[tokio::test]
async fn merge_into_known_access_sends_no_read() {
    let (server, graph) = setup().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/applications/obj-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let handle = graph.application("obj-1");
    let change = handle
        .merge_required_resource_access_into(Vec::new(), &intune_and_graph_access())
        .await
        .expect("merge");
    assert_eq!(change.label(), "updated");
    let unchanged = handle
        .merge_required_resource_access_into(
            intune_and_graph_access().to_vec(),
            &intune_and_graph_access(),
        )
        .await
        .expect("merge");
    assert!(!unchanged.is_write());
    assert!(
        received(&server, "GET", "/v1.0/applications/obj-1")
            .await
            .is_empty()
    );
    let patch = &received(&server, "PATCH", "/v1.0/applications/obj-1").await[0];
    assert_eq!(
        body_json(patch),
        json!({"requiredResourceAccess": serde_json::to_value(intune_and_graph_access()).expect("json")})
    );
}

#[tokio::test]
async fn managed_devices_are_read_a_page_at_a_time_selecting_only_what_is_needed() {
    let (server, graph) = setup().await;
    let next = format!(
        "{}/v1.0/deviceManagement/managedDevices?$skiptoken=page-2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/v1.0/deviceManagement/managedDevices"))
        .and(query_param("$skiptoken", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "d2", "wiFiMacAddress": null, "ethernetMacAddress": "00155D000002",
                "jailBroken": "Unknown", "isEncrypted": true, "unknownFutureField": 1}]})))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/deviceManagement/managedDevices"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices",
            "@odata.nextLink": next,
            "value": [{"id": "d1", "deviceName": "WIN-1", "managedDeviceOwnerType": "personal",
                "operatingSystem": "Windows", "osVersion": "10.0.26100.2314",
                "lastSyncDateTime": "2026-12-06T08:00:00Z", "complianceState": "noncompliant",
                "jailBroken": "Unknown", "isEncrypted": false,
                "azureADDeviceId": "5f1b1c2e-0000-4000-8000-000000000001",
                "wiFiMacAddress": "0050561D3C64", "ethernetMacAddress": null}]})))
        .expect(1)
        .mount(&server)
        .await;
    let since = time::macros::datetime!(2026-12-05 23:30:15.250 UTC);
    let mut pages = graph.managed_devices(&graph_client::ManagedDeviceQuery::changed_since(since));
    let first = pages.next_page().await.expect("page 1").expect("a page");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, "d1");
    assert_eq!(
        first[0].managed_device_owner_type.as_deref(),
        Some("personal")
    );
    assert_eq!(first[0].wifi_mac_address.as_deref(), Some("0050561D3C64"));
    assert_eq!(
        first[0].azure_ad_device_id.as_deref(),
        Some("5f1b1c2e-0000-4000-8000-000000000001")
    );
    assert_eq!(first[0].is_encrypted, Some(false));
    let second = pages.next_page().await.expect("page 2").expect("a page");
    assert_eq!(
        second[0].ethernet_mac_address.as_deref(),
        Some("00155D000002")
    );
    assert_eq!(second[0].wifi_mac_address, None);
    assert!(pages.next_page().await.expect("end").is_none());

    // The exact first request: the properties used, Intune's page size, the filter.
    let gets = received(&server, "GET", "/v1.0/deviceManagement/managedDevices").await;
    assert_eq!(gets.len(), 2);
    assert_graph_headers(&gets[0]);
    let query: Vec<(String, String)> = gets[0].url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        vec![
            (
                "$filter".to_owned(),
                "lastSyncDateTime ge 2026-12-05T23:30:15Z".to_owned()
            ),
            (
                "$select".to_owned(),
                graph_client::MANAGED_DEVICE_PROPERTIES.join(",")
            ),
            ("$top".to_owned(), "1000".to_owned()),
        ]
    );
    // A full pass has no filter.
    let all = graph_client::ManagedDeviceQuery::all();
    assert_eq!(all.changed_since, None);
}
