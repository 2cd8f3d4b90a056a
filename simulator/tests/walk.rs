//! The seven steps done by hand against the simulator, and each classic mistake with
//! the failure ISE shows for it.

mod common;

use common::*;
use ise_intune_simulator::Simulator;
use serde_json::json;

const DEFAULT_SCOPE_AUDIENCE: &str = "https://api.manage.microsoft.com//.default";
const RESOURCE_AUDIENCE: &str = "https://api.manage.microsoft.com/";

#[tokio::test]
async fn full_manual_walk_ends_with_a_successful_test_connection() {
    let sim = sim().await;
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(ok, "{message}");
    assert_eq!(
        message,
        "Test Connection succeeded: connected to Microsoft Intune"
    );
    // Enabling it makes it visible in ERS deploymentinfo.
    let info = sim.info();
    let c = http(info);
    let ise = Ise { c: &c, info };
    let (s, v) = ise
        .post("/sim-gui/external-mdm/Intune/enable", &json!({}))
        .await;
    assert_eq!((s, v["success"].as_bool()), (200, Some(true)), "{v}");
    let (s, v) = ise.get("/ers/config/deploymentinfo/getAllInfo").await;
    assert_eq!(s, 200);
    assert_eq!(
        v["ERSDeploymentInfo"]["mdmInfo"]["activeMdmServersCount"],
        1
    );
    assert_eq!(sim.mdm_servers()[0].status, "Enabled");
}

#[tokio::test]
async fn an_unregistered_key_fails_the_token_request() {
    let sim = sim().await;
    let (ok, message, _) = walk(
        &sim,
        Skip::KeyUpload,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(message.starts_with("Connection Failed to the MDM server: Failed to acquire the access token (401): AADSTS700027"), "{message}");
}

#[tokio::test]
async fn missing_consent_fails_discovery() {
    let sim = sim().await;
    let (ok, message, _) = walk(
        &sim,
        Skip::Consent,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(
        message.contains("Unable to discover the Intune endpoint (403)"),
        "{message}"
    );
    assert!(message.contains("Application.Read.All"), "{message}");
}

#[tokio::test]
async fn a_missing_root_fails_with_the_trust_store_message() {
    let sim = sim().await;
    let (ok, message, _) = walk(
        &sim,
        Skip::RootImport,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert_eq!(
        message,
        "Connection Failed to the MDM server: There is a problem with the server Certificates or Cisco ISE trust store"
    );
}

#[tokio::test]
async fn a_wrong_audience_for_the_release_fails() {
    // ISE 3.3 asks the v2 endpoint with the audience as scope: without /.default it is refused.
    let sim = sim().await;
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        RESOURCE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(
        message.contains("AADSTS1002012") || message.contains("AADSTS70011"),
        "{message}"
    );

    // ISE 3.1 patch 5 asks the v1 endpoint with resource=: the //.default form is refused.
    let sim = Simulator::builder()
        .ise_version("3.1.0.518", 5)
        .start()
        .await
        .expect("sim");
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(message.contains("AADSTS500011"), "{message}");
    // ... and with the right audience for 3.1 patch 5 the token is issued, but the
    // release only speaks the retired NAC (v2) service: no compliance, ever.
    let sim = Simulator::builder()
        .ise_version("3.1.0.518", 5)
        .start()
        .await
        .expect("sim");
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        RESOURCE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(!message.contains("AADSTS"), "{message}");
    assert!(message.contains("answered 410"), "{message}");
    assert!(message.contains("retired"), "{message}");
}

#[tokio::test]
async fn the_retired_azure_ad_graph_url_fails() {
    let sim = sim().await;
    let url = format!("https://graph.windows.net{}", sim.info().tenant_id);
    let (ok, message, _) = walk(&sim, Skip::Nothing, &url, DEFAULT_SCOPE_AUDIENCE).await;
    assert!(!ok);
    assert!(message.contains("Azure AD Graph"), "{message}");
    assert!(message.contains("https://graph.microsoft.com"), "{message}");
}

#[tokio::test]
async fn releases_before_3_1_patch_3_cannot_use_graph() {
    let sim = Simulator::builder()
        .ise_version("3.0.0.458", 8)
        .start()
        .await
        .expect("sim");
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        RESOURCE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(
        message.contains("does not support Microsoft Graph"),
        "{message}"
    );
}

#[tokio::test]
async fn enabling_requires_a_passing_test() {
    let sim = sim().await;
    let (ok, _, _) = walk(
        &sim,
        Skip::RootImport,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    let info = sim.info();
    let c = http(info);
    let ise = Ise { c: &c, info };
    let (s, v) = ise
        .post("/sim-gui/external-mdm/Intune/enable", &json!({}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["success"], false);
    let (_, v) = ise.get("/ers/config/deploymentinfo/getAllInfo").await;
    assert_eq!(
        v["ERSDeploymentInfo"]["mdmInfo"]["activeMdmServersCount"],
        0
    );
}

/// ISE accepts an ECDSA Admin certificate and Graph registers it, but Entra ID refuses
/// the ES256 assertion ISE signs with it (AADSTS5002738).
#[tokio::test]
async fn an_ecdsa_admin_certificate_is_refused_by_the_token_service() {
    let sim = Simulator::builder()
        .ecdsa_admin_certificates(true)
        .replication_lag(std::time::Duration::from_millis(150))
        .start()
        .await
        .expect("simulator");
    let (ok, message, _) = walk(
        &sim,
        Skip::Nothing,
        "https://graph.microsoft.com",
        DEFAULT_SCOPE_AUDIENCE,
    )
    .await;
    assert!(!ok);
    assert!(
        message.starts_with(
            "Connection Failed to the MDM server: Failed to acquire the access token (400): \
             AADSTS5002738: Invalid JWT token. 'ES256' is not a supported signature algorithm. \
             Supported signing algorithms are: 'RS256, RS384, RS512' Trace ID: "
        ),
        "{message}"
    );
}
