//! The Entra ID login service: OpenID discovery, the v2 and v1 token endpoints, client
//! secrets and client assertions validated for real, AADSTS errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::Shared;
use crate::state::{Audience, GRAPH_APP_ID, INTUNE_API_APP_ID, Token};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/token", post(token_v1))
        .with_state(shared)
}

async fn openid(State(s): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    let tenant_id = s.with_world(|w| w.tenant_id.clone());
    if tenant != tenant_id && tenant != "organizations" {
        return aadsts(
            s.as_ref(),
            400,
            "invalid_tenant",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let base = &s.urls.login;
    Json(json!({
        "token_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant_id}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tenant_id}/v2.0"),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/authorize"),
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    }))
    .into_response()
}

use axum::Json;

/// An Entra error answer.
pub(crate) fn aadsts(s: &Shared, status: u16, error: &str, code: u64, text: &str) -> Response {
    let (trace, corr) = s.with_world(|w| (w.rng.uuid(), w.rng.uuid()));
    let ts = crate::state::iso(time::OffsetDateTime::now_utc()).replace('T', " ");
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("{}/error?code={code}", s.urls.login),
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(body),
    )
        .into_response()
}

/// A refusal decided while the world is locked; the answer is built after unlocking.
type Refusal = (u16, &'static str, u64, String);

fn refuse(status: u16, error: &'static str, code: u64, text: &str) -> Refusal {
    (status, error, code, text.to_owned())
}

enum Requested {
    V2Scope(String),
    V1Resource(String),
}

/// Which resource an audience names: Graph or the Intune API.
fn resource_of(identifier: &str) -> Option<Audience> {
    let id = identifier.trim_end_matches('/');
    match id {
        "https://graph.microsoft.com" | GRAPH_APP_ID => Some(Audience::Graph),
        "https://api.manage.microsoft.com" | INTUNE_API_APP_ID => Some(Audience::Intune),
        _ => None,
    }
}

async fn token_v2(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    _headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let scope = form.get("scope").cloned().unwrap_or_default();
    issue(
        &s,
        &tenant,
        &form,
        Requested::V2Scope(scope),
        "oauth2/v2.0/token",
    )
}

async fn token_v1(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let resource = form.get("resource").cloned().unwrap_or_default();
    issue(
        &s,
        &tenant,
        &form,
        Requested::V1Resource(resource),
        "oauth2/token",
    )
}

fn issue(
    s: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    requested: Requested,
    endpoint_path: &str,
) -> Response {
    let tenant_id = s.with_world(|w| w.tenant_id.clone());
    if tenant != tenant_id {
        return aadsts(
            s,
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aadsts(
            s,
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(client_id) = form.get("client_id").cloned() else {
        return aadsts(
            s,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let audience = match &requested {
        Requested::V2Scope(scope) => {
            let Some(resource) = scope.strip_suffix("/.default") else {
                return aadsts(
                    s,
                    400,
                    "invalid_scope",
                    1002012,
                    &format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                );
            };
            match resource_of(resource) {
                Some(a) => a,
                None => {
                    return aadsts(
                        s,
                        400,
                        "invalid_scope",
                        70011,
                        &format!(
                            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                        ),
                    );
                }
            }
        }
        Requested::V1Resource(resource) => match resource_of(resource) {
            Some(a) if !resource.contains(".default") => a,
            _ => {
                return aadsts(
                    s,
                    400,
                    "invalid_resource",
                    500011,
                    &format!(
                        "The resource principal named {resource} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
                    ),
                );
            }
        },
    };
    let token_url = format!("{}/{tenant_id}/{endpoint_path}", s.urls.login);
    let checked = s.with_world(|w| -> Result<(), Refusal> {
        let Some(app) = w.visible_app_by_app_id(&client_id).cloned() else {
            return Err(refuse(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", w.tenant_name)));
        };
        if let Some(secret) = form.get("client_secret") {
            return if app.secrets.iter().any(|x| x == secret) {
                Ok(())
            } else {
                Err(refuse(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."))
            };
        }
        let Some(assertion) = form.get("client_assertion") else {
            return Err(refuse(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
        };
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(refuse(400, "invalid_request", 50027, "Invalid client_assertion_type."));
        }
        let Some(jwt) = crate::jwt::decode(assertion) else {
            return Err(refuse(400, "invalid_request", 50027, "JWT token is invalid or malformed."));
        };
        // Find the registered key the assertion names.
        let by_sha1 = jwt.header.get("x5t").and_then(|v| v.as_str()).and_then(|t| URL_SAFE_NO_PAD.decode(t).ok());
        let by_sha256 = jwt.header.get("x5t#S256").and_then(|v| v.as_str()).and_then(|t| URL_SAFE_NO_PAD.decode(t).ok());
        let key = app.key_credentials.iter().find(|k| {
            by_sha1.as_deref() == Some(crate::pki::sha1(&k.key_der).as_slice())
                || by_sha256.as_deref() == Some(crate::pki::sha256(&k.key_der).as_slice())
        });
        let shown = by_sha1
            .as_deref()
            .or(by_sha256.as_deref())
            .map(crate::pki::hex)
            .unwrap_or_default();
        let Some(key) = key else {
            return Err(refuse(401, "invalid_client", 700027, &format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys on app Id '{client_id}'.]")));
        };
        if !jwt.verify_with(&key.key_der) {
            return Err(refuse(401, "invalid_client", 700027, "Client assertion failed signature validation."));
        }
        if jwt.claim_str("aud") != Some(token_url.as_str())
            && jwt.claim_str("aud") != Some(token_url.replace("/oauth2/token", "/oauth2/v2.0/token").as_str())
        {
            return Err(refuse(401, "invalid_client", 700212, &format!("No matching federated identity record found for presented assertion audience '{}'.", jwt.claim_str("aud").unwrap_or_default())));
        }
        if jwt.claim_str("iss") != Some(client_id.as_str()) || jwt.claim_str("sub") != Some(client_id.as_str()) {
            return Err(refuse(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter."));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (nbf, exp) = (jwt.claim_u64("nbf").unwrap_or(0), jwt.claim_u64("exp").unwrap_or(0));
        if exp <= now || nbf > now + 300 {
            return Err(refuse(401, "invalid_client", 700024, "Client assertion is not within its valid time range."));
        }
        let jti = jwt.claim_str("jti").unwrap_or_default().to_owned();
        if jti.is_empty() || !w.jtis.insert(jti) {
            return Err(refuse(401, "invalid_client", 7000215, "Client assertion contains a replayed jti claim."));
        }
        Ok(())
    });
    if let Err((status, error, code, text)) = checked {
        return aadsts(s, status, error, code, &text);
    }
    let (token, lifetime) = s.with_world(|w| {
        let resource_app = match audience {
            Audience::Graph => GRAPH_APP_ID,
            Audience::Intune => INTUNE_API_APP_ID,
        };
        let roles = w.roles_of(&client_id, resource_app);
        let token = format!("sim.{}", w.rng.token(48));
        w.tokens.insert(
            token.clone(),
            Token {
                audience: audience.clone(),
                roles,
                expires: Instant::now() + Duration::from_secs(3599),
            },
        );
        (token, 3599u64)
    });
    match requested {
        Requested::V2Scope(_) => Json(json!({
            "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
            "access_token": token,
        }))
        .into_response(),
        Requested::V1Resource(resource) => Json(json!({
            "token_type": "Bearer", "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(), "resource": resource,
            "access_token": token,
        }))
        .into_response(),
    }
}

/// Looks up a bearer token.
pub(crate) fn bearer(s: &Shared, headers: &HeaderMap) -> Option<Token> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    s.with_world(|w| w.tokens.get(token).cloned())
        .filter(|t| t.expires > Instant::now())
}
