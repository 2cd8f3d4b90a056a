//! The Microsoft Graph fake: applications, service principals, key credentials,
//! required resource access, app role assignments, Intune discovery endpoints and the
//! organization — with `$filter`, `$select`, paging, authorization by token roles and
//! eventual consistency.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::state::{App, Assignment, Audience, DeletedItem, KeyCred, Sp, World};

mod apps;
mod devices;
mod evidence;
mod principals;

use apps::*;
use principals::*;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

struct Ctx<'a> {
    s: &'a Shared,
    headers: &'a HeaderMap,
}

impl Ctx<'_> {
    fn answer(&self, status: StatusCode, body: Option<Value>) -> Response {
        let request_id = self.s.with_world(|w| w.rng.uuid());
        let mut b = Response::builder()
            .status(status)
            .header("request-id", &request_id);
        if let Some(c) = self.headers.get("client-request-id") {
            b = b.header("client-request-id", c);
        }
        match body {
            Some(v) => b
                .header("Content-Type", "application/json;odata.metadata=minimal")
                .body(axum::body::Body::from(v.to_string())),
            None => b.body(axum::body::Body::empty()),
        }
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }

    fn error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        let request_id = self.s.with_world(|w| w.rng.uuid());
        let client_request_id = self
            .headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.answer(
            status,
            Some(
                json!({"error": {"code": code, "message": message, "innerError": {
                "date": crate::state::iso(time::OffsetDateTime::now_utc()),
                "request-id": request_id, "client-request-id": client_request_id}}}),
            ),
        )
    }

    fn not_found(&self, id: &str) -> Response {
        self.error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    /// `Policy.Read.All`: the tenant's policies.
    Policies,
    WriteApps,
    Assign,
}

fn authorize(ctx: &Ctx<'_>, need: Need) -> Result<crate::state::Token, Response> {
    let Some(token) = crate::login::bearer(ctx.s, ctx.headers) else {
        return Err(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty, expired or not valid.",
        ));
    };
    if token.audience != Audience::Graph {
        return Err(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        ));
    }
    let has = |r: &str| token.roles.iter().any(|x| x == r);
    // `Application.ReadWrite.OwnedBy` reads every application and service principal
    // (a caller holding only it still lists the tenant's applications: Microsoft Tech
    // Community, "Application.ReadWrite.OwnedBy: List all applications owned by the
    // calling application") and writes only what it owns: see `owned_or_denied`.
    let ok = match need {
        Need::Read => {
            has("Application.Read.All")
                || has("Application.ReadWrite.All")
                || has("Application.ReadWrite.OwnedBy")
                || has("Directory.Read.All")
        }
        Need::WriteApps => has("Application.ReadWrite.All") || has("Application.ReadWrite.OwnedBy"),
        Need::Policies => has("Policy.Read.All"),
        Need::Assign => has("AppRoleAssignment.ReadWrite.All"),
    };
    if ok {
        Ok(token)
    } else {
        Err(ctx.error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}

/// A write to the application with object id `app` (or, with `None`, the making of a
/// new one) by `token`'s caller: `Application.ReadWrite.All` writes any application,
/// `Application.ReadWrite.OwnedBy` only those its service principal owns.
fn owned_or_denied(
    ctx: &Ctx<'_>,
    token: &crate::state::Token,
    app: Option<&str>,
) -> Result<(), Response> {
    if token.roles.iter().any(|r| r == "Application.ReadWrite.All") {
        return Ok(());
    }
    let Some(app) = app else {
        return Ok(());
    };
    let owned = ctx.s.with_world(|w| {
        let caller = w
            .sps
            .iter()
            .find(|s| s.app_id == token.client_id)?
            .id
            .clone();
        Some(
            w.apps
                .iter()
                .any(|a| (a.id == app || a.app_id == app) && a.owners.contains(&caller)),
        )
    });
    if owned == Some(true) {
        Ok(())
    } else {
        Err(ctx.error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}

/// The service principal object id of `token`'s caller.
fn caller_sp(ctx: &Ctx<'_>, token: &crate::state::Token) -> Option<String> {
    ctx.s.with_world(|w| {
        w.sps
            .iter()
            .find(|s| s.app_id == token.client_id)
            .map(|s| s.id.clone())
    })
}

fn key_json(k: &KeyCred, with_key: bool) -> Value {
    json!({
        "customKeyIdentifier": STANDARD.encode(&k.custom_key_identifier),
        "displayName": k.display_name,
        "endDateTime": k.end,
        "key": if with_key { Value::String(STANDARD.encode(&k.key_der)) } else { Value::Null },
        "keyId": k.key_id,
        "startDateTime": k.start,
        "type": k.key_type,
        "usage": k.usage,
    })
}

fn app_json(a: &App, with_key: bool) -> Value {
    json!({
        "id": a.id, "appId": a.app_id, "displayName": a.display_name,
        "uniqueName": a.unique_name,
        "signInAudience": a.sign_in_audience, "createdDateTime": a.created,
        "deletedDateTime": null, "description": null, "notes": a.notes,
        "identifierUris": [], "tags": a.tags,
        "keyCredentials": a.key_credentials.iter().map(|k| key_json(k, with_key)).collect::<Vec<_>>(),
        "passwordCredentials": [],
        "requiredResourceAccess": a.required_resource_access,
        "web": {"redirectUris": [], "homePageUrl": null},
    })
}

fn sp_json(s: &Sp) -> Value {
    json!({
        "id": s.id, "appId": s.app_id, "displayName": s.display_name,
        "accountEnabled": true, "servicePrincipalType": "Application",
        "appRoles": s.app_roles.iter().map(|r| json!({
            "allowedMemberTypes": ["Application"], "description": r.display_name,
            "displayName": r.display_name, "id": r.id, "isEnabled": true,
            "origin": "Application", "value": r.value,
        })).collect::<Vec<_>>(),
    })
}

fn assignment_json(w: &World, a: &Assignment) -> Value {
    let name = |id: &str| {
        w.sps
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.display_name.clone())
            .unwrap_or_default()
    };
    json!({
        "id": a.id, "appRoleId": a.app_role_id, "createdDateTime": a.created,
        "deletedDateTime": null, "principalDisplayName": name(&a.principal_id),
        "principalId": a.principal_id, "principalType": "ServicePrincipal",
        "resourceDisplayName": name(&a.resource_id), "resourceId": a.resource_id,
    })
}

fn select(v: Value, select: Option<&String>) -> Value {
    let Some(fields) = select else { return v };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| k == "id" || wanted.contains(&k.as_str()))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// `displayName eq '...'` / `appId eq '...'` → (field, value).
fn parse_filter(filter: &str) -> Option<(&str, String)> {
    let (field, rest) = filter.split_once(" eq ")?;
    let value = rest.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let field = field.trim();
    matches!(field, "displayName" | "appId").then(|| (field, value.replace("''", "'")))
}

/// A page of a directory collection: 100 by default, at most 999 (`$top`).
fn page(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>, items: Vec<Value>) -> Response {
    page_of(ctx, uri, q, items, 999, 100)
}

/// A page of `items`: `$top` of them (`default_top` when not asked, at most `max_top`)
/// after `$skiptoken`, with a nextLink while more remain.
fn page_of(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    items: Vec<Value>,
    max_top: usize,
    default_top: usize,
) -> Response {
    let (skip, top) = window(q, max_top, default_top);
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    page_window(ctx, uri, q, (total, skip, top), value)
}

/// The `$skiptoken` offset and the page size (`$top`, clamped) a listing asks for.
fn window(q: &HashMap<String, String>, max_top: usize, default_top: usize) -> (usize, usize) {
    let top: usize = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(default_top)
        .clamp(1, max_top);
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    (skip, top)
}

/// One page (`value`: `top` items from `skip` of `total`) with its `@odata.nextLink`
/// when more follow; `$select` applied.
fn page_window(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    (total, skip, top): (usize, usize, usize),
    value: Vec<Value>,
) -> Response {
    page_with_next(
        ctx,
        uri,
        q,
        (skip + top < total).then_some(skip + top),
        value,
    )
}

/// One page with an `@odata.nextLink` carrying `$skiptoken=next` when `next` is given
/// (the token is opaque to clients: they follow the link); `$select` applied.
fn page_with_next(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    next: Option<usize>,
    value: Vec<Value>,
) -> Response {
    let value: Vec<Value> = value
        .into_iter()
        .map(|v| select(v, q.get("$select")))
        .collect();
    let mut body = json!({"@odata.context": format!("{}/v1.0/$metadata", ctx.s.urls.graph_origin), "value": value});
    if let Some(token) = next {
        let Ok(mut next) = url::Url::parse(&format!("{}{}", ctx.s.urls.graph_origin, uri.path()))
        else {
            return ctx.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "bad base URL",
            );
        };
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in q.iter().filter(|(k, _)| *k != "$skiptoken") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("$skiptoken", &token.to_string());
        }
        body["@odata.nextLink"] = Value::String(next.to_string());
    }
    ctx.answer(StatusCode::OK, Some(body))
}

/// `GET /organization`: the tenant.
fn organization(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let (id, name) = ctx
        .s
        .with_world(|w| (w.tenant_id.clone(), w.tenant_name.clone()));
    page(
        ctx,
        uri,
        q,
        vec![json!({"id": id, "displayName": name,
        "verifiedDomains": [{"name": "contoso-sim.onmicrosoft.com", "isDefault": true,
            "isInitial": true, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}]})],
    )
}

/// A request's version (beta or v1.0: beta serves the resources v1.0 lacks, and the
/// simulator answers on beta only those the library reads there), its path below it,
/// and its JSON body; or Graph's refusal.
fn version_path_and_body<'u>(
    ctx: &Ctx<'_>,
    uri: &'u Uri,
    body: &Bytes,
) -> Result<(bool, &'u str, Value), Response> {
    let (beta, path) = match (
        uri.path().strip_prefix("/v1.0/"),
        uri.path().strip_prefix("/beta/"),
    ) {
        (Some(p), _) => (false, p),
        (None, Some(p)) => (true, p),
        (None, None) => {
            return Err(ctx.error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid version."));
        }
    };
    if body.is_empty() {
        return Ok((beta, path, Value::Null));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok((beta, path, v)),
        Err(_) => Err(ctx.error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

async fn dispatch(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx {
        s: &s,
        headers: &headers,
    };
    let (beta, path, body) = match version_path_and_body(&ctx, &uri, &body) {
        Ok(parts) => parts,
        Err(refused) => return refused,
    };
    let segs: Vec<&str> = path.split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["deviceManagement", "deviceConfigurations"]) => {
            evidence::device_configurations(&ctx, &uri, &q, beta)
        }
        ("GET", ["auditLogs", "signIns"]) => evidence::sign_ins(&ctx, &uri, &q, beta),
        _ if beta => ctx.error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("The simulator serves /beta/{path} on v1.0 only."),
        ),
        ("GET", ["deviceManagement"]) => evidence::device_management(&ctx, &q),
        ("GET", ["organization"]) => organization(&ctx, &uri, &q),
        ("GET", ["deviceManagement", "managedDevices"]) => devices::list(&ctx, &uri, &q),
        (
            "GET",
            [
                "deviceManagement",
                "managedDevices",
                id,
                "deviceConfigurationStates",
            ],
        ) => devices::configuration_states(&ctx, id),
        ("GET", ["applications"]) => list_apps(&ctx, &uri, &q),
        ("POST", ["applications"]) => create_app(&ctx, &body),
        ("GET", [key]) if key.starts_with("applications(uniqueName=") => {
            match alternate_key(key, "applications(uniqueName=") {
                Some(unique) => get_app_by_unique_name(&ctx, &unique, &q),
                None => ctx.not_found(key),
            }
        }
        ("PATCH", [key]) if key.starts_with("applications(uniqueName=") => {
            match alternate_key(key, "applications(uniqueName=") {
                Some(unique) => upsert_app(&ctx, &unique, &body),
                None => ctx.not_found(key),
            }
        }
        ("PATCH", [key]) if key.starts_with("servicePrincipals(appId=") => {
            match alternate_key(key, "servicePrincipals(appId=") {
                Some(app_id) => upsert_sp(&ctx, &app_id, &body),
                None => ctx.not_found(key),
            }
        }
        ("GET", ["applications", id]) => get_app(&ctx, id, &q),
        ("GET", ["applications", id, "appManagementPolicies"]) => app_policies(&ctx, &uri, &q, id),
        ("GET", ["policies", "defaultAppManagementPolicy"]) => default_policy(&ctx),
        ("PATCH", ["applications", id]) => patch_app(&ctx, id, &body),
        ("DELETE", ["applications", id]) => delete_app(&ctx, id),
        ("GET", ["servicePrincipals"]) => list_sps(&ctx, &uri, &q),
        ("POST", ["servicePrincipals"]) => create_sp(&ctx, &body),
        ("GET", ["servicePrincipals", sp, "endpoints"]) if sp.starts_with("appId=") => {
            endpoints(&ctx, &uri, &q, sp.trim_start_matches("appId="))
        }
        ("GET", [sp]) if sp.starts_with("servicePrincipals(appId=") => {
            match alternate_key(sp, "servicePrincipals(appId=") {
                Some(app_id) => get_sp(&ctx, &app_id, true, &q),
                None => ctx.not_found(sp),
            }
        }
        ("GET", ["servicePrincipals", id]) => get_sp(&ctx, id, false, &q),
        ("DELETE", ["servicePrincipals", id]) => delete_sp(&ctx, id),
        ("GET", ["servicePrincipals", id, "appRoleAssignedTo"]) => {
            list_assignments(&ctx, &uri, &q, id, true)
        }
        ("GET", ["servicePrincipals", id, "appRoleAssignments"]) => {
            list_assignments(&ctx, &uri, &q, id, false)
        }
        ("POST", ["servicePrincipals", id, "appRoleAssignedTo"]) => assign(&ctx, id, &body),
        ("DELETE", ["servicePrincipals", id, "appRoleAssignedTo", assignment]) => {
            unassign(&ctx, id, assignment)
        }
        _ => ctx.error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                segs.last().unwrap_or(&"")
            ),
        ),
    }
}

/// The value of an alternate-key segment such as `applications(uniqueName='x')`,
/// percent-decoded, with doubled quotes undone.
fn alternate_key(segment: &str, prefix: &str) -> Option<String> {
    let decoded = percent_decode(segment)?;
    let inner = decoded.strip_prefix(prefix)?.strip_suffix(')')?;
    let value = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(value.replace("''", "'"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether the request asked for upsert (`Prefer: create-if-missing`).
fn create_if_missing(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
}

/// Reads `$filter` (`displayName`/`appId` equality only, as the integration uses).
fn listing_filter<'q>(
    ctx: &Ctx<'_>,
    q: &'q HashMap<String, String>,
) -> Result<Option<(&'q str, String)>, Response> {
    match q.get("$filter") {
        Some(f) => parse_filter(f).map(Some).ok_or_else(|| {
            ctx.error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Unsupported Query.",
            )
        }),
        None => Ok(None),
    }
}
