//! ISE's authorization of an endpoint, as the control API's `POST /authorize` asks
//! for it: Intune's answer for the device through the enabled External MDM entry (a
//! policy service node's Graph token, discovery, Intune token, then `cisco/devices` by
//! MAC address), the MDM dictionary filled from it, then the first matching rule of
//! the first matching policy set ([`crate::policy`]'s model), counting hits.

use serde_json::{Map, Value, json};

use crate::Shared;
use crate::policy::PolicyModel;

/// The attributes of one authorization request: (dictionary, attribute) → value.
pub(crate) type Attributes = Vec<((String, String), String)>;

fn value_of<'a>(attrs: &'a Attributes, dictionary: &str, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|((d, n), _)| d == dictionary && n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `c` matches: a missing attribute matches nothing (as in ISE); operators
/// beyond the string and list comparisons never match here.
fn matches(model: &PolicyModel, attrs: &Attributes, c: &Value, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    let result = match text("conditionType") {
        "ConditionAttributes" | "LibraryConditionAttributes" => {
            match value_of(attrs, text("dictionaryName"), text("attributeName")) {
                None => false,
                Some(actual) => compare(text("operator"), actual, text("attributeValue")),
            }
        }
        "ConditionAndBlock" | "LibraryConditionAndBlock" => c["children"]
            .as_array()
            .is_some_and(|ch| ch.iter().all(|x| matches(model, attrs, x, depth + 1))),
        "ConditionOrBlock" | "LibraryConditionOrBlock" => c["children"]
            .as_array()
            .is_some_and(|ch| ch.iter().any(|x| matches(model, attrs, x, depth + 1))),
        "ConditionReference" => model
            .library
            .iter()
            .find(|l| l["id"] == c["id"])
            .is_some_and(|l| matches(model, attrs, l, depth + 1)),
        _ => false,
    };
    result != c["isNegate"].as_bool().unwrap_or(false)
}

fn compare(operator: &str, actual: &str, expected: &str) -> bool {
    let list = || expected.split(',').map(str::trim);
    match operator {
        "equals" => actual == expected,
        "notEquals" => actual != expected,
        "contains" => actual.contains(expected),
        "notContains" => !actual.contains(expected),
        "startsWith" => actual.starts_with(expected),
        "notStartsWith" => !actual.starts_with(expected),
        "endsWith" => actual.ends_with(expected),
        "notEndsWith" => !actual.ends_with(expected),
        "in" => list().any(|v| v == actual),
        "notIn" => !list().any(|v| v == actual),
        _ => false,
    }
}

/// What ISE's authorization decided.
pub(crate) struct Decision {
    pub(crate) policy_set: Option<String>,
    pub(crate) rule: Option<String>,
    pub(crate) profiles: Vec<String>,
}

/// The first enabled policy set whose condition matches, then its first enabled rule
/// that matches (counting hits, as ISE does).
pub(crate) fn decide(model: &mut PolicyModel, attrs: &Attributes) -> Decision {
    let snapshot = model.clone();
    let set = model.sets.iter_mut().find(|s| {
        s.state == "enabled"
            && s.condition
                .as_ref()
                .is_none_or(|c| matches(&snapshot, attrs, c, 0))
    });
    let Some(set) = set else {
        return Decision {
            policy_set: None,
            rule: None,
            profiles: vec!["DenyAccess".into()],
        };
    };
    set.hit_counts = set.hit_counts.saturating_add(1);
    // A rule in monitor state is evaluated and its hit counted, but its result is not
    // applied: evaluation goes on to the next rule. Evidence: ISE's policy model is
    // ACS 5's, whose user guide (5.4, "Service Selection Policy") says of a monitored
    // rule that the match is logged, the result not applied, "and the processing
    // continues to the following rules"; ISE's OpenAPI lists the states disabled,
    // enabled and monitor, and shows hits per rule.
    let mut rule = None;
    for r in &mut set.rules {
        let hit = r.state != "disabled"
            && r.condition
                .as_ref()
                .is_none_or(|c| matches(&snapshot, attrs, c, 0));
        if !hit {
            continue;
        }
        if r.state == "monitor" {
            r.hit_counts = r.hit_counts.saturating_add(1);
            continue;
        }
        if r.state == "enabled" {
            rule = Some(r);
            break;
        }
    }
    match rule {
        Some(r) => {
            r.hit_counts = r.hit_counts.saturating_add(1);
            Decision {
                policy_set: Some(set.name.clone()),
                rule: Some(r.name.clone()),
                profiles: r.profiles.clone(),
            }
        }
        None => Decision {
            policy_set: Some(set.name.clone()),
            rule: None,
            profiles: vec!["DenyAccess".into()],
        },
    }
}

/// Intune's view of a device as ISE's MDM dictionary holds it.
pub(crate) struct MdmView {
    pub(crate) server: Option<String>,
    pub(crate) reachable: bool,
    pub(crate) registered: Option<bool>,
    pub(crate) compliant: Option<bool>,
    pub(crate) detail: String,
}

impl MdmView {
    pub(crate) fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("MDMServerName".into(), json!(self.server));
        o.insert(
            "MDMServerReachable".into(),
            json!(if self.reachable {
                "Reachable"
            } else {
                "UnReachable"
            }),
        );
        if let Some(r) = self.registered {
            o.insert(
                "DeviceRegisterStatus".into(),
                json!(if r { "Registered" } else { "UnRegistered" }),
            );
        }
        if let Some(c) = self.compliant {
            o.insert(
                "DeviceCompliantStatus".into(),
                json!(if c { "Compliant" } else { "NonCompliant" }),
            );
        }
        o.insert("detail".into(), json!(self.detail));
        Value::Object(o)
    }
}

/// The text of the first `<tag>` element of `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// Asks Intune about `mac` the way ISE does at authorization: through the first
/// enabled External MDM entry, from the first policy service node with its key (Graph
/// token, discovery, Intune token), then `cisco/devices` by MAC address.
pub(crate) async fn mdm_view(s: &Shared, mac: &str, without: Option<&str>) -> MdmView {
    let server = s.with_world(|w| {
        w.mdm_servers
            .values()
            .find(|m| m.status == "Enabled" && Some(m.name.as_str()) != without)
            .cloned()
    });
    let Some(server) = server else {
        return MdmView {
            server: None,
            reachable: false,
            registered: None,
            compliant: None,
            detail: "no External MDM server is enabled".into(),
        };
    };
    let unreachable = |detail: String| MdmView {
        server: Some(server.name.clone()),
        reachable: false,
        registered: None,
        compliant: None,
        detail,
    };
    let host = s.with_world(|w| {
        w.nodes
            .iter()
            .find(|n| n.is_policy_service())
            .map(|n| n.hostname.clone())
    });
    let Some(host) = host else {
        return unreachable("no policy service node".into());
    };
    let http = match crate::gui::ise_http(s) {
        Ok(h) => h,
        Err(e) => return unreachable(e),
    };
    let rel = crate::gui::release(s);
    let session = match crate::gui::connect(s, &server, rel, &http, &host).await {
        Ok(session) => session,
        Err(e) => return unreachable(e),
    };
    let url = format!(
        "{}/cisco/devices/?paging=0&querycriteria=macaddress&value={mac}&filter=all",
        session.base
    );
    let answer = http
        .get(&url)
        .bearer_auth(&session.token)
        .header("Accept", "application/xml")
        .send()
        .await;
    let text = match answer {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => return unreachable(format!("Intune answered {}", r.status().as_u16())),
        Err(_) => return unreachable("Intune could not be reached".into()),
    };
    let (registered, compliant) = match element(&text, "device") {
        None => (false, false),
        Some(device) => (
            element(device, "register_status") == Some("true"),
            element(device, "status") == Some("true"),
        ),
    };
    MdmView {
        server: Some(server.name),
        reachable: true,
        registered: Some(registered),
        compliant: Some(compliant),
        detail: if element(&text, "device").is_some() {
            "Intune knows the device".into()
        } else {
            "Intune does not know the device".into()
        },
    }
}

/// The request's attributes: the endpoint's MAC (as ISE writes Calling-Station-ID),
/// a passed 802.1X authentication over wireless, the Unknown identity group, and the
/// MDM dictionary as Intune answered.
pub(crate) fn attributes(mac: &str, mdm: &MdmView) -> Attributes {
    let dashed: String = mac
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let mut attrs: Attributes = vec![
        (("Radius".into(), "Calling-Station-ID".into()), dashed),
        (
            ("Radius".into(), "NAS-Port-Type".into()),
            "Wireless - IEEE 802.11".into(),
        ),
        (
            ("Network Access".into(), "AuthenticationStatus".into()),
            "AuthenticationPassed".into(),
        ),
        (
            ("IdentityGroup".into(), "Name".into()),
            "Endpoint Identity Groups:Unknown".into(),
        ),
    ];
    let mut put = |name: &str, value: String| attrs.push((("MDM".into(), name.into()), value));
    if let Some(name) = &mdm.server {
        put("MDMServerName", name.clone());
    }
    put(
        "MDMServerReachable",
        if mdm.reachable {
            "Reachable"
        } else {
            "UnReachable"
        }
        .into(),
    );
    if let Some(r) = mdm.registered {
        put(
            "DeviceRegisterStatus",
            if r { "Registered" } else { "UnRegistered" }.into(),
        );
    }
    if let Some(c) = mdm.compliant {
        put(
            "DeviceCompliantStatus",
            if c { "Compliant" } else { "NonCompliant" }.into(),
        );
    }
    attrs
}

/// ISE's authorization of the endpoint `mac` (any notation): Intune's answer through
/// the enabled External MDM entry, then the first matching rule. The answer is
/// `{"policy_set", "rule", "profiles", "mdm": {…}}`.
/// What a hypothetical authorization leaves out (`"without"` in `POST /authorize`):
/// authorization rules by id, and an External MDM entry by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Without {
    pub(crate) rules: Vec<String>,
    pub(crate) mdm_server: Option<String>,
}

impl Without {
    /// Reads `{"rules": ["id", …], "mdm_server": "name"}` (either may be absent).
    pub(crate) fn from_json(v: &Value) -> Result<Self, String> {
        let rules = match v.get("rules") {
            None => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or("`without.rules` must be a list of rule ids")?,
            Some(_) => return Err("`without.rules` must be a list of rule ids".into()),
        };
        let mdm_server = match v.get("mdm_server") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => return Err("`without.mdm_server` must be an entry's name".into()),
        };
        Ok(Self { rules, mdm_server })
    }

    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.mdm_server.is_none()
    }
}

pub(crate) async fn authorize(s: &Shared, mac: &str) -> Result<Value, String> {
    authorize_without(s, mac, &Without::default()).await
}

/// [`authorize`] as ISE would decide with `without`'s rules and entry gone: evaluated
/// on a copy of the policy, counting no hits. Nothing changes.
pub(crate) async fn authorize_without(
    s: &Shared,
    mac: &str,
    without: &Without,
) -> Result<Value, String> {
    let mac: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect::<String>()
        .to_ascii_uppercase();
    if mac.len() != 12 || !mac.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("mac must be a MAC address (12 hexadecimal digits, any notation)".into());
    }
    let view = mdm_view(s, &mac, without.mdm_server.as_deref()).await;
    let mut attrs = attributes(&mac, &view);
    // The endpoint's custom attributes, as ISE reads them from its endpoint database.
    let custom = s.with_world(|w| {
        w.endpoints
            .get(&crate::state::colon_mac(&mac))
            .map(|e| e.attributes.clone())
            .unwrap_or_default()
    });
    attrs.extend(custom.into_iter().map(|(name, value)| {
        (
            (crate::policy::ENDPOINTS_DICTIONARY.to_owned(), name),
            value,
        )
    }));
    let d = s.with_world(|w| {
        if without.is_empty() {
            // The endpoint now has a session on the first policy service node (MnT's
            // session directory), as one that authenticated does.
            if let Some(psn) = w.nodes.iter().find(|n| n.is_policy_service()) {
                let psn = psn.hostname.clone();
                w.sessions.insert(crate::state::colon_mac(&mac), psn);
            }
            decide(&mut w.policy, &attrs)
        } else {
            let mut policy = w.policy.clone();
            for set in &mut policy.sets {
                set.rules.retain(|r| !without.rules.contains(&r.id));
            }
            decide(&mut policy, &attrs)
        }
    });
    Ok(
        json!({"policy_set": d.policy_set, "rule": d.rule, "profiles": d.profiles,
        "mdm": view.to_json()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rule;
    use crate::rng::Rng;

    fn leaf(dictionary: &str, name: &str, operator: &str, value: &str) -> Value {
        json!({"conditionType": "ConditionAttributes", "isNegate": false,
            "dictionaryName": dictionary, "attributeName": name,
            "operator": operator, "attributeValue": value})
    }

    #[test]
    fn evaluation_follows_rank_state_negation_and_blocks() {
        let mut m = PolicyModel::seeded(&mut Rng::new(7));
        let view = MdmView {
            server: Some("Intune".into()),
            reachable: true,
            registered: Some(true),
            compliant: Some(false),
            detail: String::new(),
        };
        let attrs = attributes("A1B2C3D4E5F6", &view);
        // Basic_Authenticated_Access is disabled: the default rule answers.
        let d = decide(&mut m, &attrs);
        assert_eq!(d.rule.as_deref(), Some("Default"));
        assert_eq!(d.profiles, ["DenyAccess"]);
        let quarantine = json!({"conditionType": "ConditionAndBlock", "isNegate": false, "children": [
            leaf("MDM", "DeviceRegisterStatus", "equals", "Registered"),
            json!({"conditionType": "ConditionOrBlock", "isNegate": true, "children": [
                leaf("MDM", "DeviceCompliantStatus", "equals", "Compliant"),
                leaf("Radius", "Calling-Station-ID", "equals", "00-00-00-00-00-00")]})]});
        m.sets[0].rules.insert(
            0,
            Rule {
                id: "q".into(),
                name: "Q".into(),
                state: "enabled".into(),
                default: false,
                condition: Some(quarantine),
                profiles: vec!["MDM_Quarantine".into()],
                security_group: None,
                hit_counts: 0,
            },
        );
        let d = decide(&mut m, &attrs);
        assert_eq!(d.rule.as_deref(), Some("Q"));
        assert_eq!(m.sets[0].rules[0].hit_counts, 1);
        m.sets[0].rules[0].state = "monitor".into();
        assert_eq!(decide(&mut m, &attrs).rule.as_deref(), Some("Default"));
        // Monitored: counted, not applied.
        assert_eq!(m.sets[0].rules[0].hit_counts, 2);
        m.sets[0].rules[0].state = "disabled".into();
        assert_eq!(decide(&mut m, &attrs).rule.as_deref(), Some("Default"));
        assert_eq!(m.sets[0].rules[0].hit_counts, 2);
    }
}
