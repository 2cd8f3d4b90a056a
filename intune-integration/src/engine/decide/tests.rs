//! The decisions, each against the cases it must tell apart.

use super::*;
use serde_json::json;

const LEAF: &str = include_str!("../../../tests/data/leaf.pem");
const ISE: &str = include_str!("../../../tests/data/ise-selfsigned.pem");
const ROOT: &str = include_str!("../../../tests/data/root.pem");
const ROOT2: &str = include_str!("../../../tests/data/root2.pem");

fn cert(pem: &str) -> Certificate {
    Certificate::from_pem(pem).expect("fixture")
}

fn app(id: &str, unique_name: Option<&str>, keys: Vec<KeyCredential>) -> Application {
    let mut app: Application = serde_json::from_value(json!({
        "id": format!("obj-{id}"), "appId": id, "displayName": "Cisco ISE Intune integration",
        "uniqueName": unique_name,
    }))
    .expect("application");
    app.key_credentials = keys;
    app
}

fn key_of(c: &Certificate, name: &str) -> KeyCredential {
    CertificateKey {
        der: c.der().to_vec(),
        display_name: name.into(),
        start_date_time: None,
        end_date_time: None,
    }
    .to_credential()
}

fn targets() -> PermissionTargets {
    PermissionTargets {
        intune_resource_id: "intune-sp".into(),
        graph_resource_id: "graph-sp".into(),
        roles: GrantedPermissions {
            get_device_compliance: "role-compliance".into(),
            application_read_all: "role-read-all".into(),
        },
    }
}

fn stored(id: &str, c: &Certificate, status: &str, trusted_for: &str) -> TrustedCertificate {
    serde_json::from_value(json!({
        "id": id, "friendlyName": format!("entry {id}"), "issuedTo": "x", "issuedBy": "x",
        "validFrom": "Thu Aug 01 12:00:00 UTC 2013",
        "expirationDate": "Fri Jan 15 12:00:00 UTC 2038",
        "sha256Fingerprint": c.sha256().to_hex(), "status": status,
        "trustedFor": trusted_for, "internalCA": false,
        "enableOCSPValidation": false, "downloadCRL": false,
    }))
    .expect("trusted certificate")
}

#[test]
fn registration_prefers_the_unique_name_then_the_client_id_then_one_display_name() {
    let identity = AppIdentity::new("Cisco ISE Intune integration");
    let owned = app("a", Some(&identity.unique_name), vec![]);
    let hand_made = app("b", None, vec![]);
    let by_unique_name = AppObservation {
        by_unique_name: Some(owned.clone()),
        by_display_name: vec![hand_made.clone()],
        ..AppObservation::default()
    };
    assert_eq!(
        decide_registration(&by_unique_name, &identity).expect("decision"),
        Registration::Existing(owned.clone())
    );
    let configured = AppObservation {
        by_client_id: Some(hand_made.clone()),
        ..AppObservation::default()
    };
    assert_eq!(
        decide_registration(&configured, &identity.clone().adopting("b")).expect("decision"),
        Registration::Adopt(hand_made.clone())
    );
    let one = AppObservation {
        by_display_name: vec![hand_made.clone()],
        ..AppObservation::default()
    };
    assert_eq!(
        decide_registration(&one, &identity).expect("decision"),
        Registration::Adopt(hand_made.clone())
    );
    assert_eq!(
        decide_registration(&AppObservation::default(), &identity).expect("decision"),
        Registration::Create
    );
    assert_eq!(Registration::Create.outcome(), Outcome::Created);
    assert_eq!(Registration::Adopt(hand_made).outcome(), Outcome::Updated);
    // An application from before markers existed is marked by the run (adopted).
    assert_eq!(
        Registration::Existing(owned.clone()).outcome(),
        Outcome::Updated
    );
    let mut marked = owned;
    marked.tags.push(crate::ownership::APP_TAG.into());
    assert_eq!(Registration::Existing(marked).outcome(), Outcome::Unchanged);
}

#[test]
fn two_hand_made_applications_are_ambiguous_and_listed_with_their_keys() {
    let leaf = cert(LEAF);
    let seen = AppObservation {
        by_display_name: vec![
            app("b", None, vec![key_of(&leaf, "CN=x")]),
            app("c", None, vec![]),
        ],
        ..AppObservation::default()
    };
    match decide_registration(&seen, &AppIdentity::new("Cisco ISE Intune integration")) {
        Err(Error::AmbiguousApplication {
            count, candidates, ..
        }) => {
            assert_eq!(count, 2);
            assert_eq!(candidates[0].client_id, "b");
            assert_eq!(candidates[0].key_thumbprints, vec![leaf.sha1().to_hex()]);
            assert!(candidates[1].key_thumbprints.is_empty());
        }
        other => panic!("expected AmbiguousApplication, got {other:?}"),
    }
}

#[test]
fn keys_are_added_only_when_a_thumbprint_is_missing() {
    let (leaf, ise) = (cert(LEAF), cert(ISE));
    assert_eq!(keys_outcome(&[], &[&leaf]), Outcome::Updated);
    let held = vec![key_of(&leaf, &key_display_name(&leaf))];
    assert_eq!(keys_outcome(&held, &[&leaf]), Outcome::Unchanged);
    assert_eq!(keys_outcome(&held, &[&leaf, &ise]), Outcome::Updated);
    assert_eq!(keys_outcome(&held, &[]), Outcome::Unchanged);
    let key = certificate_key(&leaf);
    assert_eq!(key.display_name, key_display_name(&leaf));
    assert!(key.display_name.starts_with("CN="));
    assert!(key.end_date_time.is_some_and(|t| t.ends_with('Z')));
}

#[test]
fn a_registered_key_must_carry_the_thumbprint_and_the_name() {
    let (leaf, ise) = (cert(LEAF), cert(ISE));
    let held = vec![key_of(&leaf, &key_display_name(&leaf))];
    assert_eq!(
        check_registered(&held, &leaf).expect("registered"),
        leaf.sha1().to_hex()
    );
    assert!(matches!(
        check_registered(&held, &ise),
        Err(Error::ThumbprintMismatch { ise, entra }) if entra == vec![leaf.sha1().to_hex()] && !ise.is_empty()
    ));
    let renamed = vec![key_of(&leaf, "CN=someone else")];
    assert!(matches!(
        check_registered(&renamed, &leaf),
        Err(Error::KeyNameMismatch { found, .. }) if found == "CN=someone else"
    ));
}

#[test]
fn permissions_merge_into_what_is_requested_and_consent_lists_what_is_missing() {
    let t = targets();
    assert_eq!(access_outcome(&[], &t), Outcome::Updated);
    assert_eq!(access_outcome(&t.required_access(), &t), Outcome::Unchanged);
    let mut more = t.required_access().to_vec();
    more.push(RequiredResourceAccess {
        resource_app_id: "another".into(),
        resource_access: vec![ResourceAccess::role("r")],
    });
    assert_eq!(access_outcome(&more, &t), Outcome::Unchanged);
    assert_eq!(
        missing_grants(&[], &t),
        vec![
            ("intune-sp", "role-compliance"),
            ("graph-sp", "role-read-all")
        ]
    );
    let held: Vec<AppRoleAssignment> = vec![
        serde_json::from_value(json!({
            "id": "a1", "principalId": "sp", "resourceId": "INTUNE-SP",
            "appRoleId": "ROLE-COMPLIANCE",
        }))
        .expect("assignment"),
    ];
    assert_eq!(
        missing_grants(&held, &t),
        vec![("graph-sp", "role-read-all")]
    );
}

#[test]
fn anchors_are_imported_fixed_in_place_or_kept() {
    let (root, root2) = (cert(ROOT), cert(ROOT2));
    let mut set = TrustAnchorSet::empty("test");
    set.add(TrustAnchor::new("Root", "fixture", root.clone()).expect("anchor"));
    set.add(TrustAnchor::new("Root 2", "fixture", root2.clone()).expect("anchor"));
    let none = anchor_actions(&[], &set);
    assert!(none.iter().all(|(_, a)| *a == AnchorAction::Import));
    assert_eq!(anchors_outcome(&none), Outcome::Created);
    let store = vec![
        stored("1", &root, "Enabled", "Infrastructure,Cisco Services"),
        stored("2", &root2, "Disabled", "Cisco Services"),
    ];
    let actions = anchor_actions(&store, &set);
    assert_eq!(actions[0].1, AnchorAction::Keep);
    match &actions[1].1 {
        AnchorAction::Fix { id, update } => {
            assert_eq!(id, "2");
            assert_eq!(update.name, "entry 2", "the entry's name is kept");
            assert!(update.enabled && update.trust_for_ise_auth);
            assert!(update.trust_for_cisco_services_auth);
            // What was turned on is recorded, for offboarding to turn it off again.
            assert_eq!(
                update.description.as_deref(),
                Some("ise-intune enabled: status ise-auth")
            );
        }
        other => panic!("expected a fix, got {other:?}"),
    }
    assert_eq!(anchors_outcome(&actions), Outcome::Updated);
    // A description ISE's API would refuse (a comma) is left alone, unrecorded.
    let mut commented = stored("2", &root2, "Disabled", "Cisco Services");
    commented.description = Some("Shipped, do not touch".into());
    let mut own = stored("2", &root2, "Disabled", "Cisco Services");
    own.description = Some("PKI team".into());
    let fix_of = |t: TrustedCertificate| match anchor_actions(&[t], &set).pop() {
        Some((_, AnchorAction::Fix { update, .. })) => update.description,
        other => panic!("expected a fix, got {other:?}"),
    };
    assert_eq!(fix_of(commented), None);
    assert_eq!(
        fix_of(own).as_deref(),
        Some("PKI team -- ise-intune enabled: status ise-auth")
    );
    let all_kept = vec![
        stored("1", &root, "Enabled", "Infrastructure,Cisco Services"),
        stored(
            "2",
            &root2,
            "Enabled",
            "Infrastructure,Cisco Services,Endpoints",
        ),
    ];
    assert_eq!(
        anchors_outcome(&anchor_actions(&all_kept, &set)),
        Outcome::Unchanged
    );
    let request = anchor_import_request(&set.anchors()[0]);
    assert_eq!(request.name, "Root");
}

#[test]
fn mdm_settings_follow_the_release() {
    let leaf = cert(LEAF);
    let settings = |v: &str, patch: &str| {
        let version = IseVersion::from_ers(v, patch).expect("version");
        mdm_settings(
            &version,
            crate::version::INTUNE_RESOURCE,
            "Intune",
            "client",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token".into(),
            "https://graph.microsoft.com".into(),
            &[&leaf],
        )
    };
    let current = settings("3.3.0.430", "2").expect("3.3");
    assert_eq!(
        current.token_audience,
        "https://api.manage.microsoft.com//.default"
    );
    assert_eq!(current.client_id, "client");
    let early = settings("3.2.0.542", "2");
    assert!(matches!(early, Err(Error::UnsupportedIseVersion { .. })));
}

#[test]
fn iso8601_durations_as_graph_writes_them() {
    let days = |s: &str| iso8601_duration(s).map(|d| d.whole_days());
    assert_eq!(days("P90D"), Some(90));
    assert_eq!(days("P1Y"), Some(365));
    assert_eq!(days("P2W"), Some(14));
    assert_eq!(days("P1M15D"), Some(45));
    assert_eq!(
        iso8601_duration("P4DT12H30M5S").map(|d| d.whole_seconds()),
        Some(4 * 86_400 + 12 * 3_600 + 30 * 60 + 5)
    );
    for bad in ["90D", "P", "P1X", "P9D9", "P99999999999999999999D"] {
        assert!(
            iso8601_duration(bad).is_none_or(|d| bad == "P" && d.is_zero()),
            "{bad}"
        );
    }
}

#[test]
fn a_key_lifetime_policy_refuses_a_longer_certificate() {
    let leaf = cert(LEAF);
    let lifetime = (leaf.not_after() - leaf.not_before()).whole_days();
    let restrictions = |days: i64, after: Option<&str>| {
        serde_json::from_value::<graph_client::AppRestrictions>(json!({
            "keyCredentials": [{"restrictionType": "asymmetricKeyLifetime",
                "maxLifetime": format!("P{days}D"),
                "restrictForAppsCreatedAfterDateTime": after}]
        }))
        .expect("restrictions")
    };
    let tenant = |days: i64, enabled: bool| {
        let mut t: TenantAppManagementPolicy =
            serde_json::from_value(json!({"id": "tenant-default", "isEnabled": enabled}))
                .expect("policy");
        t.application_restrictions = Some(restrictions(days, None));
        t
    };
    let short = tenant(lifetime - 1, true);
    let refusal = key_policy_refusal(Some(&short), &[], None, &[&leaf]).expect("refused");
    assert_eq!(refusal.lifetime_days, lifetime);
    assert_eq!(refusal.max_lifetime, format!("P{}D", lifetime - 1));
    assert!(refusal.policy.contains("tenant-default"));
    // Long enough, or not enforced: nothing.
    assert_eq!(
        key_policy_refusal(Some(&tenant(lifetime + 1, true)), &[], None, &[&leaf]),
        None
    );
    assert_eq!(
        key_policy_refusal(Some(&tenant(lifetime - 1, false)), &[], None, &[&leaf]),
        None
    );
    // The application's own policy takes precedence over the tenant's.
    let mut own: AppManagementPolicy =
        serde_json::from_value(json!({"id": "exempt", "isEnabled": true})).expect("policy");
    own.restrictions = Some(restrictions(lifetime + 1, None));
    assert_eq!(
        key_policy_refusal(Some(&short), &[own], None, &[&leaf]),
        None
    );
    // A restriction for applications created after a date spares older ones.
    let mut dated = tenant(lifetime - 1, true);
    dated.application_restrictions = Some(restrictions(lifetime - 1, Some("2025-01-01T00:00:00Z")));
    assert_eq!(
        key_policy_refusal(Some(&dated), &[], Some("2024-06-01T00:00:00Z"), &[&leaf]),
        None
    );
    assert!(
        key_policy_refusal(Some(&dated), &[], Some("2025-06-01T00:00:00Z"), &[&leaf]).is_some()
    );
}

#[test]
fn a_trusted_ca_policy_refuses_a_self_signed_certificate_and_leaves_a_ca_issued_one_to_entra() {
    let policy = |after: Option<&str>| {
        let mut t: TenantAppManagementPolicy =
            serde_json::from_value(json!({"id": "tenant-default", "isEnabled": true}))
                .expect("policy");
        t.application_restrictions = Some(
            serde_json::from_value(json!({
                "keyCredentials": [{"restrictionType": "trustedCertificateAuthority",
                    "certificateBasedApplicationConfigurationIds": ["c1"],
                    "restrictForAppsCreatedAfterDateTime": after}]
            }))
            .expect("restrictions"),
        );
        t
    };
    let ise = cert(ISE);
    let refusal = key_policy_refusal(Some(&policy(None)), &[], None, &[&ise]).expect("refused");
    assert!(refusal.trusted_ca_only);
    assert!(refusal.policy.contains("tenant-default"));
    assert!(refusal.certificate.contains(&ise.sha1().to_hex()));
    // A CA-issued certificate is Entra's to judge against its configuration.
    assert_eq!(
        key_policy_refusal(Some(&policy(None)), &[], None, &[&cert(LEAF)]),
        None
    );
    // An application older than the restriction is spared.
    assert_eq!(
        key_policy_refusal(
            Some(&policy(Some("2025-01-01T00:00:00Z"))),
            &[],
            Some("2024-06-01T00:00:00Z"),
            &[&ise]
        ),
        None
    );
}

#[test]
fn steps_one_three_and_four_are_decided_once_with_the_writes_they_need() {
    let identity = AppIdentity::new("Cisco ISE Intune integration");
    let ise = cert(ISE);
    let certs = [&ise];
    // Nothing in the tenant: every write, the application's client id to come.
    let nothing = AppObservation::default().decide(&identity);
    let d = microsoft(&nothing, &certs, &targets()).expect("decision");
    assert_eq!(
        (d.register(), d.keys, d.client_id.as_deref()),
        (Outcome::Created, Outcome::Updated, None)
    );
    assert_eq!(
        d.writes(),
        [
            "register the application",
            "add ISE's key(s) to it",
            "request its permissions"
        ]
    );
    // The integration's application, holding ISE's key, without its service principal
    // or permissions yet: the principal and the permissions, not the key.
    let marked = AppObservation {
        by_unique_name: Some(app("c1", Some("u"), vec![key_of(&ise, "CN=x")])),
        ..AppObservation::default()
    }
    .decide(&identity);
    let d = microsoft(&marked, &certs, &targets()).expect("decision");
    assert_eq!(d.client_id.as_deref(), Some("c1"));
    assert_eq!(
        (d.keys, d.kept_keys, d.missing_grants),
        (Outcome::Unchanged, 1, 2)
    );
    assert_eq!(d.principal, Outcome::Created);
    assert!(d.writes().contains(&"create its service principal"));
    assert!(d.writes().contains(&"request its permissions"));
    assert!(!d.writes().contains(&"add ISE's key(s) to it"));
    // Two hand-made applications: the ambiguity is the decision's error.
    let two = AppObservation {
        by_display_name: vec![app("a", None, Vec::new()), app("b", None, Vec::new())],
        ..AppObservation::default()
    }
    .decide(&identity);
    assert!(matches!(
        microsoft(&two, &certs, &targets()),
        Err(Error::AmbiguousApplication { count: 2, .. })
    ));
}
