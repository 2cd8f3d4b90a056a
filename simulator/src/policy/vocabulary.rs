//! What ISE's policy API knows: dictionaries and their attributes, operators,
//! authorization profiles, and the routes that list them.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A dictionary attribute: name, data type, allowed values (empty: any value).
pub(super) struct Attribute {
    pub(crate) name: &'static str,
    pub(crate) data_type: &'static str,
    pub(crate) allowed: &'static [&'static str],
}

/// The dictionaries a rule may name: (name, attribute type, attributes).
pub(super) const DICTIONARIES: &[(&str, &str, &[Attribute])] = &[
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
pub(super) const SECURITY_GROUPS: &[&str] = &["BYOD", "Employees", "Guests", "Quarantined_Systems"];

/// Operators of `ConditionAttributes` (Cisco's enum).
pub(super) const OPERATORS: &[&str] = &[
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
pub(super) const PROFILES: &[&str] = &[
    "Blackhole_Wireless_Access",
    "Cisco_IP_Phones",
    "DenyAccess",
    "MDM_Quarantine",
    "MDM_Redirect",
    "MDM_Unreachable",
    "NSP_Onboard",
    "PermitAccess",
];

pub(super) fn attribute(dictionary: &str, name: &str) -> Option<&'static Attribute> {
    DICTIONARIES
        .iter()
        .find(|(d, _, _)| *d == dictionary)
        .and_then(|(_, _, attrs)| attrs.iter().find(|a| a.name == name))
}

pub(super) fn leaf(dictionary: &str, name: &str, operator: &str, value: &str) -> Value {
    json!({"conditionType": "ConditionAttributes", "isNegate": false,
        "dictionaryName": dictionary, "attributeName": name,
        "operator": operator, "attributeValue": value})
}

/// The document gives this listing as a bare array of `Profile`.
pub(super) async fn profiles(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = s.with_world(|w| {
        w.policy
            .profiles
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect()
    });
    axum::Json(Value::Array(list)).into_response()
}

pub(super) async fn library(State(s): State<Arc<Shared>>) -> Response {
    let list = s.with_world(|w| w.policy.library.clone());
    entity(StatusCode::OK, Value::Array(list))
}

pub(super) fn dictionary_json(name: &str, kind: &str) -> Value {
    json!({"name": name, "dictionaryAttrType": kind, "version": "1.0",
        "description": format!("{name} dictionary"),
        "link": link(format!("{BASE}/dictionaries/{name}"))})
}

pub(super) async fn dictionaries() -> Response {
    let list = DICTIONARIES
        .iter()
        .map(|(name, kind, _)| dictionary_json(name, kind))
        .collect();
    entity(StatusCode::OK, Value::Array(list))
}

pub(super) fn no_dictionary(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Dictionary {name} does not exist"),
    )
}

pub(super) async fn dictionary(Path(name): Path<String>) -> Response {
    match DICTIONARIES.iter().find(|(n, _, _)| *n == name) {
        Some((n, kind, _)) => entity(StatusCode::OK, dictionary_json(n, kind)),
        None => no_dictionary(&name),
    }
}

pub(super) async fn dictionary_attributes(Path(name): Path<String>) -> Response {
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
