//! Intune's managed devices as Microsoft Graph lists them:
//! `GET /v1.0/deviceManagement/managedDevices`, with `$select`, `$top` (at most 1,000
//! a page, Intune's page size), paging by `@odata.nextLink` and `$filter` on
//! `lastSyncDateTime ge <DateTimeOffset>` (the incremental read a sync makes; there is
//! no delta query for managed devices). Each device is the simulator's Intune device
//! (the same GUID, MAC, enrolment and compliance as the Compliance Retrieval API
//! answers), with the other properties derived from the seed, and its last check-in
//! from its check-in cycle on the simulated clock.
//!
//! Evidence: Microsoft Graph v1.0 `managedDevice` resource (property names, and that
//! `jailBroken` is a string: "True", "False" or "Unknown"; `complianceState` values
//! `compliant`, `noncompliant`, `inGracePeriod`…; `managedDeviceOwnerType` `company` or
//! `personal`), "List managedDevices" (permission `DeviceManagementManagedDevices.Read.All`
//! for applications) and Intune's answer to a caller without it, a 403 whose message
//! names the scopes. Cross-checked: Microsoft's Graph SDK for Python reads these pages
//! with its own paging and generated `ManagedDevice` model
//! (`scripts/graph_sdk_managed_devices.py`, run by `scripts/test.sh`).

use std::collections::HashMap;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Ctx;
use crate::rng::Rng;
use crate::state::{CHECK_IN_EVERY, Device, World};

/// Intune's page of managed devices, and the most `$top` may ask.
const MAX_TOP: usize = 1000;

/// The roles that let an application list managed devices.
const READ_ROLES: [&str; 2] = [
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
];

/// Graph's refusal of a managed-device read, when the caller may not make it.
fn refused(ctx: &Ctx<'_>) -> Option<Response> {
    let Some(token) = crate::login::bearer(ctx.s, ctx.headers) else {
        return Some(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty, expired or not valid.",
        ));
    };
    if token.audience != crate::state::Audience::Graph {
        return Some(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        ));
    }
    if !token.roles.iter().any(|r| READ_ROLES.contains(&r.as_str())) {
        // Intune's own wording, as Graph relays it.
        return Some(ctx.error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Application is not authorized to perform this operation. Application must have \
             one of the following scopes: DeviceManagementManagedDevices.Read.All, \
             DeviceManagementManagedDevices.ReadWrite.All",
        ));
    }
    throttle(ctx)
}

/// `GET /deviceManagement/managedDevices`.
pub(super) fn list(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
    if let Some(refusal) = refused(ctx) {
        return refusal;
    }
    let since = match q.get("$filter").map(|f| since_filter(f)) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return ctx.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid filter clause: only `lastSyncDateTime ge <DateTimeOffset>` is \
                 supported here",
            );
        }
    };
    // `$skiptoken` is where the page's scan of the tenant starts (Graph's token is
    // opaque; clients follow `@odata.nextLink`): a page costs the devices from there to
    // its last, not the tenant, and only the page's devices are made JSON.
    let (start, top) = super::window(q, MAX_TOP, MAX_TOP);
    // The page's devices are copied under the world's lock and made JSON after it, so
    // that ISE's requests are not held behind the page.
    let (seed, devices, next) = ctx.s.with_world(|w| {
        w.settle_devices();
        let now = w.now();
        let now_utc = w.now_utc();
        let mut page = Vec::new();
        let mut next = None;
        for (i, d) in w.devices.iter().enumerate().skip(start) {
            let synced = last_sync(w, d, now, now_utc);
            if since.is_some_and(|s| synced < s) {
                continue;
            }
            if page.len() == top {
                next = Some(i);
                break;
            }
            page.push((d.clone(), synced));
        }
        (w.seed, page, next)
    });
    let items = devices
        .iter()
        .map(|(d, synced)| managed_device(seed, d, *synced))
        .collect();
    super::page_with_next(ctx, uri, q, next, items)
}

/// `GET /deviceManagement/managedDevices/{id}/deviceConfigurationStates`: the
/// configuration profiles Intune applied to the device, each as a
/// `deviceConfigurationState` (`displayName`, `platformType`, `state`, …), one page.
/// The simulator applies each certificate profile to every device of its platform:
/// Windows, iOS and macOS by the type's prefix, Android by enrolment (a personally
/// owned device's work profile, a corporate device's fully managed profile).
///
/// Evidence: Graph v1.0 `managedDevice` (relationship `deviceConfigurationStates`,
/// "Device configuration states for this device") and the `deviceConfigurationState`
/// resource (properties `id`, `displayName`, `version`, `platformType`, `state` of
/// type `complianceStatus`, `settingCount`, `settingStates`). The permission is the
/// managed device's (`DeviceManagementManagedDevices.Read.All`), as for the device
/// itself; an unknown device is Graph's 404. The `id` of a state is not documented:
/// the simulator's is the profile's id and the device's joined by `_`, which clients
/// must not parse.
pub(super) fn configuration_states(ctx: &Ctx<'_>, device_id: &str) -> Response {
    if let Some(refusal) = refused(ctx) {
        return refusal;
    }
    let found = ctx.s.with_world(|w| {
        let now = w.now();
        let now_utc = w.now_utc();
        let device = w
            .devices
            .iter()
            .find(|d| d.guid.eq_ignore_ascii_case(device_id))?;
        let graph = managed_device(w.seed, device, last_sync(w, device, now, now_utc));
        Some((graph, w.evidence.profiles.clone()))
    });
    let Some((device, profiles)) = found else {
        return ctx.not_found(device_id);
    };
    let os = device["operatingSystem"].as_str().unwrap_or_default();
    let personal = device["managedDeviceOwnerType"] == "personal";
    let states: Vec<Value> = profiles
        .iter()
        .filter_map(|p| {
            let platform = match os {
                "Windows" if p.kind.starts_with("windows") => "windows10AndLater",
                "iOS" if p.kind.starts_with("ios") => "iOS",
                "macOS" if p.kind.starts_with("macOS") => "macOS",
                "Android" if personal && p.kind.starts_with("androidWorkProfile") => {
                    "androidWorkProfile"
                }
                "Android" if !personal && p.kind.starts_with("androidDeviceOwner") => "android",
                _ => return None,
            };
            Some(json!({
                "@odata.type": "#microsoft.graph.deviceConfigurationState",
                "id": format!("{}_{}", p.id, device["id"].as_str().unwrap_or_default()),
                "displayName": p.display_name,
                "version": 1,
                "platformType": platform,
                "state": "compliant",
                "settingCount": 1,
                "settingStates": [],
            }))
        })
        .collect();
    let origin = &ctx.s.urls.graph_origin;
    axum::Json(json!({
        "@odata.context": format!(
            "{origin}/v1.0/$metadata#deviceManagement/managedDevices('{device_id}')/deviceConfigurationStates"
        ),
        "value": states,
    }))
    .into_response()
}

/// Intune's throttle of managed-device reads, as the answer it gives when it applies.
fn throttle(ctx: &Ctx<'_>) -> Option<Response> {
    // Intune's throttle: 2,000 requests per 20 seconds per application per tenant
    // (Microsoft Graph's Intune service limits); the 429 comes sometimes without
    // `Retry-After` (every other one here), which the client must back off from on
    // its own.
    let throttled = ctx.s.with_world(|w| {
        let now = w.now();
        let (limit, window) = w.device_read_limit;
        while w
            .device_reads
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            w.device_reads.pop_front();
        }
        if w.device_reads.len() >= limit {
            w.device_reads_throttled += 1;
            Some(w.device_reads_throttled % 2 == 1)
        } else {
            w.device_reads.push_back(now);
            None
        }
    });
    if let Some(with_retry_after) = throttled {
        let mut r = ctx.error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please try again later.",
        );
        if with_retry_after {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        return Some(r);
    }
    None
}

/// `lastSyncDateTime ge 2026-12-01T00:00:00Z` → the time; anything else → `None`.
fn since_filter(filter: &str) -> Option<time::OffsetDateTime> {
    let (field, rest) = filter.trim().split_once(" ge ")?;
    if field.trim() != "lastSyncDateTime" {
        return None;
    }
    time::OffsetDateTime::parse(rest.trim(), &time::format_description::well_known::Rfc3339).ok()
}

/// The device's last check-in at or before now, as a date: its check-in cycle on the
/// simulated clock (a device whose first check-in is still ahead last checked in one
/// cycle before it).
fn last_sync(
    w: &World,
    d: &Device,
    now: std::time::Instant,
    now_utc: time::OffsetDateTime,
) -> time::OffsetDateTime {
    let next = d.next_check_in(w.started, now);
    let cycle = if next == now {
        now
    } else {
        next.checked_sub(CHECK_IN_EVERY).unwrap_or(now)
    };
    // A mutation is a check-in of its own; a silent device's last is before it fell
    // silent.
    let mut last = d.changed_at.map_or(cycle, |c| c.max(cycle).min(now));
    if let Some(silent) = d.silent_from {
        while last > silent {
            match last.checked_sub(CHECK_IN_EVERY) {
                Some(earlier) => last = earlier,
                None => break,
            }
        }
    }
    let ago = now.saturating_duration_since(last);
    now_utc - ago
}

/// The device as Graph's `managedDevice` (the properties a sync reads).
fn managed_device(seed: u64, d: &Device, synced: time::OffsetDateTime) -> Value {
    let mut r = Rng::keyed(seed, &["managed-device", &d.guid]);
    // What `POST /devices/mutate` changes: each revision flips encryption and moves the
    // operating system's version.
    let revision = d.revision;
    let (os, versions, makers): (&str, &[&str], &[(&str, &str)]) = match r.next_u64() % 4 {
        0 => (
            "iOS",
            &["17.6.1", "18.1"],
            &[("Apple", "iPhone 15"), ("Apple", "iPad Air")],
        ),
        1 => (
            "Android",
            &["14", "15"],
            &[("samsung", "SM-S921B"), ("Google", "Pixel 8")],
        ),
        2 => (
            "macOS",
            &["14.6.1", "15.1"],
            &[("Apple", "MacBookPro18,1"), ("Apple", "MacBookAir10,1")],
        ),
        _ => (
            "Windows",
            &["10.0.22631.4460", "10.0.26100.2314"],
            &[("Dell Inc.", "Latitude 7440"), ("LENOVO", "21HD")],
        ),
    };
    let pick = |r: &mut Rng, n: usize| usize::try_from(r.next_u64() % (n as u64)).unwrap_or(0);
    let version = versions[(pick(&mut r, versions.len()) + revision as usize) % versions.len()];
    let (manufacturer, model) = makers[pick(&mut r, makers.len())];
    let personal = r.next_u64().is_multiple_of(5);
    let encrypted = !r.next_u64().is_multiple_of(10) ^ (revision % 2 == 1);
    let jailbroken = match (os, r.next_u64() % 50) {
        ("iOS" | "Android", 0) => "True",
        ("iOS" | "Android", _) => "False",
        _ => "Unknown",
    };
    let compliance = match (d.registered, d.compliant) {
        (false, _) => "unknown",
        (true, true) => "compliant",
        (true, false) => "noncompliant",
    };
    // Ethernet on laptops and desktops only, with a MAC of its own.
    let ethernet = matches!(os, "Windows" | "macOS")
        .then(|| format!("00155D{:06X}", r.next_u64() & 0x00FF_FFFF));
    let serial = format!("SIM{:09}", r.next_u64() % 1_000_000_000);
    json!({
        "id": d.guid,
        "deviceName": format!("{}-{}", os.to_ascii_uppercase(), &serial[3..9]),
        "managedDeviceOwnerType": if personal { "personal" } else { "company" },
        "operatingSystem": os,
        "osVersion": version,
        "lastSyncDateTime": crate::state::iso(synced),
        "complianceState": compliance,
        "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
        "jailBroken": jailbroken,
        "isEncrypted": encrypted,
        "azureADDeviceId": r.uuid(),
        "model": model,
        "manufacturer": manufacturer,
        "serialNumber": serial,
        "wiFiMacAddress": d.mac,
        "ethernetMacAddress": ethernet,
        "managementAgent": "mdm",
    })
}
