//! Sovereign clouds as one setting: a simulator standing for the US Government cloud
//! onboards with `cloud = "usgov"` — the Graph scope, the Intune token audience in
//! ISE's entry and ISE's own Test Connection all use that cloud's names — and refuses
//! a commercial scope or resource as Entra does (AADSTS500011).

use std::sync::Arc;
use std::time::Duration;

use ise_intune::graph_client::{self, Cloud, Credentials, GraphClient, TlsRoots, TokenAudience};
use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::doctor::{self, ids};
use ise_intune::integration::{Integration, onboard};
use ise_intune_simulator::{SimInfo, Simulator};
use ise_intune_testkit::{self as sim, SimGuiConfigurator};

async fn simulator(cloud: &str) -> Simulator {
    Simulator::builder()
        .cloud(cloud)
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator")
}

/// The configuration an operator writes for `info` (`top` at its top, `entra` added to
/// its `[entra]` table), with the secrets from the environment.
fn config(info: &SimInfo, top: &str, entra: &str) -> IntegrationConfig {
    let text = sim::config_toml(info, top).replace("[entra]\n", &format!("[entra]\n{entra}"));
    let mut config = IntegrationConfig::from_toml(&text).expect("config");
    let (password, secret) = (
        info.ise.password.clone(),
        info.automation.client_secret.clone(),
    );
    config.apply_env(|k| match k {
        "ISE_INTUNE_ISE_PASSWORD" => Some(password.clone()),
        "ISE_INTUNE_CLIENT_SECRET" => Some(secret.clone()),
        _ => None,
    });
    config
}

/// The integration that configuration describes, with the simulator's GUI for step 6
/// and a short propagation wait.
fn from_config(info: &SimInfo, top: &str) -> Integration {
    let built = Integration::from_config(&config(info, top, "")).expect("integration");
    let mut options = built.options().clone();
    options.propagation_wait = Duration::from_secs(2);
    let gui = Arc::new(SimGuiConfigurator::new(built.ise().clone()));
    Integration::builder(built.ise().clone(), built.graph().clone())
        .anchors(built.anchors().clone())
        .configurator(gui)
        .options(options)
        .build()
}

fn graph(info: &SimInfo, cloud: Cloud) -> GraphClient {
    let root = ise_intune::integration::certs::Certificate::from_pem(&info.ca_pem).expect("root");
    GraphClient::builder()
        .cloud(cloud)
        .login_authority(info.login_url.clone())
        .graph_base(info.graph_url.clone())
        .tenant_id(info.tenant_id.clone())
        .credentials(Credentials::client_secret(
            info.automation.client_id.clone(),
            info.automation.client_secret.clone(),
        ))
        .tls_roots(TlsRoots::Only(vec![root.der().to_vec()]))
        .build()
        .expect("graph client")
}

#[tokio::test]
async fn a_usgov_simulator_onboards_with_cloud_usgov_and_refuses_commercial_names() {
    let sim = simulator("usgov").await;
    let info = sim.info();
    assert_eq!(info.cloud, "usgov");

    let ctx = from_config(info, "cloud = \"usgov\"");
    assert_eq!(ctx.graph().cloud(), Cloud::UsGov);
    assert_eq!(
        ctx.graph().graph_scope(),
        &TokenAudience::Scope("https://graph.microsoft.us/.default".into())
    );
    let report = onboard::apply(&ctx).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
    // ISE's entry carries the US Government Intune audience, and ISE's own Test
    // Connection (Graph token for its Auto Discovery URL's scope, then Intune) passes.
    let entry = sim.mdm_servers().into_iter().next().expect("entry");
    assert_eq!(
        entry.token_audience,
        "https://api.manage.microsoft.us//.default"
    );
    sim.test_connection(&entry.name)
        .await
        .expect("Test Connection");
    let d = doctor::diagnose(&ctx).await.expect("doctor");
    assert_eq!(d.with_id(ids::CLOUD_UNCONFIRMED).count(), 0);
    assert!(!d.has_errors(), "{d:#?}");

    // A commercial scope is another cloud's: Entra refuses it.
    let commercial = graph(info, Cloud::Global);
    match commercial.graph_roles().await {
        Err(graph_client::Error::Token { status, body, .. }) => {
            assert_eq!(status, 400);
            assert_eq!(body.error, "invalid_resource");
            assert!(
                body.error_description.starts_with(
                    "AADSTS500011: The resource principal named https://graph.microsoft.com was \
                     not found in the tenant named"
                ),
                "{}",
                body.error_description
            );
        }
        other => panic!("expected AADSTS500011, got {other:?}"),
    }
    // So is the commercial Intune API.
    let usgov = graph(info, Cloud::UsGov);
    assert!(
        usgov
            .access_token(&TokenAudience::Scope(
                "https://api.manage.microsoft.com//.default".into()
            ))
            .await
            .is_err()
    );
    assert!(
        usgov
            .access_token(&TokenAudience::Scope(
                "https://api.manage.microsoft.us//.default".into()
            ))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unconfirmed_value_is_warned_about_until_it_is_set() {
    let sim = simulator("usgov-dod").await;
    let ctx = from_config(sim.info(), "cloud = \"usgov-dod\"");
    let warnings = ctx.graph().cloud_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("intune_resource"), "{warnings:?}");
    let plan = onboard::plan(&ctx).await.expect("plan").changes();
    assert!(
        plan[0]
            .detail
            .contains("warning: cloud `usgov-dod`: the Intune API resource"),
        "{}",
        plan[0].detail
    );
    let d = doctor::diagnose(&ctx).await.expect("doctor");
    assert_eq!(d.with_id(ids::CLOUD_UNCONFIRMED).count(), 1);

    // Confirmed and set explicitly: no warning.
    let config = config(
        sim.info(),
        "cloud = \"usgov-dod\"",
        "intune_resource = \"https://api.manage.microsoft.us/\"\n",
    );
    let confirmed = Integration::from_config(&config).expect("integration");
    assert!(confirmed.graph().cloud_warnings().is_empty());
}
