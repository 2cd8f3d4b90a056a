//! Keeping an integration healthy, against the simulator: ISE's view of a device,
//! doctor, certificate rotation and trust sync.

use std::time::Duration;

use ise_intune::graph_client;
use ise_intune::integration::Error;
use ise_intune::integration::compliance::{ComplianceClient, Device};
use ise_intune::integration::pipeline::Options;
use ise_intune::integration::steps::{app_details, export_admin_certificates, register_app};
use ise_intune::integration::verify::{AdminKey, node_client_certificate};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};
use serde_json::Value;

const APP: &str = "Cisco ISE Intune integration";

async fn onboarded(builder: ise_intune_simulator::SimulatorBuilder) -> Simulator {
    let sim = builder
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let report = sim::onboarding(sim.info(), Configurator::Gui, true, Options::default())
        .expect("pipeline")
        .apply()
        .await
        .expect("onboarding");
    assert!(report.complete, "{report:#?}");
    sim
}

/// The compliance client as `host` uses it: its own exported key.
async fn as_node(sim: &Simulator, host: &str) -> ComplianceClient {
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let app = register_app(&graph, APP).await.expect("app").value;
    let client_id = app_details(&graph, &app).client_id;
    let admins = export_admin_certificates(&ise).await.expect("export").value;
    let admin = admins
        .iter()
        .find(|a| a.node.hostname == host)
        .expect("node");
    let cert = node_client_certificate(&ise, &client_id, &AdminKey::ExportFromIse, Some(admin))
        .await
        .expect("node key");
    let node = graph.with_credentials(graph_client::Credentials::Certificate(cert));
    ComplianceClient::discover(
        node,
        graph_client::TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()),
    )
    .await
    .expect("discovery")
}

#[tokio::test]
async fn devices_by_guid_and_mac_and_the_noncompliant_list_through_every_page() {
    let sim = onboarded(Simulator::builder().devices(1200)).await;
    let intune = as_node(&sim, "ise-psn").await;
    let info = intune.mdm_info().await.expect("mdminfo");
    assert_eq!((info.api_version, info.query_max_size), (3, 100));
    assert!(
        info.api_path.ends_with(
            "/TrafficGateway/TrafficRoutingService/ResourceAccess/ComplianceRetrievalService/cisco"
        ),
        "{}",
        info.api_path
    );

    let snapshot = sim.snapshot();
    let seeded: Vec<Value> = snapshot["intune"]["devices"]
        .as_array()
        .expect("devices")
        .clone();
    let expected: Vec<String> = seeded
        .iter()
        .filter(|d| d["compliant"] == false)
        .map(|d| d["guid"].as_str().expect("guid").to_owned())
        .collect();
    assert!(expected.len() > 250, "several pages: {}", expected.len());

    let noncompliant = intune.noncompliant().await.expect("poll");
    let got: Vec<String> = noncompliant.iter().map(|d| d.guid.clone()).collect();
    assert_eq!(got, expected);
    assert!(noncompliant.iter().all(|d| !d.compliant));
    let pages = sim
        .request_log()
        .iter()
        .filter(|r| r.service == "intune" && r.path.ends_with("/cisco/devices/"))
        .count();
    assert_eq!(pages, expected.len().div_ceil(100));

    let one = &seeded[7];
    let by_guid: Device = intune
        .device_by_guid(one["guid"].as_str().expect("guid"))
        .await
        .expect("by guid")
        .expect("known");
    let mac = one["mac"].as_str().expect("mac");
    let colons: String = mac
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(":");
    let by_mac = intune
        .device_by_mac(&colons)
        .await
        .expect("by mac")
        .expect("known");
    assert_eq!(by_guid, by_mac);
    assert_eq!(
        (
            by_guid.guid.as_str(),
            by_guid.mac.as_deref(),
            by_guid.registered,
            by_guid.compliant
        ),
        (
            one["guid"].as_str().expect("guid"),
            Some(mac),
            one["registered"].as_bool().expect("registered"),
            one["compliant"].as_bool().expect("compliant")
        )
    );
    assert_eq!(
        intune
            .device_by_guid("00000000-0000-4000-8000-000000000000")
            .await
            .expect("unknown guid"),
        None
    );
    assert!(matches!(
        intune.device_by_mac("not-a-mac").await,
        Err(Error::Compliance { .. })
    ));
}
