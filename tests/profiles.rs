//! Least privilege: the three profiles of the automating identity, each end to end
//! against a simulator whose identity holds exactly those roles.
//!
//! * monitor — `Application.Read.All`: doctor and the other reads work; what it may not
//!   read is a finding, never a crash;
//! * operator — `Application.ReadWrite.OwnedBy`: onboard does everything but consent,
//!   then names the admin-consent URL and the grants; after an administrator's consent
//!   the next run completes;
//! * full — plus `AppRoleAssignment.ReadWrite.All`: onboard completes alone.

use ise_intune::integration::{doctor, onboard};
use std::time::Duration;

use ise_intune::integration::doctor::{Severity, ids};
use ise_intune::integration::outcome::Outcome;
use ise_intune::integration::{Integration, context::Options};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};

async fn simulator(roles: &[&str]) -> Simulator {
    Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .automation_roles(roles.iter().copied())
        .start()
        .await
        .expect("simulator")
}

fn pipeline(sim: &Simulator) -> Integration {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    // A re-run waits this long for consent an administrator may have just given.
    o.consent_wait = Duration::from_secs(2);
    sim::integration(sim.info(), Configurator::Gui, true, o).expect("pipeline")
}

/// A simulator whose identity onboarded with the roles `onboarding`, then holds only
/// `then` (an administrator changed its grants).
async fn onboarded_then(onboarding: &[&str], then: &[&str]) -> Simulator {
    let sim = simulator(onboarding).await;
    assert!(
        onboard::apply(&pipeline(&sim))
            .await
            .expect("onboard")
            .complete
    );
    sim.set_automation_roles(then).expect("roles");
    sim
}

fn graph_writes(sim: &Simulator) -> usize {
    sim.request_log()
        .iter()
        .filter(|r| r.service == "graph" && r.method != "GET")
        .count()
}

#[tokio::test]
async fn full_profile_onboards_alone_and_doctor_says_so() {
    let sim = simulator(&[
        "Application.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
    ])
    .await;
    let report = onboard::apply(&pipeline(&sim)).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
    let d = doctor::diagnose(&pipeline(&sim)).await.expect("doctor");
    let profile = d.with_id(ids::IDENTITY_PROFILE).next().expect("profile");
    assert_eq!(
        profile.summary,
        "the automating identity has the full profile"
    );
    assert_eq!(
        profile.evidence,
        "its Graph token's roles: [AppRoleAssignment.ReadWrite.All, Application.ReadWrite.All]"
    );
}

#[tokio::test]
async fn operator_profile_asks_an_administrator_for_consent_then_completes() {
    let sim = simulator(&["Application.ReadWrite.OwnedBy"]).await;
    let first = onboard::apply(&pipeline(&sim)).await.expect("first run");
    assert!(!first.complete);
    let step = first
        .steps
        .iter()
        .find(|s| s.name.as_str() == "grant_permissions")
        .expect("step 4");
    assert_eq!(step.outcome, Outcome::ManualActionRequired);
    let manual = first.manual_action.clone().expect("instructions");
    let app = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == Options::default().app_display_name.as_str())
        .cloned()
        .expect("the application was registered");
    let client_id = app["appId"].as_str().expect("appId").to_owned();
    // The exact URL and grants an administrator approves.
    let url = format!(
        "{}/{}/adminconsent?client_id={client_id}",
        sim.info().login_url.trim_end_matches('/'),
        sim.info().tenant_id
    );
    assert!(manual.contains(&url), "{manual}");
    assert!(
        manual.contains(
            "Microsoft Intune API (c161e42e-d4df-4a3d-9b42-e7a3c31f59d4): get_device_compliance"
        ),
        "{manual}"
    );
    assert!(
        manual.contains(
            "Microsoft Graph (00000003-0000-0000-c000-000000000000): Application.Read.All"
        ),
        "{manual}"
    );
    // Everything else was done: the key is registered and permissions requested.
    assert_eq!(app["keyCredentials"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        app["requiredResourceAccess"].as_array().map(Vec::len),
        Some(2)
    );
    // A second run before consent changes nothing, waits a bounded time in case consent
    // is replicating, and asks again saying so.
    let before = graph_writes(&sim);
    let again = onboard::apply(&pipeline(&sim)).await.expect("second run");
    assert!(!again.complete);
    let asked = again.manual_action.expect("asked again");
    assert!(asked.contains(&url), "{asked}");
    assert!(
        asked.contains("Entra ID may still be replicating it (this run waited 2 s for it)"),
        "{asked}"
    );
    let denied = sim
        .request_log()
        .iter()
        .filter(|r| r.service == "graph" && r.method != "GET")
        .count()
        - before;
    // Only the refused consent attempts: nothing else is written again.
    assert!(denied <= 2, "{denied} writes");

    // The administrator's click, then an immediate run completes: the consent is
    // waited for while Entra replicates it.
    sim.set_replication_lag(Duration::from_millis(800));
    assert_eq!(sim.admin_consent(&client_id).expect("consent"), 2);
    let done = onboard::apply(&pipeline(&sim))
        .await
        .expect("after consent");
    assert!(done.complete, "{done:#?}");
    let d = doctor::diagnose(&pipeline(&sim)).await.expect("doctor");
    assert_eq!(
        d.with_id(ids::IDENTITY_PROFILE)
            .next()
            .map(|f| f.summary.as_str()),
        Some("the automating identity has the operator profile")
    );
    assert!(!d.has_errors(), "{:#?}", d.findings);
}

#[tokio::test]
async fn monitor_profile_reads_everything_and_names_what_it_cannot() {
    let sim = onboarded_then(
        &[
            "Application.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "Application.Read.All",
        ],
        &["Application.Read.All"],
    )
    .await;
    let before = graph_writes(&sim);
    let d = doctor::diagnose(&pipeline(&sim))
        .await
        .expect("doctor runs");
    assert!(!d.has_errors(), "{:#?}", d.findings);
    assert_eq!(
        d.with_id(ids::IDENTITY_PROFILE)
            .next()
            .map(|f| f.summary.as_str()),
        Some("the automating identity has the monitor profile")
    );
    // It may not query Intune itself: a warning naming the role, not a crash.
    let sample = d.with_id("connection.compliance").next().expect("sample");
    assert_eq!(sample.severity, Severity::Warning);
    assert!(sample.remediation.contains("get_device_compliance"));
    // Plan reads only and works; apply is refused as Graph refuses it.
    onboard::plan(&pipeline(&sim)).await.expect("plan");
    assert_eq!(graph_writes(&sim), before);
}

/// With the monitor profile on a pair that needs writes, the plan names the missing
/// grant as a blocker, and apply stops before its first write on either side: both
/// systems are as they were, byte for byte.
#[tokio::test]
async fn monitor_profile_is_stopped_before_any_write_naming_the_grant() {
    let sim = simulator(&["Application.Read.All"]).await;
    let plan = onboard::plan(&pipeline(&sim))
        .await
        .expect("plan")
        .changes();
    let blocker = plan
        .iter()
        .find(|p| p.step.as_str() == "check_rights")
        .expect("a blocker row");
    assert_eq!(blocker.outcome, Outcome::ManualActionRequired);
    assert!(
        blocker.detail.starts_with(
            "blocked, nothing would be written: missing Application.ReadWrite.OwnedBy (or \
             Application.ReadWrite.All)"
        ) && blocker.detail.contains(
            "(to register the application, add ISE's key(s) to it, request its permissions)"
        ),
        "{}",
        blocker.detail
    );
    let before = sim.snapshot();
    match onboard::apply(&pipeline(&sim)).await {
        Err(ise_intune::integration::Error::MissingRights { missing }) => {
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].side, "entra");
            assert!(
                missing[0]
                    .grant
                    .starts_with("Application.ReadWrite.OwnedBy")
            );
        }
        other => panic!("apply must stop for want of rights: {other:?}"),
    }
    let after = sim.snapshot();
    for part in [
        "applications",
        "servicePrincipals",
        "appRoleAssignments",
        "ise",
    ] {
        assert_eq!(after[part], before[part], "{part} changed");
    }
    // No write was even tried: besides reads, only ISE's certificate exports (a POST
    // that reads).
    let tried: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.service != "login")
        .filter(|r| r.path != "/api/v1/certs/system-certificate/export")
        .map(|r| format!("{} {} {}", r.service, r.method, r.path))
        .collect();
    assert!(tried.is_empty(), "{tried:?}");
}

/// ISE's account as an ERS Operator (reads only): the plan names the ISE admin group
/// as a blocker, apply writes nothing on either side and says what is missing; once an
/// ISE administrator moves the account to ERS Admin, the next run completes.
#[tokio::test]
async fn an_ise_account_that_may_only_read_is_stopped_before_any_write() {
    use ise_intune_simulator::IseRole;
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .ise_role(IseRole::ErsOperator)
        .start()
        .await
        .expect("simulator");
    let plan = onboard::plan(&pipeline(&sim))
        .await
        .expect("plan")
        .changes();
    let steps: Vec<&str> = plan.iter().map(|p| p.step.as_str()).collect();
    assert_eq!(steps, ["check_ise_version", "check_rights"]);
    assert_eq!(plan[1].outcome, Outcome::ManualActionRequired);
    assert_eq!(
        plan[1].detail,
        format!(
            "blocked, nothing would be written: missing {} (to export the nodes' Admin \
             certificates)",
            ise_intune::integration::rights::ISE_WRITE_GROUP
        )
    );
    let before = sim.snapshot();
    match onboard::apply(&pipeline(&sim)).await {
        Err(ise_intune::integration::Error::MissingRights { missing }) => {
            assert_eq!(missing.len(), 1, "{missing:?}");
            assert_eq!(missing[0].side, "ise");
            assert_eq!(
                missing[0].needed_for,
                "export the nodes' Admin certificates"
            );
        }
        other => panic!("apply must stop for want of ISE rights: {other:?}"),
    }
    let after = sim.snapshot();
    for part in [
        "applications",
        "servicePrincipals",
        "appRoleAssignments",
        "ise",
    ] {
        assert_eq!(after[part], before[part], "{part} changed");
    }
    assert_eq!(graph_writes(&sim), 0);
    sim.set_ise_role(IseRole::ErsAdmin);
    let report = onboard::apply(&pipeline(&sim)).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
}

#[tokio::test]
async fn offboarding_needs_application_rights_and_not_the_consent_role() {
    // Monitor: stopped before any write, naming the role.
    let sim = onboarded_then(
        &[
            "Application.ReadWrite.OwnedBy",
            "AppRoleAssignment.ReadWrite.All",
        ],
        &["Application.Read.All"],
    )
    .await;
    let before = sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.service != "login")
        .count();
    match ise_intune::integration::offboard::apply(&pipeline(&sim), &[]).await {
        Err(ise_intune::integration::Error::MissingRights { missing }) => {
            assert!(
                missing[0]
                    .grant
                    .starts_with("Application.ReadWrite.OwnedBy")
            );
        }
        other => panic!("expected MissingRights, got {other:?}"),
    }
    let after = sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.service != "login")
        .count();
    assert_eq!(after, before, "nothing written");
    // Operator: it may not revoke consent, but deleting the service principal takes
    // the grants with it.
    sim.set_automation_roles(&["Application.ReadWrite.OwnedBy"])
        .expect("roles");
    let done = ise_intune::integration::offboard::apply(&pipeline(&sim), &[])
        .await
        .expect("offboard");
    assert!(done.complete, "{done:#?}");
    let consent: Vec<Outcome> = done
        .removals
        .iter()
        .filter(|r| r.kind == ise_intune::integration::offboard::ObjectKind::Consent)
        .map(|r| r.outcome)
        .collect();
    assert_eq!(consent, [Outcome::Removed, Outcome::Removed]);
    let snapshot = sim.snapshot();
    assert!(
        snapshot["appRoleAssignments"]
            .as_array()
            .expect("assignments")
            .iter()
            .all(|a| a["principalId"]
                != done
                    .removals
                    .iter()
                    .find(|r| r.kind
                        == ise_intune::integration::offboard::ObjectKind::ServicePrincipal)
                    .and_then(|r| r.id.clone())
                    .unwrap_or_default()
                    .as_str())
    );
}
