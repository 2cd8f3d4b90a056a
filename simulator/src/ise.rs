//! The fake ISE: OpenAPI certificate and deployment endpoints, ERS version and
//! deployment info, Basic auth, optional ERS CSRF, and the GUI control surface for
//! External MDM servers (which real ISE exposes in no API).

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

/// The admin groups an ISE account used by the API can be in, as far as the API
/// tells them apart.
///
/// Evidence: Cisco's ERS "Setting up" page (developer.cisco.com, identity-services-engine
/// 3.0 and latest): "the users must be assigned to one of the following Admin Groups …
/// External RESTful Services Admin: Full access to all ERS APIs (GET, POST, DELETE,
/// PUT) … External RESTful Services Operator: Read Only access (GET request only). If
/// you do not have the required permissions … an error response is received"; Super
/// Admin reaches every API service. An account in none of them is answered as one with
/// a wrong password (401 and the same challenge: ISE's Basic authentication for the API
/// only admits the API groups); an ERS Operator's write is refused with 403 in the
/// answering family's error shape (ERS: `ERSResponse`; Open API: the `Error` schema of
/// cisco-ise-open-api-certificates.yaml, `{message, status}`). The exact message texts
/// were not captured from a real ISE; the statuses and shapes are what the library
/// relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IseRole {
    /// Super Admin: every API, every method (the default, like ISE's `admin`).
    #[default]
    SuperAdmin,
    /// ERS Admin: every API, every method.
    ErsAdmin,
    /// ERS Operator: GET only; every write answers 403.
    ErsOperator,
    /// An admin group the API does not admit (e.g. Network Device Admin): 401.
    NoApiAccess,
}

impl IseRole {
    /// Its name on the command line: `super-admin`, `ers-admin`, `ers-operator`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super-admin",
            Self::ErsAdmin => "ers-admin",
            Self::ErsOperator => "ers-operator",
            Self::NoApiAccess => "none",
        }
    }
}

impl std::str::FromStr for IseRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::SuperAdmin,
            Self::ErsAdmin,
            Self::ErsOperator,
            Self::NoApiAccess,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("unknown ISE role `{s}` (known: super-admin, ers-admin, ers-operator, none)")
        })
    }
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

/// `page`/`size` paging with ISE's envelope.
fn paged(items: Vec<Value>, q: &HashMap<String, String>, base: &str) -> Response {
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size: usize = q.get("size").and_then(|p| p.parse().ok()).unwrap_or(20);
    if !(1..=100).contains(&size) {
        return fail(
            StatusCode::BAD_REQUEST,
            "Page size should be between 1 and 100",
        );
    }
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

fn system_json(s: &Shared, c: &crate::state::SystemCert) -> Value {
    // ISE shows the certificate's own subject and issuer common names (ISE OpenAPI
    // `GET /api/v1/certs/system-certificate/{hostName}`: `issuedTo`, `issuedBy`, and a
    // `link.href` under that host): each node's self-signed certificate is issued to
    // and by that node's FQDN (or the wildcard).
    let summary = crate::der::summary(&c.issued.cert_der);
    let issued_to = summary
        .as_ref()
        .map(|x| x.common_name.clone())
        .unwrap_or_default();
    let issued_by = summary
        .as_ref()
        .map(|x| {
            x.issuer
                .split(',')
                .find_map(|p| p.trim().strip_prefix("CN="))
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    json!({
        "id": c.id, "friendlyName": c.friendly_name,
        "issuedTo": issued_to, "issuedBy": issued_by,
        "validFrom": ise_date(c.not_before), "expirationDate": ise_date(c.not_after),
        "keySize": if c.ecdsa { 256 } else { 2048 }, "selfSigned": c.self_signed,
        "sha256Fingerprint": crate::pki::hex(&crate::pki::sha256(&c.issued.cert_der)).to_ascii_lowercase(),
        "signatureAlgorithm": if c.ecdsa { "SHA256withECDSA" } else { "SHA256withRSA" }, "usedBy": c.used_by,
        "serialNumberDecimalFormat": c.serial_decimal,
        "groupTag": "Default Portal Certificate Group", "portalsUsingTheTag": "BYOD Portal (default)",
        "link": {"rel": "self", "href": format!("{}/api/v1/certs/system-certificate/{}/{}", s.urls.ise, c.host, c.id), "type": "application/json"},
    })
}

async fn list_system(
    State(s): State<Arc<Shared>>,
    Path(host): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let known = s.with_world(|w| w.nodes.iter().any(|n| n.hostname == host));
    if !known {
        return fail(
            StatusCode::NOT_FOUND,
            &format!("Node {host} not found in the deployment"),
        );
    }
    let filters = filters_of(uri.query());
    let certs: Vec<_> = s.with_world(|w| {
        w.system_certs
            .iter()
            .filter(|c| c.host == host)
            .cloned()
            .collect()
    });
    let items = certs
        .iter()
        .map(|c| system_json(&s, c))
        .filter(|v| matches_filters(v, &filters))
        .collect();
    paged(items, &q, &format!("{}{}", s.urls.ise, uri.path()))
}

async fn get_system(
    State(s): State<Arc<Shared>>,
    Path((host, id)): Path<(String, String)>,
) -> Response {
    let found = s.with_world(|w| {
        w.system_certs
            .iter()
            .find(|c| c.host == host && c.id == id)
            .cloned()
    });
    match found {
        Some(c) => {
            Json(json!({"response": system_json(&s, &c), "version": "1.0.0"})).into_response()
        }
        None => fail(StatusCode::NOT_FOUND, "Certificate not found"),
    }
}

fn zip_of(entries: &[(String, String)]) -> Option<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .ok()?;
        w.write_all(text.as_bytes()).ok()?;
    }
    Some(w.finish().ok()?.into_inner())
}

async fn export_system(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON in the request body");
    };
    let field = |n: &str| body.get(n).and_then(Value::as_str).map(str::to_owned);
    let (needs_host, hostname) = s.with_world(|w| {
        let v = w
            .ise_version
            .split('.')
            .take(2)
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>();
        (
            v.first().copied().unwrap_or(0) > 3
                || (v.first() == Some(&3) && v.get(1).copied().unwrap_or(0) >= 2),
            w.ise_hostname.clone(),
        )
    });
    let host = field("hostName");
    if host.is_none() && needs_host {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "Fail", "message": "HostName should not be null"})),
        )
            .into_response();
    }
    // Before 3.2 the export without hostName means the node answering: the primary.
    let hostname = host.clone().unwrap_or(hostname);
    if !s.with_world(|w| w.nodes.iter().any(|n| n.hostname == hostname)) {
        return fail(StatusCode::NOT_FOUND, "Node not found in the deployment");
    }
    let Some(id) = field("id") else {
        return fail(StatusCode::BAD_REQUEST, "Certificate id should not be null");
    };
    let Some(cert) = s.with_world(|w| {
        w.system_certs
            .iter()
            .find(|c| c.host == hostname && c.id == id)
            .cloned()
    }) else {
        return fail(StatusCode::NOT_FOUND, "Certificate not found");
    };
    let base = format!("{}_{}", hostname, cert.friendly_name.replace(' ', ""))
        .chars()
        .take(40)
        .collect::<String>();
    let mut entries = vec![(format!("{base}.pem"), cert.issued.cert_pem.clone())];
    match field("export").as_deref() {
        Some("CERTIFICATE") => {}
        Some("CERTIFICATE_WITH_PRIVATE_KEY") => {
            let password = field("password").unwrap_or_default();
            if !(8..=100).contains(&password.len())
                || !password.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Password must be 8 to 100 alphanumeric characters",
                );
            }
            match crate::keywrap::encrypt_pkcs8(&cert.issued.key_pkcs8, password.as_bytes(), &s) {
                Some(pem) => {
                    s.with_world(|w| {
                        w.private_key_exports = w.private_key_exports.saturating_add(1)
                    });
                    entries.push((format!("{base}.pvk"), pem));
                }
                None => {
                    return fail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Failed to export the private key",
                    );
                }
            }
        }
        _ => {
            return fail(
                StatusCode::BAD_REQUEST,
                "export should be CERTIFICATE or CERTIFICATE_WITH_PRIVATE_KEY",
            );
        }
    }
    match zip_of(&entries) {
        Some(zip) => (
            StatusCode::OK,
            [
                ("Content-Type", "application/octet-stream"),
                (
                    "Content-Disposition",
                    "attachment; filename=\"SystemCertificate.zip\"",
                ),
            ],
            zip,
        )
            .into_response(),
        None => fail(StatusCode::INTERNAL_SERVER_ERROR, "Export failed"),
    }
}

fn trusted_json(s: &Shared, t: &TrustedCert) -> Value {
    let summary = crate::der::summary(&t.der);
    let mut trusted_for = Vec::new();
    if t.trust_ise_auth {
        trusted_for.push("Infrastructure");
    }
    if t.trust_client_auth {
        trusted_for.push("Endpoints");
    }
    if t.trust_admin_auth {
        trusted_for.push("AdminAuth");
    }
    if t.trust_cisco_services {
        trusted_for.push("Cisco Services");
    }
    json!({
        "id": t.id, "friendlyName": t.friendly_name, "subject": t.subject,
        "issuedTo": summary.as_ref().map(|x| x.common_name.clone()).unwrap_or_default(),
        "issuedBy": t.issuer.split(',').next().unwrap_or_default().trim_start_matches("CN="),
        "validFrom": t.not_before, "expirationDate": t.not_after,
        "sha256Fingerprint": crate::pki::hex(&crate::pki::sha256(&t.der)).to_ascii_lowercase(),
        "status": if t.enabled { "Enabled" } else { "Disabled" },
        "trustedFor": trusted_for.join(","), "description": t.description,
        "internalCA": false, "keySize": "2048", "signatureAlgorithm": "SHA256withRSA",
        "serialNumberDecimalFormat": summary.map(|x| x.serial.iter().fold(0u128, |a, b| a.wrapping_mul(256).wrapping_add(u128::from(*b))).to_string()).unwrap_or_default(),
        "enableOCSPValidation": "false", "downloadCRL": "false", "authenticateBeforeCRLReceived": "false",
        "automaticCRLUpdate": "false", "ignoreCRLExpiration": "false",
        "link": {"rel": "self", "href": format!("{}/api/v1/certs/trusted-certificate/{}", s.urls.ise, t.id), "type": "application/json"},
    })
}

async fn list_trusted(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let filters = filters_of(uri.query());
    let all = s.with_world(|w| w.trusted.clone());
    let items = all
        .iter()
        .map(|t| trusted_json(&s, t))
        .filter(|v| matches_filters(v, &filters))
        .collect();
    paged(items, &q, &format!("{}{}", s.urls.ise, uri.path()))
}

async fn get_trusted(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match s.with_world(|w| w.trusted.iter().find(|t| t.id == id).cloned()) {
        Some(t) => {
            Json(json!({"response": trusted_json(&s, &t), "version": "1.0.0"})).into_response()
        }
        None => fail(StatusCode::NOT_FOUND, "Certificate not found"),
    }
}

/// `PUT /api/v1/certs/trusted-certificate/{id}`: `name` required; `status`
/// (`Enabled`/`Disabled`), `description` and the trust flags, with the import's rules.
/// The answer's wording is not in Cisco's spec; it follows the import's.
async fn update_trusted(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON in the request body");
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .map(str::to_owned)
    else {
        return fail(StatusCode::BAD_REQUEST, "name is mandatory");
    };
    let description = body.get("description").and_then(Value::as_str);
    if name.contains('\'') || description.is_some_and(|d| d.contains('\'') || d.contains(',')) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Security Check Failed", "status": "400"})),
        )
            .into_response();
    }
    let flag = |n: &str| body.get(n).and_then(Value::as_bool);
    let result = s.with_world(|w| {
        if w.trusted.iter().any(|t| t.id != id && t.friendly_name == name) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("Trust certificate with the friendly name {name} already exists"),
            ));
        }
        let Some(t) = w.trusted.iter_mut().find(|t| t.id == id) else {
            return Err((StatusCode::NOT_FOUND, "Certificate not found".to_owned()));
        };
        let ise = flag("trustForIseAuth").unwrap_or(t.trust_ise_auth);
        let client = flag("trustForClientAuth").unwrap_or(t.trust_client_auth);
        let admin = flag("trustForCertificateBasedAdminAuth").unwrap_or(t.trust_admin_auth);
        if client && !ise {
            return Err((StatusCode::BAD_REQUEST, "Trust for client authentication and Syslog requires Trust for authentication within ISE".to_owned()));
        }
        if admin && !(ise && client) {
            return Err((StatusCode::BAD_REQUEST, "Trust for certificate based admin authentication requires Trust for authentication within ISE and Trust for client authentication and Syslog".to_owned()));
        }
        match body.get("status").and_then(Value::as_str) {
            Some("Enabled") => t.enabled = true,
            Some("Disabled") => t.enabled = false,
            Some(other) => {
                return Err((StatusCode::BAD_REQUEST, format!("Invalid status {other}: expected Enabled or Disabled")));
            }
            None => {}
        }
        t.friendly_name = name.clone();
        if let Some(d) = description {
            t.description = d.to_owned();
        }
        t.trust_ise_auth = ise;
        t.trust_client_auth = client;
        t.trust_admin_auth = admin;
        t.trust_cisco_services = flag("trustForCiscoServicesAuth").unwrap_or(t.trust_cisco_services);
        Ok(t.id.clone())
    });
    match result {
        Ok(id) => Json(json!({"response": {"id": id, "message": "Trust certificate was updated successfully"}, "version": "1.0.0"})).into_response(),
        Err((status, message)) => fail(status, &message),
    }
}

async fn delete_trusted(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let removed = s.with_world(|w| {
        let before = w.trusted.len();
        w.trusted.retain(|t| t.id != id);
        before != w.trusted.len()
    });
    if removed {
        Json(json!({"response": {"message": "Trust certificate deleted successfully"}, "version": "1.0.0"})).into_response()
    } else {
        fail(StatusCode::NOT_FOUND, "Certificate not found")
    }
}

async fn export_trusted(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match s.with_world(|w| w.trusted.iter().find(|t| t.id == id).cloned()) {
        Some(t) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&t.der);
            let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(chunk));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
            match zip_of(&[(format!("{}.pem", t.friendly_name.replace(' ', "_")), pem)]) {
                Some(zip) => ([("Content-Type", "application/octet-stream")], zip).into_response(),
                None => fail(StatusCode::INTERNAL_SERVER_ERROR, "Export failed"),
            }
        }
        None => fail(StatusCode::NOT_FOUND, "Certificate not found"),
    }
}

async fn import_trusted(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("application/json"))
    {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "Invalid JSON in the request body");
    };
    let text = |n: &str| {
        body.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let flag = |n: &str| body.get(n).and_then(Value::as_bool);
    let (name, description, data) = (text("name"), text("description"), text("data"));
    for required in [
        "allowBasicConstraintCAFalse",
        "allowOutOfDateCert",
        "allowSHA1Certificates",
    ] {
        if flag(required).is_none() {
            return fail(StatusCode::BAD_REQUEST, &format!("{required} is mandatory"));
        }
    }
    if data.is_empty() {
        return fail(StatusCode::BAD_REQUEST, "data is mandatory");
    }
    if name.contains('\'') || description.contains('\'') || description.contains(',') {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Security Check Failed", "status": "400"})),
        )
            .into_response();
    }
    let Some(der) = pem_to_der(&data) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Invalid certificate data: unable to parse the certificate",
        );
    };
    let Some(summary) = crate::der::summary(&der) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Invalid certificate data: unable to parse the certificate",
        );
    };
    if summary.subject.contains('\'') {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Security Check Failed", "status": "400"})),
        )
            .into_response();
    }
    let ise_auth = flag("trustForIseAuth").unwrap_or(false);
    let client_auth = flag("trustForClientAuth").unwrap_or(false);
    let admin_auth = flag("trustForCertificateBasedAdminAuth").unwrap_or(false);
    if client_auth && !ise_auth {
        return fail(
            StatusCode::BAD_REQUEST,
            "Trust for client authentication and Syslog requires Trust for authentication within ISE",
        );
    }
    if admin_auth && !(ise_auth && client_auth) {
        return fail(
            StatusCode::BAD_REQUEST,
            "Trust for certificate based admin authentication requires Trust for authentication within ISE and Trust for client authentication and Syslog",
        );
    }
    let now = time::OffsetDateTime::now_utc();
    if !flag("allowOutOfDateCert").unwrap_or(false)
        && (summary.not_after.is_some_and(|t| t < now)
            || summary.not_before.is_some_and(|t| t > now))
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "The certificate is expired or not yet valid",
        );
    }
    let result = s.with_world(|w| {
        let sha = crate::pki::sha256(&der);
        if w.trusted.iter().any(|t| crate::pki::sha256(&t.der) == sha) {
            return Err("Certificates are having same subject, same serial number and they are binary equal. Hence skipping the replace".to_owned());
        }
        if w.trusted.iter().any(|t| t.friendly_name == name) {
            return Err(format!("Trust certificate with the friendly name {name} already exists"));
        }
        // Keyed by the name, not the content: the simulator's own certificates are made
        // anew at each start, and a seed must replay.
        let id = w.id_rng("trustedCertificate", &name).uuid();
        w.trusted.push(TrustedCert {
            id: id.clone(),
            friendly_name: if name.is_empty() { summary.common_name.clone() } else { name.clone() },
            description: description.clone(),
            der: der.clone(),
            subject: summary.subject.clone(),
            issuer: summary.issuer.clone(),
            not_before: summary.not_before.map(ise_date).unwrap_or_default(),
            not_after: summary.not_after.map(ise_date).unwrap_or_default(),
            trust_ise_auth: ise_auth,
            trust_client_auth: client_auth,
            trust_admin_auth: admin_auth,
            trust_cisco_services: flag("trustForCiscoServicesAuth").unwrap_or(false),
            enabled: true,
        });
        Ok(id)
    });
    match result {
        Ok(id) => Json(
            json!({"response": {"id": id, "message": "Trust certificate was added successfully",
            "status": "Trust certificate was added successfully"}, "version": "1.0.0"}),
        )
        .into_response(),
        Err(message) => fail(StatusCode::BAD_REQUEST, &message),
    }
}

// ---- GUI control surface -------------------------------------------------------

fn gui_answer(status: StatusCode, success: bool, message: &str) -> Response {
    (
        status,
        Json(json!({"success": success, "message": message})),
    )
        .into_response()
}

async fn gui_list(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(s.with_world(|w| {
        w.mdm_servers.values().cloned().collect::<Vec<_>>()
    })))
    .into_response()
}

async fn gui_get(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.with_world(|w| w.mdm_servers.get(&name).cloned()) {
        Some(m) => Json(json!(m)).into_response(),
        None => gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        ),
    }
}

fn validate(m: &MdmServer) -> Result<(), String> {
    if m.name.trim().is_empty() || m.name.contains(['\'', '"', '<', '>']) {
        return Err("Name is required and may not contain quotes or angle brackets".into());
    }
    if m.client_id.trim().is_empty()
        || m.token_issuing_url.trim().is_empty()
        || m.token_audience.trim().is_empty()
    {
        return Err("Client ID, Token Issuing URL and Token Audience are required".into());
    }
    if !m.auto_discovery_url.starts_with("https://") {
        return Err("Auto Discovery URL must be an https URL".into());
    }
    if !matches!(m.status.as_str(), "Enabled" | "Disabled") {
        return Err("Status must be Enabled or Disabled".into());
    }
    Ok(())
}

async fn gui_create(State(s): State<Arc<Shared>>, Json(mut m): Json<MdmServer>) -> Response {
    if let Err(e) = validate(&m) {
        return gui_answer(StatusCode::BAD_REQUEST, false, &e);
    }
    let enable = m.status == "Enabled";
    m.status = "Disabled".into();
    m.last_test = None;
    let exists = s.with_world(|w| {
        if w.mdm_servers.contains_key(&m.name) {
            return true;
        }
        w.mdm_servers.insert(m.name.clone(), m.clone());
        false
    });
    if exists {
        return gui_answer(
            StatusCode::CONFLICT,
            false,
            &format!("External MDM server {} already exists", m.name),
        );
    }
    if enable {
        return set_enabled(&s, &m.name, true).await;
    }
    gui_answer(StatusCode::CREATED, true, "Saved")
}

async fn gui_edit(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Json(mut m): Json<MdmServer>,
) -> Response {
    m.name = name.clone();
    if let Err(e) = validate(&m) {
        return gui_answer(StatusCode::BAD_REQUEST, false, &e);
    }
    let enable = m.status == "Enabled";
    let found = s.with_world(|w| match w.mdm_servers.get_mut(&name) {
        Some(existing) => {
            let status = existing.status.clone();
            *existing = MdmServer {
                status,
                last_test: None,
                ..m
            };
            true
        }
        None => false,
    });
    if !found {
        return gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        );
    }
    set_enabled(&s, &name, enable).await
}

async fn gui_delete(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.with_world(|w| w.mdm_servers.remove(&name)) {
        Some(_) => gui_answer(StatusCode::OK, true, "Deleted"),
        None => gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        ),
    }
}

async fn gui_test(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match crate::gui::test_connection(&s, &name).await {
        Ok(m) => gui_answer(StatusCode::OK, true, &m),
        Err(m) => gui_answer(StatusCode::OK, false, &m),
    }
}

async fn set_enabled(s: &Shared, name: &str, enabled: bool) -> Response {
    if !s.with_world(|w| w.mdm_servers.contains_key(name)) {
        return gui_answer(
            StatusCode::NOT_FOUND,
            false,
            &format!("External MDM server {name} does not exist"),
        );
    }
    if enabled {
        // ISE tests the connection before it saves an enabled server.
        if let Err(m) = crate::gui::test_connection(s, name).await {
            return gui_answer(StatusCode::BAD_REQUEST, false, &m);
        }
    }
    s.with_world(|w| {
        if let Some(m) = w.mdm_servers.get_mut(name) {
            m.status = if enabled { "Enabled" } else { "Disabled" }.into();
        }
    });
    gui_answer(
        StatusCode::OK,
        true,
        if enabled { "Enabled" } else { "Disabled" },
    )
}

async fn gui_enable(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    set_enabled(&s, &name, true).await
}

async fn gui_disable(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    set_enabled(&s, &name, false).await
}
