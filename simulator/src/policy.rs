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
}

/// A dictionary attribute: name, data type, allowed values (empty: any value).
struct Attribute {
    name: &'static str,
    data_type: &'static str,
    allowed: &'static [&'static str],
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

/// The dictionaries a rule may name: (name, attribute type, attributes).
const DICTIONARIES: &[(&str, &str, &[Attribute])] = &[
    (
        "MDM",
        "ENTITY_ATTR",
        &[
            attr("DaysSinceLastCheckin", "INT", &[]),
            attr(
                "DeviceCompliantStatus",
                "STRING",
                &["Compliant", "NonCompliant"],
            ),
            attr(
                "DeviceRegisterStatus",
                "STRING",
                &["Registered", "UnRegistered"],
            ),
            attr("DiskEncryptionStatus", "STRING", &["On", "Off"]),
            attr("IMEI", "STRING", &[]),
            attr("JailBrokenStatus", "STRING", &["Broken", "Unbroken"]),
            attr("MDMServerName", "STRING", &[]),
            attr(
                "MDMServerReachable",
                "STRING",
                &["Reachable", "UnReachable"],
            ),
            attr("MEID", "STRING", &[]),
            attr("Manufacturer", "STRING", &[]),
            attr("Model", "STRING", &[]),
            attr("OsVersion", "STRING", &[]),
            attr("PhoneNumber", "STRING", &[]),
            attr("PinLockStatus", "STRING", &["On", "Off"]),
            attr("SerialNumber", "STRING", &[]),
            attr("UDID", "STRING", &[]),
        ],
    ),
    (
        "Network Access",
        "MSG_ATTR",
        &[
            attr(
                "AuthenticationStatus",
                "STRING",
                &[
                    "AuthenticationPassed",
                    "AuthenticationFailed",
                    "UnknownUser",
                ],
            ),
            attr("EapAuthentication", "STRING", &[]),
            attr("Protocol", "STRING", &["RADIUS", "TACACS"]),
        ],
    ),
    (
        "Radius",
        "MSG_ATTR",
        &[
            attr("Called-Station-ID", "STRING", &[]),
            attr("Calling-Station-ID", "STRING", &[]),
            attr(
                "NAS-Port-Type",
                "STRING",
                &["Ethernet", "Wireless - IEEE 802.11", "Virtual"],
            ),
        ],
    ),
    (
        "IdentityGroup",
        "ENTITY_ATTR",
        &[
            attr("Description", "STRING", &[]),
            attr("Name", "STRING", &[]),
        ],
    ),
];

/// Security groups a rule may assign.
const SECURITY_GROUPS: &[&str] = &["BYOD", "Employees", "Guests", "Quarantined_Systems"];

/// Operators of `ConditionAttributes` (Cisco's enum).
const OPERATORS: &[&str] = &[
    "contains",
    "endsWith",
    "equals",
    "greaterOrEquals",
    "greaterThan",
    "in",
    "ipEquals",
    "ipGreaterThan",
    "ipLessThan",
    "ipNotEquals",
    "lessOrEquals",
    "lessThan",
    "macContains",
    "macEndsWith",
    "macEquals",
    "macIn",
    "macNotContains",
    "macNotEndsWith",
    "macNotEquals",
    "macNotIn",
    "macNotStartsWith",
    "macStartsWith",
    "matches",
    "notContains",
    "notEndsWith",
    "notEquals",
    "notIn",
    "notStartsWith",
    "startsWith",
];

/// The profiles ISE ships, and those a site creates for MDM enforcement (the
/// simulator seeds both so that a fresh simulator can be enforced on).
const PROFILES: &[&str] = &[
    "Blackhole_Wireless_Access",
    "Cisco_IP_Phones",
    "DenyAccess",
    "MDM_Quarantine",
    "MDM_Redirect",
    "MDM_Unreachable",
    "NSP_Onboard",
    "PermitAccess",
];

fn attribute(dictionary: &str, name: &str) -> Option<&'static Attribute> {
    DICTIONARIES
        .iter()
        .find(|(d, _, _)| *d == dictionary)
        .and_then(|(_, _, attrs)| attrs.iter().find(|a| a.name == name))
}

fn leaf(dictionary: &str, name: &str, operator: &str, value: &str) -> Value {
    json!({"conditionType": "ConditionAttributes", "isNegate": false,
        "dictionaryName": dictionary, "attributeName": name,
        "operator": operator, "attributeValue": value})
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
        }
    }

    fn set_index(&self, id: &str) -> Option<usize> {
        self.sets.iter().position(|s| s.id == id)
    }
}

fn link(href: String) -> Value {
    json!({"rel": "self", "href": href, "type": "application/json"})
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

/// Names ISE accepts for rules: alphanumerics, underscore, hyphen, space, period,
/// parentheses (the document's `RuleCommon.name`).
fn valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_- .()".contains(c))
}

/// Checks a condition as ISE does: a known type, the fields its type requires, a
/// known dictionary attribute and operator, an allowed value, a library condition
/// that exists. Returns the condition as stored.
fn check_condition(model: &PolicyModel, c: &Value, depth: usize) -> Result<Value, String> {
    if depth > 16 {
        return Err("The condition is nested too deeply".into());
    }
    let Some(o) = c.as_object() else {
        return Err("A condition must be an object".into());
    };
    let negate = match o.get("isNegate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isNegate must be a boolean".into()),
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str);
    match text("conditionType") {
        Some("ConditionAttributes") => {
            let (Some(dictionary), Some(name), Some(operator), Some(value)) = (
                text("dictionaryName"),
                text("attributeName"),
                text("operator"),
                text("attributeValue"),
            ) else {
                return Err("ConditionAttributes requires dictionaryName, attributeName, operator and attributeValue".into());
            };
            let Some(a) = attribute(dictionary, name) else {
                return Err(format!(
                    "Attribute {name} does not exist in dictionary {dictionary}"
                ));
            };
            if !OPERATORS.contains(&operator) {
                return Err(format!("Operator {operator} is not valid"));
            }
            if !a.allowed.is_empty()
                && matches!(operator, "equals" | "notEquals")
                && !a.allowed.contains(&value)
            {
                return Err(format!(
                    "Value {value} is not allowed for attribute {dictionary}:{name}; allowed values are {}",
                    a.allowed.join(", ")
                ));
            }
            Ok(
                json!({"conditionType": "ConditionAttributes", "isNegate": negate,
                "dictionaryName": dictionary, "attributeName": name,
                "operator": operator, "attributeValue": value}),
            )
        }
        Some(kind @ ("ConditionAndBlock" | "ConditionOrBlock")) => {
            let children = o
                .get("children")
                .and_then(Value::as_array)
                .filter(|c| c.len() >= 2)
                .ok_or_else(|| format!("{kind} requires at least two children"))?;
            let children = children
                .iter()
                .map(|c| check_condition(model, c, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({"conditionType": kind, "isNegate": negate, "children": children}))
        }
        Some("ConditionReference") => {
            let id =
                text("id").ok_or("ConditionReference requires the id of a library condition")?;
            let found = model
                .library
                .iter()
                .find(|l| l["id"].as_str() == Some(id))
                .ok_or_else(|| format!("Library condition with id {id} does not exist"))?;
            Ok(
                json!({"conditionType": "ConditionReference", "isNegate": negate,
                "id": id, "name": found["name"], "description": found["description"]}),
            )
        }
        Some(other) => Err(format!(
            "Condition type {other} is not supported in an authorization rule by this simulator"
        )),
        None => Err("conditionType is required".into()),
    }
}

/// A rule as received, checked: (rule as stored, requested rank).
fn check_rule(
    model: &PolicyModel,
    set: &PolicySet,
    body: &Value,
    existing: Option<&Rule>,
) -> Result<(Rule, Option<usize>), String> {
    let Some(rule) = body.get("rule").and_then(Value::as_object) else {
        return Err("rule is required".into());
    };
    let name = rule
        .get("name")
        .and_then(Value::as_str)
        .ok_or("rule.name is required")?;
    if !valid_name(name) {
        return Err(format!(
            "Rule name {name} is not valid: valid characters are alphanumerics, underscore, hyphen, space, period, parentheses"
        ));
    }
    if set
        .rules
        .iter()
        .any(|r| r.name == name && existing.is_none_or(|e| e.id != r.id))
    {
        return Err(format!(
            "Rule name {name} already exists in this policy set"
        ));
    }
    let state = match rule.get("state") {
        None | Some(Value::Null) => "enabled",
        Some(Value::String(s)) if ["enabled", "disabled", "monitor"].contains(&s.as_str()) => s,
        Some(_) => return Err("rule.state must be enabled, disabled or monitor".into()),
    };
    let default = existing.is_some_and(|e| e.default);
    if rule.get("default").and_then(Value::as_bool) == Some(true) && !default {
        return Err("Only the policy set's default rule can be the default rule".into());
    }
    let condition = match rule.get("condition") {
        None | Some(Value::Null) if default => None,
        None | Some(Value::Null) => {
            return Err("Rule must include a condition".into());
        }
        Some(_) if default => return Err("The default rule cannot have a condition".into()),
        Some(c) => Some(check_condition(model, c, 0)?),
    };
    let rank = match rule.get("rank") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|r| usize::try_from(r).ok())
                .ok_or("rule.rank must be a non-negative integer")?,
        ),
    };
    let profiles: Vec<String> = match body.get("profile") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_owned)
                    .ok_or("profile must be an array of names")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("profile must be an array of names".into()),
    };
    for p in &profiles {
        if !model.profiles.iter().any(|(_, n)| n == p) {
            return Err(format!("Authorization profile {p} does not exist"));
        }
    }
    let security_group = match body.get("securityGroup") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) if SECURITY_GROUPS.contains(&g.as_str()) => Some(g.clone()),
        Some(g) => return Err(format!("Security group {g} does not exist")),
    };
    if profiles.is_empty() && security_group.is_none() {
        return Err(
            "Rule must include at least one authorization profile or a security group".into(),
        );
    }
    Ok((
        Rule {
            id: existing.map(|e| e.id.clone()).unwrap_or_default(),
            name: name.to_owned(),
            state: state.to_owned(),
            default,
            condition,
            profiles,
            security_group,
            hit_counts: existing.map_or(0, |e| e.hit_counts),
        },
        rank,
    ))
}

fn rank_out_of_range(rank: usize, default_rank: usize) -> Answer {
    error_answer(
        StatusCode::BAD_REQUEST,
        &format!("Rank {rank} is out of range: the default rule is at rank {default_rank}"),
    )
}

fn not_json() -> Answer {
    error_answer(
        StatusCode::BAD_REQUEST,
        "The request body is not valid JSON",
    )
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

/// The document gives this listing as a bare array of `Profile`.
async fn profiles(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = s.with_world(|w| {
        w.policy
            .profiles
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect()
    });
    axum::Json(Value::Array(list)).into_response()
}

async fn library(State(s): State<Arc<Shared>>) -> Response {
    let list = s.with_world(|w| w.policy.library.clone());
    entity(StatusCode::OK, Value::Array(list))
}

fn dictionary_json(name: &str, kind: &str) -> Value {
    json!({"name": name, "dictionaryAttrType": kind, "version": "1.0",
        "description": format!("{name} dictionary"),
        "link": link(format!("{BASE}/dictionaries/{name}"))})
}

async fn dictionaries() -> Response {
    let list = DICTIONARIES
        .iter()
        .map(|(name, kind, _)| dictionary_json(name, kind))
        .collect();
    entity(StatusCode::OK, Value::Array(list))
}

fn no_dictionary(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Dictionary {name} does not exist"),
    )
}

async fn dictionary(Path(name): Path<String>) -> Response {
    match DICTIONARIES.iter().find(|(n, _, _)| *n == name) {
        Some((n, kind, _)) => entity(StatusCode::OK, dictionary_json(n, kind)),
        None => no_dictionary(&name),
    }
}

async fn dictionary_attributes(Path(name): Path<String>) -> Response {
    let Some((n, _, attrs)) = DICTIONARIES.iter().find(|(n, _, _)| *n == name) else {
        return no_dictionary(&name);
    };
    let list = attrs
        .iter()
        .map(|a| {
            let mut o = Map::new();
            o.insert("name".into(), json!(a.name));
            o.insert("internalName".into(), json!(a.name));
            o.insert("dataType".into(), json!(a.data_type));
            o.insert("dictionaryName".into(), json!(n));
            o.insert("directionType".into(), json!("IN"));
            if !a.allowed.is_empty() {
                let values: Vec<Value> = a
                    .allowed
                    .iter()
                    .map(|v| json!({"key": v, "value": v, "isDefault": false}))
                    .collect();
                o.insert("allowedValues".into(), Value::Array(values));
            }
            Value::Object(o)
        })
        .collect();
    entity(StatusCode::OK, Value::Array(list))
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
