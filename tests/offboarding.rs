//! Offboarding end to end: after onboard and enforce, offboarding leaves the simulator
//! as a fresh one except for what was there before (a foreign application, a foreign
//! rule, a root someone else imported — each byte for byte as it was); the plan shows
//! what ISE would then authorize; a second run writes nothing; onboarding afterwards
//! integrates again. The External MDM entry waits for a person with the manual
//! checklist, and nothing else is removed until then.

use std::time::Duration;

use ise_intune::integration::offboard::{self, ObjectKind, SampleDevice};
use ise_intune::integration::outcome::Outcome;
use ise_intune::integration::{
    Error, ErrorKind, Integration, PartialReport, context::Options, enforce, onboard,
};
use ise_intune::ise_client::Method;
use ise_intune_simulator::{SeedApp, Simulator, SimulatorBuilder};
use ise_intune_testkit::{self as sim, Configurator, SimAuthorizationPreview};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/policy/network-access";
const FOREIGN_APP: &str = "Payroll (not the integration's)";
const FOREIGN_RULE: &str = "Lab_Printers";
const FOREIGN_ROOT: &str = "PKI team copy of Microsoft RSA 2017";

fn builder() -> SimulatorBuilder {
    let builtin = ise_intune::integration::anchors::TrustAnchorSet::builtin();
    let anchor = |n: &str| {
        builtin
            .get(n)
            .expect("a builtin anchor")
            .certificate()
            .clone()
    };
    Simulator::builder()
        .seed(31)
        .replication_lag(Duration::from_millis(50))
        .seed_app(SeedApp {
            display_name: FOREIGN_APP.into(),
            key_certificates_der: vec![anchor("DigiCert Global Root G3").der().to_vec()],
        })
        // A root another team imported before the integration: one of the anchors.
        .seed_trusted_certificate(
            FOREIGN_ROOT,
            anchor("Microsoft RSA Root Certificate Authority 2017").to_pem(),
        )
}

fn options() -> Options {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    o
}

fn pipeline(s: &Simulator, configurator: Configurator) -> Integration {
    sim::integration(s.info(), configurator, true, options()).expect("integration")
}

/// A run with the manual checklist (the entry not confirmed removed): it removes what
/// it may, records ISE's count of active External MDM servers and waits for a person.
async fn records_the_count(s: &Simulator) {
    let manual = pipeline(s, Configurator::Manual);
    assert!(
        !offboard::apply(&manual, &[])
            .await
            .expect("offboard")
            .complete
    );
}

/// A pipeline whose operator confirms the External MDM entry is gone (`--mdm-removed`).
fn mdm_removed(s: &Simulator) -> Integration {
    let (ise, graph) = sim::clients(s.info()).expect("clients");
    Integration::builder(ise, graph)
        .anchors(sim::anchors(s.info(), true))
        .options(options())
        .mdm_removed(true)
        .build()
}

/// A rule someone made by hand in the default policy set.
async fn seed_foreign_rule(ctx: &Integration) {
    let sets = ctx
        .ise()
        .request(Method::GET, &format!("{BASE}/policy-set"), None)
        .await
        .expect("sets");
    let set = sets["response"][0]["id"]
        .as_str()
        .expect("a set")
        .to_owned();
    let body = json!({"rule": {"name": FOREIGN_RULE, "default": false, "state": "enabled",
        "condition": {"conditionType": "ConditionAttributes", "isNegate": false,
            "dictionaryName": "Radius", "attributeName": "NAS-Port-Type",
            "operator": "equals", "attributeValue": "Ethernet"}},
        "profile": ["PermitAccess"]});
    ctx.ise()
        .request(
            Method::POST,
            &format!("{BASE}/policy-set/{set}/authorization"),
            Some(body),
        )
        .await
        .expect("a foreign rule");
}

/// Where two JSON values differ, as JSON pointers with both sides (short enough to
/// read in a failure).
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(l, r, &format!("{at}/{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differences(l, r, &format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} != {b}")),
        _ => {}
    }
}

fn assert_same(a: &Value, b: &Value, what: &str) {
    let mut out = Vec::new();
    differences(a, b, "", &mut out);
    assert!(out.is_empty(), "{what}:\n{}", out.join("\n"));
}

/// The snapshot without what time alone changes (the clock) and the directory's
/// deleted items (checked on their own).
fn comparable(mut snapshot: Value) -> Value {
    if let Some(o) = snapshot.as_object_mut() {
        o.remove("clock");
        o.remove("deletedItems");
    }
    snapshot
}

/// Writes to ISE and Graph (a token request changes nothing).
/// `snapshot` without the fingerprints of the roots each simulator generates anew when
/// it starts (the simulated Cisco and public roots): two simulators differ only there.
fn without_generated_keys(mut snapshot: Value) -> Value {
    if let Some(certs) = snapshot["ise"]["trustedCertificates"].as_array_mut() {
        for c in certs {
            let generated = c["subject"]
                .as_str()
                .is_some_and(|s| s.to_ascii_lowercase().contains("simulat"));
            if generated && let Some(o) = c.as_object_mut() {
                o.remove("sha256");
            }
        }
    }
    snapshot
}

/// The integration's application as the simulator holds it.
/// Whether the simulated tenant holds no application with the integration's name.
fn no_integration_app(s: &Simulator) -> bool {
    s.snapshot()["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .all(|a| a["displayName"] != "Cisco ISE Intune integration")
}

fn last_app(s: &Simulator) -> Value {
    s.snapshot()["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["displayName"] == "Cisco ISE Intune integration")
        .cloned()
        .expect("the application")
}

/// The writes ISE and Graph served: every request but a read (a GET, or the
/// certificate export, a POST that reads the nodes' public certificates).
fn writes(s: &Simulator) -> u64 {
    let served = s
        .request_log()
        .into_iter()
        .filter(|r| r.service == "ise" || r.service == "graph")
        .filter(|r| r.method != "GET" && r.path != "/api/v1/certs/system-certificate/export")
        .count();
    u64::try_from(served).unwrap_or(u64::MAX)
}

/// The simulator's state without its clock (which moves on while a test runs).
fn state(sim: &Simulator) -> Value {
    let mut s = sim.snapshot();
    if let Some(o) = s.as_object_mut() {
        o.remove("clock");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_leaves_a_fresh_simulator_and_what_was_there_before() {
    let fresh = builder().start().await.expect("fresh simulator");
    seed_foreign_rule(&pipeline(&fresh, Configurator::Gui)).await;
    let s = builder().start().await.expect("simulator");
    let ctx = pipeline(&s, Configurator::Gui);
    seed_foreign_rule(&ctx).await;
    let before = comparable(s.snapshot());
    assert_same(
        &without_generated_keys(before.clone()),
        &without_generated_keys(comparable(fresh.snapshot())),
        "the two start alike",
    );

    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    assert_eq!(enforce::apply(&ctx).await.expect("enforce").writes(), 4);
    let app = &s.snapshot()["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["displayName"] == "Cisco ISE Intune integration")
        .cloned()
        .expect("the integration's application");
    assert_eq!(app["tags"], json!(["ise-intune-managed"]));

    // The plan writes nothing and shows the effect on the network.
    let previewing = SimAuthorizationPreview::new(s.info()).expect("preview");
    let written = writes(&s);
    let plan = offboard::plan_previewed(&ctx, &[], &previewing)
        .await
        .expect("plan");
    assert_eq!(writes(&s), written, "a plan writes nothing");
    let kinds: Vec<(ObjectKind, Outcome)> =
        plan.removals.iter().map(|r| (r.kind, r.outcome)).collect();
    assert_eq!(kinds[0], (ObjectKind::MdmServer, Outcome::Removed));
    assert_eq!(
        kinds
            .iter()
            .filter(|(k, _)| *k == ObjectKind::AuthorizationRule)
            .count(),
        4
    );
    assert_eq!(
        kinds.last(),
        Some(&(ObjectKind::Application, Outcome::Removed))
    );
    type Seen<'a> = (SampleDevice, Option<&'a str>, Vec<&'a str>, Option<&'a str>);
    let preview: Vec<Seen> = plan
        .preview
        .iter()
        .map(|p| {
            (
                p.device,
                p.now.rule.as_deref(),
                p.now.profiles.iter().map(String::as_str).collect(),
                p.after.rule.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        preview,
        [
            (
                SampleDevice::Compliant,
                Some("Intune_Compliant"),
                vec!["PermitAccess"],
                Some("Default")
            ),
            (
                SampleDevice::NonCompliant,
                Some("Intune_NonCompliant"),
                vec!["MDM_Quarantine"],
                Some("Default")
            ),
            (
                SampleDevice::Unknown,
                Some("Intune_Unregistered"),
                vec!["MDM_Redirect"],
                Some("Default")
            ),
        ]
    );
    assert!(
        plan.preview
            .iter()
            .all(|p| p.after.profiles == ["DenyAccess"])
    );

    let done = offboard::apply(&ctx, &[]).await.expect("offboard");
    assert!(done.complete, "{done:#?}");
    assert_eq!(done.removals, plan.removals, "apply did what the plan said");
    let restorable = done.restorable.expect("the application is restorable");
    let deleted = s.snapshot()["deletedItems"].clone();
    let kinds: Vec<&str> = deleted
        .as_array()
        .expect("deleted items")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["servicePrincipal", "application"]);
    assert_eq!(deleted[1]["id"], restorable.object_id.as_str());
    assert!(restorable.message.contains("30 days"));
    assert!(restorable.message.contains(&restorable.object_id));
    assert_same(
        &comparable(s.snapshot()),
        &before,
        "offboarded, the simulator is as it was before onboarding",
    );
    assert_same(
        &without_generated_keys(comparable(s.snapshot())),
        &without_generated_keys(comparable(fresh.snapshot())),
        "offboarded, the simulator is a fresh one with the foreign objects",
    );

    // A second run writes nothing, and reads each thing once.
    s.clear_request_log();
    let written = writes(&s);
    let again = offboard::apply(&ctx, &[]).await.expect("offboard again");
    assert_eq!(again.writes(), 0, "{again:#?}");
    assert_eq!(writes(&s), written);
    let mut read: Vec<String> = s
        .request_log()
        .into_iter()
        .filter(|r| r.service != "login")
        .map(|r| {
            let path = match r.path.split_once("/policy-set/") {
                Some((base, _)) => format!("{base}/policy-set/{{set}}/authorization"),
                None => r.path,
            };
            let path = match path.split_once("(uniqueName=") {
                Some((base, _)) => format!("{base}(uniqueName=…)"),
                None => path,
            };
            format!("{} {path}", r.method)
        })
        .collect();
    read.sort();
    assert_eq!(
        read,
        [
            "GET /api/v1/certs/trusted-certificate",
            "GET /api/v1/policy/network-access/policy-set",
            "GET /api/v1/policy/network-access/policy-set/{set}/authorization",
            "GET /ers/config/deploymentinfo/getAllInfo",
            "GET /sim-gui/external-mdm/Intune",
            "GET /v1.0/applications",
            "GET /v1.0/applications(uniqueName=…)",
        ]
    );

    // Onboarding afterwards integrates again.
    assert!(onboard::apply(&ctx).await.expect("onboard again").complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_manual_checklist_nothing_goes_before_the_entry() {
    let s = builder().start().await.expect("simulator");
    let gui = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&gui).await.expect("onboard").complete);
    let manual = pipeline(&s, Configurator::Manual);
    let written = writes(&s);
    let waiting = offboard::apply(&manual, &[]).await.expect("offboard");
    assert!(!waiting.complete);
    // Nothing removed before the entry: the one write records on the application how
    // many External MDM servers ISE reported active (1: the entry).
    assert_eq!(writes(&s), written + 1, "nothing removed before the entry");
    let recorded = last_app(&s);
    assert!(
        recorded["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("ise-intune-offboarding:active-mdm-servers=1")),
        "{recorded}"
    );
    assert!(
        recorded["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("ise-intune-managed"))
    );
    assert_eq!(waiting.removals.len(), 1);
    assert_eq!(waiting.removals[0].outcome, Outcome::ManualActionRequired);
    let todo = waiting.removals[0]
        .instructions
        .as_deref()
        .expect("instructions");
    assert!(todo.contains("External MDM > Intune"), "{todo}");
    assert!(
        waiting
            .remaining
            .iter()
            .any(|r| r.kind == ObjectKind::Application)
    );
    // The person deletes the entry in the GUI and confirms.
    gui.configurator()
        .remove("Intune")
        .await
        .expect("the person removes the entry");
    let confirmed = mdm_removed(&s);
    let done = offboard::apply(&confirmed, &[]).await.expect("offboard");
    assert!(done.complete, "{done:#?}");
    assert_eq!(done.removals[0].outcome, Outcome::Unchanged);
    assert!(no_integration_app(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmarked_application_stays_unless_named() {
    let s = builder().start().await.expect("simulator");
    let ctx = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    // Someone removed the marker by hand.
    let graph = ctx.graph();
    let app = ise_intune::integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("the application");
    graph
        .applications()
        .update(
            &app.object_id,
            &ise_intune::graph_client::ApplicationUpdate {
                tags: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .expect("untag");
    let done = offboard::apply(&ctx, &[]).await.expect("offboard");
    assert!(
        done.removals
            .iter()
            .all(|r| r.kind != ObjectKind::Application)
    );
    let kept = done
        .kept
        .iter()
        .find(|k| k.kind == ObjectKind::Application)
        .expect("the application is kept");
    assert!(kept.reason.contains("--adopt"), "{}", kept.reason);
    let named = offboard::apply(
        &ctx,
        &[offboard::Adopt::new(
            ObjectKind::Application,
            app.client_id.clone(),
        )],
    )
    .await
    .expect("offboard, named");
    assert_eq!(
        named.removals.last().map(|r| (r.kind, r.outcome)),
        Some((ObjectKind::Application, Outcome::Removed))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdm_removed_is_a_confirmation_not_a_proof_the_application_stays_while_the_entry_lives() {
    let s = builder().start().await.expect("simulator");
    let gui = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&gui).await.expect("onboard").complete);
    assert_eq!(enforce::apply(&gui).await.expect("enforce").writes(), 4);
    // The administrator says the entry is gone; it is still enabled in ISE.
    let believed = mdm_removed(&s);
    let plan = offboard::plan(&believed, &[]).await.expect("plan");
    let guard = &plan.guards[0];
    assert_eq!((guard.id, guard.holds), (offboard::ENTRY_GONE_GUARD, false));
    let failure = match offboard::apply(&believed, &[]).await {
        Err(Error::Apply(failure)) => failure,
        other => panic!("a failure after the rules' removal, got {other:?}"),
    };
    assert_eq!(failure.errors[0].1.kind(), ErrorKind::Guard);
    let Error::GuardFailed { failed, .. } = &failure.errors[0].1 else {
        panic!("the guard");
    };
    assert_eq!(
        failed[0].evidence,
        "ISE reports 1 active External MDM server(s) and offboarding recorded no count \
         before the entry's removal: whether one of them is `Intune` cannot be told"
    );
    // What it removed is listed: the rules, first, and nothing of Entra's.
    let PartialReport::Offboard(done) = &failure.report else {
        panic!("offboarding's report");
    };
    assert_eq!(
        done.removals
            .iter()
            .map(|r| (r.kind, r.outcome))
            .collect::<Vec<_>>(),
        [
            (ObjectKind::MdmServer, Outcome::Unchanged),
            (ObjectKind::AuthorizationRule, Outcome::Removed),
            (ObjectKind::AuthorizationRule, Outcome::Removed),
            (ObjectKind::AuthorizationRule, Outcome::Removed),
            (ObjectKind::AuthorizationRule, Outcome::Removed),
        ]
    );
    // The application, its principal and ISE's entry are all still there.
    assert_eq!(last_app(&s)["displayName"], "Cisco ISE Intune integration");
    assert_eq!(s.mdm_servers().len(), 1);
    assert!(s.test_connection("Intune").await.is_ok());

    // A run without the flag records ISE's count; once the entry is really gone, the
    // confirmed run finishes.
    records_the_count(&s).await;
    gui.configurator()
        .remove("Intune")
        .await
        .expect("the person removes the entry");
    let done = offboard::apply(&believed, &[]).await.expect("offboard");
    assert!(done.complete, "{done:#?}");
    assert!(done.guards[0].holds);
    assert_eq!(
        done.guards[0].evidence,
        "ISE reports no active External MDM server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_look_alike_and_a_shared_application_survive_two_offboards() {
    let s = builder().start().await.expect("simulator");
    let ctx = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    let graph = ctx.graph();
    // Someone's own application: the same display name in another case, no
    // uniqueName, and the integration's tag copied onto it.
    let mut new =
        ise_intune::graph_client::NewApplication::single_tenant("cisco ise intune integration");
    new.tags = vec!["ise-intune-managed".into()];
    let look_alike = graph
        .applications()
        .create(&new)
        .await
        .expect("a look-alike");
    // The integration's application also holds another deployment's key.
    let app = ise_intune::integration::steps::find_app(graph, &ctx.options().app_identity())
        .await
        .expect("the application");
    let other = ise_intune::integration::anchors::TrustAnchorSet::builtin()
        .get("DigiCert Global Root G3")
        .expect("an anchor")
        .certificate()
        .der()
        .to_vec();
    graph
        .application(app.object_id.clone())
        .add_certificate(&ise_intune::graph_client::CertificateKey {
            der: other,
            display_name: "other-deployment-ise".into(),
            start_date_time: None,
            end_date_time: None,
        })
        .await
        .expect("a second deployment's key");
    tokio::time::sleep(Duration::from_millis(100)).await;

    for run in 1..=2 {
        let done = offboard::apply(&ctx, &[]).await.expect("offboard");
        assert!(done.complete, "run {run}: {done:#?}");
        assert!(
            done.removals
                .iter()
                .all(|r| r.kind != ObjectKind::Application),
            "run {run}: {done:#?}"
        );
        let kept = done
            .kept
            .iter()
            .find(|k| k.kind == ObjectKind::Application)
            .expect("the application is kept and named");
        assert!(
            kept.reason.contains("another ISE deployment may use it"),
            "run {run}: {}",
            kept.reason
        );
    }
    let apps = s.snapshot()["applications"].clone();
    let names: Vec<&str> = apps
        .as_array()
        .expect("applications")
        .iter()
        .filter_map(|a| a["displayName"].as_str())
        .collect();
    assert!(names.contains(&"cisco ise intune integration"), "{names:?}");
    assert!(names.contains(&"Cisco ISE Intune integration"), "{names:?}");

    // With the shared application gone by hand, a third run finds only the look-alike,
    // by display name, and keeps it.
    graph
        .applications()
        .delete(&app.object_id)
        .await
        .expect("deleted by hand");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = offboard::apply(&ctx, &[]).await.expect("offboard");
    let kept = third
        .kept
        .iter()
        .find(|k| k.kind == ObjectKind::Application)
        .expect("the look-alike is kept and named");
    assert!(
        kept.reason.contains("found only by its display name"),
        "{}",
        kept.reason
    );
    assert_eq!(kept.id.as_deref(), Some(look_alike.app_id.as_str()));
    // An adoption that matches nothing stops before any write.
    let written = writes(&s);
    let nothing = offboard::apply(
        &ctx,
        &[offboard::Adopt::new(
            ObjectKind::AuthorizationRule,
            "No_Such_Rule",
        )],
    )
    .await;
    assert!(matches!(nothing, Err(Error::Config { .. })), "{nothing:?}");
    assert_eq!(writes(&s), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_as_an_ers_operator_writes_nothing_anywhere() {
    let s = builder().start().await.expect("simulator");
    let ctx = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    assert_eq!(enforce::apply(&ctx).await.expect("enforce").writes(), 4);
    s.set_ise_role(ise_intune_simulator::IseRole::ErsOperator);
    let before = state(&s);
    let written = writes(&s);
    match offboard::apply(&ctx, &[]).await {
        Err(Error::MissingRights { missing }) => {
            assert_eq!(missing[0].side, "ise");
            assert_eq!(missing[0].needed_for, "remove the integration from ISE");
        }
        other => panic!("missing rights, got {other:?}"),
    }
    assert_eq!(writes(&s), written);
    assert_eq!(state(&s), before);
    assert_eq!(s.mdm_servers().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_through_a_whole_offboard_never_sees_a_compliant_device_treated_worse() {
    let s = std::sync::Arc::new(builder().start().await.expect("simulator"));
    let (_, mac, _, _) = s
        .devices()
        .into_iter()
        .find(|d| d.2 && d.3)
        .expect("a compliant device");
    let profiles = |answer: Value| -> Vec<String> {
        answer["profiles"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before_onboarding = profiles(s.authorize(&mac).await.expect("authorize"));
    let ctx = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    assert_eq!(enforce::apply(&ctx).await.expect("enforce").writes(), 4);
    let enforced = profiles(s.authorize(&mac).await.expect("authorize"));
    assert_eq!(enforced, ["PermitAccess"]);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (s, mac, stop) = (s.clone(), mac.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            // Bounded: at most 2,000 polls, every 5 ms, until told to stop.
            for _ in 0..2000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Ok(answer) = s.authorize(&mac).await {
                    seen.push(answer["profiles"].clone());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };
    // Each of offboarding's requests to ISE and Graph takes 30 ms, so that the poller
    // sees every state along the way.
    let slow = ise_intune_simulator::Faults {
        latency: Duration::from_millis(30),
        ..Default::default()
    };
    s.set_faults(ise_intune_simulator::Service::Ise, slow.clone());
    s.set_faults(ise_intune_simulator::Service::Graph, slow);
    let done = offboard::apply(&ctx, &[]).await.expect("offboard");
    assert!(done.complete, "{done:#?}");
    s.clear_faults();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = poller.await.expect("poller");
    assert!(
        seen.len() > 3,
        "the poller ran through the offboarding: {seen:?}"
    );
    for answer in &seen {
        let p = profiles(json!({ "profiles": answer }));
        assert!(
            p == before_onboarding || p == enforced,
            "a compliant device got {p:?} (before onboarding {before_onboarding:?}, \
             enforced {enforced:?})"
        );
    }
    assert_eq!(
        profiles(s.authorize(&mac).await.expect("authorize")),
        before_onboarding
    );
}

/// A clock past the last date a certificate can carry.
#[derive(Debug)]
struct EndOfTime;

impl ise_intune_http::clock::Clock for EndOfTime {
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(400_000_000_000)
    }
}

#[tokio::test]
async fn a_clock_beyond_year_9999_reads_as_the_last_date_not_a_panic() {
    let s = builder().start().await.expect("simulator");
    let ctx = pipeline(&s, Configurator::Gui).with_clock(std::sync::Arc::new(EndOfTime));
    assert_eq!(ctx.now().year(), 9999);
}

/// With `AuditLog.Read.All`, an entry a person says is gone is also checked against
/// Entra's sign-in log: a successful sign-in of the application in the last 15 minutes
/// keeps it (nothing of Entra's is removed), and once the log has been quiet that
/// long, the confirmed run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_sign_in_keeps_the_application_until_the_log_is_quiet() {
    let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push("AuditLog.Read.All");
    let s = builder()
        .automation_roles(roles)
        .start()
        .await
        .expect("simulator");
    let gui = pipeline(&s, Configurator::Gui);
    assert!(onboard::apply(&gui).await.expect("onboard").complete);
    // The first run records ISE's count; ISE then tests its connection (each policy
    // service node signs in with its key) just before the person deletes the entry.
    records_the_count(&s).await;
    assert!(s.test_connection("Intune").await.is_ok());
    gui.configurator()
        .remove("Intune")
        .await
        .expect("the person removes the entry");
    // The clients follow the simulated clock (moved below).
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("offboard-sign-in");
    std::fs::create_dir_all(&dir).expect("a folder");
    let info_file = dir.join("sim.json");
    s.write_info_file(&info_file).expect("info file");
    let clock = std::sync::Arc::new(sim::SimulatorClock::of_info_file(&info_file));
    let confirmed = || mdm_removed(&s).with_clock(clock.clone());

    let plan = offboard::plan(&confirmed(), &[]).await.expect("plan");
    let signed = plan
        .guards
        .iter()
        .find(|g| g.id == offboard::NO_RECENT_SIGN_IN_GUARD)
        .expect("the sign-in guard");
    assert!(!signed.holds, "{signed:#?}");
    let err = offboard::apply(&confirmed(), &[]).await.expect_err("kept");
    let Error::GuardFailed { failed, .. } = &err else {
        panic!("the guard, before any write: {err:?}");
    };
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].id, offboard::NO_RECENT_SIGN_IN_GUARD);
    assert!(
        failed[0]
            .evidence
            .contains("the application signed in successfully at 20"),
        "{}",
        failed[0].evidence
    );
    assert!(
        failed[0]
            .remedy
            .as_deref()
            .unwrap_or("")
            .contains("run offboarding again after"),
        "{:?}",
        failed[0].remedy
    );
    assert_eq!(last_app(&s)["displayName"], "Cisco ISE Intune integration");

    // Fifteen quiet minutes later the same confirmation finishes.
    s.advance_clock(Duration::from_secs(16 * 60));
    let done = offboard::apply(&confirmed(), &[]).await.expect("offboard");
    assert!(done.complete, "{done:#?}");
    let signed = done
        .guards
        .iter()
        .find(|g| g.id == offboard::NO_RECENT_SIGN_IN_GUARD)
        .expect("the sign-in guard");
    assert!(signed.holds);
    assert!(
        signed
            .evidence
            .starts_with("no successful sign-in of the application in the last 15 minutes"),
        "{}",
        signed.evidence
    );
    assert!(no_integration_app(&s));
    std::fs::remove_dir_all(&dir).expect("clean up");
}
