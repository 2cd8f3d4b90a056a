//! Graph's reads of the evidence a diagnosis needs (see [`crate::evidence`]):
//! Intune's compliance settings (v1.0), its SCEP and PKCS certificate profiles (beta)
//! and Entra's service-principal sign-ins (beta), each refused as Graph refuses a
//! caller without the permission.

use std::collections::HashMap;

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::Ctx;

/// The roles that read Intune's configuration (settings and profiles).
const CONFIGURATION_ROLES: [&str; 2] = [
    "DeviceManagementConfiguration.Read.All",
    "DeviceManagementConfiguration.ReadWrite.All",
];

/// The caller's token when it holds one of `roles`; else Graph's refusal: Intune's
/// wording for Intune's resources, the directory's for the sign-in log.
fn holding(ctx: &Ctx<'_>, roles: &[&str], intune: bool) -> Result<(), Response> {
    let Some(token) = crate::login::bearer(ctx.s, ctx.headers) else {
        return Err(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty, expired or not valid.",
        ));
    };
    if token.audience != crate::state::Audience::Graph {
        return Err(ctx.error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        ));
    }
    if token.roles.iter().any(|r| roles.contains(&r.as_str())) {
        return Ok(());
    }
    Err(if intune {
        ctx.error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "Application is not authorized to perform this operation. Application must \
                 have one of the following scopes: {}",
                roles.join(", ")
            ),
        )
    } else {
        ctx.error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    })
}

/// v1.0 `GET /deviceManagement` (`$select=settings` or everything the simulator has).
pub(super) fn device_management(ctx: &Ctx<'_>, q: &HashMap<String, String>) -> Response {
    if let Err(r) = holding(ctx, &CONFIGURATION_ROLES, true) {
        return r;
    }
    let (id, secure, days) = ctx.s.with_world(|w| {
        (
            w.tenant_id.clone(),
            w.evidence.secure_by_default,
            w.evidence.checkin_threshold_days,
        )
    });
    let settings = json!({
        "deviceComplianceCheckinThresholdDays": days,
        "isScheduledActionEnabled": true,
        "secureByDefault": secure,
    });
    let origin = &ctx.s.urls.graph_origin;
    let body = match q.get("$select").map(String::as_str) {
        Some("settings") => json!({
            "@odata.context": format!("{origin}/v1.0/$metadata#deviceManagement(settings)"),
            "settings": settings,
        }),
        Some(other) => {
            return ctx.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Could not find a property named '{other}' on type 'microsoft.graph.deviceManagement'."),
            );
        }
        None => json!({
            "@odata.context": format!("{origin}/v1.0/$metadata#deviceManagement"),
            "id": id,
            "subscriptionState": "active",
            "settings": settings,
        }),
    };
    ctx.answer(StatusCode::OK, Some(body))
}

/// `GET /deviceManagement/deviceConfigurations`: on beta, the SCEP and PKCS profiles
/// with their properties; on v1.0, whose model has no SCEP or PKCS type, none of them.
pub(super) fn device_configurations(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    beta: bool,
) -> Response {
    if let Err(r) = holding(ctx, &CONFIGURATION_ROLES, true) {
        return r;
    }
    let items: Vec<Value> = if beta {
        ctx.s.with_world(|w| {
            w.evidence
                .profiles
                .iter()
                .map(crate::evidence::CertificateProfile::to_graph)
                .collect()
        })
    } else {
        Vec::new()
    };
    super::page_of(ctx, uri, q, items, 1000, 1000)
}

/// One clause of the sign-in log's `$filter` the simulator evaluates.
enum Clause {
    EventType(String),
    AppId(String),
    Since(time::OffsetDateTime),
}

/// `signInEventTypes/any(t: t eq 'servicePrincipal') and appId eq '…' and
/// createdDateTime ge …`, clauses in any order; `None` for anything else.
fn clauses(filter: &str) -> Option<Vec<Clause>> {
    let quoted = |s: &str| {
        s.trim()
            .strip_prefix('\'')?
            .strip_suffix('\'')
            .map(|v| v.replace("''", "'"))
    };
    filter
        .split(" and ")
        .map(|c| {
            let c = c.trim();
            if let Some(rest) = c.strip_prefix("signInEventTypes/any(") {
                let inner = rest.strip_suffix(')')?;
                let (var, cond) = inner.split_once(':')?;
                let value = cond.trim().strip_prefix(var.trim())?.trim();
                return Some(Clause::EventType(quoted(value.strip_prefix("eq ")?)?));
            }
            if let Some(v) = c.strip_prefix("appId eq ") {
                return Some(Clause::AppId(quoted(v)?));
            }
            let t = c.strip_prefix("createdDateTime ge ")?;
            time::OffsetDateTime::parse(t.trim(), &time::format_description::well_known::Rfc3339)
                .ok()
                .map(Clause::Since)
        })
        .collect()
}

/// `GET /auditLogs/signIns`: on beta, newest first, filtered by event type (without
/// one, interactive user sign-ins only: none here), application and time; on v1.0,
/// whose `signIn` has no `signInEventTypes`, that filter is refused.
pub(super) fn sign_ins(
    ctx: &Ctx<'_>,
    uri: &Uri,
    q: &HashMap<String, String>,
    beta: bool,
) -> Response {
    if let Err(r) = holding(ctx, &["AuditLog.Read.All"], false) {
        return r;
    }
    let filter = q.get("$filter").map(String::as_str).unwrap_or_default();
    let parsed = if filter.is_empty() {
        Some(Vec::new())
    } else {
        clauses(filter)
    };
    let Some(parsed) =
        parsed.filter(|p| beta || !p.iter().any(|c| matches!(c, Clause::EventType(_))))
    else {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Invalid filter clause: {filter}"),
        );
    };
    let service_principals = parsed
        .iter()
        .any(|c| matches!(c, Clause::EventType(t) if t == "servicePrincipal"));
    let items: Vec<Value> = if service_principals {
        ctx.s.with_world(|w| {
            w.evidence
                .sign_ins
                .iter()
                .rev()
                .filter(|r| {
                    parsed.iter().all(|c| match c {
                        Clause::EventType(_) => true,
                        Clause::AppId(a) => r.app_id.eq_ignore_ascii_case(a),
                        Clause::Since(t) => r.at >= *t,
                    })
                })
                .map(crate::evidence::SignInRecord::to_graph)
                .collect()
        })
    } else {
        Vec::new()
    };
    super::page_of(ctx, uri, q, items, 1000, 1000)
}
