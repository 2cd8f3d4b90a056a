//! The network-access policy API against Cisco's own document
//! (`tests/data/cisco-ise-open-api-policy.yaml`, unchanged): every request the library
//! sends to the simulator, and every answer the simulator gives it, validates against
//! the operation's schema — required fields, types, enums, UUIDs, no field the document
//! does not define, no read-only field in a request, and a condition checked as the
//! schema its `conditionType` names.

use std::collections::BTreeSet;
use std::time::Duration;

use ise_intune::integration::{Integration, context::Options, enforce, onboard};
use ise_intune::ise_client::Method;
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as sim, Configurator};
use serde_json::{Map, Value, json};
use yaml_rust2::{Yaml, YamlLoader};

const BASE: &str = "/api/v1/policy/network-access";

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map_or(Value::Null, |f| json!(f)),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                m.insert(key, to_json(v));
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

fn document() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cisco-ise-open-api-policy.yaml"
    ))
    .expect("Cisco's policy document");
    let docs = YamlLoader::load_from_str(&text).expect("YAML");
    to_json(&docs[0])
}

struct Validator {
    doc: Value,
    /// A request: no read-only field.
    request: bool,
}

impl Validator {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("the document has no {r}")),
            None => schema,
        }
    }

    /// The schema and every `allOf` part, resolved.
    fn parts<'a>(&'a self, schema: &'a Value) -> Vec<&'a Value> {
        let schema = self.resolve(schema);
        let mut out = vec![schema];
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                out.extend(self.parts(part));
            }
        }
        out
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let mut schema = self.resolve(schema);
        // A condition is checked as the schema its conditionType names.
        let polymorphic = schema.get("title").and_then(Value::as_str) == Some("Condition");
        if polymorphic && let Some(kind) = v.get("conditionType").and_then(Value::as_str) {
            match self.doc.pointer(&format!("/components/schemas/{kind}")) {
                Some(s) => schema = s,
                None => errors.push(format!("{at}: unknown conditionType {kind}")),
            }
        }
        let parts = self.parts(schema);
        let kind = parts
            .iter()
            .find_map(|p| p.get("type").and_then(Value::as_str))
            .unwrap_or(if parts.iter().any(|p| p.get("properties").is_some()) {
                "object"
            } else {
                ""
            });
        let ok = match kind {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected {kind}, got {v}"));
            return;
        }
        for p in &parts {
            if let (Some(options), Some(s)) = (p.get("enum").and_then(Value::as_array), v.as_str())
                && !options.iter().any(|o| o == s)
            {
                errors.push(format!("{at}: `{s}` is not one of {options:?}"));
            }
            if p.get("format").and_then(Value::as_str) == Some("uuid")
                && let Some(s) = v.as_str()
                && !is_uuid(s)
            {
                errors.push(format!("{at}: `{s}` is not a UUID"));
            }
        }
        if let Some(items) = v.as_array() {
            let item_schema = parts.iter().find_map(|p| p.get("items"));
            for (i, item) in items.iter().enumerate() {
                if let Some(s) = item_schema {
                    self.check(s, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
        let Some(object) = v.as_object() else {
            return;
        };
        let mut properties: Vec<(&String, &Value)> = Vec::new();
        let mut required = BTreeSet::new();
        for p in &parts {
            if let Some(props) = p.get("properties").and_then(Value::as_object) {
                properties.extend(props.iter());
            }
            if let Some(req) = p.get("required").and_then(Value::as_array) {
                required.extend(req.iter().filter_map(Value::as_str));
            }
        }
        for name in &required {
            if object.get(*name).is_none_or(Value::is_null) {
                errors.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (name, value) in object {
            let Some((_, prop)) = properties.iter().find(|(n, _)| *n == name) else {
                errors.push(format!("{at}: `{name}` is not in the document"));
                continue;
            };
            let read_only = self
                .parts(prop)
                .iter()
                .any(|p| p.get("readOnly").and_then(Value::as_bool) == Some(true));
            if self.request && read_only {
                errors.push(format!("{at}: read-only `{name}` sent in a request"));
            }
            // The document's own examples carry nulls for absent optional fields.
            if value.is_null() {
                continue;
            }
            self.check(prop, value, &format!("{at}.{name}"), errors);
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The operation of `method` on the document path `path` matches (`{x}` segments match
/// any one segment).
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let paths = doc["paths"].as_object().expect("paths");
    let wanted: Vec<&str> = path.split('/').collect();
    let (_, item) = paths
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t.starts_with('{') || t == w)
        })
        .unwrap_or_else(|| panic!("the document has no path for {path}"));
    &item[method.to_ascii_lowercase()]
}

fn answer_schema(op: &Value, status: u16) -> &Value {
    &op["responses"][status.to_string()]["content"]["application/json"]["schema"]
}

fn validate(v: &Validator, schema: &Value, value: &Value, what: &str) -> Vec<String> {
    assert!(!schema.is_null(), "{what}: the document gives no schema");
    let mut errors = Vec::new();
    v.check(schema, value, what, &mut errors);
    errors
}

#[tokio::test]
async fn requests_and_answers_of_the_policy_api_follow_ciscos_document() {
    let doc = document();
    let requests = Validator {
        doc: doc.clone(),
        request: true,
    };
    let answers = Validator {
        doc: doc.clone(),
        request: false,
    };
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    let ctx: Integration =
        sim::integration(sim.info(), Configurator::Gui, true, o).expect("integration");

    // Enforcement needs a connected pair (its guard).
    assert!(onboard::apply(&ctx).await.expect("onboard").complete);
    // Creates, then one drifted rule fixed in place: POSTs and a PUT.
    enforce::apply(&ctx).await.expect("enforce");
    let ise = ctx.ise();
    let set = ise
        .request(Method::GET, &format!("{BASE}/policy-set"), None)
        .await
        .expect("sets")["response"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let listed = ise
        .request(
            Method::GET,
            &format!("{BASE}/policy-set/{set}/authorization"),
            None,
        )
        .await
        .expect("rules");
    let mut drifted = listed["response"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["rule"]["name"] == "Intune_Compliant"))
        .cloned()
        .expect("rule");
    let id = drifted["rule"]["id"].as_str().expect("id").to_owned();
    drifted["profile"] = json!(["DenyAccess"]);
    ise.request(
        Method::PUT,
        &format!("{BASE}/policy-set/{set}/authorization/{id}"),
        Some(drifted),
    )
    .await
    .expect("drift");
    enforce::apply(&ctx).await.expect("fix");
    // And one request ISE refuses, for the error shape.
    let refused = ise
        .request(
            Method::POST,
            &format!("{BASE}/policy-set/{set}/authorization"),
            Some(
                json!({"rule": {"name": "Bad", "condition": {"conditionType": "ConditionAttributes",
                "dictionaryName": "MDM", "attributeName": "DeviceCompliantStatus",
                "operator": "equals", "attributeValue": "Yes"}}, "profile": ["PermitAccess"]}),
            ),
        )
        .await;
    assert!(refused.is_err());

    let mut errors = Vec::new();
    let writes = sim.policy_writes();
    let library_writes: Vec<_> = writes
        .iter()
        .filter(|w| w.body["rule"]["name"].as_str() != Some("Bad"))
        .filter(|w| w.method == "POST" || w.body["profile"] != json!(["DenyAccess"]))
        .collect();
    assert_eq!(
        library_writes
            .iter()
            .map(|w| w.method.as_str())
            .collect::<Vec<_>>(),
        ["POST", "POST", "POST", "POST", "PUT"]
    );
    for w in &writes {
        let op = operation(&doc, &w.method, &w.path);
        let what = format!("{} {}", w.method, w.path);
        if library_writes.iter().any(|l| std::ptr::eq(*l, w)) {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            errors.extend(validate(
                &requests,
                schema,
                &w.body,
                &format!("{what} request"),
            ));
        }
        let schema = if w.status >= 400 {
            answer_schema(op, 400)
        } else {
            answer_schema(op, w.status)
        };
        errors.extend(validate(
            &answers,
            schema,
            &w.answer,
            &format!("{what} answer {}", w.status),
        ));
    }
    assert!(writes.iter().any(|w| w.status == 400), "{writes:#?}");

    // Every read the library makes.
    for path in [
        format!("{BASE}/policy-set"),
        format!("{BASE}/policy-set/{set}"),
        format!("{BASE}/policy-set/{set}/authorization"),
        format!("{BASE}/policy-set/{set}/authorization/{id}"),
        format!("{BASE}/authorization-profiles"),
        format!("{BASE}/condition"),
        format!("{BASE}/dictionaries"),
        format!("{BASE}/dictionaries/MDM"),
        format!("{BASE}/dictionaries/MDM/attribute"),
    ] {
        let answer = ise.request(Method::GET, &path, None).await.expect("read");
        let op = operation(&doc, "GET", &path);
        errors.extend(validate(
            &answers,
            answer_schema(op, 200),
            &answer,
            &format!("GET {path}"),
        ));
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_validator_refuses_what_the_document_refuses() {
    let doc = document();
    let v = Validator {
        doc: doc.clone(),
        request: true,
    };
    let op = operation(
        &doc,
        "POST",
        "/api/v1/policy/network-access/policy-set/x/authorization",
    );
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let bad = json!({"rule": {"name": "R", "hitCounts": 3, "state": "paused",
        "condition": {"conditionType": "ConditionAttributes", "dictionaryName": "MDM",
            "attributeName": "DeviceCompliantStatus", "operator": "is",
            "attributeValue": "Compliant"}}, "profile": "PermitAccess", "colour": 1});
    let mut errors = validate(&v, schema, &bad, "bad");
    errors.sort();
    assert_eq!(
        errors,
        [
            "bad.profile: expected array, got \"PermitAccess\"",
            "bad.rule.condition.operator: `is` is not one of [String(\"contains\"), String(\"endsWith\"), String(\"equals\"), String(\"greaterOrEquals\"), String(\"greaterThan\"), String(\"in\"), String(\"ipEquals\"), String(\"ipGreaterThan\"), String(\"ipLessThan\"), String(\"ipNotEquals\"), String(\"lessOrEquals\"), String(\"lessThan\"), String(\"macContains\"), String(\"macEndsWith\"), String(\"macEquals\"), String(\"macIn\"), String(\"macNotContains\"), String(\"macNotEndsWith\"), String(\"macNotEquals\"), String(\"macNotIn\"), String(\"macNotStartsWith\"), String(\"macStartsWith\"), String(\"matches\"), String(\"notContains\"), String(\"notEndsWith\"), String(\"notEquals\"), String(\"notIn\"), String(\"notStartsWith\"), String(\"startsWith\")]",
            "bad.rule.state: `paused` is not one of [String(\"disabled\"), String(\"enabled\"), String(\"monitor\")]",
            "bad.rule: read-only `hitCounts` sent in a request",
            "bad: `colour` is not in the document",
        ]
    );
}
