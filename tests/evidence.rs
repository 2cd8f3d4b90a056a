//! The evidence ISE cannot see, against the simulator: certificate profiles without
//! the device GUID (Graph beta), a strong-mapping SID on a release that cannot parse
//! it, Intune's "no policy counts as compliant", each node's sign-ins in Entra's log
//! (Graph beta), and what doctor says when the automating identity may not read them.

use std::time::Duration;

use ise_intune::graph_client;
use ise_intune::integration::context::Options;
use ise_intune::integration::doctor::{self, Diagnosis, Finding, Severity, ids};
use ise_intune::integration::onboard;
use ise_intune_simulator::{
    CLIENT_AUTHENTICATION_OID, CertificateProfile, DEFAULT_AUTOMATION_ROLES, GUID_SAN_URI,
    SID_SAN_URI, SanEntry, Simulator, SimulatorBuilder,
};
use ise_intune_testkit::{self as sim, Configurator};

const APP: &str = "Cisco ISE Intune integration";

/// A simulator whose automating identity may also read Intune's configuration and the
/// sign-in log.
fn with_evidence_rights() -> SimulatorBuilder {
    let mut roles = DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.extend([
        "DeviceManagementConfiguration.Read.All",
        "AuditLog.Read.All",
    ]);
    Simulator::builder().automation_roles(roles)
}

fn options() -> Options {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    o
}

async fn onboarded(builder: SimulatorBuilder) -> Simulator {
    let sim = builder
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let ctx = sim::integration(sim.info(), Configurator::Gui, true, options()).expect("pipeline");
    let report = onboard::apply(&ctx).await.expect("onboarding");
    assert!(report.complete, "{report:#?}");
    sim
}

async fn diagnose(sim: &Simulator) -> Diagnosis {
    let ctx = sim::integration(sim.info(), Configurator::Gui, true, options()).expect("pipeline");
    doctor::diagnose(&ctx).await.expect("doctor runs")
}

fn with_id<'a>(d: &'a Diagnosis, id: &'a str) -> Vec<&'a Finding> {
    d.with_id(id).collect()
}

/// The paths of Graph requests sent.
fn graph_paths(sim: &Simulator) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.service == "graph")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn android_profile(sans: Vec<SanEntry>) -> CertificateProfile {
    CertificateProfile {
        id: String::new(),
        kind: "androidDeviceOwnerScepCertificateProfile".into(),
        display_name: "Wi-Fi 802.1X - Android fully managed (SCEP)".into(),
        sans,
        key_usages: vec![CLIENT_AUTHENTICATION_OID.into()],
    }
}

#[tokio::test]
async fn a_profile_without_the_guid_is_named_and_adding_the_uri_clears_it() {
    let sim = onboarded(with_evidence_rights()).await;
    // The seeded profiles carry the URI; the S/MIME profile needs none.
    let before = diagnose(&sim).await;
    assert!(with_id(&before, ids::INTUNE_PROFILE_WITHOUT_GUID).is_empty());
    assert!(
        graph_paths(&sim).contains(&"GET /beta/deviceManagement/deviceConfigurations".into()),
        "{:?}",
        graph_paths(&sim)
    );

    let control = ise_intune_simulator::ControlClient::new(sim.info()).expect("control");
    let mut profile = android_profile(vec![SanEntry::upn()]);
    profile.id = control
        .put_certificate_profile(&profile)
        .await
        .expect("profile");
    let d = diagnose(&sim).await;
    let found = with_id(&d, ids::INTUNE_PROFILE_WITHOUT_GUID);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0]
            .summary
            .contains("\"Wi-Fi 802.1X - Android fully managed (SCEP)\""),
        "{}",
        found[0].summary
    );
    assert!(
        found[0]
            .summary
            .contains("Android Enterprise (fully managed")
    );
    assert!(found[0].remediation.contains(GUID_SAN_URI));

    // The administrator adds the URI in Intune: the finding is gone.
    profile.sans.push(SanEntry::uri(GUID_SAN_URI));
    control
        .put_certificate_profile(&profile)
        .await
        .expect("profile");
    let after = diagnose(&sim).await;
    assert!(with_id(&after, ids::INTUNE_PROFILE_WITHOUT_GUID).is_empty());
}

#[tokio::test]
async fn a_sid_in_the_san_is_named_on_3_3_patch_2_and_not_on_patch_4() {
    for (patch, named) in [(2, true), (4, false)] {
        let sim = onboarded(with_evidence_rights().ise_version("3.3.0.430", patch)).await;
        let mut profile = android_profile(vec![
            SanEntry::uri(GUID_SAN_URI),
            SanEntry::uri(SID_SAN_URI),
        ]);
        profile.kind = "windows81SCEPCertificateProfile".into();
        profile.display_name = "Wi-Fi 802.1X - Windows strong mapping (SCEP)".into();
        sim.put_certificate_profile(profile).expect("profile");
        let d = diagnose(&sim).await;
        let found = with_id(&d, ids::INTUNE_SID_SAN_UNSUPPORTED_RELEASE);
        assert_eq!(found.len(), usize::from(named), "patch {patch}: {found:#?}");
        if named {
            assert_eq!(found[0].severity, Severity::Error);
            assert!(
                found[0].remediation.contains("ISE 3.3 patch 4"),
                "{found:#?}"
            );
            assert!(found[0].summary.contains("strong mapping (SCEP)"));
        }
        assert!(with_id(&d, ids::INTUNE_PROFILE_WITHOUT_GUID).is_empty());
    }
}

#[tokio::test]
async fn no_policy_counting_as_compliant_is_warned_and_the_validity_period_shown() {
    let sim = onboarded(with_evidence_rights()).await;
    let d = diagnose(&sim).await;
    assert!(with_id(&d, ids::INTUNE_NO_POLICY_COUNTS_COMPLIANT).is_empty());
    assert!(
        with_id(&d, ids::INTUNE_COMPLIANCE_SETTINGS)[0]
            .summary
            .contains("count as Not compliant")
    );
    sim.set_compliance_settings(false, 45).expect("settings");
    let d = diagnose(&sim).await;
    let found = with_id(&d, ids::INTUNE_NO_POLICY_COUNTS_COMPLIANT);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(found[0].evidence.contains("secureByDefault = false"));
    assert!(found[0].evidence.contains("45 days"));
    assert!(
        graph_paths(&sim).contains(&"GET /v1.0/deviceManagement".into()),
        "{:?}",
        graph_paths(&sim)
    );
}

/// A token requested as `host` does (its own exported key): whether Entra issued it.
async fn node_signs_in(sim: &Simulator, host: &str) -> bool {
    sim::as_node_graph(sim.info(), APP, host)
        .await
        .expect("the node's Graph")
        .access_token(&graph_client::TokenAudience::Scope(
            "https://api.manage.microsoft.com//.default".into(),
        ))
        .await
        .is_ok()
}

#[tokio::test]
async fn a_node_whose_key_was_removed_shows_aadsts700027_and_when() {
    let sim = onboarded(with_evidence_rights()).await;
    assert!(node_signs_in(&sim, "ise-psn").await);
    let d = diagnose(&sim).await;
    assert!(
        with_id(&d, ids::ENTRA_NODE_SIGN_IN_FAILED).is_empty(),
        "{d:#?}"
    );
    let info = &with_id(&d, ids::ENTRA_NODE_SIGN_INS)[0];
    assert!(
        info.evidence.contains("ise-psn: last success 20"),
        "{}",
        info.evidence
    );

    // The node's key is removed from the application; the node's next sign-in fails.
    let (ise, graph) = sim::clients(sim.info()).expect("clients");
    let app = ise_intune::integration::steps::find_app(&graph, &APP.into())
        .await
        .expect("app");
    let psn = ise_intune::integration::keys::admin_certificates(&ise)
        .await
        .expect("export")
        .into_iter()
        .find(|a| a.node.hostname == "ise-psn")
        .expect("psn");
    graph
        .application(app.object_id.clone())
        .remove_key(&graph_client::KeySelector::Thumbprint(
            *psn.certificate.sha1().as_bytes(),
        ))
        .await
        .expect("remove");
    assert!(!node_signs_in(&sim, "ise-psn").await);

    let d = diagnose(&sim).await;
    let failed = with_id(&d, ids::ENTRA_NODE_SIGN_IN_FAILED);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let f = failed[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.node.as_deref(), Some("ise-psn"));
    assert!(f.summary.contains("AADSTS700027"), "{}", f.summary);
    assert!(f.summary.contains("not registered on the application"));
    assert!(
        f.evidence.contains(&psn.certificate.sha1().to_hex()),
        "{}",
        f.evidence
    );
    // When: the failure's time, and the success before it.
    assert!(f.evidence.contains("failed at 20"), "{}", f.evidence);
    assert!(f.evidence.contains("last success 20"), "{}", f.evidence);
    assert!(f.remediation.contains("rotate"));
    assert!(
        graph_paths(&sim).contains(&"GET /beta/auditLogs/signIns".into()),
        "{:?}",
        graph_paths(&sim)
    );
}

#[tokio::test]
async fn without_the_optional_permissions_doctor_says_what_it_would_show_and_reads_nothing() {
    let sim = onboarded(Simulator::builder()).await;
    let d = diagnose(&sim).await;
    let not_granted = with_id(&d, ids::EVIDENCE_NOT_GRANTED);
    let summaries: Vec<&str> = not_granted.iter().map(|f| f.summary.as_str()).collect();
    assert_eq!(summaries.len(), 2, "{summaries:#?}");
    assert!(summaries[0].contains("DeviceManagementConfiguration.Read.All"));
    assert!(summaries[1].contains("AuditLog.Read.All"));
    assert!(not_granted.iter().all(|f| f.severity == Severity::Info));
    assert!(
        not_granted[1]
            .remediation
            .contains("b0afded3-3588-46d8-8b3d-9842eff778da=Role")
    );
    // The token's roles said so: nothing was asked.
    assert!(
        !graph_paths(&sim)
            .iter()
            .any(|p| p.contains("/beta/") || p.contains("/deviceManagement")),
        "{:?}",
        graph_paths(&sim)
    );
    // Nothing of it is a problem: the evidence findings are all information.
    assert!(
        d.findings
            .iter()
            .filter(|f| f.id.starts_with("evidence.")
                || f.id.starts_with("intune.")
                || f.id.starts_with("entra.node"))
            .all(|f| f.severity == Severity::Info),
        "{:#?}",
        d.findings
    );
}

/// An app-management policy that accepts only certificates of a CA the tenant trusts
/// would refuse ISE's self-signed Admin certificates at step 3: onboarding reads it
/// first and stops before step 1, naming the policy; doctor names it too.
#[tokio::test]
async fn a_trusted_ca_only_key_policy_stops_onboarding_before_any_write() {
    let mut roles = DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push("Policy.Read.All");
    let sim = Simulator::builder()
        .automation_roles(roles)
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    sim.set_trusted_ca_key_policy(None);
    let ctx = sim::integration(sim.info(), Configurator::Gui, true, options()).expect("pipeline");
    let failure = match onboard::apply(&ctx).await {
        Err(ise_intune::integration::Error::Apply(failure)) => failure,
        other => panic!("expected onboarding to stop, got {other:?}"),
    };
    let refused = failure
        .errors
        .iter()
        .map(|(_, e)| e)
        .find(|e| {
            matches!(
                e,
                ise_intune::integration::Error::KeyRefusedByTrustedCaPolicy { .. }
            )
        })
        .unwrap_or_else(|| panic!("{failure}"));
    let text = refused.to_string();
    assert!(text.contains("the tenant's default"), "{text}");
    assert!(text.contains("self-signed"), "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    // Nothing written: no application, no Graph write, ISE's store untouched.
    let writes: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|r| {
            r.method != "GET" && (r.service == "graph" || r.path.contains("trustedcertificate"))
        })
        .map(|r| format!("{} {} {}", r.service, r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(
        sim.snapshot()["applications"]
            .as_array()
            .expect("applications")
            .iter()
            .all(|a| a["displayName"] != APP)
    );
    let d = diagnose(&sim).await;
    let f = &with_id(&d, ids::APP_KEY_POLICY)[0];
    assert!(f.summary.contains("only certificates of a CA"), "{f:#?}");
    assert!(f.evidence.contains("is self-signed"), "{f:#?}");
}

/// `device --cert`'s issuing profile: the certificate's SAN URIs against the profiles
/// Intune applied to the device (Graph v1.0 `deviceConfigurationStates`, read beside
/// the beta profiles).
#[tokio::test]
async fn the_profile_that_issued_a_device_certificate_is_named() {
    use ise_intune::integration::evidence::{self, Gathered, IssuingProfile};
    let mut roles = DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.extend([
        "DeviceManagementConfiguration.Read.All",
        "DeviceManagementManagedDevices.Read.All",
    ]);
    let sim = Simulator::builder()
        .automation_roles(roles)
        .start()
        .await
        .expect("simulator");
    let (_, graph) = sim::clients(sim.info()).expect("clients");
    let page = graph
        .managed_devices(&graph_client::ManagedDeviceQuery::all())
        .next_page()
        .await
        .expect("devices")
        .expect("a page");
    let of = |os: &str| {
        page.iter()
            .find(|d| d.operating_system.as_deref() == Some(os))
            .map(|d| d.id.clone())
            .expect("a device of the platform")
    };
    let roles = graph.graph_roles().await.expect("roles");
    let uri = |id: &str| vec![format!("ID:Microsoft Endpoint Manager:GUID:{id}")];

    let windows = of("Windows");
    let Gathered::Read(IssuingProfile::One(p)) =
        evidence::issuing_profile(&graph, roles.as_deref(), &windows, &uri(&windows)).await
    else {
        panic!("one profile");
    };
    assert_eq!(
        (p.name.as_str(), p.kind, p.platform),
        ("Wi-Fi 802.1X - Windows (SCEP)", "SCEP", "Windows")
    );
    assert!(
        graph_paths(&sim).contains(&format!(
            "GET /v1.0/deviceManagement/managedDevices/{windows}/deviceConfigurationStates"
        )),
        "{:?}",
        graph_paths(&sim)
    );
    // Intune applies no certificate profile to the macOS devices.
    let mac = of("macOS");
    assert!(matches!(
        evidence::issuing_profile(&graph, roles.as_deref(), &mac, &uri(&mac)).await,
        Gathered::Read(IssuingProfile::NoneOf { applied: 0 })
    ));
    // Another device's certificate on a Windows device: not from its two (network and
    // S/MIME) profiles.
    assert!(matches!(
        evidence::issuing_profile(&graph, roles.as_deref(), &windows, &uri(&mac)).await,
        Gathered::Read(IssuingProfile::NoneOf { applied: 2 })
    ));
    // Without the managed devices' permission nothing is sent.
    let before = graph_paths(&sim).len();
    let only_config = vec!["DeviceManagementConfiguration.Read.All".to_owned()];
    assert!(matches!(
        evidence::issuing_profile(&graph, Some(&only_config), &windows, &uri(&windows)).await,
        Gathered::NotGranted {
            permission: evidence::MANAGED_DEVICES_READ
        }
    ));
    assert_eq!(graph_paths(&sim).len(), before);
}
