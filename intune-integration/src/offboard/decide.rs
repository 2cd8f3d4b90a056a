//! Offboarding's decisions: which objects carry the integration's marker and may be
//! removed, and which stay and why (pure functions of what was read).

use graph_client::Application;
use ise_client::{AuthorizationRule, TrustedCertificate, TrustedCertificateUpdate};

use super::{Kept, ObjectKind};
use crate::config::EnforcementPolicy;
use crate::decide::{AppIdentity, AppObservation, PrincipalObservation, Registration};
use crate::ownership::{self, EnabledFlag};
use crate::report::DeviceState;

/// Whether the operator named this object for removal (`--adopt`): by name, or by id.
fn adopted(adopt: &[String], name: &str, ids: &[&str]) -> bool {
    adopt
        .iter()
        .any(|a| a == name || ids.iter().any(|id| id.eq_ignore_ascii_case(a)))
}

/// The rules enforcement owns in the set as read: the configured name with exactly
/// the condition enforcement writes for its state, or a rule named by `--adopt`.
/// Any other rule with a configured name is kept, with the reason. The set's default
/// rule is never removed.
pub(crate) fn rules(
    policy: &EnforcementPolicy,
    existing: &[AuthorizationRule],
    adopt: &[String],
) -> (Vec<AuthorizationRule>, Vec<Kept>) {
    let (mut remove, mut kept) = (Vec::new(), Vec::new());
    for state in DeviceState::ALL {
        let name = &policy.rule(state).rule;
        let Some(rule) = existing.iter().find(|r| &r.rule.name == name) else {
            continue;
        };
        let id = rule.rule.id.clone();
        let ours = rule
            .rule
            .condition
            .as_ref()
            .is_some_and(|c| c.same_as(&state.condition()));
        let reason = if rule.rule.default {
            Some("it is the policy set's default rule".to_owned())
        } else if id.is_none() {
            Some("ISE listed it without an id".to_owned())
        } else if ours || adopted(adopt, name, &[id.as_deref().unwrap_or_default()]) {
            None
        } else {
            Some(format!(
                "its condition is not the one enforcement writes for {state} devices (someone \
                 changed it, or it is not the integration's): name it with --adopt to remove it"
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

/// The store's changes: the certificates the integration imported (its description)
/// or the operator named are removed, and those whose trust onboarding turned on
/// ([`ownership::enabled_by_onboarding`]) are restored — each only when
/// [`still_needed`] finds nothing that needs it.
pub(crate) fn store_changes(
    store: &[TrustedCertificate],
    adopt: &[String],
    other_mdm_servers: u32,
) -> StoreChanges {
    let candidates: Vec<&TrustedCertificate> = store
        .iter()
        .filter(|t| ownership::trusted_is_marked(t) || adopted(adopt, &t.friendly_name, &[&t.id]))
        .collect();
    let leaving: Vec<&str> = candidates.iter().map(|t| t.id.as_str()).collect();
    let mut out = StoreChanges::default();
    let keep = |cert: &TrustedCertificate, reason: String| Kept {
        kind: ObjectKind::TrustedCertificate,
        name: cert.friendly_name.clone(),
        id: Some(cert.id.clone()),
        reason,
    };
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

/// The application offboarding removes, with its service principal and grants.
#[derive(Debug, Clone)]
pub(crate) struct AppTarget {
    pub(crate) app: Application,
    pub(crate) principal: Option<PrincipalObservation>,
}

/// The integration's application as step 1 would find it, when it carries the marker
/// or the operator named it; otherwise why it stays.
pub(crate) fn application(
    seen: &AppObservation,
    identity: &AppIdentity,
    adopt: &[String],
) -> Result<Option<AppTarget>, Kept> {
    let app = match crate::decide::decide_registration(seen, identity) {
        Ok(Registration::Existing(app) | Registration::Adopt(app)) => app,
        Ok(_) => return Ok(None),
        Err(e) => {
            return Err(Kept {
                kind: ObjectKind::Application,
                name: identity.display_name.clone(),
                id: None,
                reason: format!("{e}: name the one to remove with --adopt <client id>"),
            });
        }
    };
    if ownership::app_is_marked(&app) || adopted(adopt, &app.display_name, &[&app.app_id, &app.id])
    {
        let principal = seen
            .principal
            .clone()
            .filter(|p| p.service_principal.app_id == app.app_id);
        Ok(Some(AppTarget { app, principal }))
    } else {
        Err(Kept {
            kind: ObjectKind::Application,
            name: app.display_name.clone(),
            id: Some(app.app_id.clone()),
            reason: format!(
                "it does not carry the tag `{}`: run onboarding once to mark it as the \
                 integration's, or name it with --adopt to remove it",
                ownership::APP_TAG
            ),
        })
    }
}
