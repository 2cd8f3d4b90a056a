//! End-to-end: the library's onboarding pipeline against the simulator.

use ise_intune::integration::{onboard, verify};
use std::time::Duration;

use ise_intune::integration::Error;
use ise_intune::integration::Integration;
use ise_intune::integration::keys::AdminKey;
use ise_intune::integration::mdm::{ManualChecklist, MdmServerConfigurator, MdmServerSettings};
use ise_intune::integration::outcome::{CheckName, Outcome, StepName};
use ise_intune::integration::steps::app_details;
use ise_intune::integration::verify::{Seen, VerificationReport, VerifyInput, verify_connection};
use ise_intune::integration::{context::Options, onboard::Report};
use ise_intune_simulator::{SeedApp, Simulator};
use ise_intune_testkit::{self as sim, Configurator, SimGuiConfigurator};
use serde_json::Value;

const APP: &str = "Cisco ISE Intune integration";
const TRUST_STORE_MESSAGE: &str = "Connection Failed to the MDM server: There is a problem with the server Certificates or Cisco ISE trust store";

async fn simulator(version: &str, patch: u16) -> Simulator {
    Simulator::builder()
        .ise_version(version, patch)
        .replication_lag(Duration::from_millis(200))
        .start()
        .await
        .expect("simulator starts")
}

fn outcomes(report: &Report) -> Vec<(&'static str, Outcome)> {
    report
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.outcome))
        .collect()
}

/// The pipeline against `sim` with the simulated operator and every anchor, opted in
/// to the checks that act as a node (the full reproduction of Test Connection).
fn gui_pipeline(sim: &Simulator) -> ise_intune::integration::Integration {
    let mut options = Options::default();
    options.admin_key = AdminKey::ExportFromIse;
    sim::integration(sim.info(), Configurator::Gui, true, options).expect("pipeline")
}

fn private_key_exports(sim: &Simulator) -> u64 {
    sim.snapshot()["ise"]["private_key_exports"]
        .as_u64()
        .expect("private_key_exports")
}

#[tokio::test]
async fn without_opt_in_no_private_key_leaves_ise_and_the_verdict_stands() {
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = sim::integration(sim.info(), Configurator::Gui, true, Options::default())
        .expect("pipeline");
    let report = onboard::apply(&onboarding).await.expect("run");
    assert!(report.complete, "{report:#?}");
    assert_eq!(private_key_exports(&sim), 0);
    assert_eq!(
        report
            .verification
            .checks
            .iter()
            .map(|c| (
                c.node.as_deref().unwrap_or("-"),
                c.name.as_str(),
                c.ok,
                c.skipped
            ))
            .collect::<Vec<_>>(),
        [
            ("-", "tls:login", true, false),
            ("-", "tls:graph", true, false),
            ("-", "discovery", true, false),
            ("-", "tls:intune", true, false),
            ("ise-pan", "registered", true, false),
            ("ise-san", "registered", true, false),
            ("ise-psn", "registered", true, false),
            ("-", "as_node", true, true),
        ]
    );
    let not_checked = report.verification.skipped().next().expect("skipped");
    assert!(
        not_checked
            .detail
            .starts_with("not checked: needs --as-node"),
        "{}",
        not_checked.detail
    );
    // Verification alone, then with the opt-in: the same verdict, now as each node.
    let again = verify::verify(&onboarding).await.expect("verify");
    assert!(again.ok, "{again:#?}");
    assert_eq!(private_key_exports(&sim), 0);
    let as_node = verify::verify(&onboarding.clone().with_admin_key(AdminKey::ExportFromIse))
        .await
        .expect("verify as node");
    assert!(as_node.ok, "{as_node:#?}");
    assert!(as_node.skipped().next().is_none());
    // One export with its key per policy service node.
    assert_eq!(private_key_exports(&sim), 2);
}

#[tokio::test]
async fn verification_before_onboarding_is_not_onboarded() {
    let sim = simulator("3.3.0.430", 2).await;
    let fresh = gui_pipeline(&sim);
    match verify::verify(&fresh).await {
        Err(e @ Error::NotOnboarded { .. }) => {
            assert_eq!(e.kind(), ise_intune::integration::ErrorKind::NotOnboarded);
            assert!(
                e.to_string().contains("Cisco ISE Intune integration"),
                "{e}"
            );
        }
        other => panic!("expected NotOnboarded, got {other:?}"),
    }
}

#[tokio::test]
async fn without_opt_in_an_unregistered_node_certificate_fails_verification() {
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = sim::integration(sim.info(), Configurator::Gui, true, Options::default())
        .expect("pipeline");
    assert!(onboard::apply(&onboarding).await.expect("run").complete);
    sim.renew_admin_certificate("ise-psn", 365).expect("renew");
    let report = verify::verify(&onboarding).await.expect("verify");
    assert!(!report.ok);
    let failed: Vec<(Option<&str>, &str)> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| (c.node.as_deref(), c.name.as_str()))
        .collect();
    assert_eq!(failed, [(Some("ise-psn"), "registered")]);
    assert_eq!(private_key_exports(&sim), 0);
}

/// Writes the simulator saw on ISE and Graph (certificate exports are reads).
fn remote_writes(sim: &Simulator) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.service == "ise" || r.service == "graph")
        .filter(|r| r.method != "GET" && r.path != "/api/v1/certs/system-certificate/export")
        .map(|r| format!("{} {} {}", r.service, r.method, r.path))
        .collect()
}

#[tokio::test]
async fn fresh_onboarding_then_a_rerun_that_writes_nothing() {
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = gui_pipeline(&sim);
    let first = onboard::apply(&onboarding).await.expect("first run");
    assert!(first.complete, "{first:#?}");
    use Outcome::*;
    assert_eq!(
        outcomes(&first),
        [
            ("check_ise_version", Unchanged),
            ("register_app", Created),
            ("export_admin_certificate", Unchanged),
            ("upload_certificate", Updated),
            ("grant_permissions", Updated),
            ("app_details", Unchanged),
            ("import_trust_anchors", Created),
            ("configure_mdm_server", Created),
            ("cycle_mdm_server", Unchanged),
            ("verify_connection", Unchanged),
        ]
    );
    assert!(first.requests.writes > 0);
    assert!(first.verification.ok);
    assert_eq!(
        first
            .verification
            .checks
            .iter()
            .map(|c| (c.node.as_deref().unwrap_or("-"), c.name.as_str()))
            .collect::<Vec<_>>(),
        [
            ("-", "tls:login"),
            ("-", "tls:graph"),
            // Each policy service node, with its own key.
            ("ise-san", "token"),
            ("ise-san", "discovery"),
            ("-", "tls:intune"),
            ("ise-san", "intune_token"),
            ("ise-san", "mdminfo"),
            ("ise-psn", "token"),
            ("ise-psn", "discovery"),
            ("ise-psn", "intune_token"),
            ("ise-psn", "mdminfo"),
        ]
    );
    // Every node's certificate is registered: the primary's and both policy nodes'.
    let nodes = sim.snapshot()["ise"]["systemCertificates"]
        .as_array()
        .expect("certs")
        .iter()
        .map(|c| c["sha1"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(nodes.len(), 3);
    let registered = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == APP)
        .expect("app")["keyCredentials"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["thumbprint"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(registered, nodes);
    // ISE's own Test Connection agrees.
    assert_eq!(
        sim.test_connection("Intune").await,
        Ok("Test Connection succeeded: connected to Microsoft Intune".to_owned())
    );
    let mdm = sim.mdm_servers();
    assert_eq!(mdm.len(), 1);
    assert_eq!(mdm[0].status, "Enabled");
    assert_eq!(
        mdm[0].token_audience,
        "https://api.manage.microsoft.com//.default"
    );
    // The application created by this run was known as Graph answered it: its keys
    // and requested permissions were written (two PATCHes) without a read.
    let object_id = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == APP)
        .expect("app")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let on_app: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|r| r.service == "graph" && r.path == format!("/v1.0/applications/{object_id}"))
        .map(|r| format!("{} {}", r.method, r.status))
        .collect();
    // (A PATCH meeting the new object's replication lag is answered 404 and sent
    // again; what matters is that none of them is a GET.)
    assert!(on_app.iter().all(|r| r.starts_with("PATCH ")), "{on_app:?}");
    assert_eq!(
        on_app.iter().filter(|r| *r == "PATCH 204").count(),
        2,
        "{on_app:?}"
    );

    sim.clear_request_log();
    let second = onboard::apply(&onboarding).await.expect("second run");
    assert!(second.complete);
    assert_eq!(second.requests.writes, 0, "{second:#?}");
    assert!(
        second.steps.iter().all(|s| s.outcome == Unchanged),
        "{:?}",
        outcomes(&second)
    );
    assert_eq!(remote_writes(&sim), Vec::<String>::new());
}

#[tokio::test]
async fn an_app_with_two_unrelated_keys_keeps_them() {
    let other_a = pem_der(include_str!("../graph-client/tests/data/client-cert.pem"));
    let other_b = pem_der(include_str!("../ise-client/tests/data/server.pem"));
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .seed_app(SeedApp {
            display_name: APP.into(),
            key_certificates_der: vec![other_a.clone(), other_b.clone()],
        })
        .start()
        .await
        .expect("sim");
    let onboarding = gui_pipeline(&sim);
    let report = onboard::apply(&onboarding).await.expect("run");
    assert!(report.complete, "{report:#?}");
    assert_eq!(
        report.steps[1].outcome,
        Outcome::Created,
        "the service principal was created"
    );
    let snap = sim.snapshot();
    let app = snap["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == APP)
        .expect("app")
        .clone();
    let thumbs: Vec<String> = app["keyCredentials"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["thumbprint"].as_str().unwrap_or_default().to_owned())
        .collect();
    // The two unrelated keys and the three nodes' certificates.
    assert_eq!(thumbs.len(), 5, "{thumbs:?}");
    assert!(thumbs.contains(&sha1_hex(&other_a)) && thumbs.contains(&sha1_hex(&other_b)));
}

/// Nothing in the trusted store is lost or renamed: certificates no anchor names stay
/// exactly as they were, and the public roots a fresh ISE ships for Cisco Services
/// only keep their names and flags and gain "Trust for authentication within ISE".
#[tokio::test]
async fn trusted_certificates_already_in_ise_are_kept() {
    let sim = Simulator::builder()
        .seed_trusted_certificate(
            "Corporate Root",
            include_str!("../ise-client/tests/data/ca.pem"),
        )
        .start()
        .await
        .expect("sim");
    let before: Vec<Value> = sim.snapshot()["ise"]["trustedCertificates"]
        .as_array()
        .expect("list")
        .clone();
    let onboarding = gui_pipeline(&sim);
    let report = onboard::apply(&onboarding).await.expect("run");
    assert!(report.complete, "{report:#?}");
    let after: Vec<Value> = sim.snapshot()["ise"]["trustedCertificates"]
        .as_array()
        .expect("list")
        .clone();
    let shipped = [
        "DigiCert Global Root CA",
        "DigiCert Global Root G2",
        "Simulated Public Root G2",
    ];
    for t in &before {
        let name = t["friendlyName"].as_str().expect("name");
        if shipped.contains(&name) {
            let now = after
                .iter()
                .find(|a| a["id"] == t["id"])
                .unwrap_or_else(|| panic!("{name} vanished"));
            assert_eq!(
                (
                    &now["friendlyName"],
                    &now["sha256"],
                    &now["trustForCiscoServicesAuth"],
                    &now["trustForIseAuth"],
                    &now["enabled"]
                ),
                (
                    &t["friendlyName"],
                    &t["sha256"],
                    &Value::Bool(true),
                    &Value::Bool(true),
                    &Value::Bool(true)
                ),
                "{name}"
            );
            assert_eq!(
                t["trustForIseAuth"], false,
                "{name} shipped for Cisco Services only"
            );
        } else {
            assert!(after.contains(t), "{t} changed or vanished");
        }
    }
    assert_eq!(
        after.len(),
        before.len() + 3,
        "G3 and Microsoft's two roots imported; the shipped three fixed in place"
    );
    let step = report
        .steps
        .iter()
        .find(|s| s.name == StepName::ImportTrustAnchors)
        .expect("step 5");
    assert_eq!(step.outcome, Outcome::Created);
}

#[tokio::test]
async fn releases_without_graph_or_the_compliance_api_are_refused_before_any_write() {
    for (version, patch, install) in [
        ("3.0.0.458", 8, "ISE 3.1 patch 8, 3.2 patch 4 or 3.3"),
        ("3.1.0.518", 7, "ISE 3.1 patch 8"),
        ("3.2.0.542", 3, "ISE 3.2 patch 4"),
    ] {
        let sim = simulator(version, patch).await;
        let onboarding = gui_pipeline(&sim);
        for result in [
            onboard::plan(&onboarding).await.map(drop),
            onboard::apply(&onboarding).await.map(drop),
        ] {
            match result {
                Err(
                    e @ Error::UnsupportedIseVersion {
                        version: found,
                        install: wanted,
                        ..
                    },
                ) => {
                    assert_eq!(found.to_string(), format!("{version} patch {patch}"));
                    assert_eq!(wanted, install);
                    assert!(e.to_string().contains(&format!("install {install}")), "{e}");
                }
                other => panic!("{version} p{patch}: unexpected {other:?}"),
            }
        }
        assert_eq!(remote_writes(&sim), Vec::<String>::new());
        assert!(
            sim.request_log().iter().all(|r| r.service == "ise"),
            "nothing sent to Microsoft"
        );
    }
}

#[tokio::test]
async fn releases_get_their_audiences_and_pass_test_connection() {
    for (version, patch, audience) in [
        ("3.1.0.518", 8, "https://api.manage.microsoft.com//.default"),
        ("3.2.0.542", 4, "https://api.manage.microsoft.com//.default"),
        ("3.3.0.430", 0, "https://api.manage.microsoft.com//.default"),
    ] {
        let sim = simulator(version, patch).await;
        let onboarding = gui_pipeline(&sim);
        let report = onboard::apply(&onboarding).await.expect("run");
        assert!(report.complete, "{version} p{patch}: {report:#?}");
        assert_eq!(sim.mdm_servers()[0].token_audience, audience);
        assert!(
            sim.test_connection("Intune").await.is_ok(),
            "{version} p{patch}"
        );
    }
}

#[tokio::test]
async fn without_the_root_import_ise_and_verification_name_the_problem() {
    let sim = simulator("3.3.0.430", 2).await;
    // Only the built-in (real) anchors: the simulator's root is not imported.
    let onboarding = sim::integration(sim.info(), Configurator::Gui, false, Options::default())
        .expect("pipeline");
    match onboard::apply(&onboarding).await {
        Err(Error::Apply(failure)) => {
            match failure.errors.as_slice() {
                [(StepName::ConfigureMdmServer, Error::MdmConfiguration { message })] => {
                    assert_eq!(message, TRUST_STORE_MESSAGE)
                }
                other => panic!("unexpected errors: {other:?}"),
            }
            // The failed run still says what it did and what it wrote.
            let report = failure.onboard_report().expect("onboarding's report");
            assert_eq!(report.ise_version, "3.3.0.430 patch 2");
            assert_eq!(report.errors[0].step, StepName::ConfigureMdmServer);
            assert!(
                report.written[0].starts_with("register_app (created): application"),
                "{:?}",
                report.written
            );
            assert_eq!(failure.written, report.written);
            let json = serde_json::to_value(&failure.report).expect("json");
            assert_eq!(json["errors"][0]["step"], "configure_mdm_server");
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(
        sim.test_connection("Intune").await,
        Err(TRUST_STORE_MESSAGE.to_owned())
    );

    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let app = ise_intune::integration::steps::find_app(&graph, &APP.into())
        .await
        .expect("app");
    let anchors = sim::anchors(sim.info(), false);
    let report = read_and_verify(VerifyInput {
        ise: &ise,
        graph: &graph,
        client_id: &app_details(&graph, &app).client_id,
        version: ise.version().await.expect("version"),
        admin_key: AdminKey::ExportFromIse,
        anchors: &anchors,
        propagation_wait: std::time::Duration::from_secs(5),
    })
    .await
    .expect("verification runs");
    assert!(!report.ok);
    let tls = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::TlsLogin)
        .expect("tls check");
    assert!(!tls.ok);
    // ISE ships the root, trusted for Cisco Services only: present is not trusted.
    assert!(
        tls.detail.contains(
            "chains to `Simulated Public Root G2` in ISE's trusted store, but ISE does not \
             use it for this connection: it is enabled and trusted for `Cisco Services`"
        ),
        "{}",
        tls.detail
    );

    // A store without it names the missing root.
    let bare = Simulator::builder()
        .ise_public_roots(false)
        .start()
        .await
        .expect("simulator");
    let (ise, graph) = sim::clients(bare.info()).expect("clients");
    let report = read_and_verify(VerifyInput {
        ise: &ise,
        graph: &graph,
        client_id: "00000000-0000-0000-0000-000000000001",
        version: ise.version().await.expect("version"),
        admin_key: AdminKey::ExportFromIse,
        anchors: &sim::anchors(bare.info(), false),
        propagation_wait: Duration::ZERO,
    })
    .await
    .expect("verification runs");
    let tls = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::TlsLogin)
        .expect("tls check");
    assert!(
        !tls.ok
            && tls
                .detail
                .contains("missing root `Simulated Public Root G2`"),
        "{}",
        tls.detail
    );
}

#[tokio::test]
async fn after_manual_action_a_second_run_completes() {
    let sim = simulator("3.2.0.542", 4).await;
    let manual = sim::integration(sim.info(), Configurator::Manual, true, Options::default())
        .expect("pipeline");
    let first = onboard::apply(&manual).await.expect("first run");
    assert!(!first.complete);
    let step = first
        .steps
        .iter()
        .find(|s| s.name == StepName::ConfigureMdmServer)
        .expect("step");
    assert_eq!(step.outcome, Outcome::ManualActionRequired);
    let checklist = first.manual_action.clone().expect("instructions");
    assert!(
        checklist.contains("Token Audience:            https://api.manage.microsoft.com//.default"),
        "{checklist}"
    );
    assert!(checklist.contains("Auto Discovery URL:"));

    // The operator follows the checklist in ISE's GUI.
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let app = ise_intune::integration::steps::find_app(&graph, &APP.into())
        .await
        .expect("app");
    let details = app_details(&graph, &app);
    let node_keys: Vec<String> = ise_intune::integration::keys::admin_certificates(&ise)
        .await
        .expect("export")
        .iter()
        .map(|a| a.certificate.sha1().to_hex())
        .collect();
    assert_eq!(node_keys.len(), 3);
    let settings = MdmServerSettings::for_release(
        &ise.version().await.expect("version"),
        "Intune",
        details.client_id,
        details.token_endpoint,
        details.auto_discovery_url,
    )
    .expect("settings")
    .with_ise_certificates(&node_keys);
    SimGuiConfigurator::new(ise.clone())
        .apply(&settings)
        .await
        .expect("operator adds the server");

    // ISE has no API to read the entry: without the operator's confirmation the step
    // still waits, whatever mdmInfo says.
    let second = onboard::apply(&manual).await.expect("second run");
    assert!(!second.complete);
    assert!(checklist.contains(&format!("mdm_confirmed = \"{}\"", settings.fingerprint())));

    let confirmed = |fingerprint: String| {
        let (ise, graph) = sim::clients(sim.info()).expect("clients");
        Integration::builder(ise.clone(), graph)
            .anchors(sim::anchors(sim.info(), true))
            .configurator(std::sync::Arc::new(
                ManualChecklist::new(ise).confirmed(Some(fingerprint)),
            ))
            .options(Options::default())
            .build()
    };
    // A confirmation of other settings (another client id) names what changed.
    let mut stale = settings.clone();
    stale.client_id = "00000000-0000-0000-0000-000000000000".into();
    let third = onboard::apply(&confirmed(stale.fingerprint()))
        .await
        .expect("stale");
    let todo = third.manual_action.expect("still manual");
    assert!(
        todo.contains("changed since they were confirmed: Client ID."),
        "{todo}"
    );

    let fourth = onboard::apply(&confirmed(settings.fingerprint()))
        .await
        .expect("confirmed run");
    assert!(fourth.complete, "{fourth:#?}");
    assert_eq!(fourth.requests.writes, 0);

    // After a node's Admin certificate changes (step 7), the confirmation no longer
    // covers what ISE signs with: the step asks for the disable/enable cycle and names
    // only that change.
    let mut renewed = node_keys.clone();
    renewed[2] = "0123456789ABCDEF0123456789ABCDEF01234567".into();
    let after_renewal = settings.clone().with_ise_certificates(&renewed);
    let step = ManualChecklist::new(ise)
        .confirmed(Some(settings.fingerprint()))
        .inspect(&after_renewal)
        .await
        .expect("inspect");
    assert_eq!(step.outcome, Outcome::ManualActionRequired);
    let todo = step.instructions.expect("instructions");
    assert!(
        todo.starts_with(
            "The expected settings changed since they were confirmed: ISE certificates. \
             ISE's Admin certificates changed"
        ),
        "{todo}"
    );
    assert!(todo.contains("set Status to Disabled and Save"), "{todo}");
    assert!(!todo.contains("Edit the entry"), "{todo}");
    assert!(todo.contains(&format!(
        "mdm_confirmed = \"{}\"",
        after_renewal.fingerprint()
    )));
}

fn pem_der(pem: &str) -> Vec<u8> {
    ise_intune::integration::certs::Certificate::from_pem(pem)
        .expect("pem")
        .der()
        .to_vec()
}

fn sha1_hex(der: &[u8]) -> String {
    ise_intune::integration::certs::Certificate::from_der(der)
        .expect("der")
        .sha1()
        .to_hex()
}

#[tokio::test]
async fn plan_reads_and_writes_nothing() {
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = gui_pipeline(&sim);
    let report = onboard::plan(&onboarding).await.expect("plan");
    // The plan is the type apply returns: planned, nothing written, only reads.
    assert!(report.planned && !report.complete, "{report:#?}");
    assert!(report.written.is_empty(), "{report:#?}");
    assert_eq!(report.requests.writes, 0);
    assert!(report.requests.reads > 0);
    let plan = report.changes();
    let changes: Vec<(&str, &str)> = plan
        .iter()
        .map(|p| (p.step.as_str(), p.outcome.planned()))
        .collect();
    assert_eq!(
        changes,
        [
            ("check_ise_version", "none"),
            ("register_app", "create"),
            ("upload_certificate", "update"),
            ("grant_permissions", "update"),
            ("import_trust_anchors", "create"),
            ("configure_mdm_server", "create"),
        ]
    );
    assert_eq!(remote_writes(&sim), Vec::<String>::new());
    let json = serde_json::to_value(&plan[1]).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "step": "register_app",
            "change": "create",
            "outcome": "created",
            "detail": format!("application `{APP}` and its service principal"),
        })
    );
    assert!(
        sim.snapshot()["applications"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "only the automation app"
    );
}

#[tokio::test]
async fn two_applications_with_the_name_are_ambiguous() {
    let sim = Simulator::builder()
        .seed_app(SeedApp {
            display_name: APP.into(),
            key_certificates_der: vec![],
        })
        .seed_app(SeedApp {
            display_name: APP.into(),
            key_certificates_der: vec![],
        })
        .start()
        .await
        .expect("sim");
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    match ise_intune::integration::steps::register_app(
        &graph,
        &APP.into(),
        &ise_intune::integration::observe::app(&graph, &APP.into())
            .await
            .expect("observe"),
    )
    .await
    {
        Err(Error::AmbiguousApplication {
            name,
            count,
            candidates,
        }) => {
            assert_eq!((name.as_str(), count, candidates.len()), (APP, 2, 2))
        }
        other => panic!("unexpected: {other:?}"),
    }
    // Through the pipeline, the candidate holding ISE's key is named: give it to the
    // first one, as an operator who registered it by hand would have.
    let admin = ise_intune::integration::certs::Certificate::from_pem(
        &std::fs::read_to_string(&sim.info().ise.admin_cert_pem_path).expect("admin cert"),
    )
    .expect("pem");
    let first = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == APP)
        .and_then(|a| a["id"].as_str())
        .expect("first candidate")
        .to_owned();
    graph
        .application(first)
        .add_certificate(&ise_intune::integration::decide::certificate_key(&admin))
        .await
        .expect("key added");
    let onboarding = gui_pipeline(&sim);
    match onboard::apply(&onboarding).await {
        Err(Error::Apply(failure)) => match failure.errors.as_slice() {
            [(StepName::RegisterApp, e @ Error::AmbiguousApplication { candidates, .. })] => {
                let marked: Vec<Option<bool>> =
                    candidates.iter().map(|c| c.holds_ise_key).collect();
                assert_eq!(marked, [Some(true), Some(false)]);
                assert!(e.to_string().contains("holds ISE's key"), "{e}");
            }
            other => panic!("unexpected errors: {other:?}"),
        },
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn a_registered_key_with_another_name_is_reported() {
    use ise_intune::graph_client::CertificateKey;
    use ise_intune::integration::keys::admin_certificates;
    use ise_intune::integration::steps::upload_certificates;
    let sim = simulator("3.3.0.430", 2).await;
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let seen = ise_intune::integration::observe::app(&graph, &APP.into())
        .await
        .expect("observe");
    let app = ise_intune::integration::steps::register_app(&graph, &APP.into(), &seen)
        .await
        .expect("app")
        .value;
    let cert = admin_certificates(&ise).await.expect("export")[0]
        .certificate
        .clone();
    graph
        .application(app.object_id.clone())
        .add_certificate(&CertificateKey {
            der: cert.der().to_vec(),
            display_name: "CN=someone else".into(),
            start_date_time: None,
            end_date_time: None,
        })
        .await
        .expect("key added by hand");
    // Step 3 decides from what was read: read the application again.
    let app = ise_intune::integration::steps::find_app(&graph, &APP.into())
        .await
        .expect("app");
    match upload_certificates(&graph, &app, &[&cert]).await {
        Err(Error::KeyNameMismatch { expected, found }) => {
            assert_eq!(expected, format!("CN={}", cert.common_name().expect("cn")));
            assert_eq!(found, "CN=someone else");
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn plan_predicts_what_apply_reports() {
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = gui_pipeline(&sim);
    for run in ["first", "second"] {
        let plan = onboard::plan(&onboarding).await.expect("plan").changes();
        let report = onboard::apply(&onboarding).await.expect("apply");
        assert!(report.complete, "{run}: {report:#?}");
        for planned in &plan {
            let applied = report
                .steps
                .iter()
                .find(|s| s.name == planned.step)
                .expect("step reported");
            assert_eq!(
                applied.outcome, planned.outcome,
                "{run} run, {}: plan said {}, apply did {}",
                planned.step, planned.outcome, applied.outcome
            );
        }
    }
}

/// The keys of `onboard --json` are a contract: added to, never renamed.
#[tokio::test]
async fn report_json_keys_are_stable() {
    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    }
    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = gui_pipeline(&sim);
    let report =
        serde_json::to_value(onboard::apply(&onboarding).await.expect("run")).expect("json");
    assert_eq!(
        keys(&report),
        [
            "complete",
            "errors",
            "ise_version",
            "manual_action",
            "requests",
            "steps",
            "verification",
            "written"
        ]
    );
    assert_eq!(keys(&report["requests"]), ["reads", "writes"]);
    assert_eq!(keys(&report["verification"]), ["checks", "ok"]);
    assert_eq!(
        keys(&report["steps"][0]),
        ["detail", "elapsed_ms", "name", "outcome"]
    );
    assert_eq!(
        keys(&report["verification"]["checks"][0]),
        ["detail", "name", "node", "ok", "skipped"]
    );
    let names: Vec<&str> = report["verification"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "tls:login",
            "tls:graph",
            "token",
            "discovery",
            "tls:intune",
            "intune_token",
            "mdminfo",
            "token",
            "discovery",
            "intune_token",
            "mdminfo"
        ]
    );
}

/// A root whose friendly name another certificate holds is imported under another
/// name and ends trusted; a present root lacking the trust flags is fixed in place.
#[tokio::test]
async fn a_friendly_name_clash_still_ends_with_the_root_trusted() {
    use ise_intune::integration::anchors::TrustAnchorSet;
    let builtin = TrustAnchorSet::builtin();
    let pem = |name: &str| builtin.get(name).expect("anchor").certificate().to_pem();
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        // Another certificate under the G1 anchor's name ...
        .seed_trusted_certificate(
            "DigiCert Global Root CA",
            pem("Microsoft RSA Root Certificate Authority 2017"),
        )
        // ... and G2 present, trusted for ISE but not for Cisco services.
        .seed_trusted_certificate("DigiCert Global Root G2", pem("DigiCert Global Root G2"))
        .start()
        .await
        .expect("simulator");
    let onboarding = gui_pipeline(&sim);
    let report = onboard::apply(&onboarding).await.expect("run");
    assert!(report.complete, "{report:#?}");
    let g1 = builtin
        .get("DigiCert Global Root CA")
        .expect("G1")
        .certificate()
        .sha256()
        .to_hex();
    let g2 = builtin
        .get("DigiCert Global Root G2")
        .expect("G2")
        .certificate()
        .sha256()
        .to_hex();
    let snapshot = sim.snapshot();
    let store = snapshot["ise"]["trustedCertificates"]
        .as_array()
        .expect("store")
        .clone();
    let entry = |sha: &str| {
        store
            .iter()
            .find(|t| t["sha256"] == sha)
            .cloned()
            .expect("in the store")
    };
    let g1_entry = entry(&g1);
    assert_eq!(
        g1_entry["friendlyName"],
        "DigiCert Global Root CA (ise-intune)"
    );
    assert_eq!(g1_entry["trustForIseAuth"], true);
    let g2_entry = entry(&g2);
    assert_eq!(
        (
            g2_entry["friendlyName"].as_str(),
            g2_entry["trustForCiscoServicesAuth"].as_bool(),
            g2_entry["enabled"].as_bool()
        ),
        (Some("DigiCert Global Root G2"), Some(true), Some(true))
    );
    // The certificate that held the name is untouched.
    assert!(
        store
            .iter()
            .any(|t| t["friendlyName"] == "DigiCert Global Root CA" && t["sha256"] != g1.as_str())
    );
    let step = report
        .steps
        .iter()
        .find(|s| s.name == StepName::ImportTrustAnchors)
        .expect("step");
    assert_eq!(step.outcome, Outcome::Created);
    // A second run changes nothing.
    let again = onboard::apply(&onboarding).await.expect("second run");
    assert_eq!(again.requests.writes, 0, "{again:#?}");
}

/// A shared wildcard Admin certificate collapses to one key; a standalone node is its
/// own policy service node.
#[tokio::test]
async fn shared_and_standalone_deployments() {
    for (nodes, shared, keys, checks) in [(3, true, 1, 7), (1, false, 1, 7)] {
        let sim = Simulator::builder()
            .nodes(nodes)
            .shared_admin_certificate(shared)
            .replication_lag(Duration::from_millis(100))
            .start()
            .await
            .expect("simulator");
        let onboarding = gui_pipeline(&sim);
        let report = onboard::apply(&onboarding).await.expect("run");
        assert!(
            report.complete,
            "{nodes} nodes, shared {shared}: {report:#?}"
        );
        let app_keys = sim.snapshot()["applications"]
            .as_array()
            .expect("apps")
            .iter()
            .find(|a| a["displayName"] == APP)
            .expect("app")["keyCredentials"]
            .as_array()
            .expect("keys")
            .len();
        assert_eq!(app_keys, keys);
        assert_eq!(report.verification.checks.len(), checks);
    }
}

/// After onboarding, a client acting as a policy service node — its own exported key, a
/// v1 token with `resource=`, discovery, `mdminfo` v3, the non-compliant poll and a GUID
/// query — gets Intune's v3 answers in the real shape.
#[tokio::test]
async fn a_policy_service_node_queries_intune_with_its_own_key() {
    use ise_intune::graph_client::{
        AssertionAlgorithm, ClientCertificate, Credentials, TokenAudience,
    };
    use ise_intune::integration::keys::decrypt_pkcs8_pem;
    use ise_intune::ise_client::{ExportKind, SecretString};

    let sim = simulator("3.3.0.430", 2).await;
    let onboarding = gui_pipeline(&sim);
    let report = onboard::apply(&onboarding).await.expect("run");
    assert!(report.complete, "{report:#?}");
    let client_id = report.steps[1]
        .detail
        .split("client id ")
        .nth(1)
        .and_then(|s| s.strip_suffix(')'))
        .expect("client id")
        .to_owned();

    // The policy service node's own certificate and key, exported from ISE.
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let psn = ise_intune::integration::keys::admin_certificates(&ise)
        .await
        .expect("export")
        .into_iter()
        .find(|a| a.node.hostname == "ise-psn")
        .expect("policy service node");
    let export = ise
        .system_certificates("ise-psn")
        .export(
            &psn.system_certificate.id,
            &ExportKind::WithPrivateKey(SecretString::from("Nodekey2026".to_owned())),
        )
        .await
        .expect("export with key");
    let key = decrypt_pkcs8_pem(export.private_key.expect("key").pem(), "Nodekey2026")
        .expect("decrypted");
    let cert = ClientCertificate::from_der(
        client_id,
        psn.certificate.der().to_vec(),
        &rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        AssertionAlgorithm::Rs256,
    )
    .expect("credential");
    let node = graph.with_credentials(Credentials::Certificate(cert));

    // ISE's flow: v1 token with resource=, discovery, then Intune.
    let endpoint = node
        .intune_endpoints()
        .await
        .expect("discovery")
        .into_iter()
        .find(|e| e.provider_name == "ComplianceRetrievalService")
        .expect("v3 endpoint");
    let token = node
        .access_token(&TokenAudience::Resource(
            "https://api.manage.microsoft.com/".into(),
        ))
        .await
        .expect("v1 token for Intune");
    let get = |path: String| {
        let (node, token) = (node.clone(), token.clone());
        async move {
            node.get_with_token(&path, &token, "application/xml")
                .await
                .expect("answer")
        }
    };
    let base = endpoint.uri.trim_end_matches('/').to_owned();
    let (status, mdminfo) = get(format!("{base}/ciscoise/mdminfo/?ise_api_version=3")).await;
    assert_eq!(status, 200);
    assert!(
        mdminfo.contains("<api_version>3</api_version>"),
        "{mdminfo}"
    );
    let (status, poll) = get(format!(
        "{base}/cisco/devices/?paging=0&querycriteria=compliance&value=false&deviceidentifier=guid&filter=all"
    ))
    .await;
    assert_eq!(status, 200);
    assert!(
        poll.contains("<Compliance><status>false</status></Compliance>"),
        "{poll}"
    );
    let guid = poll
        .split("<guid>")
        .nth(1)
        .and_then(|s| s.split("</guid>").next())
        .expect("a device")
        .to_owned();
    let (status, one) = get(format!(
        "{base}/cisco/devices/?paging=0&querycriteria=guid&value={guid}&filter=all"
    ))
    .await;
    assert_eq!(status, 200);
    assert!(
        one.contains(&format!(
            "<device><guid>{guid}</guid><Attributes><guid>{guid}</guid>"
        )),
        "{one}"
    );
}

/// ISE lets a node use an ECDSA Admin certificate; Entra ID would refuse every client
/// assertion it signs. Plan and apply refuse it before anything is written, saying what
/// to change in ISE (the token service's refusal is `simulator/tests/walk.rs`).
#[tokio::test]
async fn ecdsa_admin_certificates_are_refused_before_any_write() {
    let sim = Simulator::builder()
        .ecdsa_admin_certificates(true)
        .start()
        .await
        .expect("simulator");
    let onboarding = gui_pipeline(&sim);
    match onboard::plan(&onboarding).await {
        Err(Error::NonRsaAdminCertificate { node, algorithm }) => {
            assert_eq!((node.as_str(), algorithm.as_str()), ("ise-pan", "EC"));
        }
        other => panic!("plan: unexpected {other:?}"),
    }
    match onboard::apply(&onboarding).await {
        Err(Error::Apply(failure)) => match failure.errors.as_slice() {
            [(StepName::ExportAdminCertificate, e @ Error::NonRsaAdminCertificate { .. })] => {
                let text = e.to_string();
                assert!(text.contains("key type RSA"), "{text}");
                assert!(failure.written.is_empty());
            }
            other => panic!("unexpected errors: {other:?}"),
        },
        other => panic!("apply: unexpected {other:?}"),
    }
    // Only reads (apply reads ISE and Graph at once before deciding anything).
    assert_eq!(remote_writes(&sim), Vec::<String>::new());
    assert!(
        sim.request_log()
            .iter()
            .filter(|r| r.service == "graph")
            .all(|r| r.method == "GET"),
        "nothing written to Graph"
    );
}

/// Entra's app-management policies can cap key lifetimes below ISE's long-lived
/// certificates. With `Policy.Read.All` the library reads them before step 1 and stops
/// before anything is written, naming the policy and the limit; without it, Graph's own
/// refusal is reported as the same error. Either way the application holds no key
/// afterwards.
#[tokio::test]
async fn a_key_lifetime_policy_stops_the_upload_before_any_write() {
    use ise_intune_simulator::DEFAULT_AUTOMATION_ROLES;
    for may_read_policies in [true, false] {
        let mut roles: Vec<&str> = DEFAULT_AUTOMATION_ROLES.to_vec();
        if may_read_policies {
            roles.push("Policy.Read.All");
        }
        let sim = Simulator::builder()
            .replication_lag(Duration::from_millis(100))
            .automation_roles(roles)
            .start()
            .await
            .expect("simulator");
        sim.set_key_lifetime_policy(90, None);
        let failure = match onboard::apply(&gui_pipeline(&sim)).await {
            Err(Error::Apply(failure)) => failure,
            other => panic!("expected the upload to be refused, got {other:?}"),
        };
        let refused = failure
            .errors
            .iter()
            .find(|(step, _)| *step == StepName::UploadCertificate)
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("upload_certificate failed: {failure}"));
        match refused {
            Error::KeyRefusedByPolicy {
                policy,
                max_lifetime,
                lifetime_days,
                ..
            } => {
                assert!(*lifetime_days > 90, "{refused}");
                if may_read_policies {
                    assert!(policy.contains("the tenant's default"), "{policy}");
                    assert_eq!(max_lifetime, "P90D");
                } else {
                    assert!(policy.contains("Credential lifetime exceeds"), "{policy}");
                }
            }
            other => panic!("expected KeyRefusedByPolicy, got {other:?}"),
        }
        assert_eq!(
            refused.kind(),
            ise_intune::integration::ErrorKind::Certificate
        );
        assert!(
            refused.to_string().contains("nothing was written"),
            "{refused}"
        );
        let apps = sim.snapshot()["applications"].clone();
        let ours = apps
            .as_array()
            .expect("applications")
            .iter()
            .find(|a| a["displayName"] == APP);
        if may_read_policies {
            // Read before step 1: nothing at all was written.
            assert!(ours.is_none(), "no application was registered: {ours:?}");
            let writes: Vec<String> = sim
                .request_log()
                .iter()
                .filter(|r| {
                    r.method != "GET"
                        && (r.service == "graph" || r.path.contains("trustedcertificate"))
                })
                .map(|r| format!("{} {} {}", r.service, r.method, r.path))
                .collect();
            assert!(writes.is_empty(), "{writes:?}");
        } else {
            let ours = ours.expect("the application was registered");
            assert_eq!(
                ours["keyCredentials"].as_array().map(Vec::len),
                Some(0),
                "no key was written: {ours}"
            );
        }
        // Doctor names the policy when it may read it.
        let d = ise_intune::integration::doctor::diagnose(&gui_pipeline(&sim))
            .await
            .expect("doctor");
        let named = d.with_id("app.key_policy").next();
        assert_eq!(named.is_some(), may_read_policies, "{:#?}", d.findings);
        if let Some(f) = named {
            assert!(f.summary.contains("P90D"), "{f:#?}");
        }
    }
}

/// Verification of `input` on what [`Seen::read`] reads for it.
async fn read_and_verify(
    input: VerifyInput<'_>,
) -> Result<VerificationReport, ise_intune::integration::Error> {
    let seen = Seen::read(&input).await?;
    verify_connection(input, &seen).await
}
