//! Network-access policy (OpenAPI v1, ISE 3.1 and later): policy sets, their
//! authorization rules, authorization profiles and library conditions — the paths,
//! fields and shapes of Cisco's `cisco-ise-open-api-policy.yaml`
//! (`/api/v1/policy/network-access/…`).
//!
//! Conditions are one struct for every `conditionType` (attributes, AND and OR blocks,
//! references to library conditions, and the kinds this crate does not interpret), so
//! that a rule of any shape reads without loss of what matters to a reader.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::listing::segment;
use crate::client::{Api, Call, IseClient, decode};
use crate::error::{Error, Result};

/// The base of the network-access policy API.
pub const NETWORK_ACCESS: &str = "/api/v1/policy/network-access";

/// A rule's or policy set's state. A disabled one is never matched; a monitored one is
/// evaluated and logged but its result not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuleState {
    /// Matched and applied.
    #[default]
    Enabled,
    /// Never matched.
    Disabled,
    /// Evaluated and logged, not applied.
    Monitor,
    /// A state this crate does not know (kept so that a listing still reads).
    #[serde(other)]
    Unknown,
}

/// A condition of a rule or policy set (Cisco's `Condition` and its kinds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Condition {
    /// `ConditionAttributes`, `ConditionAndBlock`, `ConditionOrBlock`,
    /// `ConditionReference`, or a library or time condition's type.
    pub condition_type: String,
    /// Whether the condition is negated.
    #[serde(default)]
    pub is_negate: bool,
    /// The dictionary of an attribute condition (e.g. `MDM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictionary_name: Option<String>,
    /// The attribute of an attribute condition (e.g. `DeviceCompliantStatus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    /// The operator of an attribute condition (e.g. `equals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The value of an attribute condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
    /// The conditions of an AND or OR block.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub children: Vec<Condition>,
    /// The library condition a reference names (or a library condition's own id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A library condition's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn nullable<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Condition {
    /// `dictionary:attribute operator value`.
    pub fn attribute(
        dictionary: impl Into<String>,
        attribute: impl Into<String>,
        operator: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self {
            condition_type: "ConditionAttributes".into(),
            dictionary_name: Some(dictionary.into()),
            attribute_name: Some(attribute.into()),
            operator: Some(operator.into()),
            attribute_value: Some(value.into()),
            ..Self::default()
        }
    }

    /// All of `children`.
    pub fn and(children: Vec<Condition>) -> Self {
        Self {
            condition_type: "ConditionAndBlock".into(),
            children,
            ..Self::default()
        }
    }

    /// Any of `children`.
    pub fn or(children: Vec<Condition>) -> Self {
        Self {
            condition_type: "ConditionOrBlock".into(),
            children,
            ..Self::default()
        }
    }

    /// A reference to the library condition `id`.
    pub fn reference(id: impl Into<String>) -> Self {
        Self {
            condition_type: "ConditionReference".into(),
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// Every condition of the tree, this one first (depth first).
    pub fn walk(&self) -> Vec<&Condition> {
        let mut out = vec![self];
        let mut i = 0;
        while let Some(c) = out.get(i).copied() {
            out.extend(c.children.iter());
            i += 1;
        }
        out
    }

    /// The attribute conditions of the tree.
    pub fn attributes(&self) -> impl Iterator<Item = &Condition> {
        self.walk()
            .into_iter()
            .filter(|c| c.attribute_name.is_some())
    }

    /// The library conditions the tree references (ids).
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.walk()
            .into_iter()
            .filter(|c| c.condition_type == "ConditionReference")
            .filter_map(|c| c.id.as_deref())
    }

    /// Whether this and `other` say the same: types, negation, attributes and children
    /// (ids and names of blocks, links and descriptions aside; a reference by its id).
    pub fn same_as(&self, other: &Condition) -> bool {
        let reference = self.condition_type == "ConditionReference";
        self.condition_type == other.condition_type
            && self.is_negate == other.is_negate
            && self.dictionary_name == other.dictionary_name
            && self.attribute_name == other.attribute_name
            && self.operator == other.operator
            && self.attribute_value == other.attribute_value
            && (!reference || self.id == other.id)
            && self.children.len() == other.children.len()
            && self
                .children
                .iter()
                .zip(&other.children)
                .all(|(a, b)| a.same_as(b))
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_negate {
            f.write_str("NOT ")?;
        }
        match self.condition_type.as_str() {
            "ConditionAndBlock"
            | "ConditionOrBlock"
            | "LibraryConditionAndBlock"
            | "LibraryConditionOrBlock" => {
                let join = if self.condition_type.ends_with("AndBlock") {
                    " AND "
                } else {
                    " OR "
                };
                f.write_str("(")?;
                for (i, c) in self.children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(join)?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(")")
            }
            _ if self.attribute_name.is_some() => write!(
                f,
                "{}:{} {} {}",
                self.dictionary_name.as_deref().unwrap_or("?"),
                self.attribute_name.as_deref().unwrap_or("?"),
                self.operator.as_deref().unwrap_or("?"),
                self.attribute_value.as_deref().unwrap_or("")
            ),
            _ => write!(
                f,
                "[{}]",
                self.name
                    .as_deref()
                    .or(self.id.as_deref())
                    .unwrap_or(&self.condition_type)
            ),
        }
    }
}

/// A network-access policy set (Cisco's `PolicySet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PolicySet {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is the default policy set (matched last).
    #[serde(default)]
    pub default: bool,
    /// Its state.
    #[serde(default)]
    pub state: RuleState,
    /// Its rank among the sets (lower is matched first).
    #[serde(default)]
    pub rank: Option<i64>,
    /// Its condition (none on the default set).
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Its allowed protocols or server sequence.
    #[serde(default)]
    pub service_name: Option<String>,
}

/// The common part of a rule (Cisco's `RuleCommon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuleCommon {
    /// Its id (absent in a create request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name (alphanumerics, underscore, hyphen, space, period, parentheses).
    pub name: String,
    /// Whether it is the set's default rule (matched last, no condition).
    #[serde(default)]
    pub default: bool,
    /// Its rank in the set (lower is matched first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<i64>,
    /// Its state.
    #[serde(default)]
    pub state: RuleState,
    /// Its condition.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// How often it matched (read-only; never sent).
    #[serde(default, skip_serializing)]
    pub hit_counts: u64,
}

/// A network-access authorization rule (Cisco's `RuleAuthorizationNetworkAccess`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthorizationRule {
    /// The rule.
    pub rule: RuleCommon,
    /// The authorization profiles it grants.
    #[serde(default, deserialize_with = "nullable")]
    pub profile: Vec<String>,
    /// The security group it assigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group: Option<String>,
}

impl AuthorizationRule {
    /// An enabled rule with this name, condition and profiles (no id, no rank).
    pub fn new(name: impl Into<String>, condition: Condition, profiles: Vec<String>) -> Self {
        Self {
            rule: RuleCommon {
                id: None,
                name: name.into(),
                default: false,
                rank: None,
                state: RuleState::Enabled,
                condition: Some(condition),
                hit_counts: 0,
            },
            profile: profiles,
            security_group: None,
        }
    }
}

/// An authorization profile (Cisco's `Profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationProfile {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// Its name.
    pub name: String,
}

/// The network-access policy of the deployment.
#[derive(Debug, Clone)]
pub struct NetworkAccessPolicy {
    pub(super) client: IseClient,
}

/// `{"response": T, "version": …}`.
#[derive(Deserialize)]
struct Entity<T> {
    response: T,
}

/// The answer to a list request: `{"response": [...]}`, or a bare array (the
/// authorization-profiles listing is documented bare; either is read).
fn listing<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<Vec<T>> {
    let value: Value = decode(what, bytes)?;
    let items = match value {
        Value::Array(_) => value,
        Value::Object(mut o) => o.remove("response").unwrap_or(Value::Array(Vec::new())),
        _ => Value::Array(Vec::new()),
    };
    decode(what, items.to_string().as_bytes())
}

impl NetworkAccessPolicy {
    async fn list<T: serde::de::DeserializeOwned>(&self, path: String) -> Result<Vec<T>> {
        let what = format!("GET {path}");
        let answer = self
            .client
            .send(Call::new(Method::GET, Api::OpenApi, path))
            .await?;
        listing(&what, &answer.body)
    }

    /// The policy sets.
    pub async fn policy_sets(&self) -> Result<Vec<PolicySet>> {
        self.list(format!("{NETWORK_ACCESS}/policy-set")).await
    }

    /// The authorization rules of policy set `policy_id`, in the order ISE lists them.
    pub async fn authorization_rules(&self, policy_id: &str) -> Result<Vec<AuthorizationRule>> {
        let id = segment("policy set id", policy_id)?;
        self.list(format!("{NETWORK_ACCESS}/policy-set/{id}/authorization"))
            .await
    }

    /// The authorization profiles.
    pub async fn authorization_profiles(&self) -> Result<Vec<AuthorizationProfile>> {
        self.list(format!("{NETWORK_ACCESS}/authorization-profiles"))
            .await
    }

    /// The library conditions (what `ConditionReference`s name).
    pub async fn library_conditions(&self) -> Result<Vec<Condition>> {
        self.list(format!("{NETWORK_ACCESS}/condition")).await
    }

    /// Creates an authorization rule in policy set `policy_id`; ISE's answer.
    pub async fn create_authorization_rule(
        &self,
        policy_id: &str,
        rule: &AuthorizationRule,
    ) -> Result<AuthorizationRule> {
        let id = segment("policy set id", policy_id)?;
        let path = format!("{NETWORK_ACCESS}/policy-set/{id}/authorization");
        self.write(Method::POST, path, rule).await
    }

    /// Replaces authorization rule `rule_id` of policy set `policy_id`; ISE's answer.
    pub async fn update_authorization_rule(
        &self,
        policy_id: &str,
        rule_id: &str,
        rule: &AuthorizationRule,
    ) -> Result<AuthorizationRule> {
        let id = segment("policy set id", policy_id)?;
        let rule_id = segment("rule id", rule_id)?;
        let path = format!("{NETWORK_ACCESS}/policy-set/{id}/authorization/{rule_id}");
        self.write(Method::PUT, path, rule).await
    }

    /// Deletes authorization rule `rule_id` of policy set `policy_id`.
    pub async fn delete_authorization_rule(&self, policy_id: &str, rule_id: &str) -> Result<()> {
        let id = segment("policy set id", policy_id)?;
        let rule_id = segment("rule id", rule_id)?;
        let path = format!("{NETWORK_ACCESS}/policy-set/{id}/authorization/{rule_id}");
        self.client
            .send(Call::new(Method::DELETE, Api::OpenApi, path))
            .await
            .map(drop)
    }

    async fn write(
        &self,
        method: Method,
        path: String,
        rule: &AuthorizationRule,
    ) -> Result<AuthorizationRule> {
        let what = format!("{method} {path}");
        let body = serde_json::to_value(rule).map_err(|e| Error::InvalidInput {
            what: format!("the rule cannot be written as JSON: {e}"),
        })?;
        let answer = self
            .client
            .send(Call::new(method, Api::OpenApi, path).json(body))
            .await?;
        let entity: Entity<AuthorizationRule> = decode(&what, &answer.body)?;
        Ok(entity.response)
    }
}

impl IseClient {
    /// The network-access policy: policy sets, authorization rules, profiles.
    pub fn network_access_policy(&self) -> NetworkAccessPolicy {
        NetworkAccessPolicy {
            client: self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_of_ciscos_example_reads_and_writes_back_without_read_only_fields() {
        // The example of NetworkAccessAuthorizationRuleListResponseEntity.
        let text = r#"{"rule":{"default":false,"id":"c841b537-45fb-4c3a-a1ae-baeb3e4c427a","name":"Authorization Rule 1","hitCounts":7,"rank":0,"state":"enabled","condition":{"conditionType":"ConditionAttributes","isNegate":false,"dictionaryName":"Network Access","attributeName":"Device IP Address","operator":"ipEquals","attributeValue":"10.0.10.0"}},"profile":["PermitAccess"],"securityGroup":"BYOD","link":{"rel":"self","href":"https://ise/x","type":"application/json"}}"#;
        let rule: AuthorizationRule = serde_json::from_str(text).expect("reads");
        assert_eq!(rule.rule.hit_counts, 7);
        assert_eq!(
            rule.rule
                .condition
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("Network Access:Device IP Address ipEquals 10.0.10.0")
        );
        let back = serde_json::to_value(&rule).expect("writes");
        assert_eq!(
            back,
            serde_json::json!({"rule": {"default": false, "id": "c841b537-45fb-4c3a-a1ae-baeb3e4c427a",
                "name": "Authorization Rule 1", "rank": 0, "state": "enabled",
                "condition": {"conditionType": "ConditionAttributes", "isNegate": false,
                    "dictionaryName": "Network Access", "attributeName": "Device IP Address",
                    "operator": "ipEquals", "attributeValue": "10.0.10.0"}},
                "profile": ["PermitAccess"], "securityGroup": "BYOD"})
        );
    }

    #[test]
    fn blocks_compare_by_meaning_and_walk_every_leaf() {
        let a = Condition::and(vec![
            Condition::attribute("MDM", "DeviceRegisterStatus", "equals", "Registered"),
            Condition::or(vec![
                Condition::attribute("MDM", "DeviceCompliantStatus", "equals", "Compliant"),
                Condition::reference("r1"),
            ]),
        ]);
        let mut b = a.clone();
        b.children[1].id = Some("block-id".into());
        assert!(a.same_as(&b));
        b.children[1].children[1].id = Some("r2".into());
        assert!(!a.same_as(&b));
        assert_eq!(a.attributes().count(), 2);
        assert_eq!(a.references().collect::<Vec<_>>(), ["r1"]);
        assert_eq!(
            a.to_string(),
            "(MDM:DeviceRegisterStatus equals Registered AND (MDM:DeviceCompliantStatus equals Compliant OR [r1]))"
        );
    }

    #[test]
    fn a_listing_reads_wrapped_or_bare_and_an_unknown_state() {
        let wrapped = br#"{"response":[{"id":"1","name":"PermitAccess"}],"version":"1.0.0"}"#;
        let bare = br#"[{"id":"1","name":"PermitAccess"}]"#;
        let a: Vec<AuthorizationProfile> = listing("x", wrapped).expect("wrapped");
        let b: Vec<AuthorizationProfile> = listing("x", bare).expect("bare");
        assert_eq!(a, b);
        let sets: Vec<PolicySet> =
            listing("x", br#"{"response":[{"name":"S","state":"paused"}]}"#).expect("state");
        assert_eq!(sets[0].state, RuleState::Unknown);
    }
}
