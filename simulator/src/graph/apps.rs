//! Graph's applications: listing, reading, upserting, patching (keys and required
//! access) and deleting, and the tenant's app-management policies.

#[allow(clippy::wildcard_imports)]
use super::*;

/// An app-management policy's restrictions with one `asymmetricKeyLifetime` on keys
/// (Graph v1.0 `appManagementConfiguration`), or none.
pub(super) fn key_restrictions(policy: Option<&crate::state::KeyLifetimePolicy>) -> Value {
    let mut keys: Vec<Value> = Vec::new();
    if let Some(p) = policy {
        if p.max_days > 0 {
            keys.push(json!({"restrictionType": "asymmetricKeyLifetime",
                "maxLifetime": format!("P{}D", p.max_days),
                "restrictForAppsCreatedAfterDateTime": "2000-01-01T00:00:00Z",
                "state": "enabled"}));
        }
        // Graph beta's `keyCredentialConfiguration` with the trusted CA restriction
        // (Microsoft365DSC's AADAppManagementPolicy and Graph's reference show the shape).
        if p.trusted_ca {
            keys.push(json!({"restrictionType": "trustedCertificateAuthority",
                "certificateBasedApplicationConfigurationIds": [p.id],
                "restrictForAppsCreatedAfterDateTime": "2000-01-01T00:00:00Z",
                "state": "enabled"}));
        }
    }
    json!({"passwordCredentials": [], "keyCredentials": keys})
}

/// `GET /policies/defaultAppManagementPolicy` (needs `Policy.Read.All`): the
/// `tenantAppManagementPolicy`, enabled when a key-lifetime restriction is set.
pub(super) fn default_policy(ctx: &Ctx<'_>) -> Response {
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
pub(super) fn app_policies(
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
pub(super) fn key_policy_for(
    ctx: &Ctx<'_>,
    app_id: &str,
) -> Option<crate::state::KeyLifetimePolicy> {
    ctx.s.with_world(|w| {
        w.app_key_policies
            .iter()
            .find(|(a, _)| a == app_id)
            .map(|(_, p)| p.clone())
            .or_else(|| w.default_key_policy.clone())
    })
}

/// `GET /applications(uniqueName='…')`: like a read by id, subject to replication lag.
pub(super) fn get_app_by_unique_name(
    ctx: &Ctx<'_>,
    unique: &str,
    q: &HashMap<String, String>,
) -> Response {
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
pub(super) fn upsert_app(ctx: &Ctx<'_>, unique: &str, body: &Value) -> Response {
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

pub(super) fn list_apps(ctx: &Ctx<'_>, uri: &Uri, q: &HashMap<String, String>) -> Response {
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
                // Entra compares directory strings without regard to case: `eq` on
                // displayName finds "Cisco ISE" for 'cisco ise' (seen in a tenant, and
                // reported in the offboarding probes that found a look-alike adopted).
                Some(("displayName", v)) => a.display_name.to_lowercase() == v.to_lowercase(),
                Some((_, v)) => a.app_id.eq_ignore_ascii_case(v),
                None => true,
            })
            .map(|a| app_json(a, false))
            .collect()
    });
    page(ctx, uri, q, items)
}

pub(super) fn create_app(ctx: &Ctx<'_>, body: &Value) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    create_app_with(ctx, body, None, caller_sp(ctx, &token))
}

pub(super) fn create_app_with(
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
    let (tags, notes) = match tags_and_notes(ctx, body) {
        Ok(t) => t,
        Err(r) => return r,
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
            tags: tags.unwrap_or_default(),
            notes: notes.flatten(),
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

pub(super) fn find_app<'w>(w: &'w World, id: &str) -> Option<&'w App> {
    let now = w.now();
    w.apps
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(id) && a.visible_at <= now)
}

pub(super) fn get_app(ctx: &Ctx<'_>, id: &str, q: &HashMap<String, String>) -> Response {
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
pub(super) fn lifetime_days(k: &KeyCred) -> Option<i64> {
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

/// A key's start and end: as given, else its certificate's. Graph refuses an end past
/// the certificate's expiry with 400 KeyCredentialsInvalidEndDate "Key credential end
/// date is invalid." (the code and text Graph answers; see e.g. Azure/azure-cli#11146
/// and microsoft/b2c-to-meeid-migration-tool#18).
fn key_dates(
    ctx: &Ctx<'_>,
    item: &Value,
    der: &[u8],
) -> Result<(Option<String>, Option<String>), Response> {
    let validity = crate::der::summary(der);
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
    Ok((
        start.or_else(|| not_before.map(crate::state::iso)),
        end.or_else(|| not_after.map(crate::state::iso)),
    ))
}

pub(super) fn parse_keys(
    ctx: &Ctx<'_>,
    existing: &[KeyCred],
    v: &Value,
) -> Result<Vec<KeyCred>, Response> {
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
        // Graph fills a key's missing dates from its certificate.
        let (start, end) = key_dates(ctx, item, &der)?;
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

pub(super) fn thumb_of(der: &[u8]) -> Vec<u8> {
    crate::pki::sha1(der)
}

pub(super) fn patch_app(ctx: &Ctx<'_>, id: &str, body: &Value) -> Response {
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

/// Graph's rules for a `uniqueName` in a PATCH: a non-empty string, set once, unique.
fn check_unique_name(ctx: &Ctx<'_>, existing: &App, unique: &Value) -> Result<(), Response> {
    let Some(unique) = unique.as_str().filter(|u| !u.is_empty()) else {
        return Err(ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'uniqueName' of resource 'Application'.",
        ));
    };
    match &existing.unique_name {
        Some(current) if current != unique => Err(ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Property 'uniqueName' is read-only and cannot be changed once set.",
        )),
        Some(_) => Ok(()),
        None => {
            let taken = ctx.s.with_world(|w| {
                w.apps
                    .iter()
                    .any(|a| a.id != existing.id && a.unique_name.as_deref() == Some(unique))
            });
            if taken {
                Err(ctx.error(
                    StatusCode::BAD_REQUEST,
                    "Request_MultipleObjectsWithSameKeyValue",
                    "Another object with the same value for property uniqueName already exists.",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Graph's refusal of `keys` (the application's keys after a PATCH) when a new one is
/// one the app-management policy that applies to `existing` does not allow.
///
/// A new key living longer than the policy allows is refused: 400
/// CredentialInvalidLifetimeAsPerAppPolicy "Credential lifetime exceeds the max value
/// allowed as per assigned policy '<id>'." (the code and text Graph answers, e.g.
/// microsoft/PubSec-Info-Assistant#681). A self-signed certificate chains to no trusted
/// CA; the code and wording of Graph's refusal of it are not documented, this one is
/// the simulator's.
fn refused_by_key_policy(ctx: &Ctx<'_>, existing: &App, keys: &[KeyCred]) -> Option<Response> {
    let policy = key_policy_for(ctx, &existing.id)?;
    let new = |k: &&KeyCred| {
        !existing
            .key_credentials
            .iter()
            .any(|e| crate::pki::sha1(&e.key_der) == crate::pki::sha1(&k.key_der))
    };
    let mut added = keys.iter().filter(new);
    if policy.trusted_ca
        && added
            .clone()
            .any(|k| crate::der::summary(&k.key_der).is_none_or(|c| c.issuer == c.subject))
    {
        return Some(ctx.error(
            StatusCode::BAD_REQUEST,
            "CredentialNotFromTrustedCertificateAuthority",
            &format!(
                "The certificate is not issued by a certificate authority trusted as per \
                 assigned policy '{}'.",
                policy.id
            ),
        ));
    }
    let too_long = policy.max_days > 0
        && added.any(|k| lifetime_days(k).is_none_or(|d| d > i64::from(policy.max_days)));
    too_long.then(|| {
        ctx.error(
            StatusCode::BAD_REQUEST,
            "CredentialInvalidLifetimeAsPerAppPolicy",
            &format!(
                "Credential lifetime exceeds the max value allowed as per assigned policy '{}'.",
                policy.id
            ),
        )
    })
}

/// Applies a PATCH body to the application with object id `id` (which exists).
pub(super) fn apply_app_patch(ctx: &Ctx<'_>, id: &str, body: &Value) -> Response {
    let Some(existing) = ctx.s.with_world(|w| {
        w.apps
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .cloned()
    }) else {
        return ctx.not_found(id);
    };
    if let Some(unique) = body.get("uniqueName")
        && let Err(refused) = check_unique_name(ctx, &existing, unique)
    {
        return refused;
    }
    let keys = match body.get("keyCredentials") {
        Some(v) => match parse_keys(ctx, &existing.key_credentials, v) {
            Ok(k) => Some(k),
            Err(r) => return r,
        },
        None => None,
    };
    if let Some(keys) = &keys
        && let Some(refused) = refused_by_key_policy(ctx, &existing, keys)
    {
        return refused;
    }
    let (tags, notes) = match tags_and_notes(ctx, body) {
        Ok(t) => t,
        Err(r) => return r,
    };
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
            if let Some(t) = tags {
                app.tags = t;
            }
            if let Some(n) = notes {
                app.notes = n;
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

/// The `tags` and `notes` of a create or PATCH body, each when present (`notes`: null
/// clears them). Graph refuses another type with its usual 400.
#[allow(clippy::type_complexity)]
fn tags_and_notes(
    ctx: &Ctx<'_>,
    body: &Value,
) -> Result<(Option<Vec<String>>, Option<Option<String>>), Response> {
    let invalid = |p: &str| {
        ctx.error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("Invalid value specified for property '{p}' of resource 'Application'."),
        )
    };
    let tags = match body.get("tags") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("tags"))?,
        ),
        Some(_) => return Err(invalid("tags")),
    };
    let notes = match body.get("notes") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(n)) => Some(Some(n.clone())),
        Some(_) => return Err(invalid("notes")),
    };
    Ok((tags, notes))
}

/// `DELETE /applications/{id}`: the application moves to the deleted items (restorable
/// for 30 days, so it no longer answers by id, appId or uniqueName); its service
/// principal and the grants that principal holds go with it. Not verified against a
/// tenant: whether Entra releases a deleted application's uniqueName at once (modelled
/// so here) or keeps it reserved while the application can be restored — Microsoft
/// Graph's "Upsert application" and "directory resource type" pages do not say.
pub(super) fn delete_app(ctx: &Ctx<'_>, id: &str) -> Response {
    let token = match authorize(ctx, Need::WriteApps) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = owned_or_denied(ctx, &token, Some(id)) {
        return r;
    }
    let removed = ctx.s.with_world(|w| {
        let app = find_app(w, id).cloned()?;
        w.apps.retain(|a| a.app_id != app.app_id);
        let deleted = w.now_iso();
        w.deleted.push(DeletedItem {
            kind: "application",
            id: app.id.clone(),
            app_id: app.app_id.clone(),
            display_name: app.display_name.clone(),
            deleted: deleted.clone(),
        });
        let sps: Vec<Sp> = w
            .sps
            .iter()
            .filter(|s| s.app_id == app.app_id)
            .cloned()
            .collect();
        for sp in sps {
            w.remove_sp(&sp, &deleted);
        }
        Some(())
    });
    match removed {
        Some(()) => ctx.answer(StatusCode::NO_CONTENT, None),
        None => ctx.not_found(id),
    }
}
