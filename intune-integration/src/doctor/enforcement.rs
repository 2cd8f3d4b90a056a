//! Checks of enforcement: whether ISE authorizes on what Intune says.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Enforcement's findings from ISE's policy as read, or the info finding that it
/// could not be checked.
pub(super) fn enforcement_checks(ctx: &Integration, policy: &IsePolicy) -> Diagnosis {
    let mut d = Diagnosis::default();
    if let Err(e) = enforcement_findings(ctx, &mut d, policy) {
        d.push(
            ids::ENFORCE_NOT_CHECKED,
            Severity::Info,
            None,
            "the network-access policy could not be read; enforcement was not checked",
            e.to_string(),
            "give the ISE account read access to Policy (ISE 3.1 or later), then run doctor again",
        );
    }
    d
}

/// What ISE's network-access policy does with Intune's answer: whether any enabled
/// rule uses the MDM dictionary, rules on attributes Intune no longer supplies, rules
/// naming an MDM server that is not the integration's active entry.
fn enforcement_findings<'o>(
    ctx: &Integration,
    d: &mut Diagnosis,
    policy: &'o IsePolicy,
) -> Result<(), &'o Error> {
    use crate::enforce::{SUPPLIED_ATTRIBUTES, mdm_conditions};
    use ise_client::RuleState;
    let network = policy.network.as_ref()?;
    let library = &network.library;
    let mut enforcing = Vec::new();
    let mut server_rules = Vec::new();
    for (set, rules) in &network.sets {
        for r in rules {
            let Some(condition) = &r.rule.condition else {
                continue;
            };
            let mdm = mdm_conditions(condition, library);
            if mdm.is_empty() || r.rule.state == RuleState::Disabled {
                continue;
            }
            let name = format!("`{}` in policy set `{}`", r.rule.name, set.name);
            if r.rule.state == RuleState::Enabled {
                enforcing.push(name.clone());
            }
            for c in &mdm {
                let attribute = c.attribute_name.as_deref().unwrap_or_default();
                if !SUPPLIED_ATTRIBUTES.contains(&attribute) {
                    d.push(
                        ids::ENFORCE_UNSUPPLIED_ATTRIBUTE,
                        Severity::Warning,
                        None,
                        format!("rule {name} conditions on MDM:{attribute}, which Intune no longer supplies"),
                        format!(
                            "the rule's condition {condition}; since the Compliance Retrieval API, \
                             Intune supplies only compliance, management, MAC address and \
                             registration, so this condition never matches"
                        ),
                        "rewrite the rule on MDM:DeviceCompliantStatus (make disk encryption, \
                         PIN and jailbreak part of Intune's compliance policy instead)",
                    );
                }
                if attribute == "MDMServerName"
                    && let Some(value) = c.attribute_value.as_deref()
                {
                    server_rules.push((name.clone(), value.to_owned()));
                }
            }
        }
    }
    if !server_rules.is_empty() {
        let active = policy.mdm.as_ref()?.active_mdm_servers_count;
        let ours = &ctx.options.mdm_server_name;
        for (name, server) in server_rules {
            if &server != ours || active == 0 {
                d.push(
                    ids::ENFORCE_INACTIVE_MDM_SERVER,
                    Severity::Warning,
                    None,
                    format!("rule {name} names MDM server `{server}`, which is not active"),
                    format!(
                        "the integration's External MDM entry is `{ours}`; ISE reports \
                         {active} active MDM server(s)"
                    ),
                    format!(
                        "change the rule's MDM:MDMServerName to `{ours}`, or enable the entry \
                         `{server}` in ISE (Administration > Network Resources > External MDM)"
                    ),
                );
            }
        }
    }
    if enforcing.is_empty() {
        d.push(
            ids::ENFORCE_NOTHING,
            Severity::Warning,
            None,
            "the integration is connected but enforces nothing",
            format!(
                "no enabled authorization rule of the {} enabled policy set(s) conditions \
                 on the MDM dictionary: every device gets the same access whatever Intune says",
                network.sets.len()
            ),
            "run ise-intune enforce (its [enforce] table names the policy set and profiles), \
             or add rules on MDM:DeviceCompliantStatus in ISE",
        );
    }
    Ok(())
}
