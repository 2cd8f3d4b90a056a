//! The fake ISE: OpenAPI certificate and deployment endpoints, ERS version and
//! deployment info, Basic auth, optional ERS CSRF, and the GUI control surface for
//! External MDM servers (which real ISE exposes in no API).

use crate::state::IseRole;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Shared;
use crate::state::{MdmServer, TrustedCert, ise_date};

mod certs;
mod endpoints;
mod gui;

use certs::*;
use gui::*;

/// Subject and issuer of a DER certificate, as ISE lists them.
pub(crate) fn names_of(der: &[u8]) -> (String, String) {
    crate::der::summary(der)
        .map(|s| (s.subject, s.issuer))
        .unwrap_or_default()
}

/// The first certificate of a PEM text, as DER.
pub(crate) fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|c| c.to_vec())
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/deployment/node", get(nodes))
        .route("/api/v1/deployment/node/{hostname}", get(node))
        .route("/api/v1/patch", get(patch))
        .route("/ers/config/op/systemconfig/iseversion", get(ers_version))
        .route(
            "/ers/config/deploymentinfo/getAllInfo",
            get(deployment_info),
        )
        .route(
            "/api/v1/certs/system-certificate/export",
            post(export_system),
        )
        .route("/api/v1/certs/system-certificate/{host}", get(list_system))
        .route(
            "/api/v1/certs/system-certificate/{host}/{id}",
            get(get_system),
        )
        .route("/api/v1/certs/trusted-certificate", get(list_trusted))
        .route(
            "/api/v1/certs/trusted-certificate/import",
            post(import_trusted),
        )
        .route(
            "/api/v1/certs/trusted-certificate/{id}",
            get(get_trusted).put(update_trusted).delete(delete_trusted),
        )
        .route(
            "/api/v1/certs/trusted-certificate/export/{id}",
            get(export_trusted),
        )
        .route(
            "/api/v1/endpoint-custom-attribute",
            get(endpoints::list_definitions).post(endpoints::define),
        )
        .route(
            "/api/v1/endpoint-custom-attribute/{name}",
            axum::routing::delete(endpoints::undefine),
        )
        .route("/api/v1/endpoint", get(endpoints::list))
        .route(
            "/admin/API/mnt/Session/MACAddress/{mac}",
            get(endpoints::session),
        )
        .route(
            "/admin/API/mnt/CoA/Reauth/{server}/{mac}/{kind}",
            get(endpoints::reauth),
        )
        .route(
            "/api/v1/endpoint/bulk",
            axum::routing::put(endpoints::bulk).post(endpoints::bulk),
        )
        .route(crate::GUI_BASE_PATH, get(gui_list).post(gui_create))
        .route(
            "/sim-gui/external-mdm/{name}",
            get(gui_get).put(gui_edit).delete(gui_delete),
        )
        .route("/sim-gui/external-mdm/{name}/test", post(gui_test))
        .route("/sim-gui/external-mdm/{name}/enable", post(gui_enable))
        .route("/sim-gui/external-mdm/{name}/disable", post(gui_disable))
        .merge(crate::policy::routes())
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

fn fail(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"response": {"status": "Fail", "message": message, "id": null}, "version": "1.0.0"})),
    )
        .into_response()
}

fn ers_error(status: StatusCode, operation: &str, title: &str, code: &str) -> Response {
    (
        status,
        Json(json!({"ERSResponse": {"operation": operation, "messages": [
            {"title": title, "type": "ERROR", "code": code}], "link": {"rel": "related", "href": "", "type": "application/xml"}}})),
    )
        .into_response()
}

/// Basic auth, media types and ERS CSRF for every request.
async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", s.ise_username, s.ise_password))
    );
    let auth_ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !auth_ok {
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Basic realm=\"Cisco ISE\"")],
            "",
        )
            .into_response();
    }
    let path = req.uri().path().to_owned();
    let is_ers = path.starts_with("/ers/");
    if let Some(refused) = role_refusal(s.with_world(|w| w.ise_role), req.method(), &path) {
        return refused;
    }
    if is_ers {
        let accept = req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !(accept.contains("application/json") || accept.contains("application/xml")) {
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
        }
        if s.with_world(|w| w.csrf_enabled) {
            let sent = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if req.method() == Method::GET && sent.as_deref() == Some("fetch") {
                let token = s.with_world(|w| {
                    let t = w.rng.token(32);
                    w.csrf_token = Some(t.clone());
                    t
                });
                let mut resp = next.run(req).await;
                if let Ok(v) = token.parse() {
                    resp.headers_mut().insert("X-CSRF-Token", v);
                }
                return resp;
            }
            if req.method() != Method::GET {
                let current = s.with_world(|w| w.csrf_token.clone());
                if current.is_none() || sent != current {
                    return ers_error(
                        StatusCode::FORBIDDEN,
                        &format!("{}-{}", req.method(), path),
                        "CSRF nonce validation failed",
                        "Application resource validation exception",
                    );
                }
            }
        }
    }
    next.run(req).await
}

/// What ISE answers an authenticated request its account's role does not allow, or
/// nothing. The simulated GUI (`/sim-gui/`) stands for a person's session, not the
/// API account, and is not limited.
fn role_refusal(role: IseRole, method: &Method, path: &str) -> Option<Response> {
    if path.starts_with("/sim-gui/") {
        return None;
    }
    match role {
        IseRole::SuperAdmin | IseRole::ErsAdmin => None,
        IseRole::NoApiAccess => Some(
            (
                StatusCode::UNAUTHORIZED,
                [("WWW-Authenticate", "Basic realm=\"Cisco ISE\"")],
                "",
            )
                .into_response(),
        ),
        IseRole::ErsOperator if method == Method::GET => None,
        IseRole::ErsOperator if path.starts_with("/ers/") => Some(ers_error(
            StatusCode::FORBIDDEN,
            &format!("{method}-{path}"),
            "The user is not authorized to perform this operation: ERS Operator is read-only",
            "Unauthorized operation",
        )),
        IseRole::ErsOperator => Some(
            (
                StatusCode::FORBIDDEN,
                Json(json!({"message": "Access denied: the administrator's role allows read operations only", "status": "403"})),
            )
                .into_response(),
        ),
    }
}

fn node_json(n: &crate::state::IseNode) -> Value {
    json!({"hostname": n.hostname, "fqdn": n.fqdn, "ipAddress": "127.0.0.1",
        "roles": n.roles, "services": n.services, "nodeStatus": "Connected"})
}

async fn nodes(State(s): State<Arc<Shared>>) -> Response {
    let nodes = s.with_world(|w| w.nodes.clone());
    let items: Vec<Value> = nodes.iter().map(node_json).collect();
    Json(json!({"response": items, "version": "1.0.0"})).into_response()
}

/// `GET /api/v1/deployment/node/{hostname}`: one node as `DeploymentNodeResponse`
/// (`{response: DeploymentNode, version}`), or 404 with `ErrorResponse`
/// (`{error: {message}, version}`) — cisco-ise-open-api-deployment.yaml, getNodeDetails.
async fn node(State(s): State<Arc<Shared>>, Path(hostname): Path<String>) -> Response {
    let found = s.with_world(|w| {
        w.nodes
            .iter()
            .find(|n| n.hostname.eq_ignore_ascii_case(&hostname))
            .cloned()
    });
    match found {
        Some(n) => Json(json!({"response": node_json(&n), "version": "1.0.0"})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"message": format!("No deployment node found: {hostname}")},
                "version": "1.0.0"}),
            ),
        )
            .into_response(),
    }
}

async fn patch(State(s): State<Arc<Shared>>) -> Response {
    let (v, p) = s.with_world(|w| (w.ise_version.clone(), w.ise_patch));
    Json(
        json!({"iseVersion": v, "patchVersion": (1..=p).map(|n| json!({
        "patchNumber": n, "installDate": "2026-01-10 10:00:00"})).collect::<Vec<_>>()}),
    )
    .into_response()
}

async fn ers_version(State(s): State<Arc<Shared>>) -> Response {
    let (v, p) = s.with_world(|w| (w.ise_version.clone(), w.ise_patch));
    Json(json!({"OperationResult": {"resultValue": [
        {"value": v, "name": "version"},
        {"value": p.to_string(), "name": "patch information"}]}}))
    .into_response()
}

async fn deployment_info(State(s): State<Arc<Shared>>) -> Response {
    let (enabled, deployment) = s.with_world(|w| {
        (
            w.mdm_servers
                .values()
                .filter(|m| m.status == "Enabled")
                .count(),
            w.tenant_id.clone(),
        )
    });
    Json(json!({"ERSDeploymentInfo": {
        "networkAccessInfo": {"deploymentID": deployment},
        "mdmInfo": {"activeMdmServersCount": enabled, "activeDesktopMdmServersCount": 0,
                    "activeMobileMdmServersCount": enabled, "deploymentID": deployment,
                    "nodeList": {"nodeAndScope": []}}}}))
    .into_response()
}

/// A listing's `page` (from 1) and `size` (1 to 100, default 20), or ISE's refusal.
fn page_and_size(q: &HashMap<String, String>) -> Result<(usize, usize), Response> {
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size: usize = q.get("size").and_then(|p| p.parse().ok()).unwrap_or(20);
    if !(1..=100).contains(&size) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Page size should be between 1 and 100",
        ));
    }
    Ok((page, size))
}

/// `page`/`size` paging with ISE's envelope.
fn paged(items: Vec<Value>, q: &HashMap<String, String>, base: &str) -> Response {
    let (page, size) = match page_and_size(q) {
        Ok(ps) => ps,
        Err(refused) => return refused,
    };
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let mut body = json!({"response": value, "version": "1.0.0"});
    if page * size < total {
        body["nextPage"] = json!({"rel": "next", "href": format!("{base}?page={}&size={size}", page + 1), "type": "application/json"});
    }
    if page > 1 {
        body["previousPage"] = json!({"rel": "previous", "href": format!("{base}?page={}&size={size}", page - 1), "type": "application/json"});
    }
    Json(body).into_response()
}

/// ISE's `field.OP.value` filters, on the JSON item.
fn matches_filters(item: &Value, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        let mut parts = f.splitn(3, '.');
        let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let actual = item.get(field).and_then(Value::as_str).unwrap_or_default();
        match op.to_ascii_uppercase().as_str() {
            "EQ" => actual == value,
            "NEQ" => actual != value,
            "CONTAINS" => actual.contains(value),
            "STARTSW" => actual.starts_with(value),
            "ENDSW" => actual.ends_with(value),
            _ => false,
        }
    })
}

fn filters_of(uri_query: Option<&str>) -> Vec<String> {
    url::form_urlencoded::parse(uri_query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| v.into_owned())
        .collect()
}
