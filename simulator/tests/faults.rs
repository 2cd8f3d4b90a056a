//! Upserts, duplicate assignments, lost responses and the control API, by plain HTTP.

mod common;

use common::*;
use ise_intune_simulator::{Faults, Service, Simulator, parse_fault_spec};
use serde_json::json;

#[tokio::test]
async fn application_upsert_creates_once_and_needs_the_header() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let token = automation_token(&c, info).await;
    let url = format!("{}/applications(uniqueName='ise-intune-x')", info.graph_url);
    let patch = |prefer: bool| {
        let mut r = c
            .patch(&url)
            .bearer_auth(&token)
            .json(&json!({"displayName": "Cisco ISE"}));
        if prefer {
            r = r.header("Prefer", "create-if-missing");
        }
        r.send()
    };
    let missing = patch(false).await.expect("sent");
    assert_eq!(missing.status(), 404);
    let created = patch(true).await.expect("sent");
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.expect("json");
    assert_eq!(body["uniqueName"], "ise-intune-x");
    // Again, as after a lost answer or from a concurrent run: one application.
    assert_eq!(patch(true).await.expect("sent").status(), 204);
    let apps = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .filter(|a| a["uniqueName"] == "ise-intune-x")
        .count();
    assert_eq!(apps, 1);
    // The key is immutable once set.
    let changed = c
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"uniqueName": "other"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 400);
}

#[tokio::test]
async fn a_duplicate_assignment_is_the_real_400() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    let token = automation_token(&c, info).await;
    let snapshot = sim.snapshot();
    let sps = snapshot["servicePrincipals"]
        .as_array()
        .expect("sps")
        .clone();
    let id_of = |app_id: &str| {
        sps.iter()
            .find(|s| s["appId"] == app_id)
            .and_then(|s| s["id"].as_str())
            .expect("sp")
            .to_owned()
    };
    let graph = id_of(ise_intune_simulator::GRAPH_APP_ID);
    let automation = id_of(&info.automation.client_id);
    // The automation identity already holds Application.Read.All on Graph.
    let r = c
        .post(format!(
            "{}/servicePrincipals/{graph}/appRoleAssignedTo",
            info.graph_url
        ))
        .bearer_auth(&token)
        .json(&json!({"principalId": automation, "resourceId": graph,
            "appRoleId": ise_intune_simulator::ROLE_APPLICATION_READ_ALL}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Permission being assigned already exists on the object"
    );
}

#[tokio::test]
async fn a_lost_response_is_committed_and_logged() {
    let sim = Simulator::builder()
        .faults(
            Service::Ise,
            Faults {
                lost_response_rate: 1.0,
                ..Faults::default()
            },
        )
        .start()
        .await
        .expect("simulator");
    let info = sim.info();
    let c = http(info);
    let sent = c
        .get(format!("{}/api/v1/deployment/node", info.ise.url))
        .basic_auth(&info.ise.username, Some(&info.ise.password))
        .send()
        .await;
    assert!(sent.is_err(), "the answer must be lost");
    let log = sim.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status, log[0].fault), (200, Some("lost_response")));
}

#[tokio::test]
async fn the_control_api_sets_and_clears_faults() {
    let sim = sim().await;
    let info = sim.info();
    let c = http(info);
    assert!(info.control_url.starts_with("https://127.0.0.1:"));
    let put = |body: serde_json::Value| {
        c.put(format!("{}/faults", info.control_url))
            .json(&body)
            .send()
    };
    let r = put(json!({"ise": {"error_rate": 1, "error_status": 502}}))
        .await
        .expect("sent");
    assert_eq!(r.status(), 204);
    let node = || {
        c.get(format!("{}/api/v1/deployment/node", info.ise.url))
            .basic_auth(&info.ise.username, Some(&info.ise.password))
            .send()
    };
    assert_eq!(node().await.expect("sent").status(), 502);
    assert_eq!(put(json!({})).await.expect("sent").status(), 204);
    assert_eq!(node().await.expect("sent").status(), 200);
    let bad = put(json!({"ise": {"error_rate": 2}})).await.expect("sent");
    assert_eq!(bad.status(), 400);
    let snapshot: serde_json::Value = c
        .get(format!("{}/snapshot", info.control_url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(snapshot["tenant_id"], info.tenant_id.as_str());
}

#[test]
fn fault_specs_parse_and_refuse() {
    let (services, faults) = parse_fault_spec(
        "all:error_rate=0.2,error_status=429,retry_after=1,lost_response_rate=0.05,latency_ms=10",
    )
    .expect("valid");
    assert_eq!(services.len(), 4);
    assert_eq!(faults.error_status, 429);
    assert_eq!(faults.retry_after_secs, Some(1));
    assert_eq!(faults.lost_response_rate, 0.05);
    assert_eq!(faults.latency, std::time::Duration::from_millis(10));
    for bad in [
        "ise",
        "nowhere:error_rate=0.1",
        "ise:error_rate=1.5",
        "ise:error_status=418",
        "ise:colour=3",
        "graph:drop_rate=x",
    ] {
        assert!(parse_fault_spec(bad).is_err(), "{bad}");
    }
}
