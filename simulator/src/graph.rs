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
use crate::state::{App, Assignment, Audience, KeyCred, Sp, World};

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
        "deletedDateTime": null, "description": null, "notes": null,
        "identifierUris": [], "tags": [],
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

fn page(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>, items: Vec<Value>) -> Response {
    let top: usize = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(100)
        .clamp(1, 999);
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|v| select(v, q.get("$select")))
        .collect();
    let mut body = json!({"@odata.context": format!("{}/v1.0/$metadata", ctx.s.urls.graph_origin), "value": value});
    if skip + top < total {
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
            pairs.append_pair("$skiptoken", &(skip + top).to_string());
        }
        body["@odata.nextLink"] = Value::String(next.to_string());
    }
    ctx.answer(StatusCode::OK, Some(body))
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
    let Some(path) = uri.path().strip_prefix("/v1.0/") else {
        return ctx.error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid version.");
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return ctx.error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
                );
            }
        }
    };
    let segs: Vec<&str> = path.split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["organization"]) => {
            if let Err(r) = authorize(&ctx, Need::Read) {
                return r;
            }
            let (id, name) = s.with_world(|w| (w.tenant_id.clone(), w.tenant_name.clone()));
            page(
                &ctx,
                &uri,
                &q,
                vec![json!({"id": id, "displayName": name,
                "verifiedDomains": [{"name": "contoso-sim.onmicrosoft.com", "isDefault": true,
                    "isInitial": true, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}]})],
            )
        }
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
                Some(app_id) => get_sp(&ctx, &app_id, true),
                None => ctx.not_found(sp),
            }
        }
        ("GET", ["servicePrincipals", id]) => get_sp(&ctx, id, false),
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

/// An app-management policy's restrictions with one `asymmetricKeyLifetime` on keys
/// (Graph v1.0 `appManagementConfiguration`), or none.
fn key_restrictions(policy: Option<&crate::state::KeyLifetimePolicy>) -> Value {
    let keys: Vec<Value> = policy
        .map(|p| {
            json!({"restrictionType": "asymmetricKeyLifetime",
                "maxLifetime": format!("P{}D", p.max_days),
                "restrictForAppsCreatedAfterDateTime": "2000-01-01T00:00:00Z",
                "state": "enabled"})
        })
        .into_iter()
        .collect();
    json!({"passwordCredentials": [], "keyCredentials": keys})
}

/// `GET /policies/defaultAppManagementPolicy` (needs `Policy.Read.All`): the
/// `tenantAppManagementPolicy`, enabled when a key-lifetime restriction is set.
fn default_policy(ctx: &Ctx<'_>) -> Response {
    if let Err(r) = authorize(ctx, Need::Policies) {
        return r;
    }
    let policy = ctx.s.with_world(|w| w.default_key_policy.clone());
    ctx.answer(
        StatusCode::OK,
        Some(json!({
            "id": "00000000-0000-0000-0000-000000000000",
            "displayName": "Default app management tenant policy",
            "isEnabled": policy.is_some(),
            "applicationRestrictions": key_restrictions(policy.as_ref()),
            "servicePrincipalRestrictions": key_restrictions(None),
        })),
    )
}

/// `GET /applications/{id}/appManagementPolicies` (needs `Policy.Read.All`): the
/// policies assigned to the application.
fn app_policies(
    ctx: &Ctx<'_>,
    uri: &axum::http::Uri,
    q: &HashMap<String, String>,
    id: &str,
) -> Response {
    if let Err(r) = authorize(ctx, Need::Policies) {
        return r;
    }
    let (exists, assigned) = ctx.s.with_world(|w| {
        (
            w.apps.iter().any(|a| a.id == id),
            w.app_key_policies
                .iter()
                .filter(|(app, _)| app == id)
                .map(|(_, p)| p.clone())
                .collect::<Vec<_>>(),
        )
    });
    if !exists {
        return ctx.not_found(id);
    }
    let items = assigned
        .iter()
        .map(|p| {
            json!({"id": p.id, "displayName": "Certificate lifetime", "isEnabled": true,
                "restrictions": key_restrictions(Some(p))})
        })
        .collect();
    page(ctx, uri, q, items)
}

/// The key-lifetime restriction that applies to application `app_id` (object id): its
/// own assigned policy, else the tenant's default.
fn key_policy_for(ctx: &Ctx<'_>, app_id: &str) -> Option<crate::state::KeyLifetimePolicy> {
    ctx.s.with_world(|w| {
        w.app_key_policies
            .iter()
            .find(|(a, _)| a == app_id)
            .map(|(_, p)| p.clone())
            .or_else(|| w.default_key_policy.clone())
    })
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

/// `GET /applications(uniqueName='…')`: like a read by id, subject to replication lag.
fn get_app_by_unique_name(ctx: &Ctx<'_>, unique: &str, q: &HashMap<String, String>) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let now = ctx.s.with_world(|w| w.now());
    let found = ctx.s.with_world(|w| {
        w.apps
            .iter()
            .find(|a| a.unique_name.as_deref() == Some(unique) && a.visible_at <= now)
            .map(|a| app_json(a, false))
    });
    match found {
        Some(v) => ctx.answer(StatusCode::OK, Some(select(v, q.get("$select")))),
        None => ctx.not_found(unique),
    }
}

/// `PATCH /applications(uniqueName='…')`. Microsoft Learn, "Upsert application": with
/// `Prefer: create-if-missing` it creates the application (201 and the object) when
/// none has the uniqueName, else updates it (204); without the header a missing one is
/// 404. The write path sees every object, replicated or not: the directory enforces the
/// key's uniqueness, so concurrent upserts make one application.
fn upsert_app(ctx: &Ctx<'_>, unique: &str, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(other) = body.get("uniqueName").and_then(Value::as_str)
        && other != unique
    {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Property 'uniqueName' is read-only and cannot be changed once set.",
        );
    }
    let existing = ctx.s.with_world(|w| {
        w.apps
            .iter()
            .find(|a| a.unique_name.as_deref() == Some(unique))
            .map(|a| a.id.clone())
    });
    if let Err(r) = owned_or_denied(ctx, &token, existing.as_deref()) {
        return r;
    }
    match existing {
        Some(id) => apply_app_patch(ctx, &id, body),
        None if !create_if_missing(ctx.headers) => ctx.not_found(unique),
        None => create_app_with(ctx, body, Some(unique.to_owned()), caller_sp(ctx, &token)),
    }
}

/// `PATCH /servicePrincipals(appId='…')`: upsert as for applications. Creating needs an
/// application with that appId (the write path sees unreplicated ones).
fn upsert_sp(ctx: &Ctx<'_>, app_id: &str, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = owned_or_denied(ctx, &token, Some(app_id)) {
        return r;
    }
    let upsert = create_if_missing(ctx.headers);
    let result = ctx.s.with_world(|w| {
        if let Some(sp) = w.sps.iter_mut().find(|s| s.app_id.eq_ignore_ascii_case(app_id)) {
            if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                sp.display_name = n.to_owned();
            }
            return Ok(None);
        }
        if !upsert {
            return Err((StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{app_id}' does not exist or one of its queried reference-property objects are not present.")));
        }
        let Some(app) = w.apps.iter().find(|a| a.app_id.eq_ignore_ascii_case(app_id)).cloned() else {
            return Err((StatusCode::BAD_REQUEST, "Request_BadRequest", format!("The appId '{app_id}' of the service principal does not reference a valid application object.")));
        };
        let mut sp = new_sp(w, &app);
        // A displayName sent with the upsert names the new service principal (Graph's
        // servicePrincipal upsert, as Microsoft's Graph SDK sends it); without one it
        // takes the application's.
        if let Some(n) = body.get("displayName").and_then(Value::as_str) {
            sp.display_name = n.to_owned();
            if let Some(stored) = w.sps.iter_mut().find(|s| s.id == sp.id) {
                stored.display_name = n.to_owned();
            }
        }
        Ok(Some(sp))
    });
    match result {
        Ok(Some(sp)) => ctx.answer(StatusCode::CREATED, Some(sp_json(&sp))),
        Ok(None) => ctx.answer(StatusCode::NO_CONTENT, None),
        Err((status, code, message)) => ctx.error(status, code, &message),
    }
}

fn new_sp(w: &mut World, app: &App) -> Sp {
    let sp = Sp {
        id: w.id_rng("servicePrincipal", &app.app_id).uuid(),
        app_id: app.app_id.clone(),
        display_name: app.display_name.clone(),
        app_roles: Vec::new(),
        endpoints: Vec::new(),
        visible_at: w.now() + w.replication_lag,
    };
    w.sps.push(sp.clone());
    sp
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

fn list_apps(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let filter = match listing_filter(ctx, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = ctx.s.with_world(|w| w.now());
    let items = ctx.s.with_world(|w| {
        w.apps
            .iter()
            .filter(|a| a.visible_at <= now)
            .filter(|a| match &filter {
                Some(("displayName", v)) => &a.display_name == v,
                Some((_, v)) => a.app_id.eq_ignore_ascii_case(v),
                None => true,
            })
            .map(|a| app_json(a, false))
            .collect()
    });
    page(ctx, uri, q, items)
}

fn create_app(ctx: &Ctx<'_>, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    create_app_with(ctx, body, None, caller_sp(ctx, &token))
}

fn create_app_with(
    ctx: &Ctx<'_>,
    body: &Value,
    unique_name: Option<String>,
    owner: Option<String>,
) -> Response {
    let Some(name) = body
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
    else {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Property 'displayName' is required.",
        );
    };
    let audience = body
        .get("signInAudience")
        .and_then(Value::as_str)
        .unwrap_or("AzureADMyOrg")
        .to_owned();
    let app = ctx.s.with_world(|w| {
        let identity = unique_name.clone().unwrap_or_else(|| name.to_owned());
        let mut ids = w.id_rng("application", &identity);
        let app = App {
            id: ids.uuid(),
            app_id: ids.uuid(),
            display_name: name.to_owned(),
            sign_in_audience: audience,
            key_credentials: Vec::new(),
            required_resource_access: json!([]),
            secrets: Vec::new(),
            created: w.now_iso(),
            visible_at: w.now() + w.replication_lag,
            unique_name: unique_name.clone(),
            owners: owner.into_iter().collect(),
            federated: Vec::new(),
        };
        w.apps.push(app.clone());
        app
    });
    let mut v = app_json(&app, false);
    v["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#applications/$entity",
        ctx.s.urls.graph_origin
    ));
    ctx.answer(StatusCode::CREATED, Some(v))
}

fn find_app<'w>(w: &'w World, id: &str) -> Option<&'w App> {
    let now = w.now();
    w.apps
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(id) && a.visible_at <= now)
}

fn get_app(ctx: &Ctx<'_>, id: &str, q: &HashMap<String, String>) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    // Graph returns `key` only when keyCredentials is selected on a single object.
    let with_key = q
        .get("$select")
        .is_some_and(|s| s.split(',').any(|f| f.trim() == "keyCredentials"));
    match ctx
        .s
        .with_world(|w| find_app(w, id).map(|a| app_json(a, with_key)))
    {
        Some(v) => ctx.answer(StatusCode::OK, Some(select(v, q.get("$select")))),
        None => ctx.not_found(id),
    }
}

/// A key's lifetime in whole days (end − start), when both dates read.
fn lifetime_days(k: &KeyCred) -> Option<i64> {
    let parse = |s: &Option<String>| {
        time::OffsetDateTime::parse(
            s.as_deref()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    };
    let (start, end) = (parse(&k.start)?, parse(&k.end)?);
    Some((end - start).whole_days())
}

fn parse_keys(ctx: &Ctx<'_>, existing: &[KeyCred], v: &Value) -> Result<Vec<KeyCred>, Response> {
    let bad = |m: &str| ctx.error(StatusCode::BAD_REQUEST, "Request_BadRequest", m);
    let Some(items) = v.as_array() else {
        return Err(bad(
            "Invalid value specified for property 'keyCredentials' of resource 'Application'.",
        ));
    };
    let mut out: Vec<KeyCred> = Vec::new();
    for item in items {
        let key_type = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let usage = item
            .get("usage")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if key_type != "AsymmetricX509Cert" || !matches!(usage, "Verify" | "Sign") {
            return Err(bad(
                "Invalid value specified for property 'type' or 'usage' of resource 'KeyCredential'.",
            ));
        }
        let key_id = item.get("keyId").and_then(Value::as_str).map(str::to_owned);
        let der = match item.get("key").and_then(Value::as_str) {
            Some(k) => STANDARD
                .decode(k)
                .map_err(|_| bad("Key credential key is not valid base64."))?,
            None => match key_id
                .as_deref()
                .and_then(|id| existing.iter().find(|e| e.key_id == id))
            {
                Some(e) => e.key_der.clone(),
                None => return Err(bad("Property 'key' is required for a new key credential.")),
            },
        };
        let cert = rustls::pki_types::CertificateDer::from(der.clone());
        if webpki::EndEntityCert::try_from(&cert).is_err() {
            return Err(bad("Key value is invalid certificate."));
        }
        let thumb = crate::pki::sha1(&der);
        if out.iter().any(|k| crate::pki::sha1(&k.key_der) == thumb) {
            return Err(bad(
                "Duplicate key credential: the same certificate appears twice.",
            ));
        }
        let custom = match item.get("customKeyIdentifier").and_then(Value::as_str) {
            Some(c) => STANDARD
                .decode(c)
                .map_err(|_| bad("customKeyIdentifier is not valid base64."))?,
            None => thumb,
        };
        // Graph fills a key's missing dates from its certificate, and refuses an end
        // past the certificate's expiry with 400 KeyCredentialsInvalidEndDate "Key
        // credential end date is invalid." (the code and text Graph answers; see e.g.
        // Azure/azure-cli#11146 and microsoft/b2c-to-meeid-migration-tool#18).
        let validity = crate::der::summary(&der);
        let not_before = validity.as_ref().and_then(|c| c.not_before);
        let not_after = validity.as_ref().and_then(|c| c.not_after);
        let date = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
        let (start, end) = (date("startDateTime"), date("endDateTime"));
        if let (Some(end), Some(expiry)) = (&end, not_after) {
            let parsed =
                time::OffsetDateTime::parse(end, &time::format_description::well_known::Rfc3339);
            if parsed.map_or(true, |e| e > expiry) {
                return Err(ctx.error(
                    StatusCode::BAD_REQUEST,
                    "KeyCredentialsInvalidEndDate",
                    "Key credential end date is invalid.",
                ));
            }
        }
        let start = start.or_else(|| not_before.map(crate::state::iso));
        let end = end.or_else(|| not_after.map(crate::state::iso));
        // A key already registered keeps its time; a new one is usable at the token
        // service only after the propagation delay (the replication lag).
        let usable_at = existing
            .iter()
            .find(|e| crate::pki::sha1(&e.key_der) == crate::pki::sha1(&der))
            .map(|e| e.usable_at)
            .unwrap_or_else(|| ctx.s.with_world(|w| w.now() + w.replication_lag));
        out.push(KeyCred {
            key_id: key_id.unwrap_or_else(|| {
                ctx.s.with_world(|w| {
                    w.id_rng("keyCredential", &crate::pki::hex(&thumb_of(&der)))
                        .uuid()
                })
            }),
            display_name: item
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            key_der: der,
            custom_key_identifier: custom,
            start,
            end,
            usage: usage.to_owned(),
            key_type: key_type.to_owned(),
            usable_at,
        });
    }
    Ok(out)
}

fn thumb_of(der: &[u8]) -> Vec<u8> {
    crate::pki::sha1(der)
}

fn patch_app(ctx: &Ctx<'_>, id: &str, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if ctx.s.with_world(|w| find_app(w, id).is_none()) {
        return ctx.not_found(id);
    }
    if let Err(r) = owned_or_denied(ctx, &token, Some(id)) {
        return r;
    }
    apply_app_patch(ctx, id, body)
}

/// Applies a PATCH body to the application with object id `id` (which exists).
fn apply_app_patch(ctx: &Ctx<'_>, id: &str, body: &Value) -> Response {
    let Some(existing) = ctx.s.with_world(|w| {
        w.apps
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .cloned()
    }) else {
        return ctx.not_found(id);
    };
    if let Some(unique) = body.get("uniqueName") {
        let Some(unique) = unique.as_str().filter(|u| !u.is_empty()) else {
            return ctx.error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Invalid value specified for property 'uniqueName' of resource 'Application'.",
            );
        };
        match &existing.unique_name {
            Some(current) if current != unique => {
                return ctx.error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Property 'uniqueName' is read-only and cannot be changed once set.",
                );
            }
            Some(_) => {}
            None => {
                let taken = ctx.s.with_world(|w| {
                    w.apps
                        .iter()
                        .any(|a| a.id != existing.id && a.unique_name.as_deref() == Some(unique))
                });
                if taken {
                    return ctx.error(
                        StatusCode::BAD_REQUEST,
                        "Request_MultipleObjectsWithSameKeyValue",
                        "Another object with the same value for property uniqueName already exists.",
                    );
                }
            }
        }
    }
    let keys = match body.get("keyCredentials") {
        Some(v) => match parse_keys(ctx, &existing.key_credentials, v) {
            Ok(k) => Some(k),
            Err(r) => return r,
        },
        None => None,
    };
    // A new key living longer than the app-management policy allows is refused: 400
    // CredentialInvalidLifetimeAsPerAppPolicy "Credential lifetime exceeds the max value
    // allowed as per assigned policy '<id>'." (the code and text Graph answers, e.g.
    // microsoft/PubSec-Info-Assistant#681).
    if let (Some(keys), Some(policy)) = (&keys, key_policy_for(ctx, &existing.id)) {
        let too_long = keys.iter().any(|k| {
            let new = !existing
                .key_credentials
                .iter()
                .any(|e| crate::pki::sha1(&e.key_der) == crate::pki::sha1(&k.key_der));
            new && lifetime_days(k).is_none_or(|d| d > i64::from(policy.max_days))
        });
        if too_long {
            return ctx.error(
                StatusCode::BAD_REQUEST,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                &format!(
                    "Credential lifetime exceeds the max value allowed as per assigned policy '{}'.",
                    policy.id
                ),
            );
        }
    }
    if let Some(rra) = body.get("requiredResourceAccess")
        && !rra.is_array()
    {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'requiredResourceAccess'.",
        );
    }
    ctx.s.with_world(|w| {
        if let Some(app) = w.apps.iter_mut().find(|a| a.id == existing.id) {
            if let Some(k) = keys {
                app.key_credentials = k;
            }
            if let Some(rra) = body.get("requiredResourceAccess") {
                app.required_resource_access = rra.clone();
            }
            if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                app.display_name = n.to_owned();
            }
            if app.unique_name.is_none()
                && let Some(u) = body.get("uniqueName").and_then(Value::as_str)
            {
                app.unique_name = Some(u.to_owned());
            }
        }
    });
    ctx.answer(StatusCode::NO_CONTENT, None)
}

fn delete_app(ctx: &Ctx<'_>, id: &str) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = owned_or_denied(ctx, &token, Some(id)) {
        return r;
    }
    let removed = ctx.s.with_world(|w| {
        let app_id = find_app(w, id).map(|a| a.app_id.clone())?;
        w.apps.retain(|a| a.app_id != app_id);
        let sp_ids: Vec<String> = w
            .sps
            .iter()
            .filter(|s| s.app_id == app_id)
            .map(|s| s.id.clone())
            .collect();
        w.sps.retain(|s| s.app_id != app_id);
        w.assignments.retain(|a| !sp_ids.contains(&a.principal_id));
        Some(())
    });
    match removed {
        Some(()) => ctx.answer(StatusCode::NO_CONTENT, None),
        None => ctx.not_found(id),
    }
}

fn list_sps(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let filter = match listing_filter(ctx, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = ctx.s.with_world(|w| w.now());
    let items = ctx.s.with_world(|w| {
        w.sps
            .iter()
            .filter(|s| s.visible_at <= now)
            .filter(|s| match &filter {
                Some(("displayName", v)) => &s.display_name == v,
                Some((_, v)) => s.app_id.eq_ignore_ascii_case(v),
                None => true,
            })
            .map(sp_json)
            .collect()
    });
    page(ctx, uri, q, items)
}

fn create_sp(ctx: &Ctx<'_>, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let app_id = body
        .get("appId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Err(r) = owned_or_denied(ctx, &token, Some(&app_id)) {
        return r;
    }
    let result = ctx.s.with_world(|w| {
        let app = w.visible_app_by_app_id(&app_id).cloned();
        let Some(app) = app else {
            return Err((StatusCode::BAD_REQUEST, "Request_BadRequest", format!("The appId '{app_id}' of the service principal does not reference a valid application object.")));
        };
        if w.sps.iter().any(|s| s.app_id == app.app_id) {
            return Err((StatusCode::CONFLICT, "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property servicePrincipalNames already exists.".to_owned()));
        }
        Ok(new_sp(w, &app))
    });
    match result {
        Ok(sp) => ctx.answer(StatusCode::CREATED, Some(sp_json(&sp))),
        Err((status, code, message)) => ctx.error(status, code, &message),
    }
}

fn get_sp(ctx: &Ctx<'_>, key: &str, by_app_id: bool) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let found = ctx.s.with_world(|w| {
        if by_app_id {
            w.visible_sp_by_app_id(key).map(sp_json)
        } else {
            w.visible_sp(key).map(sp_json)
        }
    });
    match found {
        Some(v) => ctx.answer(StatusCode::OK, Some(v)),
        None => ctx.not_found(key),
    }
}

fn endpoints(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>, app_id: &str) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let found = ctx.s.with_world(|w| {
        w.visible_sp_by_app_id(app_id).map(|sp| {
            sp.endpoints
                .iter()
                .enumerate()
                .map(|(i, (name, uri))| {
                    json!({
                        "id": format!("{:08x}-0000-0000-0000-{:012x}", i, i),
                        "deletedDateTime": null, "capability": name, "providerId": null,
                        "providerName": name, "providerResourceId": null, "uri": uri,
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    match found {
        Some(items) => page(ctx, uri, q, items),
        None => ctx.not_found(app_id),
    }
}

fn list_assignments(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    id: &str,
    assigned_to: bool,
) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let now = ctx.s.with_world(|w| w.now());
    let found = ctx.s.with_world(|w| {
        w.visible_sp(id)?;
        Some(
            w.assignments
                .iter()
                .filter(|a| a.visible_at <= now)
                .filter(|a| {
                    if assigned_to {
                        a.resource_id == id
                    } else {
                        a.principal_id == id
                    }
                })
                .map(|a| assignment_json(w, a))
                .collect::<Vec<_>>(),
        )
    });
    match found {
        Some(items) => page(ctx, uri, q, items),
        None => ctx.not_found(id),
    }
}

/// `DELETE /servicePrincipals/{resource}/appRoleAssignedTo/{id}`: revokes a grant
/// (204). Tokens issued before keep their roles until they expire, as Entra's do.
fn unassign(ctx: &Ctx<'_>, resource: &str, assignment: &str) -> Response {
    if let Err(r) = authorize(ctx, Need::Assign) {
        return r;
    }
    let removed = ctx.s.with_world(|w| {
        let before = w.assignments.len();
        w.assignments
            .retain(|a| !(a.id == assignment && a.resource_id.eq_ignore_ascii_case(resource)));
        before != w.assignments.len()
    });
    if removed {
        ctx.answer(StatusCode::NO_CONTENT, None)
    } else {
        ctx.not_found(assignment)
    }
}

fn assign(ctx: &Ctx<'_>, resource: &str, body: &Value) -> Response {
    if let Err(r) = authorize(ctx, Need::Assign) {
        return r;
    }
    let field = |n: &str| {
        body.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (principal, resource_id, role) = (
        field("principalId"),
        field("resourceId"),
        field("appRoleId"),
    );
    if !resource_id.eq_ignore_ascii_case(resource) {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The resourceId in the body does not match the service principal in the URL.",
        );
    }
    let result = ctx.s.with_world(|w| {
        let Some(res) = w.visible_sp(resource).cloned() else {
            return Err((StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{resource}' does not exist or one of its queried reference-property objects are not present.")));
        };
        if w.visible_sp(&principal).is_none() {
            return Err((StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{principal}' does not exist or one of its queried reference-property objects are not present.")));
        }
        if !res.app_roles.iter().any(|r| r.id.eq_ignore_ascii_case(&role)) {
            return Err((StatusCode::BAD_REQUEST, "Request_BadRequest", "Permission being assigned was not found on application".to_owned()));
        }
        // Graph answers a duplicate with 400 Request_BadRequest, not 409 (the text
        // azuread and the Graph SDK issue trackers quote from live tenants).
        if w.assignments.iter().any(|a| a.principal_id == principal && a.resource_id == res.id && a.app_role_id.eq_ignore_ascii_case(&role)) {
            return Err((StatusCode::BAD_REQUEST, "Request_BadRequest", "Permission being assigned already exists on the object".to_owned()));
        }
        let a = Assignment {
            id: w
                .id_rng("appRoleAssignment", &format!("{principal}/{}/{role}", res.id))
                .token(43),
            principal_id: principal.clone(),
            resource_id: res.id.clone(),
            app_role_id: role.clone(),
            created: w.now_iso(),
            visible_at: w.now() + w.replication_lag,
        };
        w.assignments.push(a.clone());
        Ok(assignment_json(w, &a))
    });
    match result {
        Ok(v) => ctx.answer(StatusCode::CREATED, Some(v)),
        Err((status, code, message)) => ctx.error(status, code, &message),
    }
}
