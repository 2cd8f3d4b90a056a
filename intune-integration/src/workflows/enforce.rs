//! Enforcement: the authorization rules that make ISE act on what Intune says.
//!
//! Connecting Intune to ISE is only worth something when ISE's authorization policy
//! uses the MDM dictionary. The desired state ([`EnforcementPolicy`]) names one
//! network-access policy set and, for each state a device can be in, the rule the
//! library owns and the authorization profile it grants:
//!
//! | state | condition | default rule | default profile |
//! |---|---|---|---|
//! | MDM unreachable | `MDM:MDMServerReachable equals UnReachable` | `Intune_MDM_Unreachable` | `MDM_Unreachable` |
//! | unregistered | `MDMServerReachable equals Reachable AND DeviceRegisterStatus equals UnRegistered` | `Intune_Unregistered` | `MDM_Redirect` |
//! | non-compliant | `DeviceRegisterStatus equals Registered AND DeviceCompliantStatus equals NonCompliant` | `Intune_NonCompliant` | `MDM_Quarantine` |
//! | compliant | `DeviceRegisterStatus equals Registered AND DeviceCompliantStatus equals Compliant` | `Intune_Compliant` | `PermitAccess` |
//!
//! The four conditions exclude one another, so their order among themselves does not
//! matter. [`plan`] says what [`apply`] would do; [`apply`] creates the rules that are
//! missing — directly above the set's default rule, so no other rule moves — and fixes
//! those whose condition, profiles or state differ (keeping their rank, id and security
//! group). Rules are matched by name; no other rule is read for writing, moved or
//! changed. A second run writes nothing.
//!
//! ```no_run
//! # async fn run(integration: intune_integration::Integration) -> Result<(), intune_integration::Error> {
//! let planned = intune_integration::enforce::plan(&integration).await?;
//! for r in &planned.rules {
//!     println!("{} {}: {}", r.outcome.planned(), r.rule, r.condition);
//! }
//! intune_integration::enforce::apply(&integration).await?;
//! # Ok(()) }
//! ```

use ise_client::{AuthorizationRule, Condition, PolicySet, RuleState};

pub use crate::config::{EnforcedRule, EnforcementPolicy};
pub use crate::report::{
    DeviceState, Enforcement, MDM_DICTIONARY, Rollout, RuleChange, bridged_attribute,
};

use crate::Error;
use crate::context::Integration;
use crate::error::{ApplyFailure, PartialReport};
use crate::guard::Guard;
use crate::outcome::{Outcome, StepName};

/// The MDM attributes ISE still fills for Intune since the Compliance Retrieval API
/// replaced the old one: registration and compliance (from Intune), and the server's
/// name and reachability (ISE's own). Intune supplies only compliance, management,
/// MAC address and registration (Microsoft, "Network access control integration with
/// Intune"; Cisco, "Integrate MDM and UEM Servers with Cisco ISE"): a rule on any other
/// MDM attribute (disk encryption, PIN lock, jailbreak, device details) never matches.
pub const SUPPLIED_ATTRIBUTES: &[&str] = &[
    "DeviceCompliantStatus",
    "DeviceRegisterStatus",
    "MDMServerName",
    "MDMServerReachable",
];

/// What to do about one owned rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleAction {
    /// Create this rule.
    Create(AuthorizationRule),
    /// Replace rule `id` with this one; the fields that differ.
    Update {
        /// The rule's id.
        id: String,
        /// The rule as it should be (rank and security group kept; the id, read-only,
        /// is in the path).
        rule: AuthorizationRule,
        /// What differs.
        changed: Vec<String>,
    },
    /// Already as wanted (its rank).
    Unchanged(Option<i64>),
}

/// Decides, for each state, what to do with the set's `existing` rules (pure): the
/// state each rule should have follows [`EnforcementPolicy::rollout`].
/// Refuses a desired name that is the set's default rule's.
pub(crate) fn rule_actions(
    desired: &EnforcementPolicy,
    existing: &[AuthorizationRule],
) -> Result<Vec<(DeviceState, RuleAction)>, Error> {
    let mut out = Vec::new();
    // A bridged rule created after the compliant rule goes directly above it.
    let compliant_rank = existing
        .iter()
        .find(|r| r.rule.name == desired.compliant.rule)
        .and_then(|r| r.rule.rank);
    for (state, want) in desired.rules() {
        let condition = desired.condition(state);
        let found = existing.iter().find(|r| r.rule.name == want.rule);
        let action = match found {
            None => {
                let mut rule = AuthorizationRule::new(
                    want.rule.clone(),
                    condition,
                    vec![want.profile.clone()],
                );
                rule.rule.state = desired.rollout.wanted_state(None);
                if matches!(state, DeviceState::Stale | DeviceState::Personal) {
                    rule.rule.rank = compliant_rank;
                }
                RuleAction::Create(rule)
            }
            Some(r) if r.rule.default => {
                return Err(Error::Config {
                    what: format!(
                        "`enforce.{state}.rule` = `{}` is the policy set's default rule: \
                         name another rule",
                        want.rule
                    ),
                });
            }
            Some(r) => {
                let wanted_state = desired.rollout.wanted_state(Some(r.rule.state));
                let mut changed = Vec::new();
                if !r
                    .rule
                    .condition
                    .as_ref()
                    .is_some_and(|c| c.same_as(&condition))
                {
                    changed.push("condition".to_owned());
                }
                if r.profile != [want.profile.clone()] {
                    changed.push("profile".to_owned());
                }
                if r.rule.state != wanted_state {
                    changed.push("state".to_owned());
                }
                match (changed.is_empty(), r.rule.id.clone()) {
                    (true, _) => RuleAction::Unchanged(r.rule.rank),
                    (false, Some(id)) => {
                        let mut rule = r.clone();
                        // The id is read-only in Cisco's document: it goes in the path.
                        rule.rule.id = None;
                        rule.rule.condition = Some(condition);
                        rule.rule.state = wanted_state;
                        rule.profile = vec![want.profile.clone()];
                        RuleAction::Update { id, rule, changed }
                    }
                    (false, None) => {
                        return Err(Error::RemoteState {
                            what: format!(
                                "ISE listed rule `{}` without an id: it cannot be updated; \
                                 check the rule in ISE's policy sets",
                                want.rule
                            ),
                        });
                    }
                }
            }
        };
        out.push((state, action));
    }
    Ok(out)
}

/// Whether an action writes a rule whose result ISE applies: only such a write needs
/// the connection to work ([`connection_guard`]).
fn applies(action: &RuleAction) -> bool {
    match action {
        RuleAction::Create(rule) | RuleAction::Update { rule, .. } => {
            rule.rule.state == RuleState::Enabled
        }
        RuleAction::Unchanged(_) => false,
    }
}

/// What was read before deciding.
struct Read {
    set: PolicySet,
    rules: Vec<AuthorizationRule>,
}

/// Reads the policy set and its rules, and checks the profiles exist.
async fn read(ctx: &Integration, desired: &EnforcementPolicy) -> Result<Read, Error> {
    desired.validate()?;
    let policy = ctx.ise.network_access_policy();
    let (sets, profiles) = tokio::join!(policy.policy_sets(), policy.authorization_profiles());
    let sets = sets?;
    let set = sets
        .iter()
        .find(|s| s.name == desired.policy_set)
        .cloned()
        .ok_or_else(|| Error::PolicyTargetMissing {
            kind: "policy set",
            name: desired.policy_set.clone(),
            available: sets.iter().map(|s| s.name.clone()).collect(),
        })?;
    let profiles = profiles?;
    for (_, rule) in desired.rules() {
        let want = &rule.profile;
        if !profiles.iter().any(|p| &p.name == want) {
            return Err(Error::PolicyTargetMissing {
                kind: "authorization profile",
                name: want.clone(),
                available: profiles.iter().map(|p| p.name.clone()).collect(),
            });
        }
    }
    // A rule on a bridged attribute needs the attribute defined (the sync defines it).
    let bridged: Vec<(DeviceState, String)> = desired
        .rules()
        .into_iter()
        .filter(|(s, _)| matches!(s, DeviceState::Stale | DeviceState::Personal))
        .filter_map(|(s, _)| bridged_attribute(&desired.condition(s)).map(|a| (s, a)))
        .collect();
    if !bridged.is_empty() {
        let defined = ctx.ise.endpoints().custom_attributes().await?;
        if let Some((state, name)) = bridged
            .iter()
            .find(|(_, name)| !defined.iter().any(|d| &d.name == name))
        {
            return Err(Error::Config {
                what: format!(
                    "`enforce.{state}` writes a rule on the endpoint attribute `{name}`, which \
                     ISE does not define yet: run `ise-intune attributes sync` first (it \
                     defines and fills it)"
                ),
            });
        }
    }
    let rules = policy.authorization_rules(&set.id).await?;
    Ok(Read { set, rules })
}

/// The guard id of a working connection.
pub const CONNECTION_GUARD: &str = "enforce.connection";

/// Guard [`CONNECTION_GUARD`]: a rule ISE applies is written only when ISE can ask
/// Intune about a device — ISE reports an active External MDM server (ERS
/// `deploymentinfo`), the integration's application exists, and ISE's Test Connection
/// as reproduced ([`crate::verify::verify`]: certificates, registration, consent,
/// anchors and chains, discovery; as each policy service node — token, Intune's
/// `mdminfo` — when a key source is configured) passes. Otherwise every device would
/// match the unreachable rule. Judged only when `needed` (a write that ISE applies).
pub async fn connection_guard(ctx: &Integration, needed: bool) -> Result<Guard, Error> {
    let guard = Guard::new(
        CONNECTION_GUARD,
        "ISE can ask Intune about a device before a rule ISE applies is written",
    );
    if !needed {
        return Ok(guard.judged(
            true,
            "not needed: no rule ISE applies is written (rules in monitor state are \
             evaluated and counted, their result not applied)",
        ));
    }
    let remedy = "run `ise-intune onboard` until it completes and `ise-intune doctor` \
                  shows no error; or roll the rules out in monitor state first \
                  (`ise-intune enforce --monitor`), which changes no device's access";
    let (mdm, verified) = tokio::join!(ctx.ise.mdm_info(), crate::verify::verify(ctx));
    let active = mdm?.active_mdm_servers_count;
    if active == 0 {
        return Ok(guard
            .judged(
                false,
                "ISE reports no active External MDM server (deploymentinfo mdmInfo)",
            )
            .remedy(remedy));
    }
    let report = match verified {
        Ok(report) => report,
        Err(Error::NotOnboarded { what }) => {
            return Ok(guard
                .judged(false, format!("the integration is not onboarded: {what}"))
                .remedy(remedy));
        }
        // Reading the nodes' certificates is an export, a write in ISE's API: an
        // account that may only read (an ERS Operator) is refused before anything.
        Err(e @ Error::Ise(_)) => {
            return Err(crate::rights::refused_first_write(
                e,
                "check the connection and write the enforcement rules",
            ));
        }
        Err(e) => return Err(e),
    };
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| match &c.node {
            Some(node) => format!("{} as {node}: {}", c.name, c.detail),
            None => format!("{}: {}", c.name, c.detail),
        })
        .collect();
    if !failed.is_empty() {
        return Ok(guard
            .judged(
                false,
                format!(
                    "ISE's Test Connection, reproduced, fails: {}",
                    failed.join("; ")
                ),
            )
            .remedy(remedy));
    }
    let as_node = report.checks.iter().any(|c| c.node.is_some() && !c.skipped);
    Ok(guard.judged(
        true,
        format!(
            "ISE reports {active} active External MDM server(s); Test Connection, \
             reproduced, passes ({} checks{})",
            report.checks.len(),
            if as_node {
                ", as each policy service node"
            } else {
                "; as-node checks need --as-node"
            }
        ),
    ))
}

fn change(desired: &EnforcementPolicy, state: DeviceState, outcome: Outcome) -> RuleChange {
    let (rule, profile) = desired
        .rule(state)
        .map(|r| (r.rule.clone(), r.profile.clone()))
        .unwrap_or_default();
    RuleChange {
        state,
        rule,
        profile,
        condition: desired.condition(state).to_string(),
        outcome,
        changed: Vec::new(),
        rank: None,
        rule_state: None,
        hit_counts: None,
    }
}

/// The decision of one run: what was read, what to do, and the guards.
struct Decided {
    set: PolicySet,
    rules: Vec<AuthorizationRule>,
    actions: Vec<(DeviceState, RuleAction)>,
    guards: Vec<Guard>,
}

/// Reads, decides, and judges the guards.
async fn decide(ctx: &Integration) -> Result<Decided, Error> {
    let desired = &ctx.options.enforcement;
    let Read { set, rules } = read(ctx, desired).await?;
    let actions = rule_actions(desired, &rules)?;
    let needed = actions.iter().any(|(_, a)| applies(a));
    let guards = vec![connection_guard(ctx, needed).await?];
    Ok(Decided {
        set,
        rules,
        actions,
        guards,
    })
}

/// The row of `state`'s rule before any write: the outcome planned, the state it
/// will have, and the hit counts ISE has for it (what a promotion is judged by).
fn planned_row(
    desired: &EnforcementPolicy,
    state: DeviceState,
    action: &RuleAction,
    existing: &[AuthorizationRule],
) -> RuleChange {
    let mut c = change(desired, state, Outcome::Unchanged);
    let current = existing
        .iter()
        .find(|r| desired.rule(state).is_some_and(|d| r.rule.name == d.rule));
    c.hit_counts = current.map(|r| r.rule.hit_counts);
    c.rule_state = current.map(|r| r.rule.state);
    match action {
        RuleAction::Create(rule) => {
            c.outcome = Outcome::Created;
            c.rule_state = Some(rule.rule.state);
        }
        RuleAction::Update { rule, changed, .. } => {
            c.outcome = Outcome::Updated;
            c.changed.clone_from(changed);
            c.rank = rule.rule.rank;
            c.rule_state = Some(rule.rule.state);
        }
        RuleAction::Unchanged(rank) => c.rank = *rank,
    }
    c
}

/// What [`apply`] would do, with each guard and whether it holds; writes nothing.
pub async fn plan(ctx: &Integration) -> Result<Enforcement, Error> {
    let desired = &ctx.options.enforcement;
    let d = decide(ctx).await?;
    let mut report = Enforcement {
        policy_set: d.set.name,
        rollout: desired.rollout,
        guards: d.guards,
        ..Enforcement::default()
    };
    for (state, action) in &d.actions {
        report
            .rules
            .push(planned_row(desired, *state, action, &d.rules));
    }
    report.changed = report.writes() > 0;
    Ok(report)
}

/// Creates or fixes the owned rules (see the module's description); writes nothing
/// when they are as wanted. Before the first write, every guard must hold
/// ([`Error::GuardFailed`] otherwise); an ISE account that may not write (an ERS
/// Operator) is refused at the first write, harmlessly, and the run ends with
/// [`Error::MissingRights`]. A failure after a write is [`Error::Apply`] with the
/// enforcement so far.
pub async fn apply(ctx: &Integration) -> Result<Enforcement, Error> {
    let desired = &ctx.options.enforcement;
    let Decided {
        set,
        rules,
        actions,
        guards,
    } = decide(ctx).await?;
    if actions
        .iter()
        .any(|(_, a)| !matches!(a, RuleAction::Unchanged(_)))
    {
        crate::guard::check("enforce", &guards)?;
    }
    let policy = ctx.ise.network_access_policy();
    // New rules go directly above the default rule, which moves down one each time.
    let mut default_rank = rules
        .iter()
        .find(|r| r.rule.default)
        .and_then(|r| r.rule.rank);
    let mut report = Enforcement {
        policy_set: set.name.clone(),
        rollout: desired.rollout,
        guards,
        ..Enforcement::default()
    };
    let mut written = Vec::new();
    let mut failure = None;
    for (state, action) in actions {
        let mut c = planned_row(desired, state, &action, &rules);
        if failure.is_some() {
            // Not attempted after a failure: reported as it stands.
            c.outcome = Outcome::Unchanged;
            c.rule_state = rules
                .iter()
                .find(|r| r.rule.name == c.rule)
                .map(|r| r.rule.state);
            report.rules.push(c);
            continue;
        }
        let result = write_action(&policy, &set.id, action, &mut default_rank).await;
        match result {
            Ok(Some(answer)) => {
                c.rank = answer.rule.rank;
                written.push(format!(
                    "rule `{}` {} in policy set `{}`",
                    c.rule,
                    if c.outcome == Outcome::Created {
                        "created"
                    } else {
                        "updated"
                    },
                    set.name
                ));
            }
            Ok(None) => {}
            Err(e) => {
                // The first write refused for want of rights wrote nothing: the
                // account's rights are what is missing, not a failure half-way.
                if written.is_empty()
                    && let Some(missing) =
                        crate::rights::ise_blocker(&e, "write the enforcement rules")
                {
                    return Err(Error::MissingRights {
                        missing: vec![missing],
                    });
                }
                c.outcome = Outcome::Failed;
                failure = Some(Error::Ise(e));
            }
        }
        report.rules.push(c);
    }
    report.changed = !written.is_empty();
    match failure {
        None => Ok(report),
        Some(e) => Err(Error::Apply(Box::new(ApplyFailure::new(
            PartialReport::Enforce(report),
            written,
            vec![(StepName::Enforce, e)],
        )))),
    }
}

/// Writes one rule as `action` says (nothing when unchanged): ISE's answer. A created
/// rule goes at `default_rank`, which then moves down one.
async fn write_action(
    policy: &ise_client::NetworkAccessPolicy,
    set_id: &str,
    action: RuleAction,
    default_rank: &mut Option<i64>,
) -> Result<Option<AuthorizationRule>, ise_client::Error> {
    match action {
        RuleAction::Unchanged(_) => Ok(None),
        RuleAction::Create(mut rule) => {
            // Above the compliant rule when decided so (it moves down one), else
            // directly above the default rule.
            if rule.rule.rank.is_none() {
                rule.rule.rank = *default_rank;
            }
            let r = crate::audit::naming(
                rule.rule.name.clone(),
                policy.create_authorization_rule(set_id, &rule),
            )
            .await;
            if r.is_ok() {
                *default_rank = default_rank.and_then(|d| d.checked_add(1));
            }
            r.map(Some)
        }
        RuleAction::Update { id, rule, .. } => crate::audit::naming(
            rule.rule.name.clone(),
            policy.update_authorization_rule(set_id, &id, &rule),
        )
        .await
        .map(Some),
    }
}

/// Whether `condition`, with the library conditions it references resolved, uses
/// the MDM dictionary; and the MDM attribute conditions it holds.
pub(crate) fn mdm_conditions<'a>(
    condition: &'a Condition,
    library: &'a [Condition],
) -> Vec<&'a Condition> {
    let mut out = Vec::new();
    let mut pending = vec![condition];
    let mut visited = 0usize;
    while let Some(c) = pending.pop() {
        // Library conditions may reference one another; the walk is bounded.
        visited += 1;
        if visited > 1000 {
            break;
        }
        for node in c.walk() {
            if node.attribute_name.is_some()
                && node.dictionary_name.as_deref() == Some(MDM_DICTIONARY)
            {
                out.push(node);
            }
        }
        for id in c.references() {
            if let Some(l) = library.iter().find(|l| l.id.as_deref() == Some(id)) {
                pending.push(l);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(name: &str, condition: Condition, profile: &str, rank: i64) -> AuthorizationRule {
        let mut r = AuthorizationRule::new(name, condition, vec![profile.into()]);
        r.rule.id = Some(format!("id-{name}"));
        r.rule.rank = Some(rank);
        r
    }

    #[test]
    fn missing_rules_are_created_and_differing_ones_fixed_in_place() {
        let desired = EnforcementPolicy::default();
        let mut drifted = existing(
            "Intune_NonCompliant",
            DeviceState::NonCompliant.condition(),
            "DenyAccess",
            1,
        );
        drifted.rule.state = RuleState::Disabled;
        drifted.security_group = Some("Quarantined_Systems".into());
        let rules = vec![
            existing("Foreign", Condition::reference("lib"), "PermitAccess", 0),
            drifted,
            existing(
                "Intune_Compliant",
                DeviceState::Compliant.condition(),
                "PermitAccess",
                2,
            ),
        ];
        let actions = rule_actions(&desired, &rules).expect("actions");
        let kinds: Vec<(DeviceState, &str)> = actions
            .iter()
            .map(|(s, a)| {
                (
                    *s,
                    match a {
                        RuleAction::Create(_) => "create",
                        RuleAction::Update { .. } => "update",
                        RuleAction::Unchanged(_) => "unchanged",
                    },
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (DeviceState::Unreachable, "create"),
                (DeviceState::Unregistered, "create"),
                (DeviceState::NonCompliant, "update"),
                (DeviceState::Compliant, "unchanged"),
            ]
        );
        let RuleAction::Update { id, rule, changed } = &actions[2].1 else {
            panic!("an update");
        };
        assert_eq!(id, "id-Intune_NonCompliant");
        assert_eq!(changed, &["profile", "state"]);
        assert_eq!(rule.rule.rank, Some(1));
        assert_eq!(rule.profile, ["MDM_Quarantine"]);
        assert_eq!(rule.security_group.as_deref(), Some("Quarantined_Systems"));
        assert_eq!(actions[3].1, RuleAction::Unchanged(Some(2)));
    }

    #[test]
    fn the_default_rules_name_and_bad_names_are_refused() {
        let mut desired = EnforcementPolicy::default();
        desired.compliant.rule = "Default".into();
        let mut default = existing("Default", Condition::default(), "DenyAccess", 0);
        default.rule.default = true;
        default.rule.condition = None;
        assert!(matches!(
            rule_actions(&desired, &[default]),
            Err(Error::Config { .. })
        ));
        desired.compliant.rule = "Intune:Compliant".into();
        assert!(matches!(desired.validate(), Err(Error::Config { .. })));
        desired.compliant.rule = "Intune_Unregistered".into();
        assert!(matches!(desired.validate(), Err(Error::Config { .. })));
    }

    #[test]
    fn mdm_use_is_found_through_library_references() {
        let mut lib = Condition::attribute(MDM_DICTIONARY, "PinLockStatus", "equals", "On");
        lib.id = Some("pin".into());
        let rule = Condition::and(vec![
            Condition::attribute("Radius", "NAS-Port-Type", "equals", "Ethernet"),
            Condition::reference("pin"),
        ]);
        let found = mdm_conditions(&rule, std::slice::from_ref(&lib));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].attribute_name.as_deref(), Some("PinLockStatus"));
        assert!(mdm_conditions(&rule, &[]).is_empty());
    }
}
