//! Offboarding's decisions: which objects carry the integration's marker and may be
//! removed, and which stay and why (pure functions of what was read).

use graph_client::Application;
use ise_client::{AuthorizationRule, TrustedCertificate, TrustedCertificateUpdate};

use super::{Adopt, Kept, ObjectKind};
use crate::anchors::TrustAnchorSet;
use crate::config::EnforcementPolicy;
use crate::decide::{AppIdentity, AppObservation, PrincipalObservation, Registration};
use crate::ownership::{self, EnabledFlag};

/// Whether the operator named this object, of this kind, for removal (`--adopt
/// KIND=NAME`): by its exact name, or by an id.
pub(crate) fn adopted(adopt: &[Adopt], kind: ObjectKind, name: &str, ids: &[&str]) -> bool {
    adopt.iter().any(|a| {
        a.kind == kind && (a.name == name || ids.iter().any(|id| id.eq_ignore_ascii_case(&a.name)))
    })
}

/// The rules enforcement owns in the set as read: the configured name with exactly
/// the condition enforcement writes for its state, or a rule named by `--adopt`.
/// Any other rule with a configured name is kept, with the reason. The set's default
/// rule is never removed.
pub(crate) fn rules(
    policy: &EnforcementPolicy,
    existing: &[AuthorizationRule],
    adopt: &[Adopt],
) -> (Vec<AuthorizationRule>, Vec<Kept>) {
    let (mut remove, mut kept) = (Vec::new(), Vec::new());
    for (state, want) in policy.rules() {
        let name = &want.rule;
        let Some(rule) = existing.iter().find(|r| &r.rule.name == name) else {
            continue;
        };
        let id = rule.rule.id.clone();
        let ours = rule
            .rule
            .condition
            .as_ref()
            .is_some_and(|c| c.same_as(&policy.condition(state)));
        let reason = if rule.rule.default {
            Some("it is the policy set's default rule".to_owned())
        } else if id.is_none() {
            Some("ISE listed it without an id".to_owned())
        } else if ours
            || adopted(
                adopt,
                ObjectKind::AuthorizationRule,
                name,
                &[id.as_deref().unwrap_or_default()],
            )
        {
            None
        } else {
            Some(format!(
                "its condition is not the one enforcement writes for {state} devices (someone \
                 changed it, or it is not the integration's): name it with --adopt rule={name} to \
                 remove it"
            ))
        };
        match reason {
            None => remove.push(rule.clone()),
            Some(reason) => kept.push(Kept {
                kind: ObjectKind::AuthorizationRule,
                name: name.clone(),
                id,
                reason,
            }),
        }
    }
    (remove, kept)
}

/// What offboarding does to ISE's trusted store.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreChanges {
    /// Certificates the integration imported (or the operator named): removed.
    pub(crate) remove: Vec<TrustedCertificate>,
    /// Certificates that were there before, whose trust onboarding turned on: each
    /// with the update that turns exactly that off and restores its description.
    pub(crate) restore: Vec<(TrustedCertificate, TrustedCertificateUpdate)>,
    /// What stays, and why.
    pub(crate) kept: Vec<Kept>,
    /// The store as read, which the changes were decided from.
    pub(crate) all: Vec<TrustedCertificate>,
}

/// Why `cert` is still needed once offboarded, if it is: trusted for another purpose
/// (endpoints' or administrators' certificate authentication), the issuer of another
/// certificate of the store that stays (`leaving` lists those that go), or ISE has
/// another active External MDM server (`other_mdm_servers`), which may reach Microsoft
/// through it.
fn still_needed(
    cert: &TrustedCertificate,
    store: &[TrustedCertificate],
    leaving: &[&str],
    other_mdm_servers: u32,
) -> Option<String> {
    let flags = TrustedCertificateUpdate::keeping(cert);
    // The store lists names, not keys: a same-named issuer counts, which errs on
    // keeping.
    let issues = store.iter().find(|other| {
        other.id != cert.id
            && !leaving.contains(&other.id.as_str())
            && other.issued_to != other.issued_by
            && other.issued_by.eq_ignore_ascii_case(&cert.issued_to)
    });
    if flags.trust_for_client_auth || flags.trust_for_certificate_based_admin_auth {
        Some(
            "it is also trusted for client or administrator certificate authentication: \
             another purpose uses it"
                .to_owned(),
        )
    } else if let Some(other) = issues {
        Some(format!(
            "the trusted certificate `{}` chains to it",
            other.friendly_name
        ))
    } else if other_mdm_servers > 0 {
        Some(format!(
            "ISE has {other_mdm_servers} other active External MDM server(s), which may \
             reach Microsoft through it"
        ))
    } else {
        None
    }
}

/// The store's changes: the certificates the integration imported (its description
/// on a root of the anchor set, matched by SHA-256) or the operator named are removed,
/// and anchors whose trust onboarding turned on ([`ownership::enabled_by_onboarding`])
/// are restored — each only when [`still_needed`] finds nothing that needs it. A
/// certificate that carries the integration's description or enabled-record but is no
/// anchor is someone else's: kept, and said.
pub(crate) fn store_changes(
    store: &[TrustedCertificate],
    anchors: &TrustAnchorSet,
    adopt: &[Adopt],
    other_mdm_servers: u32,
) -> StoreChanges {
    let is_anchor = |t: &TrustedCertificate| {
        t.sha256_hex().is_some_and(|sha| {
            anchors
                .anchors()
                .iter()
                .any(|a| a.certificate().sha256().to_hex() == sha)
        })
    };
    let named = |t: &TrustedCertificate| {
        adopted(
            adopt,
            ObjectKind::TrustedCertificate,
            &t.friendly_name,
            &[&t.id],
        )
    };
    let mut out = StoreChanges {
        all: store.to_vec(),
        ..StoreChanges::default()
    };
    let keep = |cert: &TrustedCertificate, reason: String| Kept {
        kind: ObjectKind::TrustedCertificate,
        name: cert.friendly_name.clone(),
        id: Some(cert.id.clone()),
        reason,
    };
    let not_ours = "it carries ise-intune's description but is none of the Microsoft roots \
                    ise-intune imports (matched by SHA-256): someone else's certificate";
    let mut candidates = Vec::new();
    for t in store {
        if named(t) || (ownership::trusted_is_marked(t) && is_anchor(t)) {
            candidates.push(t);
        } else if ownership::trusted_is_marked(t) {
            out.kept.push(keep(
                t,
                format!(
                    "{not_ours}; name it with --adopt certificate={} to remove it",
                    t.friendly_name
                ),
            ));
        }
    }
    let leaving: Vec<&str> = candidates.iter().map(|t| t.id.as_str()).collect();
    for cert in candidates {
        match still_needed(cert, store, &leaving, other_mdm_servers) {
            None => out.remove.push(cert.clone()),
            Some(reason) => out.kept.push(keep(cert, reason)),
        }
    }
    for cert in store.iter().filter(|t| !leaving.contains(&t.id.as_str())) {
        let Some((original, flags)) = ownership::enabled_by_onboarding(cert.description.as_deref())
        else {
            continue;
        };
        if !is_anchor(cert) {
            out.kept.push(keep(
                cert,
                "its description ends as ise-intune records what it switched on, but it is \
                 none of the Microsoft roots ise-intune trusts: its trust is left as it is"
                    .to_owned(),
            ));
            continue;
        }
        if let Some(reason) = still_needed(cert, store, &leaving, other_mdm_servers) {
            out.kept.push(keep(
                cert,
                format!("its trust stays as onboarding set it: {reason}"),
            ));
            continue;
        }
        let mut update = TrustedCertificateUpdate::keeping(cert);
        for flag in flags {
            match flag {
                EnabledFlag::Status => update.enabled = false,
                EnabledFlag::IseAuth => update.trust_for_ise_auth = false,
                EnabledFlag::CiscoServices => update.trust_for_cisco_services_auth = false,
            }
        }
        update.description = Some(original);
        out.restore.push((cert.clone(), update));
    }
    out
}

/// What identifies this ISE's nodes' keys on an application.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeKeys {
    /// The SHA-1s (hex) of the nodes' Admin certificates.
    pub(crate) thumbprints: Vec<String>,
    /// Their common names (a key's display name, as step 3 writes it).
    pub(crate) names: Vec<String>,
}

impl NodeKeys {
    /// Whether `key` is one of this ISE's nodes' (now, or an older certificate of a
    /// node, by the name step 3 gave it).
    fn holds(&self, key: &graph_client::KeyCredential) -> bool {
        let by_thumbprint = key
            .thumbprint_hex()
            .is_some_and(|t| self.thumbprints.iter().any(|n| n.eq_ignore_ascii_case(&t)));
        // Graph names a certificate key after its subject (`CN=host`).
        let by_name = key.display_name.as_deref().is_some_and(|d| {
            let d = d.trim();
            let cn = d
                .get(..3)
                .filter(|p| p.eq_ignore_ascii_case("CN="))
                .map_or(d, |_| &d[3..]);
            self.names.iter().any(|n| n.eq_ignore_ascii_case(cn))
        });
        by_thumbprint || by_name
    }
}

/// The application offboarding removes, with its service principal and grants.
#[derive(Debug, Clone)]
pub(crate) struct AppTarget {
    pub(crate) app: Application,
    pub(crate) principal: Option<PrincipalObservation>,
}

/// The integration's application as step 1 would find it, when it carries the marker
/// and is this deployment's — found by its uniqueName or the configured client id,
/// holding no key but this ISE's nodes' — or the operator named it; otherwise why it
/// stays. An application found only by its display name (no uniqueName) may be a
/// look-alike (Graph compares display names without regard to case): it is removed
/// only when named by client id. `nodes` identifies this ISE's nodes' keys.
pub(crate) fn application(
    seen: &AppObservation,
    identity: &AppIdentity,
    adopt: &[Adopt],
    nodes: &NodeKeys,
) -> Result<Option<AppTarget>, Kept> {
    let app = match seen.registration() {
        Ok(Registration::Existing(app) | Registration::Adopt(app)) => app,
        Ok(_) => return Ok(None),
        Err(e) => {
            return Err(Kept {
                kind: ObjectKind::Application,
                name: identity.display_name.clone(),
                id: None,
                reason: format!("{e}: name the one to remove with --adopt application=<client id>"),
            });
        }
    };
    let by_id = adopted(adopt, ObjectKind::Application, "", &[&app.app_id, &app.id]);
    let named = by_id || adopted(adopt, ObjectKind::Application, &app.display_name, &[]);
    let keep = |reason: String| Kept {
        kind: ObjectKind::Application,
        name: app.display_name.clone(),
        id: Some(app.app_id.clone()),
        reason,
    };
    let found_by_key = seen.by_unique_name.is_some() || seen.by_client_id.is_some();
    if !found_by_key && !by_id {
        return Err(keep(format!(
            "found only by its display name, without the integration's uniqueName `{}`: it \
             may be someone else's look-alike; if it is the integration's, name it with \
             --adopt application={}",
            identity.unique_name, app.app_id
        )));
    }
    if !ownership::app_is_marked(&app) && !named {
        return Err(keep(format!(
            "it does not carry the tag `{}`: run onboarding once to mark it as the \
             integration's, or name it with --adopt application={} to remove it",
            ownership::APP_TAG,
            app.app_id
        )));
    }
    let foreign: Vec<String> = app
        .key_credentials
        .iter()
        .filter(|k| !nodes.holds(k))
        .filter_map(|k| k.thumbprint_hex())
        .collect();
    if !foreign.is_empty() && !by_id {
        return Err(keep(format!(
            "it holds key(s) that are no Admin certificate of this ISE's nodes (SHA-1 {}): \
             another ISE deployment may use it. If they are old certificates of this one, \
             remove them with `ise-intune rotate --as-node` and offboard again; to delete it \
             all the same, name it with --adopt application={}",
            foreign.join(", "),
            app.app_id
        )));
    }
    let principal = seen
        .principal
        .clone()
        .filter(|p| p.service_principal.app_id == app.app_id);
    Ok(Some(AppTarget { app, principal }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DeviceState;
    use ise_client::Condition;
    use serde_json::json;

    fn cert(
        id: &str,
        name: &str,
        to: &str,
        by: &str,
        trusted_for: &str,
        desc: &str,
    ) -> TrustedCertificate {
        serde_json::from_value(json!({
            "id": id, "friendlyName": name, "issuedTo": to, "issuedBy": by,
            "status": "Enabled", "trustedFor": trusted_for, "description": desc,
            "sha256Fingerprint": anchor_sha(name),
        }))
        .expect("a store entry")
    }

    /// The test roots stand for the anchor set's roots (by SHA-256); any other name is
    /// no anchor.
    fn anchor_sha(name: &str) -> Option<String> {
        let i = [
            "Root A",
            "Root B",
            "Root D",
            "Root E",
            "DigiCert Global Root G2",
        ]
        .iter()
        .position(|n| *n == name)?;
        Some(anchors().anchors()[i].certificate().sha256().to_hex())
    }

    fn anchors() -> TrustAnchorSet {
        TrustAnchorSet::builtin()
    }

    fn ids(certs: &[TrustedCertificate]) -> Vec<&str> {
        certs.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn only_marked_roots_go_and_only_when_nothing_needs_them() {
        let ours = ownership::TRUST_DESCRIPTION;
        let store = vec![
            cert(
                "a",
                "Root A",
                "Root A",
                "Root A",
                "Infrastructure,Cisco Services",
                ours,
            ),
            cert(
                "b",
                "Root B",
                "Root B",
                "Root B",
                "Infrastructure,Cisco Services",
                ours,
            ),
            // Root B issued a CA someone else trusts: B stays.
            cert(
                "c",
                "Issuing CA",
                "Issuing CA",
                "Root B",
                "Infrastructure",
                "PKI team",
            ),
            // Also trusted for endpoints: another purpose.
            cert(
                "d",
                "Root D",
                "Root D",
                "Root D",
                "Infrastructure,Endpoints,Cisco Services",
                ours,
            ),
            // Not marked: never touched.
            cert(
                "e",
                "Root E",
                "Root E",
                "Root E",
                "Infrastructure,Cisco Services",
                "PKI team",
            ),
        ];
        let changes = store_changes(&store, &anchors(), &[], 0);
        assert_eq!(ids(&changes.remove), ["a"]);
        assert!(changes.restore.is_empty());
        let kept: Vec<(&str, &str)> = changes
            .kept
            .iter()
            .map(|k| (k.name.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "Root B",
                    "the trusted certificate `Issuing CA` chains to it"
                ),
                (
                    "Root D",
                    "it is also trusted for client or administrator certificate authentication: \
                     another purpose uses it"
                ),
            ]
        );
        // Another active External MDM server keeps every root.
        let changes = store_changes(&store, &anchors(), &[], 1);
        assert!(changes.remove.is_empty());
        assert_eq!(changes.kept.len(), 3);
        // Named by the operator: the unmarked root goes too.
        let adopt = [Adopt::new(ObjectKind::TrustedCertificate, "Root E")];
        let changes = store_changes(&store, &anchors(), &adopt, 0);
        assert_eq!(ids(&changes.remove), ["a", "e"]);
        // Named as another kind, it is not adopted.
        let adopt = [Adopt::new(ObjectKind::Application, "Root E")];
        let changes = store_changes(&store, &anchors(), &adopt, 0);
        assert_eq!(ids(&changes.remove), ["a"]);
    }

    #[test]
    fn the_integrations_description_on_a_root_that_is_no_anchor_is_not_ownership() {
        let copied = cert(
            "corp",
            "Corporate Root",
            "Corporate Root",
            "Corporate Root",
            "Infrastructure,Cisco Services",
            ownership::TRUST_DESCRIPTION,
        );
        let suffixed = cert(
            "corp2",
            "Corporate Root 2",
            "Corporate Root 2",
            "Corporate Root 2",
            "Infrastructure,Cisco Services",
            "PKI -- ise-intune enabled: ise-auth",
        );
        let changes = store_changes(&[copied, suffixed], &anchors(), &[], 0);
        assert!(changes.remove.is_empty());
        assert!(changes.restore.is_empty());
        assert_eq!(
            changes
                .kept
                .iter()
                .map(|k| k.id.as_deref())
                .collect::<Vec<_>>(),
            [Some("corp"), Some("corp2")]
        );
    }

    #[test]
    fn a_root_onboarding_fixed_gets_exactly_its_old_trust_back() {
        let desc = ownership::enabled_description(
            Some("Default trusted certificate"),
            &[EnabledFlag::IseAuth],
        );
        assert_eq!(
            desc,
            "Default trusted certificate -- ise-intune enabled: ise-auth"
        );
        let store = vec![cert(
            "g2",
            "DigiCert Global Root G2",
            "DigiCert Global Root G2",
            "DigiCert Global Root G2",
            "Infrastructure,Cisco Services",
            &desc,
        )];
        let changes = store_changes(&store, &anchors(), &[], 0);
        assert!(changes.remove.is_empty());
        let [(c, update)] = changes.restore.as_slice() else {
            panic!("one restoration: {changes:?}");
        };
        assert_eq!(c.id, "g2");
        assert_eq!(
            update.to_body(),
            json!({"name": "DigiCert Global Root G2", "status": "Enabled",
                "trustForIseAuth": false, "trustForClientAuth": false,
                "trustForCertificateBasedAdminAuth": false, "trustForCiscoServicesAuth": true,
                "description": "Default trusted certificate"})
        );
    }

    #[test]
    fn the_enabled_record_reads_back_and_refuses_what_it_did_not_write() {
        let d = ownership::enabled_description(
            None,
            &[EnabledFlag::Status, EnabledFlag::CiscoServices],
        );
        assert_eq!(d, "ise-intune enabled: status cisco-services");
        assert_eq!(
            ownership::enabled_by_onboarding(Some(&d)),
            Some((
                String::new(),
                vec![EnabledFlag::Status, EnabledFlag::CiscoServices]
            ))
        );
        assert_eq!(ownership::enabled_by_onboarding(Some("PKI team")), None);
        assert_eq!(
            ownership::enabled_by_onboarding(Some("ise-intune enabled: everything")),
            None
        );
    }

    fn rule(id: &str, name: &str, condition: Condition) -> AuthorizationRule {
        let mut r = AuthorizationRule::new(name, condition, vec!["PermitAccess".into()]);
        r.rule.id = Some(id.into());
        r
    }

    #[test]
    fn rules_go_by_name_and_exact_condition_or_when_named() {
        let policy = EnforcementPolicy::default();
        let other = Condition::attribute("Radius", "NAS-Port-Type", "equals", "Ethernet");
        let existing = vec![
            rule(
                "1",
                &policy.compliant.rule,
                DeviceState::Compliant.condition(),
            ),
            rule("2", &policy.non_compliant.rule, other.clone()),
            rule(
                "3",
                "Someone_Elses_Rule",
                DeviceState::Unreachable.condition(),
            ),
        ];
        let (remove, kept) = rules(&policy, &existing, &[]);
        let removed: Vec<_> = remove.iter().map(|r| r.rule.id.as_deref()).collect();
        assert_eq!(removed, [Some("1")]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name, policy.non_compliant.rule);
        assert_eq!(kept[0].kind, ObjectKind::AuthorizationRule);
        let (remove, kept) = rules(
            &policy,
            &existing,
            &[Adopt::new(
                ObjectKind::AuthorizationRule,
                policy.non_compliant.rule.clone(),
            )],
        );
        assert_eq!(remove.len(), 2);
        assert!(kept.is_empty());
    }

    #[test]
    fn an_unmarked_application_stays_unless_named() {
        let identity = AppIdentity::new("Cisco ISE Intune integration");
        let app: Application = serde_json::from_value(json!({
            "id": "obj", "appId": "client", "displayName": "Cisco ISE Intune integration",
            "uniqueName": identity.unique_name, "tags": ["team-a"],
        }))
        .expect("an application");
        let seen = AppObservation {
            by_unique_name: Some(app.clone()),
            by_client_id: None,
            by_display_name: Vec::new(),
            ..AppObservation::default()
        };
        let nodes = NodeKeys {
            thumbprints: vec!["AB12".to_owned()],
            names: vec!["ise-psn.example.com".to_owned()],
        };
        let kept = application(&seen, &identity, &[], &nodes).expect_err("unmarked");
        assert_eq!(kept.kind, ObjectKind::Application);
        assert_eq!(kept.id.as_deref(), Some("client"));
        let by_id = [Adopt::new(ObjectKind::Application, "client")];
        let target = application(&seen, &identity, &by_id, &nodes)
            .expect("named")
            .expect("a target");
        assert_eq!(target.app.id, "obj");
        let mut marked = app;
        marked.tags.push(ownership::APP_TAG.into());
        let seen = AppObservation {
            by_unique_name: Some(marked.clone()),
            ..seen
        };
        assert!(matches!(
            application(&seen, &identity, &[], &nodes),
            Ok(Some(_))
        ));
        // A tagged look-alike found only by its display name stays, unless named by id.
        let look_alike = AppObservation {
            by_unique_name: None,
            by_display_name: vec![marked.clone()],
            ..seen.clone()
        };
        let kept = application(&look_alike, &identity, &[], &nodes).expect_err("a look-alike");
        assert!(
            kept.reason.contains("found only by its display name"),
            "{}",
            kept.reason
        );
        let by_name = [Adopt::new(
            ObjectKind::Application,
            "Cisco ISE Intune integration",
        )];
        assert!(application(&look_alike, &identity, &by_name, &nodes).is_err());
        assert!(matches!(
            application(&look_alike, &identity, &by_id, &nodes),
            Ok(Some(_))
        ));
        // A key no node of this ISE holds: another deployment may share it.
        let mut shared = marked;
        shared.key_credentials = vec![
            serde_json::from_value(json!({"type": "AsymmetricX509Cert", "usage": "Verify",
                "customKeyIdentifier": "AQIDBAUGBwgJCgsMDQ4PEBESExQ="}))
            .expect("a key"),
        ];
        let seen_shared = AppObservation {
            by_unique_name: Some(shared),
            ..seen.clone()
        };
        let kept = application(&seen_shared, &identity, &[], &nodes).expect_err("shared");
        assert!(
            kept.reason.contains("another ISE deployment"),
            "{}",
            kept.reason
        );
        let none = AppObservation {
            by_unique_name: None,
            ..seen
        };
        assert!(matches!(
            application(&none, &identity, &[], &nodes),
            Ok(None)
        ));
    }
}
