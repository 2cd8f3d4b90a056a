//! The Intune compliance service: `ciscoise/mdminfo` and `cisco/devices` answering ISE's
//! XML, for tokens with the Intune API audience and the `get_device_compliance` role.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::Shared;
use crate::state::Audience;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// Seeded devices: (MAC, registered, compliant).
const DEVICES: &[(&str, bool, bool)] = &[
    ("AA:BB:CC:00:00:01", true, true),
    ("AA:BB:CC:00:00:02", true, false),
    ("AA:BB:CC:00:00:03", false, false),
];

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("Content-Type", "application/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>{body}"),
    )
        .into_response()
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
    let v3 = base.ends_with("ComplianceRetrievalService");
    if path.ends_with("/ciscoise/mdminfo") {
        let version = q.get("ise_api_version").map(String::as_str).unwrap_or("2");
        return xml(
            StatusCode::OK,
            format!(
                "<ise_api><name>mdminfo</name><api_version>{}</api_version><api_path>{base}/cisco</api_path>\
                 <redirect_url>https://portal.manage.microsoft.com/networkaccesscontrol/index</redirect_url>\
                 <query_max_size>100</query_max_size><messaging_support>false</messaging_support>\
                 <vendor>Microsoft</vendor><product_name>Microsoft Intune</product_name>\
                 <product_version>5.0</product_version></ise_api>",
                if v3 && version == "3" { "3" } else { "2" }
            ),
        );
    }
    let criteria = q.get("querycriteria").map(String::as_str).unwrap_or("");
    let value = q
        .get("value")
        .cloned()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let devices: String = DEVICES
        .iter()
        .filter(|(mac, _, _)| criteria != "macaddress" || mac.replace(':', "") == value.replace([':', '-'], ""))
        .map(|(mac, reg, comp)| {
            format!(
                "<device><macaddress>{}</macaddress><attributes><register_status>{reg}</register_status>\
                 <compliance><status>{comp}</status></compliance></attributes></device>",
                mac.replace(':', "")
            )
        })
        .collect();
    xml(
        StatusCode::OK,
        format!(
            "<ise_api><name>attributes</name><api_version>{}</api_version><paging_info>0</paging_info><deviceList>{devices}</deviceList></ise_api>",
            if v3 { 3 } else { 2 }
        ),
    )
}
