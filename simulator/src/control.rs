//! The control API: change faults while running, read the state. HTTPS on loopback
//! with the same CA as the other services; not subject to faults and not logged.
//!
//! * `PUT /faults` — body: an object from service name (`ise`, `login`, `graph`,
//!   `intune`, `all`) to an object of fault keys (`error_rate`, `error_status`,
//!   `retry_after`, `drop_rate`, `lost_response_rate`, `latency_ms`) as JSON numbers.
//!   It replaces every fault: `{}` clears them all. 204, or 400 with `{"error": "..."}`.
//! * `GET /snapshot` — the state as [`crate::Simulator::snapshot`] gives it.
//! * `POST /admin-consent` — body `{"client_id": "…"}`: what an administrator's click
//!   on "Grant admin consent" (or the admin-consent URL) does — every application role
//!   the application requests is assigned. 200 `{"granted": N}`, or 400.
//! * `POST /authorize` — body `{"mac": "…"}`: ISE's authorization of that endpoint —
//!   Intune's answer for the device through the enabled External MDM entry and the
//!   compliance API, then the first matching rule of the first matching policy set.
//!   200 `{"policy_set", "rule", "profiles", "mdm": {…}}`, or 400. With
//!   `"without": {"rules": ["<rule id>", …], "mdm_server": "<entry name>"}` it answers
//!   as ISE would decide with those rules and that entry gone (a preview: nothing
//!   changes, no hit is counted).
//! * `PUT /devices/{guid}` — body `{"compliant": bool}` and/or `{"registered": bool}`:
//!   changes a device in Intune. With `"at_check_in": true` a compliance change waits for
//!   the device's next check-in (every 8 hours, each device at its own time) and, when
//!   compliance is lost, for the grace period after it. 200 with the device (and
//!   `next_check_in_secs`, since the simulator started, when a change waits), 404 for
//!   an unknown GUID, or 400.
//! * `POST /devices/mutate` — body `{"count": N, "seed": S}`: N distinct devices, chosen
//!   from S, change in Intune at once (each flips its encryption and moves its
//!   operating system's version) and check in now, as a fleet's patch day would.
//!   200 `{"changed": ["<guid>", …]}`, or 400.
//! * `POST /clock` — body `{"advance_secs": N}` or `{"at": "2027-03-01T00:00:00Z"}`:
//!   moves the simulated clock forward (never back); tokens, replication, Intune's
//!   throttle windows and device check-ins follow it. 200 `{"now", "offset_secs"}`, or
//!   400.
//! * `PUT /intune/settings` — body `{"secureByDefault": bool,
//!   "deviceComplianceCheckinThresholdDays": N}`: Intune's tenant-wide compliance
//!   settings ("Mark devices with no compliance policy assigned as", the validity
//!   period). 204, or 400.
//! * `PUT /intune/certificate-profiles` — body a [`crate::CertificateProfile`]
//!   (`{"id"?, "kind", "display_name", "sans": [{"san_type", "name"}],
//!   "key_usages": [oid]}`): adds it, or replaces the profile with its id.
//!   200 `{"id"}`, or 400.
//! * `PUT /ise-role` — body `{"role": "super-admin" | "ers-admin" | "ers-operator" |
//!   "none"}`: moves ISE's API account to that admin group ([`crate::IseRole`]), as an
//!   ISE administrator would. 204, or 400.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::server::services_named;
use crate::{Faults, Service, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/faults", put(set_faults))
        .route("/snapshot", get(snapshot))
        .route("/admin-consent", post(admin_consent))
        .route("/authorize", post(authorize))
        .route("/devices/mutate", post(mutate_devices))
        .route("/devices/{guid}", put(update_device))
        .route("/ise-role", put(set_ise_role))
        .route("/intune/settings", put(set_intune_settings))
        .route("/intune/certificate-profiles", put(put_certificate_profile))
        .route("/clock", post(set_clock))
        .with_state(shared)
}

fn refuse(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

/// Reads a `PUT /faults` body into the faults of every service.
pub(crate) fn faults_from_json(body: &Value) -> Result<HashMap<Service, Faults>, String> {
    let Some(services) = body.as_object() else {
        return Err("the body must be an object from service name to faults".into());
    };
    let mut out: HashMap<Service, Faults> = HashMap::new();
    for (name, keys) in services {
        let Some(keys) = keys.as_object() else {
            return Err(format!("`{name}` must map to an object of fault keys"));
        };
        let mut faults = Faults::default();
        for (key, value) in keys {
            let Some(v) = value.as_f64() else {
                return Err(format!("`{name}.{key}` must be a JSON number"));
            };
            faults.set(key, v)?;
        }
        for service in services_named(name)? {
            out.insert(service, faults.clone());
        }
    }
    Ok(out)
}

async fn admin_consent(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(client_id) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["client_id"].as_str().map(str::to_owned))
    else {
        return refuse("the body must be {\"client_id\": \"…\"}".into());
    };
    match s.with_world(|w| w.admin_consent(&client_id)) {
        Ok(granted) => axum::Json(json!({ "granted": granted })).into_response(),
        Err(e) => refuse(e),
    }
}

/// How far forward `body` moves a clock that reads `now` (Unix seconds).
pub(crate) fn clock_step(body: &Value, now: u64) -> Result<u64, String> {
    if let Some(secs) = body.get("advance_secs") {
        return secs
            .as_u64()
            .ok_or_else(|| "`advance_secs` must be a whole number of seconds, 0 or more".into());
    }
    let Some(at) = body.get("at").and_then(Value::as_str) else {
        return Err("the body must be {\"advance_secs\": N} or {\"at\": \"RFC 3339 time\"}".into());
    };
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`at` is not an RFC 3339 time: {e}"))?;
    let at = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    at.checked_sub(now)
        .ok_or_else(|| "the simulated clock only moves forward: `at` is before its time".into())
}

/// How far ahead of the real clock the simulated one may go: a century (every date
/// then stays within what certificates, tokens and ISO 8601 can say; a clock in year
/// 9999 would overflow the first date computed from it).
const MAX_AHEAD: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// `step` seconds, when the clock `ahead` of the real one stays within [`MAX_AHEAD`].
fn within_reach(ahead: std::time::Duration, step: u64) -> Result<u64, String> {
    let total = ahead.as_secs().checked_add(step);
    if total.is_some_and(|t| t <= MAX_AHEAD.as_secs()) {
        Ok(step)
    } else {
        Err("the simulated clock moves at most 100 years ahead of the real one".into())
    }
}

async fn set_clock(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON".into());
    };
    let (now, ahead) = s.with_world(|w| (w.now_unix(), w.clock_offset));
    match clock_step(&body, now).and_then(|step| within_reach(ahead, step)) {
        Ok(step) => {
            let (now, offset) = s.advance_clock(std::time::Duration::from_secs(step));
            axum::Json(json!({"now": now, "offset_secs": offset.as_secs()})).into_response()
        }
        Err(e) => refuse(e),
    }
}

async fn set_ise_role(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(role) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["role"].as_str().map(str::to_owned))
    else {
        return refuse("the body must be {\"role\": \"…\"}".into());
    };
    match role.parse::<crate::IseRole>() {
        Ok(role) => {
            s.with_world(|w| w.ise_role = role);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refuse(e),
    }
}

async fn set_intune_settings(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let (Some(secure), Some(days)) = (
        v["secureByDefault"].as_bool(),
        v["deviceComplianceCheckinThresholdDays"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok()),
    ) else {
        return refuse(
            "the body must be {\"secureByDefault\": bool, \"deviceComplianceCheckinThresholdDays\": N}"
                .into(),
        );
    };
    if !(1..=120).contains(&days) {
        return refuse(format!("{days} days: Intune accepts 1 to 120"));
    }
    s.with_world(|w| {
        w.evidence.secure_by_default = secure;
        w.evidence.checkin_threshold_days = days;
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn put_certificate_profile(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(profile) = serde_json::from_slice::<crate::CertificateProfile>(&body) else {
        return refuse("the body must be a certificate profile".into());
    };
    match s.with_world(|w| w.evidence.put_profile(&mut w.rng, profile)) {
        Ok(id) => (StatusCode::OK, axum::Json(json!({ "id": id }))).into_response(),
        Err(e) => refuse(e),
    }
}

async fn set_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON".into());
    };
    match faults_from_json(&body) {
        Ok(faults) => {
            s.replace_faults(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refuse(e),
    }
}

async fn snapshot(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.with_world(|w| {
        w.settle_devices();
        w.snapshot()
    }))
    .into_response()
}

async fn authorize(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let Some(mac) = body["mac"].as_str().map(str::to_owned) else {
        return refuse("the body must be {\"mac\": \"…\"}".into());
    };
    let without = match body
        .get("without")
        .map(crate::authorize::Without::from_json)
    {
        None => crate::authorize::Without::default(),
        Some(Ok(w)) => w,
        Some(Err(e)) => return refuse(e),
    };
    match crate::authorize::authorize_without(&s, &mac, &without).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => refuse(e),
    }
}

/// Reads `{"compliant": bool, "registered": bool}` (either or both).
pub(crate) fn device_change(body: &Value) -> Result<(Option<bool>, Option<bool>), String> {
    let flag = |k: &str| match body.get(k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("`{k}` must be true or false")),
    };
    let (compliant, registered) = (flag("compliant")?, flag("registered")?);
    if compliant.is_none() && registered.is_none() {
        return Err("the body must be {\"compliant\": bool} and/or {\"registered\": bool}".into());
    }
    Ok((compliant, registered))
}

async fn mutate_devices(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let (Some(count), Some(seed)) = (body["count"].as_u64(), body["seed"].as_u64()) else {
        return refuse("the body must be {\"count\": N, \"seed\": S}".into());
    };
    let changed = s.with_world(|w| w.mutate_devices(count, seed));
    axum::Json(json!({ "changed": changed })).into_response()
}

async fn update_device(
    State(s): State<Arc<Shared>>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON".into());
    };
    let (compliant, registered) = match device_change(&body) {
        Ok(change) => change,
        Err(e) => return refuse(e),
    };
    let at_check_in = body.get("at_check_in").and_then(Value::as_bool) == Some(true);
    match s.with_world(|w| {
        w.settle_devices();
        w.set_device(&guid, compliant, registered, at_check_in)
    }) {
        Some(device) => axum::Json(device).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no device {guid} in Intune")})),
        )
            .into_response(),
    }
}
