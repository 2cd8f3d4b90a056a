//! What ISE refuses in an authorization rule: names, conditions, ranks.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Names ISE accepts for rules: alphanumerics, underscore, hyphen, space, period,
/// parentheses (the document's `RuleCommon.name`).
pub(super) fn valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_- .()".contains(c))
}

/// Checks a condition as ISE does: a known type, the fields its type requires, a
/// known dictionary attribute and operator, an allowed value, a library condition
/// that exists. Returns the condition as stored.
pub(super) fn check_condition(
    model: &PolicyModel,
    c: &Value,
    depth: usize,
) -> Result<Value, String> {
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
            if dictionary == ENDPOINTS_DICTIONARY {
                return custom_attribute_condition(model, negate, name, operator, value);
            }
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
pub(super) fn check_rule(
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

pub(super) fn rank_out_of_range(rank: usize, default_rank: usize) -> Answer {
    error_answer(
        StatusCode::BAD_REQUEST,
        &format!("Rank {rank} is out of range: the default rule is at rank {default_rank}"),
    )
}

pub(super) fn not_json() -> Answer {
    error_answer(
        StatusCode::BAD_REQUEST,
        "The request body is not valid JSON",
    )
}

/// The dictionary in which conditions name endpoint custom attributes.
pub(crate) const ENDPOINTS_DICTIONARY: &str = "EndPoints";

/// A condition on an endpoint custom attribute (`EndPoints:<name>`): the attribute
/// must be defined, and a Boolean one compares with `true` or `false`.
fn custom_attribute_condition(
    model: &PolicyModel,
    negate: bool,
    name: &str,
    operator: &str,
    value: &str,
) -> Result<Value, String> {
    let Some(kind) = model.endpoint_attributes.get(name) else {
        return Err(format!(
            "Attribute {name} does not exist in dictionary {ENDPOINTS_DICTIONARY}"
        ));
    };
    if !OPERATORS.contains(&operator) {
        return Err(format!("Operator {operator} is not valid"));
    }
    if kind == "Boolean" && !matches!(value, "true" | "false") {
        return Err(format!(
            "Value {value} is not allowed for attribute {ENDPOINTS_DICTIONARY}:{name}; allowed values are true, false"
        ));
    }
    Ok(
        json!({"conditionType": "ConditionAttributes", "isNegate": negate,
        "dictionaryName": ENDPOINTS_DICTIONARY, "attributeName": name,
        "operator": operator, "attributeValue": value}),
    )
}
