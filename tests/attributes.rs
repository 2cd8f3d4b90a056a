//! The attribute bridge end to end against the simulator: a plan writes nothing; a
//! sync writes Intune's values onto the endpoints ISE knows (and defines the
//! attributes once); a second sync writes nothing; one device changed is one endpoint
//! written; a site's own custom attribute is never touched; a value changed by hand in
//! ISE is found and set back; a device that leaves Intune has its values cleared and
//! its endpoint kept; two syncs of one pair never both write.

use std::collections::BTreeMap;
use std::time::Duration;

use ise_intune::integration::attributes::remove;
use ise_intune::integration::attributes::sync::{self, ChangeReason, SyncMode, SyncOptions};
use ise_intune::integration::config::EnforcedRule;
use ise_intune::integration::{Error, Integration, context::Options, enforce, offboard, onboard};
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator, attributes as bridge};
use serde_json::Value;

async fn simulator(devices: usize) -> Simulator {
    bridge::simulator(38, devices)
        .start()
        .await
        .expect("simulator")
}

fn pipeline(s: &Simulator) -> Integration {
    sim::integration(s.info(), Configurator::Gui, true, Options::default()).expect("integration")
}

use bridge::{remove_store as cleanup, settings};

/// ISE's endpoints: MAC → custom attributes.
fn endpoints(s: &Simulator) -> BTreeMap<String, BTreeMap<String, String>> {
    bridge::endpoints(&s.snapshot())
}

/// The managed devices as Graph lists them: id → (Wi-Fi MAC in ISE's notation, device).
fn managed(s: &Simulator) -> Vec<Value> {
    s.snapshot()["intune"]["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Writes ISE answered: every non-GET request to ISE's endpoint APIs.
fn endpoint_writes(s: &Simulator) -> Vec<String> {
    s.request_log()
        .into_iter()
        .filter(|r| r.service == "ise" && r.method != "GET" && r.path.contains("endpoint"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn plan_writes_nothing_sync_writes_the_known_endpoints_and_a_second_sync_nothing() {
    let s = simulator(250).await;
    let ctx = pipeline(&s);
    let settings = settings("first");
    let before = endpoints(&s);

    let plan = sync::plan(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("plan");
    assert!(!plan.applied);
    assert_eq!(plan.mode, SyncMode::Full);
    assert_eq!(plan.definitions_created.len(), 14);
    assert_eq!(endpoints(&s), before, "a plan changes no endpoint");
    assert!(endpoint_writes(&s).is_empty(), "{:?}", endpoint_writes(&s));
    assert!(
        !settings.store.as_ref().expect("store").exists(),
        "a plan creates no store"
    );

    let first = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("sync");
    assert_eq!(first.endpoints_written, plan.endpoints_written);
    assert_eq!(first.devices_read, 250);
    assert_eq!(first.graph_requests, 1, "250 devices are one page");
    // Devices by the MACs Graph gives them: none without one here, laptops with two.
    let listed = ctx
        .graph()
        .managed_devices(&ise_intune::graph_client::ManagedDeviceQuery::all())
        .all()
        .await
        .expect("devices");
    let macs = |d: &ise_intune::graph_client::ManagedDevice| {
        [&d.wifi_mac_address, &d.ethernet_mac_address]
            .into_iter()
            .filter(|m| m.as_deref().is_some_and(|m| !m.trim().is_empty()))
            .count()
    };
    assert_eq!(
        first.devices_without_mac,
        listed.iter().filter(|d| macs(d) == 0).count() as u64
    );
    assert_eq!(
        first.devices_with_several_macs,
        listed.iter().filter(|d| macs(d) > 1).count() as u64
    );
    assert!(first.devices_with_several_macs > 50, "{first:?}");
    // Said as doctor says it: information only, since every device has a MAC here.
    let findings = first.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        (findings[0].id.as_str(), findings[0].severity),
        (
            ise_intune::integration::doctor::ids::INTUNE_DEVICES_WITHOUT_MAC,
            ise_intune::integration::doctor::Severity::Info
        )
    );
    assert_eq!(
        findings[0].summary,
        format!(
            "{} managed device(s) report more than one MAC address: each endpoint is written",
            first.devices_with_several_macs
        )
    );
    // 14 definitions, then ceil(written / 500) bulk updates.
    let bulks = first.endpoints_written.div_ceil(500);
    assert_eq!(first.bulk_requests, bulks);
    let writes = endpoint_writes(&s);
    assert_eq!(
        writes
            .iter()
            .filter(|w| *w == "POST /api/v1/endpoint-custom-attribute")
            .count(),
        14
    );
    assert_eq!(
        writes
            .iter()
            .filter(|w| *w == "PUT /api/v1/endpoint/bulk")
            .count() as u64,
        bulks
    );

    // Every endpoint ISE knew for a device now carries the device's values.
    let after = endpoints(&s);
    let devices = managed(&s);
    let mut checked = 0;
    for d in &devices {
        let mac = colon(d["mac"].as_str().expect("mac"));
        let Some(attrs) = after.get(&mac) else {
            continue;
        };
        assert_eq!(attrs["IntuneDeviceId"], d["guid"].as_str().expect("guid"));
        assert!(attrs.contains_key("IntuneOwnership"));
        assert!(attrs.contains_key("IntuneStale"));
        checked += 1;
    }
    assert!(checked > 200, "most devices are ISE endpoints: {checked}");
    // No endpoint was created and the printers' own attribute is as it was.
    assert_eq!(after.len(), before.len());
    for i in 1..=3 {
        let printer = format!("00:00:AA:00:00:0{i}");
        assert_eq!(after[&printer], before[&printer]);
    }

    s.clear_request_log();
    let second = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("second");
    assert_eq!(second.mode, SyncMode::Incremental);
    assert!(!second.changed, "{second:?}");
    assert_eq!(second.bulk_requests, 0);
    assert!(endpoint_writes(&s).is_empty());
    assert_eq!(endpoints(&s), after);
    cleanup(&settings);
}

/// `005056ABCDEF` → `00:50:56:AB:CD:EF`.
fn colon(bare: &str) -> String {
    bare.as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test]
async fn one_device_changed_is_one_endpoint_written_and_a_foreign_attribute_stays() {
    let s = simulator(250).await;
    let ctx = pipeline(&s);
    let settings = settings("one");
    sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("first");
    // A site's own attribute on a bridged endpoint.
    let devices = managed(&s);
    let known = endpoints(&s);
    let target = devices
        .iter()
        .map(|d| colon(d["mac"].as_str().expect("mac")))
        .find(|m| known.contains_key(m))
        .expect("a device known to ISE");
    assert!(s.edit_endpoint(&target, "AssetTag", "LAPTOP-0042"));

    // Exactly one device changes in Intune (seed 3 picks one ISE knows).
    let guid = s.mutate_devices(1, 3).pop().expect("one device");
    let d = devices
        .iter()
        .find(|d| d["guid"] == guid.as_str())
        .expect("the device");
    let mac = colon(d["mac"].as_str().expect("mac"));
    assert!(known.contains_key(&mac), "seed 3 picks a device ISE knows");
    let changed = (guid, mac);
    let before = endpoints(&s);
    s.clear_request_log();
    let report = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("sync");
    assert_eq!(report.mode, SyncMode::Incremental);
    let after = endpoints(&s);
    let differing: Vec<&String> = after
        .iter()
        .filter(|(mac, attrs)| before.get(*mac) != Some(attrs))
        .map(|(mac, _)| mac)
        .collect();
    assert_eq!(differing, [&changed.1], "exactly that endpoint changed");
    assert_eq!(report.endpoints_written, 1, "{report:?}");
    assert_eq!(report.changes[0].reason, ChangeReason::Changed);
    assert_eq!(report.changes[0].mac, changed.1);
    assert_eq!(after[&changed.1]["IntuneDeviceId"], changed.0);
    assert_eq!(
        after[&target]["AssetTag"], "LAPTOP-0042",
        "foreign value kept"
    );
    assert_eq!(
        endpoint_writes(&s),
        ["PUT /api/v1/endpoint/bulk"],
        "one bulk request"
    );
    cleanup(&settings);
}

#[tokio::test]
async fn a_hand_edit_is_set_back_and_a_full_pass_clears_nothing_it_should_keep() {
    let s = simulator(120).await;
    let ctx = pipeline(&s);
    let settings = settings("drift");
    sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("first");
    let written = endpoints(&s);
    let (mac, attrs) = written
        .iter()
        .find(|(_, a)| a.contains_key("IntuneOwnership"))
        .expect("a bridged endpoint");
    let right = attrs["IntuneOwnership"].clone();
    assert!(s.edit_endpoint(mac, "IntuneOwnership", "company-by-hand"));
    // The incremental sync's sample (100 endpoints) covers the store by turns.
    let mut repaired = 0;
    for _ in 0..3 {
        let r = sync::apply(&ctx, &settings, &SyncOptions::default())
            .await
            .expect("sync");
        repaired += r.drift_repaired;
    }
    assert_eq!(repaired, 1);
    assert_eq!(endpoints(&s)[mac]["IntuneOwnership"], right);

    // A full pass over an unchanged tenant writes nothing.
    let full = sync::apply(&ctx, &settings, &SyncOptions::full(true))
        .await
        .expect("full");
    assert_eq!(full.mode, SyncMode::Full);
    assert!(!full.changed, "{full:?}");
    cleanup(&settings);
}

#[tokio::test]
async fn two_syncs_of_one_pair_never_both_write() {
    let s = simulator(60).await;
    let ctx = pipeline(&s);
    let settings = settings("busy");
    let store = ise_intune::integration::attributes::store::Store::open(
        settings.store.as_ref().expect("path"),
    )
    .expect("held");
    let err = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect_err("busy");
    assert!(matches!(err, Error::SyncBusy { .. }), "{err:?}");
    assert_eq!(err.kind(), ise_intune::integration::ErrorKind::Guard);
    assert!(endpoint_writes(&s).is_empty());
    drop(store);
    cleanup(&settings);
}

#[tokio::test]
async fn without_the_graph_permission_nothing_is_written_and_the_right_is_named() {
    let s = Simulator::builder()
        .seed(38)
        .replication_lag(Duration::ZERO)
        .start()
        .await
        .expect("simulator");
    let ctx = pipeline(&s);
    let settings = settings("rights");
    let err = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect_err("refused");
    let Error::MissingRights { missing } = &err else {
        panic!("{err:?}");
    };
    assert!(
        missing[0]
            .grant
            .contains("DeviceManagementManagedDevices.Read.All")
    );
    // The definitions came first (they change no device's access), nothing else.
    assert!(
        endpoint_writes(&s)
            .iter()
            .all(|w| w == "POST /api/v1/endpoint-custom-attribute")
    );
    cleanup(&settings);
}

async fn rule_of(sim: &Simulator, mac: &str) -> (String, Vec<String>) {
    sim::authorized(sim, mac).await
}

#[tokio::test]
async fn a_rule_on_intune_stale_changes_the_authorization_of_a_stale_device_and_of_no_other() {
    let s = simulator(40).await;
    let mut options = Options::default();
    options.propagation_wait = Duration::from_secs(2);
    options.enforcement.stale = Some(EnforcedRule::new("Intune_Stale", "MDM_Quarantine"));
    // The library's clock follows the simulator's as the test moves it.
    let clock = std::sync::Arc::new(ise_intune_http::clock::OffsetClock::default());
    let ctx = sim::integration(s.info(), Configurator::Gui, true, options)
        .expect("integration")
        .with_clock(clock.clone());
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);

    // The rule needs the attribute: enforce says so until a sync defined it.
    let early = enforce::apply(&ctx).await.expect_err("undefined attribute");
    assert!(matches!(&early, Error::Config { what } if what.contains("attributes sync")));

    let settings = settings("stale");
    sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("sync");
    let enforced = enforce::apply(&ctx).await.expect("enforce");
    let order: Vec<&str> = enforced.rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        order,
        [
            "Intune_MDM_Unreachable",
            "Intune_Unregistered",
            "Intune_NonCompliant",
            "Intune_Stale",
            "Intune_Compliant"
        ]
    );

    // Two compliant devices ISE knows.
    let known = endpoints(&s);
    let compliant: Vec<(String, String)> = managed(&s)
        .iter()
        .filter(|d| d["compliant"] == true)
        .map(|d| {
            (
                d["guid"].as_str().expect("guid").to_owned(),
                colon(d["mac"].as_str().expect("mac")),
            )
        })
        .filter(|(_, mac)| known.contains_key(mac))
        .take(2)
        .collect();
    let [(silent, silent_mac), (other, other_mac)] = <[_; 2]>::try_from(compliant).expect("two");
    assert_eq!(rule_of(&s, &silent_mac).await.0, "Intune_Compliant");
    assert_eq!(rule_of(&s, &other_mac).await.0, "Intune_Compliant");
    let everyone_before: Vec<(String, String)> = {
        let mut v = Vec::new();
        for mac in known.keys().take(12) {
            v.push((mac.clone(), rule_of(&s, mac).await.0));
        }
        v
    };

    // One device stops checking in; fifteen days pass; the bridge syncs.
    assert!(s.silence_device(&silent));
    s.advance_clock(Duration::from_secs(15 * 86_400));
    clock.advance(Duration::from_secs(15 * 86_400));
    let report = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("sync after");
    assert!(report.changed);
    assert_eq!(endpoints(&s)[&silent_mac]["IntuneStale"], "true");
    assert_eq!(endpoints(&s)[&other_mac]["IntuneStale"], "false");

    assert_eq!(
        rule_of(&s, &silent_mac).await,
        ("Intune_Stale".to_owned(), vec!["MDM_Quarantine".to_owned()])
    );
    assert_eq!(rule_of(&s, &other_mac).await.0, "Intune_Compliant");
    let _ = other;
    for (mac, rule) in everyone_before {
        if mac != silent_mac {
            assert_eq!(rule_of(&s, &mac).await.0, rule, "{mac}");
        }
    }

    // Offboarding: the rules go first (a definition in use cannot be deleted), then
    // the bridge's values and the definitions it made; endpoints and the site's own
    // attribute stay.
    let before_removal = endpoints(&s);
    let planned = remove::plan(&ctx, &settings).await.expect("plan");
    assert_eq!(planned.definitions_removed.len(), 14);
    assert!(planned.endpoints_cleared > 20);
    assert_eq!(endpoints(&s), before_removal, "a plan clears nothing");
    let refused = remove::apply(&ctx, &settings).await.expect_err("in use");
    assert!(
        matches!(&refused, Error::Config { what } if what.contains("Intune_Stale")),
        "{refused:?}"
    );
    assert_eq!(
        endpoints(&s),
        before_removal,
        "nothing cleared while a rule uses it"
    );
    offboard::apply(&ctx, &[]).await.expect("offboard");
    let removed = remove::apply(&ctx, &settings).await.expect("remove");
    assert!(removed.changed);
    let after = endpoints(&s);
    assert_eq!(after.len(), before_removal.len(), "no endpoint deleted");
    for (mac, attrs) in &after {
        assert!(
            attrs.keys().all(|k| !k.starts_with("Intune")),
            "{mac}: {attrs:?}"
        );
    }
    assert_eq!(after["00:00:AA:00:00:01"]["AssetTag"], "PRN-0001");
    let defined: Vec<String> = s.snapshot()["ise"]["endpointCustomAttributes"]
        .as_object()
        .expect("definitions")
        .keys()
        .cloned()
        .collect();
    assert_eq!(defined, ["AssetTag"]);
    assert!(!settings.store.as_ref().expect("path").exists());
    let again = remove::apply(&ctx, &settings).await.expect("again");
    assert!(!again.changed);
    cleanup(&settings);
}

#[tokio::test]
async fn reauthenticate_sends_a_coa_for_each_changed_endpoint_with_a_session_and_no_other() {
    let s = simulator(40).await;
    let ctx = pipeline(&s);
    let mut settings = settings("coa");
    settings.reauthenticate_per_minute = 6_000;
    sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("first");
    let known: Vec<String> = endpoints(&s)
        .into_iter()
        .filter(|(_, a)| a.contains_key("IntuneOwnership"))
        .map(|(mac, _)| mac)
        .take(3)
        .collect();
    let [connected, offline, untouched] = <[String; 3]>::try_from(known).expect("three");
    // Two endpoints changed by hand (set back by the sync, so changed again); one of
    // them, and a third, have a session.
    for mac in [&connected, &offline] {
        assert!(s.edit_endpoint(mac, "IntuneOwnership", "by-hand"));
    }
    for mac in [&connected, &untouched] {
        s.authorize(mac).await.expect("authorize");
    }
    let report = sync::apply(&ctx, &settings, &SyncOptions::default().reauthenticating())
        .await
        .expect("sync");
    assert_eq!(report.drift_repaired, 2, "{report:?}");
    assert_eq!(report.reauthenticated, 1);
    assert_eq!(report.reauthenticate_no_session, 1);
    assert_eq!(report.reauthenticate_deferred, 0);
    let coa = s.snapshot()["ise"]["coa"].clone();
    assert_eq!(
        coa,
        serde_json::json!([{"node": "ise-san", "mac": connected}]),
        "one CoA, for the changed endpoint with a session"
    );
    cleanup(&settings);
}

#[tokio::test]
async fn intunes_throttle_with_or_without_retry_after_is_waited_for_and_counted() {
    let s = simulator(2_500).await;
    let ctx = pipeline(&s);
    let settings = settings("throttle");
    // One device read per 300 ms: the second and third pages are answered 429 first.
    s.set_device_read_limit(1, Duration::from_millis(300));
    let report = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect("sync");
    let answered_429 = s.set_device_read_limit(2_000, Duration::from_secs(20));
    assert!(answered_429 >= 2, "{answered_429}");
    assert_eq!(report.devices_read, 2_500);
    assert_eq!(report.graph_requests, 3);
    assert!(report.throttled_answers >= answered_429, "{report:?}");
    let again = sync::apply(&ctx, &settings, &SyncOptions::full(true))
        .await
        .expect("full");
    assert!(!again.changed, "nothing lost to the throttle: {again:?}");
    cleanup(&settings);
}

#[tokio::test]
async fn an_ers_operator_writes_nothing_and_is_told_the_admin_group_it_needs() {
    let s = simulator(60).await;
    let ctx = pipeline(&s);
    let settings = settings("operator");
    s.set_ise_role(ise_intune_simulator::IseRole::ErsOperator);
    let before = endpoints(&s);
    let err = sync::apply(&ctx, &settings, &SyncOptions::default())
        .await
        .expect_err("refused");
    let Error::MissingRights { missing } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(missing[0].side, "ise");
    assert_eq!(endpoints(&s), before);
    assert_eq!(
        s.snapshot()["ise"]["endpointCustomAttributes"],
        serde_json::json!({"AssetTag": "String"}),
        "no definition made"
    );
    cleanup(&settings);
}
