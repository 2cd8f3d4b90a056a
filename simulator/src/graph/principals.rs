//! Graph's service principals and their app role assignments.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `PATCH /servicePrincipals(appId='…')`: upsert as for applications. Creating needs an
/// application with that appId (the write path sees unreplicated ones).
pub(super) fn upsert_sp(ctx: &Ctx<'_>, app_id: &str, body: &Value) -> Response {
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

pub(super) fn new_sp(w: &mut World, app: &App) -> Sp {
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

pub(super) fn list_sps(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
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

pub(super) fn create_sp(ctx: &Ctx<'_>, body: &Value) -> Response {
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

/// Graph's cap on an expanded directory relationship: "for Microsoft Entra ID resources
/// that derive from directoryObject, `$expand` returns a maximum of 20 items for the
/// expanded relationship and has no @odata.nextLink" (Microsoft Graph documentation,
/// "Use query parameters to customize responses", `$expand`).
pub(super) const EXPAND_MAX: usize = 20;

/// `GET /servicePrincipals/{id}` or `(appId='…')`, with `$expand=appRoleAssignments`
/// (at most [`EXPAND_MAX`] of them, as Graph); any other relationship is refused as
/// Graph refuses an unknown property.
pub(super) fn get_sp(
    ctx: &Ctx<'_>,
    key: &str,
    by_app_id: bool,
    q: &HashMap<String, String>,
) -> Response {
    if let Err(r) = authorize(ctx, Need::Read) {
        return r;
    }
    let expand = match q.get("$expand").map(String::as_str) {
        None => false,
        Some("appRoleAssignments") => true,
        Some(other) => {
            return ctx.error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!(
                    "Could not find a property named '{other}' on type \
                     'microsoft.graph.servicePrincipal'."
                ),
            );
        }
    };
    let now = ctx.s.with_world(|w| w.now());
    let found = ctx.s.with_world(|w| {
        let sp = if by_app_id {
            w.visible_sp_by_app_id(key)
        } else {
            w.visible_sp(key)
        }?;
        let mut v = sp_json(sp);
        if expand {
            let held: Vec<Value> = w
                .assignments
                .iter()
                .filter(|a| a.visible_at <= now && a.principal_id == sp.id)
                .take(EXPAND_MAX)
                .map(|a| assignment_json(w, a))
                .collect();
            v["appRoleAssignments"] = Value::Array(held);
        }
        Some(v)
    });
    match found {
        Some(v) => ctx.answer(StatusCode::OK, Some(v)),
        None => ctx.not_found(key),
    }
}

pub(super) fn endpoints(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    app_id: &str,
) -> Response {
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

pub(super) fn list_assignments(
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
/// `DELETE /servicePrincipals/{id}`: to the deleted items, with the grants it holds.
/// An application with `Application.ReadWrite.OwnedBy` may delete only the principals
/// of applications it owns (Microsoft Graph, "Delete servicePrincipal": least
/// privileged permission `Application.ReadWrite.OwnedBy`).
pub(super) fn delete_sp(ctx: &Ctx<'_>, id: &str) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(sp) = ctx.s.with_world(|w| w.visible_sp(id).cloned()) else {
        return ctx.not_found(id);
    };
    if let Err(r) = owned_or_denied(ctx, &token, Some(&sp.app_id)) {
        return r;
    }
    ctx.s.with_world(|w| {
        let now = w.now_iso();
        w.remove_sp(&sp, &now);
    });
    ctx.answer(StatusCode::NO_CONTENT, None)
}

pub(super) fn unassign(ctx: &Ctx<'_>, resource: &str, assignment: &str) -> Response {
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

pub(super) fn assign(ctx: &Ctx<'_>, resource: &str, body: &Value) -> Response {
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
