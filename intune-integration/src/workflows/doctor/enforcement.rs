//! Checks of enforcement: whether ISE authorizes on what Intune says.

use super::Diagnosis;
use super::Severity;
use super::ids;
use crate::Error;
use crate::context::Integration;
use crate::observe::IsePolicy;

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

/// A rule (not disabled) on an endpoint attribute ISE does not define: a bridged
/// attribute no sync has filled.
fn unfilled_attribute(
    d: &mut Diagnosis,
    network: &crate::observe::NetworkPolicy,
    set: &ise_client::PolicySet,
    r: &ise_client::AuthorizationRule,
    condition: &ise_client::Condition,
) {
    let (Some(defined), Some(attribute)) = (
        &network.endpoint_attributes,
        crate::report::bridged_attribute(condition),
    ) else {
        return;
    };
    if r.rule.state == ise_client::RuleState::Disabled || defined.contains(&attribute) {
        return;
    }
    d.push(
        ids::ENFORCE_UNFILLED_ATTRIBUTE,
        Severity::Warning,
        None,
        format!(
            "rule `{}` in policy set `{}` conditions on EndPoints:{attribute}, which no \
             attribute sync has filled",
            r.rule.name, set.name
        ),
        format!(
            "ISE defines no endpoint attribute `{attribute}`: the rule's condition {condition} \
             never matches"
        ),
        "run ise-intune attributes sync (it defines and fills the bridged attributes), \
         or watch --auto attributes to keep them filled",
    );
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
            unfilled_attribute(d, network, set, r, condition);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DeviceState;

    #[test]
    fn a_rule_on_an_endpoint_attribute_ise_does_not_define_is_named_and_a_defined_one_is_not() {
        let set: ise_client::PolicySet =
            serde_json::from_value(serde_json::json!({"id": "s", "name": "Default"}))
                .expect("a set");
        let rule = ise_client::AuthorizationRule::new(
            "Intune_Stale",
            DeviceState::Stale.condition(),
            vec!["MDM_Quarantine".into()],
        );
        let condition = DeviceState::Stale.condition();
        let mut network = crate::observe::NetworkPolicy {
            endpoint_attributes: Some(vec!["AssetTag".into()]),
            ..Default::default()
        };
        let mut d = Diagnosis::default();
        unfilled_attribute(&mut d, &network, &set, &rule, &condition);
        let found: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(found, [ids::ENFORCE_UNFILLED_ATTRIBUTE]);
        assert!(d.findings[0].summary.contains("EndPoints:IntuneStale"));

        network.endpoint_attributes = Some(vec!["IntuneStale".into()]);
        let mut d = Diagnosis::default();
        unfilled_attribute(&mut d, &network, &set, &rule, &condition);
        assert!(d.findings.is_empty());
    }
}
