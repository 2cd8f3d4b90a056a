//! ISE's network-access policy: policy sets, authorization rules (rank, state,
//! conditions of single attributes, AND and OR blocks and library references),
//! authorization profiles, library conditions and the dictionaries rules use — served
//! at Cisco's paths and in Cisco's shapes (`cisco-ise-open-api-policy.yaml`), with
//! requests checked the way ISE checks them. [`crate::authorize`] evaluates them.
//!
//! The MDM dictionary's attributes and values are those of ISE's administrator guide
//! ("Mobile Device Management Servers": `DeviceRegisterStatus` Registered/UnRegistered,
//! `DeviceCompliantStatus` Compliant/NonCompliant, `MDMServerReachable`
//! Reachable/UnReachable, `MDMServerName`, and the device attributes) as Cisco's
//! Intune configuration example writes its rules (`MDM:DeviceRegisterStatus EQUALS
//! UnRegistered`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::rng::Rng;

mod checks;
pub(crate) use checks::ENDPOINTS_DICTIONARY;
mod vocabulary;

use checks::*;
use vocabulary::*;

/// The base of the network-access policy API.
const BASE: &str = "/api/v1/policy/network-access";

/// An authorization rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) default: bool,
    pub(crate) condition: Option<Value>,
    pub(crate) profiles: Vec<String>,
    pub(crate) security_group: Option<String>,
    pub(crate) hit_counts: u64,
}

/// A policy set; its rules' ranks are their places in `rules`.
#[derive(Debug, Clone)]
pub(crate) struct PolicySet {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) state: String,
    pub(crate) default: bool,
    pub(crate) condition: Option<Value>,
    pub(crate) service_name: String,
    pub(crate) rules: Vec<Rule>,
    pub(crate) hit_counts: u64,
}

/// A write to the policy API, as received (for tests to check requests).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyWrite {
    /// `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The JSON answered.
    pub answer: Value,
}

/// The whole policy model.
#[derive(Debug, Clone)]
pub(crate) struct PolicyModel {
    /// Policy sets in rank order (the default set last).
    pub(crate) sets: Vec<PolicySet>,
    /// Authorization profiles: (id, name).
    pub(crate) profiles: Vec<(String, String)>,
    /// Library conditions (Cisco's `LibraryConditionAttributes` shape).
    pub(crate) library: Vec<Value>,
    /// Writes received.
    pub(crate) writes: Vec<PolicyWrite>,
    /// The endpoint custom attribute definitions (`/api/v1/endpoint-custom-attribute`):
    /// name → type. Conditions name them in the `EndPoints` dictionary.
    pub(crate) endpoint_attributes: std::collections::BTreeMap<String, String>,
}

const fn attr(
    name: &'static str,
    data_type: &'static str,
    allowed: &'static [&'static str],
) -> Attribute {
    Attribute {
        name,
        data_type,
        allowed,
    }
}

impl PolicyModel {
    /// ISE's fresh network-access policy: the Default policy set with the rules ISE
    /// ships (`Basic_Authenticated_Access` disabled, as sites that authorize by MDM
    /// compliance leave it: enabled, it grants PermitAccess to every authenticated
    /// endpoint before any rule below it is looked at), no rule on the MDM dictionary.
    pub(crate) fn seeded(rng: &mut Rng) -> Self {
        let library = vec![
            json!({"conditionType": "LibraryConditionAttributes", "isNegate": false,
                "id": rng.uuid(), "name": "Network_Access_Authentication_Passed",
                "description": "Default condition used for basic Network Access requiring that authentication was successful",
                "dictionaryName": "Network Access", "attributeName": "AuthenticationStatus",
                "operator": "equals", "attributeValue": "AuthenticationPassed"}),
            json!({"conditionType": "LibraryConditionAttributes", "isNegate": false,
                "id": rng.uuid(), "name": "Wireless_Access",
                "description": "A condition to match wireless access requests",
                "dictionaryName": "Radius", "attributeName": "NAS-Port-Type",
                "operator": "equals", "attributeValue": "Wireless - IEEE 802.11"}),
        ];
        let reference = |i: usize| {
            json!({"conditionType": "ConditionReference", "isNegate": false,
                "id": library[i]["id"], "name": library[i]["name"],
                "description": library[i]["description"]})
        };
        let mut rule = |name: &str, condition: Option<Value>, profile: &str, state: &str| Rule {
            id: rng.uuid(),
            name: name.into(),
            state: state.into(),
            default: condition.is_none(),
            condition,
            profiles: vec![profile.into()],
            security_group: None,
            hit_counts: 0,
        };
        let rules = vec![
            rule(
                "Wireless Black List Default",
                Some(
                    json!({"conditionType": "ConditionAndBlock", "isNegate": false,
                    "children": [reference(1), leaf("IdentityGroup", "Name", "equals",
                        "Endpoint Identity Groups:Blocked List")]}),
                ),
                "Blackhole_Wireless_Access",
                "enabled",
            ),
            rule(
                "Profiled Cisco IP Phones",
                Some(leaf(
                    "IdentityGroup",
                    "Name",
                    "equals",
                    "Endpoint Identity Groups:Profiled:Cisco-IP-Phone",
                )),
                "Cisco_IP_Phones",
                "enabled",
            ),
            rule(
                "Basic_Authenticated_Access",
                Some(reference(0)),
                "PermitAccess",
                "disabled",
            ),
            rule("Default", None, "DenyAccess", "enabled"),
        ];
        let profiles = PROFILES
            .iter()
            .map(|p| (rng.uuid(), (*p).to_owned()))
            .collect();
        PolicyModel {
            sets: vec![PolicySet {
                id: rng.uuid(),
                name: "Default".into(),
                description: Some("Default policy set".into()),
                state: "enabled".into(),
                default: true,
                condition: None,
                service_name: "Default Network Access".into(),
                rules,
                hit_counts: 0,
            }],
            profiles,
            library,
            writes: Vec::new(),
            endpoint_attributes: std::collections::BTreeMap::new(),
        }
    }

    fn set_index(&self, id: &str) -> Option<usize> {
        self.sets.iter().position(|s| s.id == id)
    }
}

fn link(href: String) -> Value {
    json!({"rel": "self", "href": href, "type": "application/json"})
}

impl PolicyModel {
    /// The network-access policy as the state snapshot shows it: each set with its
    /// rules in rank order (hit counts, which every evaluation changes, left out).
    pub(crate) fn snapshot(&self) -> Value {
        json!(
            self.sets
                .iter()
                .map(|s| json!({
                    "id": s.id, "name": s.name, "state": s.state,
                    "rules": s.rules.iter().map(|r| json!({
                        "id": r.id, "name": r.name, "state": r.state, "default": r.default,
                        "condition": r.condition, "profiles": r.profiles,
                        "securityGroup": r.security_group,
                    })).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>()
        )
    }
}

fn set_json(s: &PolicySet, rank: usize) -> Value {
    json!({"default": s.default, "id": s.id, "name": s.name, "description": s.description,
        "hitCounts": s.hit_counts, "rank": rank, "state": s.state, "condition": s.condition,
        "serviceName": s.service_name, "isProxy": false,
        "link": link(format!("{BASE}/policy-set/{}", s.id))})
}

fn rule_json(set: &PolicySet, r: &Rule, rank: usize) -> Value {
    let rule = json!({"default": r.default, "id": r.id, "name": r.name,
        "hitCounts": r.hit_counts, "rank": rank, "state": r.state, "condition": r.condition});
    let mut out = json!({"rule": rule, "profile": r.profiles,
        "link": link(format!("{BASE}/policy-set/{}/authorization/{}", set.id, r.id))});
    if let (Some(sg), Some(o)) = (&r.security_group, out.as_object_mut()) {
        o.insert("securityGroup".into(), json!(sg));
    }
    out
}

/// A status and a JSON body.
type Answer = (StatusCode, Value);

fn respond((status, body): Answer) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Cisco's `Error` shape: `{"code": "400", "message": …}` (the document types `code`
/// as a string). The messages are the simulator's wording.
fn error_answer(status: StatusCode, message: &str) -> Answer {
    (
        status,
        json!({"code": status.as_u16().to_string(), "message": message}),
    )
}

fn entity_answer(status: StatusCode, response: Value) -> Answer {
    (status, json!({"response": response, "version": "1.0.0"}))
}

fn error(status: StatusCode, message: &str) -> Response {
    respond(error_answer(status, message))
}

fn entity(status: StatusCode, response: Value) -> Response {
    respond(entity_answer(status, response))
}

/// The routes, merged into ISE's (behind its Basic auth).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{BASE}/policy-set"), get(list_sets))
        .route(&format!("{BASE}/policy-set/{{policy}}"), get(get_set))
        .route(
            &format!("{BASE}/policy-set/{{policy}}/authorization"),
            get(list_rules).post(create_rule),
        )
        .route(
            &format!("{BASE}/policy-set/{{policy}}/authorization/{{rule}}"),
            get(get_rule).put(update_rule).delete(delete_rule),
        )
        .route(&format!("{BASE}/authorization-profiles"), get(profiles))
        .route(&format!("{BASE}/condition"), get(library))
        .route(&format!("{BASE}/dictionaries"), get(dictionaries))
        .route(&format!("{BASE}/dictionaries/{{name}}"), get(dictionary))
        .route(
            &format!("{BASE}/dictionaries/{{name}}/attribute"),
            get(dictionary_attributes),
        )
}

async fn list_sets(State(s): State<Arc<Shared>>) -> Response {
    let sets: Vec<Value> = s.with_world(|w| {
        w.policy
            .sets
            .iter()
            .enumerate()
            .map(|(i, p)| set_json(p, i))
            .collect()
    });
    entity(StatusCode::OK, Value::Array(sets))
}

fn no_set_text(id: &str) -> String {
    format!("Policy set with id {id} does not exist")
}

fn no_set(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, &no_set_text(id))
}

async fn get_set(State(s): State<Arc<Shared>>, Path(policy): Path<String>) -> Response {
    s.with_world(|w| match w.policy.set_index(&policy) {
        Some(i) => entity(StatusCode::OK, set_json(&w.policy.sets[i], i)),
        None => no_set(&policy),
    })
}

async fn list_rules(State(s): State<Arc<Shared>>, Path(policy): Path<String>) -> Response {
    s.with_world(|w| match w.policy.set_index(&policy) {
        Some(i) => {
            let set = &w.policy.sets[i];
            let rules = set
                .rules
                .iter()
                .enumerate()
                .map(|(rank, r)| rule_json(set, r, rank))
                .collect();
            entity(StatusCode::OK, Value::Array(rules))
        }
        None => no_set(&policy),
    })
}

async fn get_rule(
    State(s): State<Arc<Shared>>,
    Path((policy, rule)): Path<(String, String)>,
) -> Response {
    s.with_world(|w| {
        let Some(i) = w.policy.set_index(&policy) else {
            return no_set(&policy);
        };
        let set = &w.policy.sets[i];
        match set.rules.iter().position(|r| r.id == rule) {
            Some(rank) => entity(StatusCode::OK, rule_json(set, &set.rules[rank], rank)),
            None => no_rule(&rule),
        }
    })
}

fn no_rule_text(id: &str) -> String {
    format!("Authorization rule with id {id} does not exist")
}

fn no_rule(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, &no_rule_text(id))
}

/// Records a write and answers.
fn recorded(s: &Shared, method: &str, path: String, body: &Bytes, answer: Answer) -> Response {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    s.with_world(|w| {
        w.policy.writes.push(PolicyWrite {
            method: method.into(),
            path,
            body,
            status: answer.0.as_u16(),
            answer: answer.1.clone(),
        });
    });
    respond(answer)
}

async fn create_rule(
    State(s): State<Arc<Shared>>,
    Path(policy): Path<String>,
    body: Bytes,
) -> Response {
    let answer = s.with_world(|w| {
        let Some(i) = w.policy.set_index(&policy) else {
            return error_answer(StatusCode::NOT_FOUND, &no_set_text(&policy));
        };
        let Ok(value) = serde_json::from_slice::<Value>(&body) else {
            return not_json();
        };
        let (mut rule, rank) = match check_rule(&w.policy, &w.policy.sets[i], &value, None) {
            Ok(r) => r,
            Err(m) => return error_answer(StatusCode::BAD_REQUEST, &m),
        };
        rule.id = w.rng.uuid();
        let set = &mut w.policy.sets[i];
        // Rules go above the default rule, which stays last.
        let last = set
            .rules
            .iter()
            .position(|r| r.default)
            .unwrap_or(set.rules.len());
        let at = rank.unwrap_or(last);
        if at > last {
            return rank_out_of_range(at, last);
        }
        set.rules.insert(at, rule);
        let set = &w.policy.sets[i];
        entity_answer(StatusCode::CREATED, rule_json(set, &set.rules[at], at))
    });
    let path = format!("{BASE}/policy-set/{policy}/authorization");
    recorded(&s, "POST", path, &body, answer)
}

async fn update_rule(
    State(s): State<Arc<Shared>>,
    Path((policy, rule_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let answer = s.with_world(|w| {
        let Some(i) = w.policy.set_index(&policy) else {
            return error_answer(StatusCode::NOT_FOUND, &no_set_text(&policy));
        };
        let Some(at) = w.policy.sets[i].rules.iter().position(|r| r.id == rule_id) else {
            return error_answer(StatusCode::NOT_FOUND, &no_rule_text(&rule_id));
        };
        let Ok(value) = serde_json::from_slice::<Value>(&body) else {
            return not_json();
        };
        if let Some(id) = value.pointer("/rule/id").and_then(Value::as_str)
            && id != rule_id
        {
            return error_answer(
                StatusCode::BAD_REQUEST,
                "The rule id in the body differs from the id in the path",
            );
        }
        let set = &w.policy.sets[i];
        let existing = set.rules[at].clone();
        let (rule, rank) = match check_rule(&w.policy, set, &value, Some(&existing)) {
            Ok(r) => r,
            Err(m) => return error_answer(StatusCode::BAD_REQUEST, &m),
        };
        let last = set.rules.len().saturating_sub(1);
        let to = rank.unwrap_or(at);
        if (rule.default && to != at) || (!rule.default && to >= last) {
            return rank_out_of_range(to, last);
        }
        let set = &mut w.policy.sets[i];
        set.rules.remove(at);
        set.rules.insert(to, rule);
        let set = &w.policy.sets[i];
        entity_answer(StatusCode::OK, rule_json(set, &set.rules[to], to))
    });
    let path = format!("{BASE}/policy-set/{policy}/authorization/{rule_id}");
    recorded(&s, "PUT", path, &body, answer)
}

async fn delete_rule(
    State(s): State<Arc<Shared>>,
    Path((policy, rule_id)): Path<(String, String)>,
) -> Response {
    let answer = s.with_world(|w| {
        let Some(i) = w.policy.set_index(&policy) else {
            return error_answer(StatusCode::NOT_FOUND, &no_set_text(&policy));
        };
        let set = &mut w.policy.sets[i];
        match set.rules.iter().position(|r| r.id == rule_id) {
            None => error_answer(StatusCode::NOT_FOUND, &no_rule_text(&rule_id)),
            Some(at) if set.rules[at].default => error_answer(
                StatusCode::BAD_REQUEST,
                "The default rule cannot be deleted",
            ),
            Some(at) => {
                set.rules.remove(at);
                entity_answer(StatusCode::OK, json!({"id": rule_id}))
            }
        }
    });
    let path = format!("{BASE}/policy-set/{policy}/authorization/{rule_id}");
    recorded(&s, "DELETE", path, &Bytes::new(), answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> PolicyModel {
        PolicyModel::seeded(&mut Rng::new(7))
    }

    #[test]
    fn conditions_are_refused_as_ise_refuses_them() {
        let m = model();
        let bad_value = leaf("MDM", "DeviceCompliantStatus", "equals", "Yes");
        assert_eq!(
            check_condition(&m, &bad_value, 0),
            Err("Value Yes is not allowed for attribute MDM:DeviceCompliantStatus; allowed values are Compliant, NonCompliant".into())
        );
        let unknown = leaf("MDM", "Compliance", "equals", "true");
        assert_eq!(
            check_condition(&m, &unknown, 0),
            Err("Attribute Compliance does not exist in dictionary MDM".into())
        );
        let lonely = json!({"conditionType": "ConditionAndBlock", "children": [bad_value]});
        assert!(check_condition(&m, &lonely, 0).is_err());
        let reference = json!({"conditionType": "ConditionReference", "id": "nope"});
        assert_eq!(
            check_condition(&m, &reference, 0),
            Err("Library condition with id nope does not exist".into())
        );
    }
}
