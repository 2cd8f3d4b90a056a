//! Keeping an integration healthy, against the simulator: ISE's view of a device,
//! doctor, certificate rotation and trust sync.

use ise_intune::integration::{compliance, doctor, onboard, rotate, trust_sync};
use std::time::Duration;

use ise_intune::graph_client;
use ise_intune::integration::compliance::{ComplianceClient, Device};
use ise_intune::integration::context::Options;
use ise_intune::integration::doctor::{Diagnosis, Finding, Severity, ids};
use ise_intune::integration::keys::AdminKey;
use ise_intune::integration::outcome::{Outcome, StepName};
use ise_intune::integration::rotate::RenewedCertificate;
use ise_intune::integration::{Error, PartialReport};
use ise_intune::ise_client::TrustedCertificateUpdate;
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
    let ctx = sim::integration(sim.info(), Configurator::Gui, true, Options::default())
        .expect("pipeline");
    let report = onboard::apply(&ctx).await.expect("onboarding");
    assert!(report.complete, "{report:#?}");
    // A healthy integration enforces: its rules are in ISE's policy.
    ise_intune::integration::enforce::apply(&ctx)
        .await
        .expect("enforce");
    sim
}

/// The compliance client as `host` uses it: its own exported key.
async fn as_node(sim: &Simulator, host: &str) -> ComplianceClient {
    let node = sim::as_node_graph(sim.info(), APP, host)
        .await
        .expect("the node's Graph");
    ise_intune::integration::compliance::discover(
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
        intune.device_by_mac("not-a-mac").await.map_err(Error::from),
        Err(Error::Compliance { .. })
    ));
}

/// Options for doctor and rotation: opted in to the checks that act as a node, so
/// that ISE's Test Connection is reproduced as each policy service node.
fn quick() -> Options {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    o.admin_key = AdminKey::ExportFromIse;
    o
}

fn private_key_exports(sim: &Simulator) -> u64 {
    sim.snapshot()["ise"]["private_key_exports"]
        .as_u64()
        .expect("private_key_exports")
}

/// Doctor without the opt-in: no private key leaves ISE, the public checks still give
/// the verdict, and what needs a node's key is one info finding.
async fn diagnose_without_keys(sim: &Simulator) -> Diagnosis {
    let mut o = quick();
    o.admin_key = AdminKey::None;
    doctor::diagnose(&sim::integration(sim.info(), Configurator::Gui, true, o).expect("pipeline"))
        .await
        .expect("doctor runs")
}

#[tokio::test]
async fn doctor_without_opt_in_exports_no_key_and_still_finds_every_defect() {
    let sim = onboarded(Simulator::builder()).await;
    let exports_before = private_key_exports(&sim);
    let d = diagnose_without_keys(&sim).await;
    assert!(d.healthy(), "{:#?}", problems(&d));
    let not_checked = finding(&d, ids::NOT_CHECKED);
    assert_eq!(not_checked.severity, Severity::Info);
    assert_eq!(not_checked.summary, "not checked: needs --as-node");
    let sample = finding(&d, ids::COMPLIANCE_SAMPLE);
    assert_eq!(sample.node, None);
    assert_eq!(
        sample.summary,
        "Intune answered a device query as the automating identity"
    );
    assert_eq!(
        sample.evidence,
        "querycriteria=macaddress for the documentation MAC 00:00:5E:00:53:01: 0 device(s) \
         (a device-specific query: never throttled, reads no device)"
    );
    // Doctor makes no unfiltered query: nothing spent of Intune's throttle window.
    assert_eq!(
        sim.snapshot()["intune"]["unfiltered_queries"],
        serde_json::json!({})
    );

    // A revoked consent and a renewed, unregistered node certificate: both named.
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let (_, sp) = app_and_sp(&graph).await;
    assert_eq!(
        sim::revoke_intune_consent(&graph, &sp)
            .await
            .expect("revoke"),
        1
    );
    sim.renew_admin_certificate("ise-psn", 365).expect("renew");
    let d = diagnose_without_keys(&sim).await;
    let mut p = problems(&d);
    p.sort();
    assert_eq!(
        p,
        [
            (ids::APP_CONSENT_MISSING.into(), Severity::Error, None),
            (
                ids::NODE_KEY_NOT_REGISTERED.into(),
                Severity::Error,
                Some("ise-psn".into())
            ),
        ]
    );
    assert_eq!(private_key_exports(&sim), exports_before);
}

#[tokio::test]
async fn devices_without_opt_in_are_read_as_the_automating_identity() {
    let sim = onboarded(Simulator::builder()).await;
    let before = private_key_exports(&sim);
    let mut o = quick();
    o.admin_key = AdminKey::None;
    let onboarding = sim::integration(sim.info(), Configurator::Gui, true, o).expect("pipeline");
    let intune = compliance::client(&onboarding, None).await.expect("client");
    let devices = intune.noncompliant().await.expect("list");
    assert!(!devices.is_empty());
    assert!(matches!(
        compliance::client(&onboarding, Some("ise-psn")).await,
        Err(Error::NodeKeyNotRequested { .. })
    ));
    assert_eq!(private_key_exports(&sim), before);
}

fn pipeline(sim: &Simulator) -> ise_intune::integration::Integration {
    sim::integration(sim.info(), Configurator::Gui, true, quick()).expect("pipeline")
}

async fn diagnose(sim: &Simulator) -> Diagnosis {
    doctor::diagnose(&pipeline(sim)).await.expect("doctor runs")
}

/// The (id, severity, node) of every error and warning.
fn problems(d: &Diagnosis) -> Vec<(String, Severity, Option<String>)> {
    d.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| (f.id.clone(), f.severity, f.node.clone()))
        .collect()
}

fn finding<'a>(d: &'a Diagnosis, id: &'a str) -> &'a Finding {
    d.with_id(id)
        .next()
        .unwrap_or_else(|| panic!("no {id} in {:#?}", d.findings))
}

/// `onboard` repairs what doctor found: a run completes and doctor is clean again.
async fn repaired_by_onboard(sim: &Simulator) {
    let report = onboard::apply(&pipeline(sim)).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
    let after = diagnose(sim).await;
    assert!(after.healthy(), "{:#?}", problems(&after));
}

/// The SHA-1 thumbprints of application `app`'s keys.
async fn thumbprints(graph: &graph_client::GraphClient, app: &str) -> Vec<String> {
    graph
        .application(app.to_owned())
        .key_credentials()
        .await
        .expect("keys")
        .iter()
        .filter_map(|k| k.thumbprint_hex())
        .collect()
}

async fn app_and_sp(graph: &graph_client::GraphClient) -> (String, String) {
    let app = ise_intune::integration::steps::find_app(graph, &APP.into())
        .await
        .expect("app");
    (app.object_id, app.service_principal_id)
}

/// Field Notice FN74227: a release that strong mapping breaks onboards, and plan and
/// doctor warn, naming the patch; a fixed one gets no warning.
#[tokio::test]
async fn a_release_affected_by_strong_mapping_is_warned_about() {
    let sim = onboarded(Simulator::builder().ise_version("3.2.0.542", 5)).await;
    let d = diagnose(&sim).await;
    let warning = finding(&d, ids::ISE_RELEASE_STRONG_MAPPING);
    assert_eq!(warning.severity, Severity::Warning);
    assert!(
        warning.remediation.contains("ISE 3.2 patch 7"),
        "{warning:#?}"
    );
    assert!(warning.evidence.contains("FN74227"), "{warning:#?}");
    assert!(!d.has_errors(), "{:#?}", problems(&d));
    let plan = onboard::plan(&pipeline(&sim))
        .await
        .expect("plan")
        .changes();
    assert!(
        plan[0].detail.contains("FN74227") && plan[0].detail.contains("ISE 3.2 patch 7"),
        "{}",
        plan[0].detail
    );
    let fixed = onboarded(Simulator::builder().ise_version("3.2.0.542", 7)).await;
    let d = diagnose(&fixed).await;
    assert_eq!(d.with_id(ids::ISE_RELEASE_STRONG_MAPPING).count(), 0);
    assert!(d.healthy(), "{:#?}", problems(&d));
}

#[tokio::test]
async fn a_healthy_integration_has_only_information() {
    let sim = onboarded(Simulator::builder()).await;
    let before = sim.request_log().len();
    let d = diagnose(&sim).await;
    assert!(d.healthy(), "{:#?}", problems(&d));
    assert!(
        sim.request_log()[before..]
            .iter()
            .filter(|r| r.service == "ise" || r.service == "graph")
            .all(|r| r.method == "GET" || r.path.ends_with("/export")),
        "doctor reads only"
    );
    assert_eq!(
        finding(&d, ids::ISE_RELEASE).summary,
        "ISE 3.3.0.430 patch 4"
    );
    let sample = finding(&d, ids::COMPLIANCE_SAMPLE);
    assert_eq!(sample.node.as_deref(), Some("ise-san"));
    assert_eq!(sample.summary, "Intune answered a device query as ise-san");
    assert_eq!(
        sim.snapshot()["intune"]["unfiltered_queries"],
        serde_json::json!({})
    );
    let json = serde_json::to_value(&d).expect("json");
    let keys: Vec<&str> = json["findings"][0]
        .as_object()
        .expect("finding")
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["id", "severity", "summary", "evidence", "remediation"] {
        assert!(keys.contains(&key), "{keys:?}");
    }
}

#[tokio::test]
async fn revoked_consent_is_named_and_onboard_grants_it_again() {
    let sim = onboarded(Simulator::builder()).await;
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let (_, sp) = app_and_sp(&graph).await;
    let held = graph
        .service_principal(sp.clone())
        .app_role_assignments()
        .expect("pager")
        .all()
        .await
        .expect("assignments");
    let intune = graph
        .service_principals()
        .by_app_id(graph_client::well_known::INTUNE_API_APP_ID)
        .await
        .expect("lookup")
        .expect("intune sp");
    let grant = held
        .iter()
        .find(|a| a.resource_id == intune.id)
        .unwrap_or_else(|| panic!("intune grant among {held:#?} (intune {})", intune.id));
    let revoked = graph
        .service_principal(intune.id.clone())
        .revoke_app_role_assignment(&grant.id)
        .await
        .expect("revoke");
    assert!(matches!(revoked, graph_client::Change::Updated(())));

    let d = diagnose(&sim).await;
    let consent = finding(&d, ids::APP_CONSENT_MISSING);
    assert_eq!(consent.severity, Severity::Error);
    assert_eq!(
        consent.summary,
        "no admin consent for get_device_compliance (Microsoft Intune API)"
    );
    assert!(consent.remediation.contains("Grant admin consent"));
    // ISE's own Test Connection fails at the Intune call on each policy service node.
    assert!(
        problems(&d).contains(&(
            "connection.mdminfo".into(),
            Severity::Error,
            Some("ise-psn".into())
        )),
        "{:#?}",
        problems(&d)
    );
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn a_removed_node_key_is_named_and_onboard_uploads_it_again() {
    let sim = onboarded(Simulator::builder()).await;
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let (app, _) = app_and_sp(&graph).await;
    let psn = ise_intune::integration::keys::admin_certificates(&ise)
        .await
        .expect("export")
        .into_iter()
        .find(|a| a.node.hostname == "ise-psn")
        .expect("psn");
    let thumb: [u8; 20] = *psn.certificate.sha1().as_bytes();
    graph
        .application(app)
        .remove_key(&graph_client::KeySelector::Thumbprint(thumb))
        .await
        .expect("remove");

    let d = diagnose(&sim).await;
    let p = problems(&d);
    assert!(
        p.contains(&(
            ids::NODE_KEY_NOT_REGISTERED.into(),
            Severity::Error,
            Some("ise-psn".into())
        )),
        "{p:#?}"
    );
    assert!(
        p.contains(&(
            "connection.token".into(),
            Severity::Error,
            Some("ise-psn".into())
        )),
        "{p:#?}"
    );
    assert!(
        finding(&d, ids::NODE_KEY_NOT_REGISTERED)
            .evidence
            .contains(&psn.certificate.sha1().to_hex())
    );
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn a_deleted_or_untrusted_root_is_named_and_onboard_restores_it() {
    let sim = onboarded(Simulator::builder()).await;
    let (ise, _) = sim::clients(sim.info()).expect("clients");
    let store = ise.trusted_certificates().list(&[]).await.expect("store");
    let root = store
        .iter()
        .find(|t| t.friendly_name == "Simulated Public Root G2")
        .expect("root");
    ise.trusted_certificates()
        .delete(&root.id)
        .await
        .expect("delete");
    let g2 = store
        .iter()
        .find(|t| t.friendly_name == "DigiCert Global Root G2")
        .expect("g2");
    let mut untrusted = TrustedCertificateUpdate::keeping(g2);
    untrusted.trust_for_ise_auth = false;
    ise.trusted_certificates()
        .update(&g2.id, &untrusted)
        .await
        .expect("untrust");

    let d = diagnose(&sim).await;
    let missing = finding(&d, ids::TRUST_ANCHOR_MISSING);
    assert_eq!(
        missing.summary,
        "`Simulated Public Root G2` is not in ISE's trusted store"
    );
    let not_trusted = finding(&d, ids::TRUST_ANCHOR_NOT_TRUSTED);
    assert!(
        not_trusted
            .summary
            .starts_with("`DigiCert Global Root G2` is in ISE's store"),
        "{}",
        not_trusted.summary
    );
    let tls = finding(&d, "connection.tls:login");
    assert!(
        tls.evidence
            .contains("missing root `Simulated Public Root G2`"),
        "{}",
        tls.evidence
    );
    assert!(tls.remediation.starts_with("run trust-sync"));
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn a_disabled_mdm_server_is_named_and_onboard_enables_it() {
    let sim = onboarded(Simulator::builder()).await;
    let (ise, _) = sim::clients(sim.info()).expect("clients");
    ise.request(
        ise_intune::ise_client::Method::POST,
        &format!("{}/Intune/disable", ise_intune_simulator::GUI_BASE_PATH),
        Some(serde_json::json!({})),
    )
    .await
    .expect("disable");
    let d = diagnose(&sim).await;
    assert_eq!(finding(&d, ids::MDM_NOT_ACTIVE).severity, Severity::Error);
    assert_eq!(
        finding(&d, ids::MDM_ENTRY).summary,
        "the External MDM entry differs from the expected settings"
    );
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn a_deleted_application_is_named_and_onboard_registers_it_again() {
    let sim = onboarded(Simulator::builder()).await;
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let (app, _) = app_and_sp(&graph).await;
    graph.applications().delete(&app).await.expect("delete");
    let d = diagnose(&sim).await;
    assert_eq!(
        problems(&d),
        vec![(ids::APP_MISSING.into(), Severity::Error, None)]
    );
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn expiring_and_expired_admin_certificates_are_named() {
    let sim = onboarded(Simulator::builder()).await;
    sim.renew_admin_certificate("ise-psn", 30).expect("renew");
    sim.renew_admin_certificate("ise-san", -2).expect("expire");
    let d = diagnose(&sim).await;
    let p = problems(&d);
    for expected in [
        (ids::NODE_CERTIFICATE_EXPIRED, Severity::Error, "ise-san"),
        (ids::NODE_CERTIFICATE_EXPIRING, Severity::Warning, "ise-psn"),
        (ids::NODE_KEY_NOT_REGISTERED, Severity::Error, "ise-psn"),
        (ids::NODE_KEY_NOT_REGISTERED, Severity::Error, "ise-san"),
    ] {
        assert!(
            p.contains(&(expected.0.into(), expected.1, Some(expected.2.into()))),
            "{expected:?} in {p:#?}"
        );
    }
    assert!(
        finding(&d, ids::NODE_CERTIFICATE_EXPIRING)
            .summary
            .starts_with("ise-psn's Admin certificate expires in 29 days")
            || finding(&d, ids::NODE_CERTIFICATE_EXPIRING)
                .summary
                .starts_with("ise-psn's Admin certificate expires in 30 days")
    );
    // The operator renews both for two years; onboarding registers them.
    sim.renew_admin_certificate("ise-psn", 730).expect("renew");
    sim.renew_admin_certificate("ise-san", 730).expect("renew");
    repaired_by_onboard(&sim).await;
}

#[tokio::test]
async fn releases_without_the_compliance_api_are_named() {
    let sim = Simulator::builder()
        .ise_version("3.2.0.542", 3)
        .start()
        .await
        .expect("simulator");
    let d = diagnose(&sim).await;
    let f = finding(&d, ids::ISE_RELEASE_UNSUPPORTED);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.remediation.starts_with("install ISE 3.2 patch 4"),
        "{}",
        f.remediation
    );
    // Doctor reads only (certificate exports are reads).
    assert!(
        sim.request_log()
            .iter()
            .filter(|r| r.service == "ise" || r.service == "graph")
            .all(|r| r.method == "GET" || r.path.ends_with("/export"))
    );
}

/// A pipeline whose anchor set also holds the root the Microsoft hosts move to.
fn pipeline_with_next_root(sim: &Simulator) -> ise_intune::integration::Integration {
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let mut anchors = sim::anchors(sim.info(), true);
    anchors.add(sim::next_root_anchor(sim.info()).expect("anchor"));
    ise_intune::integration::Integration::builder(ise.clone(), graph)
        .anchors(anchors)
        .configurator(std::sync::Arc::new(
            ise_intune_testkit::SimGuiConfigurator::new(ise),
        ))
        .options(quick())
        .build()
}

#[tokio::test]
async fn a_moved_microsoft_chain_is_found_and_trust_sync_fixes_it() {
    let sim = onboarded(Simulator::builder()).await;
    sim.move_microsoft_chains().expect("move");
    assert_eq!(
        sim.test_connection("Intune").await,
        Err("Connection Failed to the MDM server: There is a problem with the server Certificates or Cisco ISE trust store".to_owned())
    );
    let d = diagnose(&sim).await;
    let tls = finding(&d, "connection.tls:login");
    assert!(
        tls.evidence
            .contains("missing root `Simulated Public Root G5`"),
        "{}",
        tls.evidence
    );

    // With an anchor set that does not know the new root: found, named, not fixed.
    let unknown = match trust_sync::apply(&pipeline(&sim)).await {
        Err(Error::Apply(failure)) => {
            assert!(failure.written.is_empty(), "{failure}");
            assert!(
                failure
                    .errors
                    .iter()
                    .all(|(step, e)| *step == StepName::ImportTrustAnchors
                        && matches!(e, Error::HostNotTrusted { .. })),
                "{failure}"
            );
            match failure.report {
                PartialReport::TrustSync(s) => s,
                other => panic!("another workflow's report: {other:?}"),
            }
        }
        other => panic!("a host ending at an unknown root must fail: {other:?}"),
    };
    assert!(!unknown.ok() && !unknown.changed);
    assert!(
        unknown
            .hosts
            .iter()
            .all(|h| h.outcome == Outcome::Failed && h.detail.contains("Simulated Public Root G5")),
        "{unknown:#?}"
    );

    // A set that ships it: the dry run says what it would do and writes nothing.
    let writes = || {
        sim.request_log()
            .iter()
            .filter(|r| r.service == "ise" && r.method != "GET" && !r.path.ends_with("/export"))
            .count()
    };
    let writes_before = writes();
    let next = pipeline_with_next_root(&sim);
    let plan = trust_sync::plan(&next).await.expect("dry run");
    assert!(plan.changed && plan.ok());
    assert_eq!(
        plan.hosts
            .iter()
            .map(|h| (h.root.as_deref(), h.outcome, h.detail.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (
                Some("Simulated Public Root G5"),
                Outcome::Created,
                "would import `Simulated Public Root G5`"
            );
            3
        ]
    );
    assert_eq!(
        writes(),
        writes_before,
        "{:#?}",
        sim.request_log()
            .iter()
            .filter(|r| r.service == "ise" && r.method != "GET")
            .collect::<Vec<_>>()
    );

    // As an ERS Operator: refused at the first import, nothing written, exit 4's error.
    sim.set_ise_role(ise_intune_simulator::IseRole::ErsOperator);
    let store_before = sim.snapshot()["ise"]["trustedCertificates"].clone();
    match trust_sync::apply(&next).await {
        Err(Error::MissingRights { missing }) => {
            assert_eq!(missing[0].side, "ise");
            assert_eq!(missing[0].needed_for, "import the roots Microsoft moved to");
        }
        other => panic!("missing rights, got {other:?}"),
    }
    assert_eq!(sim.snapshot()["ise"]["trustedCertificates"], store_before);
    sim.set_ise_role(ise_intune_simulator::IseRole::ErsAdmin);
    let writes_before = writes();

    let done = trust_sync::apply(&next).await.expect("sync");
    assert!(done.ok() && done.changed, "{done:#?}");
    assert_eq!(writes(), writes_before + 1, "one import");
    assert_eq!(
        sim.test_connection("Intune").await.map(|_| ()),
        Ok(()),
        "Test Connection passes again"
    );
    let after = doctor::diagnose(&next).await.expect("doctor");
    assert!(after.healthy(), "{:#?}", problems(&after));
    // Nothing removed: the old root is still there, and a second sync writes nothing.
    let again = trust_sync::apply(&next).await.expect("again");
    assert!(!again.changed);
    assert_eq!(writes(), writes_before + 1);
    assert!(
        sim.snapshot()["ise"]["trustedCertificates"]
            .as_array()
            .expect("store")
            .iter()
            .any(|t| t["friendlyName"] == "Simulated Public Root G2")
    );
}

#[tokio::test]
async fn rotation_keeps_test_connection_working_and_removes_the_old_key_last() {
    let sim = std::sync::Arc::new(onboarded(Simulator::builder()).await);
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let (app, _) = app_and_sp(&graph).await;
    let keys = || thumbprints(&graph, &app);
    let old_psn = ise_intune::integration::keys::admin_certificates(&ise)
        .await
        .expect("export")
        .into_iter()
        .find(|a| a.node.hostname == "ise-psn")
        .expect("psn")
        .certificate
        .sha1()
        .to_hex();

    // Test Connection, polled throughout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut polls, mut failures) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                polls += 1;
                if let Err(e) = sim.test_connection("Intune").await {
                    failures.push(e);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (polls, failures)
        })
    };

    let staged = sim.stage_admin_certificate("ise-psn", 730).expect("stage");
    let renewed = vec![RenewedCertificate::new(
        "ise-psn",
        ise_intune::integration::certs::Certificate::from_pem(&staged).expect("pem"),
    )];
    let new_psn = renewed[0].certificate.sha1().to_hex();
    let rotation = pipeline(&sim);

    let dry = rotate::plan(&rotation, &renewed).await.expect("dry run");
    assert_eq!(dry.outcome, Outcome::ManualActionRequired);
    assert_eq!(dry.added, vec![new_psn.clone()]);
    assert_eq!(keys().await.len(), 3, "a dry run writes nothing");

    let first = rotate::apply(&rotation, &renewed).await.expect("first");
    assert_eq!(first.outcome, Outcome::ManualActionRequired);
    assert!(first.removed.is_empty());
    let now = keys().await;
    assert!(now.contains(&old_psn) && now.contains(&new_psn) && now.len() == 4);
    assert!(
        sim.test_connection("Intune").await.is_ok(),
        "old key still in use"
    );

    // The operator binds the renewed certificate once the key has propagated.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.activate_staged_certificate("ise-psn")
        .expect("activate");

    let second = rotate::apply(&rotation, &[]).await.expect("second");
    assert_eq!(second.outcome, Outcome::Updated, "{second:#?}");
    assert!(second.verification.as_ref().is_some_and(|v| v.ok));
    assert_eq!(second.removed, vec![old_psn.clone()]);
    let now = keys().await;
    assert!(!now.contains(&old_psn) && now.contains(&new_psn) && now.len() == 3);
    assert!(
        sim.test_connection("Intune").await.is_ok(),
        "after the old key's removal"
    );

    let third = rotate::apply(&rotation, &[]).await.expect("third");
    assert_eq!(third.outcome, Outcome::Unchanged);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, failures) = poller.await.expect("poller");
    assert!(polls >= 3, "{polls} polls");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(diagnose(&sim).await.healthy());
}

/// Rotation trusts only what a node presents: a renewed certificate that ISE's API
/// names but the node does not present on its address is neither registered nor used
/// to retire the old key; once the node presents it, the rotation goes through.
#[tokio::test]
async fn a_rotation_registers_only_what_the_node_presents_on_the_wire() {
    let sim = onboarded(Simulator::builder()).await;
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let (app, _) = app_and_sp(&graph).await;
    let keys = || thumbprints(&graph, &app);
    let before = keys().await;
    let renewed = sim.renew_admin_certificate("ise-psn", 730).expect("renew");
    // ise-psn's address points at ise-san, which presents its own certificate.
    let san = sim
        .info()
        .ise
        .nodes
        .iter()
        .find(|n| n.hostname == "ise-san")
        .expect("ise-san")
        .url
        .clone();
    let mut o = quick();
    o.node_urls
        .insert("ise-psn".into(), url::Url::parse(&san).expect("url"));
    let elsewhere = sim::integration(sim.info(), Configurator::Gui, true, o).expect("pipeline");
    for result in [
        rotate::plan(&elsewhere, &[]).await,
        rotate::apply(&elsewhere, &[]).await,
    ] {
        match result {
            Err(Error::CertificateNotPresented { node, address, why }) => {
                assert_eq!(node, "ise-psn");
                assert_eq!(address, san);
                assert!(why.contains(&renewed), "{why}");
            }
            other => panic!("must refuse: {other:?}"),
        }
    }
    assert_eq!(keys().await, before, "nothing written");
    // At its own address the node presents the renewed certificate: rotated.
    let r = rotate::apply(&pipeline(&sim), &[]).await.expect("rotate");
    assert_eq!(r.outcome, Outcome::Updated, "{r:#?}");
    assert_eq!(r.added, vec![renewed.clone()]);
    assert_eq!(r.removed.len(), 1);
    assert!(
        r.steps
            .iter()
            .any(|s| s.starts_with("checked: ise-psn presents SHA-1") && s.contains(&renewed)),
        "{:?}",
        r.steps
    );
}

#[tokio::test]
async fn a_rotation_that_fails_verification_removes_nothing() {
    let sim = onboarded(Simulator::builder()).await;
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let (app, _) = app_and_sp(&graph).await;
    // ise-san's certificate is renewed in ISE, then consent is revoked: the rotation
    // registers the new key, but verification cannot pass.
    sim.renew_admin_certificate("ise-san", 730).expect("renew");
    let (_, sp) = app_and_sp(&graph).await;
    let held = graph
        .service_principal(sp)
        .app_role_assignments()
        .expect("pager")
        .all()
        .await
        .expect("held");
    for a in held {
        graph
            .service_principal(a.resource_id.clone())
            .revoke_app_role_assignment(&a.id)
            .await
            .expect("revoke");
    }
    let before = graph
        .application(app.clone())
        .key_credentials()
        .await
        .expect("keys")
        .len();
    let r = match rotate::apply(&pipeline(&sim), &[]).await {
        Err(Error::Apply(failure)) => {
            assert!(
                matches!(
                    failure.errors.as_slice(),
                    [(StepName::CycleMdmServer, Error::MdmConfiguration { .. })]
                ),
                "{failure}"
            );
            assert_eq!(failure.written.len(), 1, "{failure}");
            match failure.report {
                PartialReport::Rotate(r) => r,
                other => panic!("another workflow's report: {other:?}"),
            }
        }
        other => panic!("a rotation failing verification must fail: {other:?}"),
    };
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.removed.is_empty());
    let after = graph
        .application(app)
        .key_credentials()
        .await
        .expect("keys")
        .len();
    assert_eq!(after, before + 1, "the new key added, the old one kept");
}

#[tokio::test]
async fn a_stale_discovery_url_in_the_entry_is_named_and_onboard_corrects_it() {
    let sim = onboarded(Simulator::builder()).await;
    let (ise, _) = sim::clients(sim.info()).expect("clients");
    let mut entry = serde_json::to_value(&sim.mdm_servers()[0]).expect("entry");
    entry["autoDiscoveryUrl"] = Value::from(format!(
        "https://graph.windows.net/{}",
        sim.info().tenant_id
    ));
    // An entry left over from the Azure AD Graph days, saved disabled.
    entry["status"] = Value::from("Disabled");
    ise.request(
        ise_intune::ise_client::Method::PUT,
        &format!("{}/Intune", ise_intune_simulator::GUI_BASE_PATH),
        Some(entry),
    )
    .await
    .expect("edit");
    assert!(
        sim.test_connection("Intune")
            .await
            .expect_err("ISE's own test fails")
            .contains("uses Azure AD Graph")
    );
    let d = diagnose(&sim).await;
    let f = finding(&d, ids::MDM_ENTRY);
    assert_eq!(
        (f.severity, f.summary.as_str()),
        (
            Severity::Error,
            "the External MDM entry differs from the expected settings"
        )
    );
    assert!(
        f.evidence.contains(&format!(
            "Auto Discovery URL:        {}",
            sim.info().graph_url.trim_end_matches("/v1.0")
        )),
        "{}",
        f.evidence
    );
    repaired_by_onboard(&sim).await;
    assert!(sim.test_connection("Intune").await.is_ok());
}

/// An ISE that trusts, of the roots Microsoft's endpoints chain to, only the G1 root
/// Microsoft is leaving: doctor says so as an error; trust sync imports the roots it is
/// moving to, and the finding clears.
#[tokio::test]
async fn an_ise_trusting_only_a_root_microsoft_is_leaving_is_told_so() {
    let sim = Simulator::builder().start().await.expect("simulator");
    // The built-in anchors only (not the simulator's own root).
    let builtin =
        || sim::integration(sim.info(), Configurator::Gui, false, quick()).expect("pipeline");
    let leaving = finding_ids(&doctor::diagnose(&builtin()).await.expect("doctor"));
    assert!(
        !leaving.contains(&ids::TRUST_ONLY_LEAVING_ROOTS.to_owned()),
        "{leaving:?}"
    );
    // Trust G1 alone (as an ISE administrator might have, years ago).
    let (ise, _) = sim::clients(sim.info()).expect("clients");
    let trust = |name: &'static str| {
        let ise = ise.clone();
        async move {
            let store = ise.trusted_certificates().list(&[]).await.expect("store");
            let entry = store
                .iter()
                .find(|t| t.friendly_name == name)
                .expect("in a fresh ISE's store");
            let mut trusted = TrustedCertificateUpdate::keeping(entry);
            trusted.enabled = true;
            trusted.trust_for_ise_auth = true;
            trusted.trust_for_cisco_services_auth = true;
            ise.trusted_certificates()
                .update(&entry.id, &trusted)
                .await
                .expect("trust");
        }
    };
    trust("DigiCert Global Root CA").await;
    let d = doctor::diagnose(&builtin()).await.expect("doctor");
    let f = finding(&d, ids::TRUST_ONLY_LEAVING_ROOTS);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.summary, "ISE trusts only roots Microsoft is leaving");
    assert!(
        f.evidence
            .starts_with("trusted for authentication within ISE: DigiCert Global Root CA;"),
        "{}",
        f.evidence
    );
    // What trust sync does for a root Microsoft is moving to, done by hand: cleared.
    trust("DigiCert Global Root G2").await;
    let after = finding_ids(&doctor::diagnose(&builtin()).await.expect("doctor"));
    assert!(
        !after.contains(&ids::TRUST_ONLY_LEAVING_ROOTS.to_owned()),
        "{after:?}"
    );
}

fn finding_ids(d: &Diagnosis) -> Vec<String> {
    d.findings.iter().map(|f| f.id.clone()).collect()
}

/// Doctor at any date, through the context's clock: a node's Admin certificate 29, 13
/// and 6 days before it expires is named at the 30-, 14- and 7-day thresholds, as a
/// warning, a warning and an error; thresholds come from the options.
#[tokio::test]
async fn expiry_findings_rise_as_each_threshold_passes() {
    use ise_intune::integration::doctor::ExpiryKind;
    use ise_intune_http::clock::OffsetClock;
    use std::sync::Arc;
    let sim = onboarded(Simulator::builder()).await;
    let at = |clock: Arc<OffsetClock>, thresholds: Vec<u32>| {
        let mut o = quick();
        o.admin_key = AdminKey::None;
        o.expiry_thresholds_days = thresholds;
        sim::integration(sim.info(), Configurator::Gui, true, o)
            .expect("pipeline")
            .with_clock(clock)
    };
    let today = doctor::diagnose(&at(Arc::new(OffsetClock::default()), vec![30, 14, 7]))
        .await
        .expect("doctor");
    let not_after = today
        .expiries
        .iter()
        .find(|e| e.kind == ExpiryKind::AdminCertificate && e.subject == "ise-psn")
        .expect("ise-psn's expiry")
        .not_after;
    assert!(
        today
            .with_id(ids::NODE_CERTIFICATE_EXPIRING)
            .next()
            .is_none()
    );
    for (left, threshold, severity) in [
        (29, 30, Severity::Warning),
        (13, 14, Severity::Warning),
        (6, 7, Severity::Error),
    ] {
        // The clock moved to `left` days (and an hour) before ise-psn's expiry.
        let clock = Arc::new(OffsetClock::default());
        let target = not_after - time::Duration::days(left) - time::Duration::hours(1);
        let ahead = target - time::OffsetDateTime::now_utc();
        clock.advance(Duration::from_secs(
            u64::try_from(ahead.whole_seconds()).expect("ahead"),
        ));
        let d = doctor::diagnose(&at(clock, vec![30, 14, 7]))
            .await
            .expect("doctor");
        let f = d
            .with_id(ids::NODE_CERTIFICATE_EXPIRING)
            .find(|f| f.node.as_deref() == Some("ise-psn"))
            .unwrap_or_else(|| panic!("{left} days: {:#?}", d.findings));
        assert_eq!(
            (f.severity, f.threshold_days),
            (severity, Some(threshold)),
            "{left} days"
        );
        assert_eq!(
            f.summary,
            format!("ise-psn's Admin certificate expires in {left} days")
        );
    }
    // Other thresholds from the options: 6 days left is only a warning under [10, 3].
    let clock = Arc::new(OffsetClock::default());
    let ahead = not_after
        - time::Duration::days(6)
        - time::Duration::hours(1)
        - time::OffsetDateTime::now_utc();
    clock.advance(Duration::from_secs(
        u64::try_from(ahead.whole_seconds()).expect("ahead"),
    ));
    let d = doctor::diagnose(&at(clock, vec![10, 3]))
        .await
        .expect("doctor");
    let f = d
        .with_id(ids::NODE_CERTIFICATE_EXPIRING)
        .find(|f| f.node.as_deref() == Some("ise-psn"))
        .expect("named");
    assert_eq!(
        (f.severity, f.threshold_days),
        (Severity::Warning, Some(10))
    );
}

/// What one check of a healthy pair costs, per service, once the automating
/// identity's tokens are cached (as `watch` makes every interval): the request budget
/// the README states. With `--as-node`, each policy service node's key is exported and
/// Entra is asked for each node's tokens on every check — that is the point of checking
/// as the node.
const CHECK_BUDGET: [(&str, usize, usize); 4] = [
    // (service, requests per check, with --as-node)
    ("ise", 14, 14),
    ("graph", 8, 10),
    ("intune", 1, 3),
    ("login", 0, 5),
];

#[tokio::test]
async fn request_budget_of_one_check() {
    let sim = onboarded(Simulator::builder()).await;
    let per_service = |sim: &Simulator| {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for r in sim.request_log() {
            *counts.entry(r.service.to_string()).or_default() += 1;
        }
        counts
    };
    for (as_node, admin_key) in [(false, AdminKey::None), (true, AdminKey::ExportFromIse)] {
        let mut o = quick();
        o.admin_key = admin_key;
        let ctx = sim::integration(sim.info(), Configurator::Gui, true, o).expect("pipeline");
        doctor::diagnose(&ctx).await.expect("doctor");
        sim.clear_request_log();
        let d = doctor::diagnose(&ctx).await.expect("doctor");
        assert!(d.healthy(), "{:#?}", problems(&d));
        let counts = per_service(&sim);
        for (service, plain, node) in CHECK_BUDGET {
            let want = if as_node { node } else { plain };
            assert_eq!(
                counts.get(service).copied().unwrap_or(0),
                want,
                "{service}, as node: {as_node}: {counts:?}"
            );
        }
        // One check, one deployment read: what counts checks in a log.
        let node_reads = sim
            .request_log()
            .iter()
            .filter(|r| r.service == "ise" && r.path == "/api/v1/deployment/node")
            .count();
        assert_eq!(node_reads, 1);
    }
}

/// Pairs of a fleet on one tenant share one budget of Graph requests in flight: five
/// pairs checked at once never have more than the budget's Graph requests out together,
/// and they do reach it; another tenant gets its own.
#[tokio::test(flavor = "multi_thread")]
async fn pairs_on_one_tenant_share_one_graph_budget() {
    use ise_intune::integration::fleet::TenantBudgets;
    let sim = Simulator::builder()
        .latency(Duration::from_millis(20))
        .start()
        .await
        .expect("simulator");
    let other = Simulator::builder().start().await.expect("simulator");
    let budgets = TenantBudgets::new(2);
    let pair = |sim: &Simulator| {
        budgets.apply(
            sim::integration(sim.info(), Configurator::Gui, true, quick()).expect("pipeline"),
        )
    };
    let pairs: Vec<_> = (0..5).map(|_| pair(&sim)).collect();
    let shared = budgets.of(&pairs[0]);
    let elsewhere = budgets.of(&pair(&other));
    assert_eq!(shared.max(), 2);
    let mut runs = tokio::task::JoinSet::new();
    for p in pairs {
        runs.spawn(async move { doctor::diagnose(&p).await.map(|_| ()) });
    }
    while let Some(done) = runs.join_next().await {
        done.expect("task").expect("doctor");
    }
    assert_eq!(
        shared.peak(),
        2,
        "five pairs at once, two Graph requests out at most"
    );
    assert_eq!(elsewhere.peak(), 0, "another tenant's budget is its own");
}
