//! ISE's endpoints and their custom attributes (OpenAPI, ISE 3.2 and later):
//!
//! * `GET|POST /api/v1/endpoint-custom-attribute`, `DELETE …/{name}`: definitions as
//!   flat JSON `{"attributeName", "attributeType"}` (types `Boolean`, `Date`, `Float`,
//!   `IP`, `Int`, `Long`, `String`);
//! * `GET /api/v1/endpoint?page&size&filter&filterType`: a bare JSON array of
//!   endpoints with `mac` and `customAttributes`, at most 100 a page;
//! * `PUT|POST /api/v1/endpoint/bulk`: update or create at most 500 endpoints, one
//!   bulk job at a time (a second while one runs is answered 503 and changes
//!   nothing), answered `{"id": task}`. An update sets only the custom attributes it
//!   names (an empty value removes one) and leaves the others as they are; an item
//!   naming an unknown endpoint or an undefined attribute, or a value that is not of
//!   its attribute's type, fails alone and the rest of the job is applied.
//!
//! Evidence: the OpenAPI endpoint definitions carried by Cisco's SDKs
//! (CiscoISE/ciscoisesdk, ciscoise-go-sdk `EndpointsService`: the list is an array,
//! bulk operations answer `{"id"}`, `customAttributes` a map), Cisco's ERS bulk page
//! (500 resources a request, one bulk job at a time, 503 while another runs: applied to
//! the OpenAPI bulk here). Not verified against a real ISE and so chosen the strict
//! way: the merge of an update's attributes (a replace would be stricter on no one),
//! ISO dates (`2026-12-06`) for `Date` attributes, the per-item failures of a job.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{fail, filters_of, page_and_size};
use crate::Shared;
use crate::state::IseEndpoint;

/// Most endpoints one bulk request may carry.
const MAX_BULK: usize = 500;
/// ISE's custom attribute types.
const TYPES: [&str; 7] = ["Boolean", "Date", "Float", "IP", "Int", "Long", "String"];

/// `GET /api/v1/endpoint-custom-attribute`.
pub(super) async fn list_definitions(State(s): State<Arc<Shared>>) -> Response {
    let defs = s.with_world(|w| w.policy.endpoint_attributes.clone());
    Json(
        defs.iter()
            .map(|(n, t)| json!({"attributeName": n, "attributeType": t}))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

/// `POST /api/v1/endpoint-custom-attribute`.
pub(super) async fn define(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(name), Some(kind)) = (v["attributeName"].as_str(), v["attributeType"].as_str())
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "attributeName and attributeType are mandatory",
        );
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("Invalid attribute name {name}"),
        );
    }
    if !TYPES.contains(&kind) {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("Invalid attribute type {kind}"),
        );
    }
    let added = s.with_world(|w| {
        if w.policy
            .endpoint_attributes
            .keys()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            return false;
        }
        w.policy
            .endpoint_attributes
            .insert(name.to_owned(), kind.to_owned());
        true
    });
    if !added {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("Custom attribute {name} already exists"),
        );
    }
    (
        StatusCode::CREATED,
        Json(json!({"attributeName": name, "attributeType": kind})),
    )
        .into_response()
}

/// `DELETE /api/v1/endpoint-custom-attribute/{name}`: removes the definition and its
/// value from every endpoint.
pub(super) async fn undefine(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let removed = s.with_world(|w| {
        if !w.policy.endpoint_attributes.contains_key(&name) {
            return Err(StatusCode::NOT_FOUND);
        }
        // ISE keeps a dictionary attribute a policy uses.
        let used = w.policy.sets.iter().flat_map(|set| &set.rules).any(|r| {
            r.condition
                .as_ref()
                .is_some_and(|c| uses_attribute(c, &name, 0))
        });
        if used {
            return Err(StatusCode::BAD_REQUEST);
        }
        w.policy.endpoint_attributes.remove(&name);
        for e in w.endpoints.values_mut() {
            e.attributes.remove(&name);
        }
        Ok(())
    });
    match removed {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(StatusCode::NOT_FOUND) => fail(
            StatusCode::NOT_FOUND,
            &format!("Custom attribute {name} not found"),
        ),
        Err(status) => fail(
            status,
            &format!(
                "Custom attribute {name} is used in an authorization policy and cannot be deleted"
            ),
        ),
    }
}

/// Whether condition `c` names `EndPoints:<name>` anywhere.
fn uses_attribute(c: &Value, name: &str, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    let leaf =
        c["dictionaryName"] == crate::policy::ENDPOINTS_DICTIONARY && c["attributeName"] == name;
    leaf || c["children"]
        .as_array()
        .is_some_and(|ch| ch.iter().any(|x| uses_attribute(x, name, depth + 1)))
}

fn endpoint_json(mac: &str, e: &IseEndpoint) -> Value {
    json!({"id": e.id, "mac": mac, "name": mac, "customAttributes": e.attributes})
}

/// `GET /api/v1/endpoint`: a bare array, `page`/`size` (at most 100), `filter`
/// `mac.EQ.…` joined with `filterType=or` or (by default) `and`.
pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (page, size) = match page_and_size(&q) {
        Ok(ps) => ps,
        Err(refused) => return refused,
    };
    let filters = filters_of(uri.query());
    let any = q
        .get("filterType")
        .is_some_and(|t| t.eq_ignore_ascii_case("or"));
    let mut macs = Vec::new();
    for f in &filters {
        match f.split_once(".EQ.").or_else(|| f.split_once(".eq.")) {
            Some(("mac", mac)) => macs.push(mac.to_ascii_uppercase()),
            _ => {
                return fail(StatusCode::BAD_REQUEST, &format!("Unsupported filter {f}"));
            }
        }
    }
    let items = s.with_world(|w| {
        let skip = (page - 1).saturating_mul(size);
        if macs.is_empty() {
            w.endpoints
                .iter()
                .skip(skip)
                .take(size)
                .map(|(m, e)| endpoint_json(m, e))
                .collect::<Vec<_>>()
        } else if any || macs.len() == 1 {
            let mut wanted = macs.clone();
            wanted.sort();
            wanted.dedup();
            wanted
                .iter()
                .filter_map(|m| w.endpoints.get(m).map(|e| endpoint_json(m, e)))
                .skip(skip)
                .take(size)
                .collect()
        } else {
            // Several MACs joined with `and`: no endpoint has two.
            Vec::new()
        }
    });
    Json(Value::Array(items)).into_response()
}

/// One endpoint of a bulk request, as far as the simulator reads it.
#[derive(serde::Deserialize)]
struct BulkItem {
    mac: Option<String>,
    #[serde(rename = "customAttributes")]
    custom_attributes: Option<BTreeMap<String, Value>>,
}

/// Whether `value` is of ISE type `kind`.
fn of_type(kind: &str, value: &str) -> bool {
    match kind {
        "Boolean" => matches!(value, "true" | "false"),
        "Int" => value.parse::<i32>().is_ok(),
        "Long" => value.parse::<i64>().is_ok(),
        "Float" => value.parse::<f64>().is_ok_and(f64::is_finite),
        "IP" => value.parse::<std::net::IpAddr>().is_ok(),
        "Date" => time::Date::parse(
            value,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok(),
        _ => true,
    }
}

/// `PUT` (update) and `POST` (create) `/api/v1/endpoint/bulk`.
pub(super) async fn bulk(State(s): State<Arc<Shared>>, method: Method, body: Bytes) -> Response {
    let Ok(items) = serde_json::from_slice::<Vec<BulkItem>>(&body) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON array of endpoints",
        );
    };
    if items.is_empty() || items.len() > MAX_BULK {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!(
                "A bulk request carries 1 to {MAX_BULK} endpoints; this one carries {}",
                items.len()
            ),
        );
    }
    if s.bulk_running.swap(true, Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "Another bulk request is being processed. Try again later."})),
        )
            .into_response();
    }
    let create = method == Method::POST;
    let task = s.with_world(|w| {
        let task = w.rng.uuid();
        for item in items {
            let Some(mac) = item.mac.as_deref().map(str::to_ascii_uppercase) else {
                continue;
            };
            let attrs: BTreeMap<String, String> = item
                .custom_attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(t) => (k, t),
                    other => (k, other.to_string()),
                })
                .collect();
            let valid = attrs.iter().all(|(k, v)| {
                w.policy
                    .endpoint_attributes
                    .get(k)
                    .is_some_and(|kind| v.is_empty() || of_type(kind, v))
            });
            let exists = w.endpoints.contains_key(&mac);
            if !valid || exists == create {
                continue;
            }
            let id = w.rng.uuid();
            let e = w.endpoints.entry(mac).or_insert_with(|| IseEndpoint {
                id,
                attributes: BTreeMap::new(),
            });
            for (k, v) in attrs {
                if v.is_empty() {
                    e.attributes.remove(&k);
                } else {
                    e.attributes.insert(k, v);
                }
            }
        }
        task
    });
    s.bulk_running.store(false, Ordering::SeqCst);
    Json(json!({"id": task})).into_response()
}

/// MnT's session directory: `GET /admin/API/mnt/Session/MACAddress/{mac}` — the
/// endpoint's active session (XML `sessionParameters` with `acs_server`, the node that
/// holds it), or 404 when it has none.
pub(super) async fn session(State(s): State<Arc<Shared>>, Path(mac): Path<String>) -> Response {
    let mac = mac.to_ascii_uppercase();
    match s.with_world(|w| w.sessions.get(&mac).cloned()) {
        Some(node) => (
            StatusCode::OK,
            [("Content-Type", "application/xml")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><sessionParameters>\
                 <passed xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:type=\"xs:boolean\">true</passed><calling_station_id>{mac}\
                 </calling_station_id><acs_server>{node}</acs_server></sessionParameters>"
            ),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [("Content-Type", "application/xml")],
            "",
        )
            .into_response(),
    }
}

/// MnT's CoA: `GET /admin/API/mnt/CoA/Reauth/{server}/{mac}/{type}` — sent (and
/// recorded) when `server` holds the endpoint's session; XML `remoteCoA` with
/// `results` `true` or `false`.
pub(super) async fn reauth(
    State(s): State<Arc<Shared>>,
    Path((server, mac, kind)): Path<(String, String, String)>,
) -> Response {
    let mac = mac.to_ascii_uppercase();
    let sent = matches!(kind.as_str(), "0" | "1" | "2")
        && s.with_world(|w| {
            let holds = w
                .sessions
                .get(&mac)
                .is_some_and(|n| n.eq_ignore_ascii_case(&server));
            if holds {
                w.coa.push((server.clone(), mac.clone()));
            }
            holds
        });
    (
        StatusCode::OK,
        [("Content-Type", "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><remoteCoA requestType=\"reauth\">\
             <results>{sent}</results></remoteCoA>"
        ),
    )
        .into_response()
}
