//! The Intune compliance service as ISE uses it: `ciscoise/mdminfo` and `cisco/devices`
//! of the v3 Compliance Retrieval API in the real XML shape (captured from the live
//! service: default namespace, `<guid>`, `<Attributes>`, `<Compliance>`), ISE's queries
//! (the non-compliant poll, one device by GUID or MAC), paging by `query_max_size`, and
//! the retired v2 NAC service answering as retired. Tokens need the Intune API audience
//! and the `get_device_compliance` role.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::Shared;
use crate::state::{Audience, Device};

/// The v3 answers' default namespace.
const NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/Microsoft.Intune.ResourceAccess.ComplianceRetrievalService.Model";
/// Devices per page (`query_max_size`).
const PAGE: usize = 100;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// Query criteria that name one device: never throttled.
const DEVICE_SPECIFIC: [&str; 6] = ["guid", "macaddress", "udid", "imei", "meid", "serialnumber"];

/// How long after a throttle window opens unfiltered queries are answered.
const ANSWERED_FOR: Duration = Duration::from_secs(60 * 60);

/// How long a throttle window lasts.
const WINDOW: Duration = Duration::from_secs(4 * 60 * 60);

/// Intune's throttle of broad, unfiltered compliance queries. Microsoft Learn,
/// "503 errors that NAC partners receive from Intune" (troubleshoot/mem/intune/general/
/// nac-integration-errors): "Device specific calls … NAC solutions are allowed to make
/// as many device-specific calls as necessary. These calls will never result in 503
/// errors. … unfiltered queries are made only once every four hours. Queries made more
/// frequently will return HTTP 503 errors. The four-hour throttle window starts after
/// the first unfiltered call to Intune (and after the previous throttle has expired, if
/// this isn't the first call). Unfiltered compliance calls can be repeated for the first
/// 60 minutes without throttling. After the 60-minute interval has passed, it is
/// followed by three hours" of 503s. The page keys the window by NAC partner; the
/// simulator keys it by tenant and calling application, or by tenant alone
/// (`intune_throttle_per_tenant`). The 503's body text is the simulator's (Microsoft
/// documents the status, not the text), and it carries no `Retry-After`: the page names
/// none.
fn throttle(w: &mut crate::state::World, client_id: &str) -> Result<(), Response> {
    let key = if w.throttle_per_tenant {
        w.tenant_id.clone()
    } else {
        format!("{}/{client_id}", w.tenant_id)
    };
    let now = w.now();
    let opened = match w.throttle_windows.get(&key) {
        Some(opened) if now.saturating_duration_since(*opened) < WINDOW => *opened,
        _ => {
            w.throttle_windows.insert(key, now);
            now
        }
    };
    if now.saturating_duration_since(opened) < ANSWERED_FOR {
        *w.unfiltered_queries
            .entry(client_id.to_owned())
            .or_default() += 1;
        return Ok(());
    }
    *w.throttled.entry(client_id.to_owned()).or_default() += 1;
    Err(xml(
        StatusCode::SERVICE_UNAVAILABLE,
        "<error><message>Service Unavailable: unfiltered compliance queries are throttled \
         until the four-hour window that opened with the first of them ends; device-specific \
         queries are not.</message></error>"
            .into(),
    ))
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("Content-Type", "application/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>{body}"),
    )
        .into_response()
}

fn ise_api(inner: &str) -> String {
    format!(
        "<ise_api xmlns=\"{NAMESPACE}\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">{inner}</ise_api>"
    )
}

fn device_xml(d: &Device) -> String {
    format!(
        "<device><guid>{g}</guid><Attributes><guid>{g}</guid><macaddress>{m}</macaddress>\
         <register_status>{r}</register_status><Compliance><status>{c}</status></Compliance>\
         </Attributes></device>",
        g = d.guid,
        m = d.mac,
        r = d.registered,
        c = d.compliant
    )
}

async fn dispatch(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let base = path
        .strip_suffix("/ciscoise/mdminfo")
        .or_else(|| path.strip_suffix("/cisco/devices"));
    let Some(base) = base.filter(|b| b.starts_with("/TrafficGateway/TrafficRoutingService/"))
    else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let token = crate::login::bearer(&s, &headers);
    let Some(token) = token else {
        return xml(StatusCode::UNAUTHORIZED, "<error><message>Unauthorized: the access token is missing, invalid or expired.</message></error>".into());
    };
    if token.audience != Audience::Intune {
        return xml(StatusCode::UNAUTHORIZED, "<error><message>Unauthorized: the access token audience is not the Intune API.</message></error>".into());
    }
    if !token.roles.iter().any(|r| r == "get_device_compliance") {
        return xml(StatusCode::FORBIDDEN, "<error><message>Forbidden: the application lacks the get_device_compliance permission (admin consent).</message></error>".into());
    }
    if !base.ends_with("/ComplianceRetrievalService") {
        // Microsoft ended the NAC (v2) service on 2024-03-31 ("Network access control
        // integration with Intune"); the wording of its answer is the simulator's.
        return xml(
            StatusCode::GONE,
            "<error><message>The Intune NAC service has been retired: use the Compliance Retrieval API (ISE 3.1 patch 8, 3.2 patch 4, 3.3 or later).</message></error>".into(),
        );
    }
    if path.ends_with("/ciscoise/mdminfo") {
        if q.get("ise_api_version").map(String::as_str) != Some("3") {
            return xml(
                StatusCode::BAD_REQUEST,
                "<error><message>Unsupported ise_api_version: the Compliance Retrieval API is version 3.</message></error>".into(),
            );
        }
        return xml(
            StatusCode::OK,
            ise_api(&format!(
                "<name>mdminfo</name><api_version>3</api_version><api_path>{base}/cisco</api_path>\
                 <redirect_url>https://portal.manage.microsoft.com/networkaccesscontrol/index</redirect_url>\
                 <query_max_size>{PAGE}</query_max_size><messaging_support>false</messaging_support>\
                 <vendor>Microsoft</vendor><product_name>Microsoft Intune</product_name>\
                 <product_version>5.0</product_version>"
            )),
        );
    }
    let criteria = q.get("querycriteria").map(String::as_str).unwrap_or("");
    if !DEVICE_SPECIFIC.contains(&criteria)
        && let Err(refused) = s.with_world(|w| throttle(w, &token.client_id))
    {
        return refused;
    }
    let value = q.get("value").cloned().unwrap_or_default();
    let page: usize = match q.get("paging").map(|p| p.parse::<usize>()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            return xml(
                StatusCode::BAD_REQUEST,
                "<error><message>Invalid paging value.</message></error>".into(),
            );
        }
    };
    let mac = value.to_ascii_uppercase().replace([':', '-', '.'], "");
    let selected: Vec<Device> = s.with_world(|w| {
        w.settle_devices();
        w.devices
            .iter()
            .filter(|d| match criteria {
                "guid" => d.guid.eq_ignore_ascii_case(&value),
                "macaddress" => d.mac == mac,
                "compliance" => value.parse::<bool>().is_ok_and(|v| d.compliant == v),
                _ => true,
            })
            .cloned()
            .collect()
    });
    page_answer(&selected, page)
}

/// Page `page` of `selected`: `paging` names the page; `paging_info` the next one, 0
/// after the last.
fn page_answer(selected: &[Device], page: usize) -> Response {
    let start = page.saturating_mul(PAGE);
    let devices: String = selected
        .iter()
        .skip(start)
        .take(PAGE)
        .map(device_xml)
        .collect();
    let next = if start.saturating_add(PAGE) < selected.len() {
        page + 1
    } else {
        0
    };
    xml(
        StatusCode::OK,
        ise_api(&format!(
            "<name>attributes</name><api_version>3</api_version><paging_info>{next}</paging_info><deviceList>{devices}</deviceList>"
        )),
    )
}
