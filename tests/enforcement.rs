//! Enforcement end to end: doctor says a fresh integration enforces nothing; enforce
//! creates exactly the library's four rules above the default rule, keeps every other
//! rule byte for byte, writes nothing the second time; ISE's authorization then gives a
//! compliant device the compliant profile, a flipped one quarantine, an unknown MAC the
//! enrollment redirect, and every device the unreachable profile once the MDM entry is
//! disabled.

use std::time::Duration;

use ise_intune::integration::doctor::{self, ids};
use ise_intune::integration::enforce::{self, DeviceState};
use ise_intune::integration::outcome::Outcome;
use ise_intune::integration::{Error, Integration, context::Options, onboard};
use ise_intune::ise_client::Method;
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/policy/network-access";

async fn onboarded() -> (Simulator, Integration) {
    let (sim, ctx) = unconnected().await;
    let report = onboard::apply(&ctx).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
    (sim, ctx)
}

async fn rules(ctx: &Integration, set: &str) -> Vec<Value> {
    let answer = ctx
        .ise()
        .request(
            Method::GET,
            &format!("{BASE}/policy-set/{set}/authorization"),
            None,
        )
        .await
        .expect("rules");
    answer["response"].as_array().cloned().expect("a list")
}

async fn default_set(ctx: &Integration) -> String {
    let sets = ctx
        .ise()
        .request(Method::GET, &format!("{BASE}/policy-set"), None)
        .await
        .expect("sets");
    sets["response"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

fn names(rules: &[Value]) -> Vec<&str> {
    rules
        .iter()
        .map(|r| r["rule"]["name"].as_str().unwrap_or_default())
        .collect()
}

async fn authorize(sim: &Simulator, mac: &str) -> (String, Vec<String>) {
    sim::authorized(sim, mac).await
}

/// The simulator's state without its clock (which moves on while a test runs).
fn state(sim: &Simulator) -> Value {
    let mut s = sim.snapshot();
    if let Some(o) = s.as_object_mut() {
        o.remove("clock");
    }
    s
}

#[tokio::test]
async fn enforce_creates_the_four_rules_keeps_the_others_and_authorization_follows_intune() {
    let (sim, ctx) = onboarded().await;

    // A fresh integration is connected but enforces nothing.
    let before = doctor::diagnose(&ctx).await.expect("doctor");
    let nothing = before
        .with_id(ids::ENFORCE_NOTHING)
        .next()
        .expect("enforce.nothing");
    assert_eq!(
        nothing.summary,
        "the integration is connected but enforces nothing"
    );

    let set = default_set(&ctx).await;
    let foreign = rules(&ctx, &set).await;
    assert_eq!(
        names(&foreign),
        [
            "Wireless Black List Default",
            "Profiled Cisco IP Phones",
            "Basic_Authenticated_Access",
            "Default"
        ]
    );

    // The plan writes nothing.
    let plan = enforce::plan(&ctx).await.expect("plan");
    assert!(
        plan.rules.iter().all(|r| r.outcome == Outcome::Created),
        "{plan:#?}"
    );
    assert!(sim.policy_writes().is_empty());

    let applied = enforce::apply(&ctx).await.expect("apply");
    assert_eq!(applied.writes(), 4);
    assert_eq!(
        applied.rules.iter().map(|r| r.rank).collect::<Vec<_>>(),
        [Some(3), Some(4), Some(5), Some(6)]
    );
    let writes = sim.policy_writes();
    assert_eq!(writes.len(), 4);
    assert!(writes.iter().all(|w| w.method == "POST"
        && w.status == 201
        && w.path == format!("{BASE}/policy-set/{set}/authorization")));
    // The exact request for the first rule.
    assert_eq!(
        writes[0].body,
        json!({"rule": {"name": "Intune_MDM_Unreachable", "default": false, "rank": 3,
            "state": "enabled", "condition": {"conditionType": "ConditionAttributes",
            "isNegate": false, "dictionaryName": "MDM", "attributeName": "MDMServerReachable",
            "operator": "equals", "attributeValue": "UnReachable"}},
            "profile": ["MDM_Unreachable"]})
    );

    // Every other rule is kept byte for byte; the default rule is still last.
    let after = rules(&ctx, &set).await;
    assert_eq!(
        names(&after),
        [
            "Wireless Black List Default",
            "Profiled Cisco IP Phones",
            "Basic_Authenticated_Access",
            "Intune_MDM_Unreachable",
            "Intune_Unregistered",
            "Intune_NonCompliant",
            "Intune_Compliant",
            "Default"
        ]
    );
    assert_eq!(after[..3], foreign[..3]);

    // A second run writes nothing.
    let again = enforce::apply(&ctx).await.expect("again");
    assert!(
        again.rules.iter().all(|r| r.outcome == Outcome::Unchanged),
        "{again:#?}"
    );
    assert!(!again.changed);
    assert_eq!(sim.policy_writes().len(), 4);

    // Doctor is clean.
    let d = doctor::diagnose(&ctx).await.expect("doctor");
    assert!(d.healthy(), "{d:#?}");
    assert_eq!(d.with_id(ids::ENFORCE_NOTHING).count(), 0);

    // Authorization follows Intune.
    let (guid, mac, _, _) = sim
        .devices()
        .into_iter()
        .find(|d| d.2 && d.3)
        .expect("a compliant device");
    assert_eq!(
        authorize(&sim, &mac).await,
        (
            "Intune_Compliant".to_owned(),
            vec!["PermitAccess".to_owned()]
        )
    );
    sim.set_device(&guid, Some(false), None).expect("flip");
    assert_eq!(
        authorize(&sim, &mac).await,
        (
            "Intune_NonCompliant".to_owned(),
            vec!["MDM_Quarantine".to_owned()]
        )
    );
    assert_eq!(
        authorize(&sim, "02:00:00:00:00:01").await,
        (
            "Intune_Unregistered".to_owned(),
            vec!["MDM_Redirect".to_owned()]
        )
    );
    let name = &ctx.options().mdm_server_name;
    ctx.ise()
        .request(
            Method::POST,
            &format!("{}/{name}/disable", ise_intune_simulator::GUI_BASE_PATH),
            None,
        )
        .await
        .expect("disable");
    let answer = sim.authorize(&mac).await.expect("authorize");
    assert_eq!(answer["rule"], "Intune_MDM_Unreachable");
    assert_eq!(answer["profiles"], json!(["MDM_Unreachable"]));
    assert_eq!(answer["mdm"]["MDMServerReachable"], "UnReachable");
}

#[tokio::test]
async fn a_drifted_rule_is_fixed_in_place_and_a_missing_profile_stops_before_any_write() {
    let (sim, ctx) = onboarded().await;
    enforce::apply(&ctx).await.expect("apply");
    let set = default_set(&ctx).await;
    // Someone points the quarantine rule at PermitAccess and disables it.
    let mut drifted = rules(&ctx, &set)
        .await
        .into_iter()
        .find(|r| r["rule"]["name"] == "Intune_NonCompliant")
        .expect("the rule");
    let id = drifted["rule"]["id"].as_str().expect("id").to_owned();
    drifted["profile"] = json!(["PermitAccess"]);
    drifted["rule"]["state"] = json!("disabled");
    ctx.ise()
        .request(
            Method::PUT,
            &format!("{BASE}/policy-set/{set}/authorization/{id}"),
            Some(drifted),
        )
        .await
        .expect("drift");
    let writes = sim.policy_writes().len();

    let fixed = enforce::apply(&ctx).await.expect("fix");
    let rule = fixed
        .rules
        .iter()
        .find(|r| r.state == DeviceState::NonCompliant)
        .expect("non-compliant");
    assert_eq!(rule.outcome, Outcome::Updated);
    assert_eq!(rule.changed, ["profile", "state"]);
    assert_eq!(rule.rank, Some(5));
    let w = sim.policy_writes();
    assert_eq!(w.len(), writes + 1);
    assert_eq!(w[writes].method, "PUT");
    assert_eq!(w[writes].body["profile"], json!(["MDM_Quarantine"]));
    assert_eq!(w[writes].body["rule"]["state"], "enabled");
    assert_eq!(w[writes].body["rule"]["rank"], 5);

    // A profile ISE lacks: a typed error, and nothing written.
    let mut options = ctx.options().clone();
    options.enforcement.non_compliant.profile = "Quarantine_VLAN".into();
    let missing = Integration::builder(ctx.ise().clone(), ctx.graph().clone())
        .options(options)
        .build();
    let before = sim.policy_writes().len();
    match enforce::apply(&missing).await {
        Err(Error::PolicyTargetMissing { kind, name, .. }) => {
            assert_eq!(kind, "authorization profile");
            assert_eq!(name, "Quarantine_VLAN");
        }
        other => panic!("expected PolicyTargetMissing, got {other:?}"),
    }
    assert_eq!(sim.policy_writes().len(), before);
}

#[tokio::test]
async fn doctor_names_rules_on_attributes_intune_no_longer_supplies_and_on_other_servers() {
    let (_sim, ctx) = onboarded().await;
    let set = default_set(&ctx).await;
    let rule = |name: &str, condition: Value| json!({"rule": {"name": name, "condition": condition}, "profile": ["PermitAccess"]});
    let leaf = |attribute: &str, value: &str| {
        json!({"conditionType": "ConditionAttributes", "dictionaryName": "MDM",
            "attributeName": attribute, "operator": "equals", "attributeValue": value})
    };
    for body in [
        rule(
            "Corporate PIN",
            json!({"conditionType": "ConditionAndBlock", "children": [
                leaf("DeviceCompliantStatus", "Compliant"), leaf("PinLockStatus", "On")]}),
        ),
        rule("Old AirWatch", leaf("MDMServerName", "AirWatch")),
    ] {
        ctx.ise()
            .request(
                Method::POST,
                &format!("{BASE}/policy-set/{set}/authorization"),
                Some(body),
            )
            .await
            .expect("a rule");
    }
    let d = doctor::diagnose(&ctx).await.expect("doctor");
    let pin = d
        .with_id(ids::ENFORCE_UNSUPPLIED_ATTRIBUTE)
        .next()
        .expect("unsupplied");
    assert_eq!(
        pin.summary,
        "rule `Corporate PIN` in policy set `Default` conditions on MDM:PinLockStatus, which \
         Intune no longer supplies"
    );
    let server = d
        .with_id(ids::ENFORCE_INACTIVE_MDM_SERVER)
        .next()
        .expect("server");
    assert_eq!(
        server.summary,
        "rule `Old AirWatch` in policy set `Default` names MDM server `AirWatch`, which is not active"
    );
    // The rules use the MDM dictionary: the integration enforces something.
    assert_eq!(d.with_id(ids::ENFORCE_NOTHING).count(), 0);
}

/// The MAC of a device Intune knows as enrolled and compliant.
fn compliant_mac(sim: &Simulator) -> String {
    sim.devices()
        .into_iter()
        .find(|d| d.2 && d.3)
        .map(|d| d.1)
        .expect("a compliant device")
}

/// A simulator not onboarded, and an integration over it.
async fn unconnected() -> (Simulator, Integration) {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    let ctx = sim::integration(sim.info(), Configurator::Gui, true, o).expect("integration");
    (sim, ctx)
}

#[tokio::test]
async fn enforce_on_an_unconnected_pair_writes_nothing_and_names_its_guard() {
    let (sim, ctx) = unconnected().await;
    let mac = compliant_mac(&sim);
    let authorized = authorize(&sim, &mac).await;
    let before = state(&sim);

    // The plan shows the guard failing, with the evidence.
    let plan = enforce::plan(&ctx).await.expect("plan");
    assert_eq!(plan.writes(), 4);
    let guard = &plan.guards[0];
    assert_eq!(
        (guard.id, guard.holds, guard.evidence.as_str()),
        (
            enforce::CONNECTION_GUARD,
            false,
            "ISE reports no active External MDM server (deploymentinfo mdmInfo)"
        )
    );

    // Apply stops before its first write.
    match enforce::apply(&ctx).await {
        Err(Error::GuardFailed { workflow, failed }) => {
            assert_eq!(workflow, "enforce");
            assert_eq!(failed, plan.guards);
        }
        other => panic!("a guard failure, got {other:?}"),
    }
    assert!(sim.policy_writes().is_empty());
    assert_eq!(state(&sim), before);
    // No device is authorized otherwise than before.
    assert_eq!(authorize(&sim, &mac).await, authorized);
}

#[tokio::test]
async fn rules_roll_out_in_monitor_state_then_are_promoted_after_their_hits() {
    let (sim, ctx) = unconnected().await;
    let mac = compliant_mac(&sim);
    let before = authorize(&sim, &mac).await;

    // Monitor needs no connection: the rules change no device's access.
    let monitored = ctx.clone().with_rollout(enforce::Rollout::Monitor);
    let applied = enforce::apply(&monitored).await.expect("monitor");
    assert_eq!(applied.writes(), 4);
    assert!(applied.guards[0].holds);
    assert!(applied.guards[0].evidence.starts_with("not needed"));
    let writes = sim.policy_writes();
    assert_eq!(writes.len(), 4);
    assert!(writes.iter().all(|w| w.body["rule"]["state"] == "monitor"));
    // ISE evaluates them (the unreachable rule matches: nothing is connected) and
    // counts the hit, but authorizes as before.
    assert_eq!(authorize(&sim, &mac).await, before);
    // Enforcing again without promoting leaves monitored rules monitored.
    let plain = enforce::plan(&ctx).await.expect("plan");
    assert_eq!(plain.writes(), 0, "{plain:#?}");

    // Promotion is guarded like enforcement: not connected, nothing is written.
    let promoted = ctx.clone().with_rollout(enforce::Rollout::Promote);
    assert!(matches!(
        enforce::apply(&promoted).await,
        Err(Error::GuardFailed { .. })
    ));
    assert_eq!(sim.policy_writes().len(), 4);

    // Once onboarded, the plan shows each rule's hits; promotion turns them on.
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    let plan = enforce::plan(&promoted).await.expect("promote plan");
    let unreachable = plan
        .rules
        .iter()
        .find(|r| r.state == DeviceState::Unreachable)
        .expect("the unreachable rule");
    assert_eq!(unreachable.hit_counts, Some(1));
    assert_eq!(unreachable.outcome, Outcome::Updated);
    assert_eq!(unreachable.changed, ["state"]);
    assert!(plan.guards[0].holds, "{plan:#?}");
    let done = enforce::apply(&promoted).await.expect("promote");
    assert_eq!(done.writes(), 4);
    assert!(
        done.rules
            .iter()
            .all(|r| r.rule_state == Some(ise_intune::ise_client::RuleState::Enabled))
    );
    assert_eq!(
        authorize(&sim, &mac).await,
        (
            "Intune_Compliant".to_owned(),
            vec!["PermitAccess".to_owned()]
        )
    );
}

#[tokio::test]
async fn enforce_as_an_ers_operator_writes_nothing_and_says_what_right_is_missing() {
    let (sim, ctx) = onboarded().await;
    sim.set_ise_role(ise_intune_simulator::IseRole::ErsOperator);
    let before = state(&sim);
    match enforce::apply(&ctx).await {
        Err(e @ Error::MissingRights { .. }) => {
            let Error::MissingRights { missing } = &e else {
                unreachable!()
            };
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].side, "ise");
            assert_eq!(
                missing[0].needed_for,
                "check the connection and write the enforcement rules"
            );
            assert_eq!(e.kind(), ise_intune::integration::ErrorKind::Permission);
        }
        other => panic!("missing rights, got {other:?}"),
    }
    assert!(sim.policy_writes().is_empty());
    assert_eq!(state(&sim), before);
}
