//! The Entra ID login service: OpenID discovery, the v2 and v1 token endpoints, client
//! secrets and client assertions validated for real, AADSTS errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::Shared;
use crate::cloud::CloudNames;
use crate::state::{App, World};
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

/// Which resource an identifier names, exactly as Entra matches it: the Intune API is
/// `https://api.manage.microsoft.com/` with its trailing slash (so the scope needs
/// `//.default`: Entra takes everything before the last `/` as the resource — Microsoft
/// Learn, daemon app "acquire token"; MSAL.NET #747), Graph with or without it.
fn resource_of(cloud: &CloudNames, identifier: &str) -> Option<Audience> {
    if identifier == GRAPH_APP_ID
        || identifier == cloud.graph
        || identifier.strip_suffix('/') == Some(cloud.graph)
    {
        return Some(Audience::Graph);
    }
    (identifier == INTUNE_API_APP_ID || identifier == cloud.intune).then_some(Audience::Intune)
}

/// Entra's answer to a resource its cloud does not have (AADSTS500011).
fn not_in_tenant(resource: &str, tenant_id: &str) -> Refusal {
    refuse(
        400,
        "invalid_resource",
        500011,
        &format!(
            "The resource principal named {resource} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

/// The `aud` values Entra accepts in a client assertion: the tenant's v1 or v2 token
/// URL, under the canonical host or this simulator's, whichever endpoint is called.
fn accepted_assertion_audiences(login: &str, real: &str, tenant_id: &str) -> Vec<String> {
    [login, real]
        .iter()
        .flat_map(|host| {
            [
                format!("{host}/{tenant_id}/oauth2/token"),
                format!("{host}/{tenant_id}/oauth2/v2.0/token"),
            ]
        })
        .collect()
}

/// An `x5t`/`x5t#S256` value: base64url, `=` padding tolerated.
fn decode_thumbprint(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()
}

/// The `/.default` scope of a client-credentials request. ISE 3.3 sends a
/// space-separated list (`openid <resource>//.default profile offline_access`): Entra
/// ignores the OpenID Connect scopes and needs exactly one `/.default` among the rest.
fn default_scope(scope: &str) -> Option<&str> {
    let mut rest = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"));
    let one = rest.next()?;
    rest.next().is_none().then_some(one)
}

async fn token_v2(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    _headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let scope = form.get("scope").cloned().unwrap_or_default();
    issue(&s, &tenant, &form, Requested::V2Scope(scope))
}

async fn token_v1(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let resource = form.get("resource").cloned().unwrap_or_default();
    issue(&s, &tenant, &form, Requested::V1Resource(resource))
}

fn issue(
    s: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    requested: Requested,
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
    let audience = match requested_audience(s.cloud, &tenant_id, &requested) {
        Ok(a) => a,
        Err(refusal) => {
            s.with_world(|w| record_sign_in(w, &client_id, None, form, Some(&refusal)));
            let (status, error, code, text) = refusal;
            return aadsts(s, status, error, code, &text);
        }
    };
    let login = s.urls.login.clone();
    let hosts = [login.as_str(), s.cloud.login];
    let checked = s.with_world(|w| {
        let checked = check_client(w, &hosts, &tenant_id, &client_id, form);
        record_sign_in(w, &client_id, Some(&audience), form, checked.as_ref().err());
        checked
    });
    if let Err((status, error, code, text)) = checked {
        return aadsts(s, status, error, code, &text);
    }
    let (token, lifetime) = s.with_world(|w| mint_token(w, s.cloud, &audience, &client_id));
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

/// Records a client-credentials request in the tenant's sign-in log, as Entra's
/// service-principal sign-ins show it: the credential presented (a client secret, a
/// certificate's assertion with the thumbprint its `x5t` names, or an external token),
/// the key that matched on a success, and the AADSTS code of a refusal. Entra logs a
/// failed certificate sign-in with the thumbprint presented (the AADSTS700027 text
/// names it too); modelled so, not verified against a real log.
fn record_sign_in(
    w: &mut World,
    client_id: &str,
    audience: Option<&Audience>,
    form: &HashMap<String, String>,
    refusal: Option<&Refusal>,
) {
    let assertion = form
        .get("client_assertion")
        .and_then(|a| crate::jwt::decode(a));
    let thumbprint = assertion.as_ref().and_then(|jwt| {
        jwt.header
            .get("x5t")
            .and_then(|v| v.as_str())
            .and_then(decode_thumbprint)
            .map(|t| crate::pki::hex(&t).to_ascii_uppercase())
    });
    let credential_type = match (&assertion, form.contains_key("client_secret")) {
        (_, true) => "clientSecret",
        (Some(jwt), _) if jwt.claim_str("iss").is_some_and(|i| i != client_id) => {
            "federatedIdentityCredential"
        }
        (Some(_), _) => "certificate",
        (None, false) => "none",
    };
    let key_id = match (refusal, &thumbprint) {
        (None, Some(t)) => w.apps.iter().find(|a| a.app_id == client_id).and_then(|a| {
            a.key_credentials
                .iter()
                .find(|k| crate::pki::hex(&crate::pki::sha1(&k.key_der)).eq_ignore_ascii_case(t))
                .map(|k| k.key_id.clone())
        }),
        _ => None,
    };
    let resource = audience.map(|a| match a {
        Audience::Graph => (GRAPH_APP_ID, "Microsoft Graph"),
        Audience::Intune => (INTUNE_API_APP_ID, "Microsoft Intune API"),
    });
    let record = crate::evidence::SignInRecord {
        id: w.rng.uuid(),
        at: w.now_utc(),
        app_id: client_id.to_owned(),
        resource,
        error_code: refusal.map_or(0, |r| r.2),
        failure_reason: refusal.map(|r| r.3.clone()),
        thumbprint,
        key_id,
        credential_type,
    };
    w.evidence.record(record);
}

/// The audience a token request asks for: a v2 `scope` ending in `/.default`, or a v1
/// `resource`, naming Graph or the Intune API.
fn requested_audience(
    cloud: &CloudNames,
    tenant_id: &str,
    requested: &Requested,
) -> Result<Audience, Refusal> {
    let audience = match requested {
        Requested::V2Scope(scope) => {
            let Some(resource) = default_scope(scope).and_then(|s| s.strip_suffix("/.default"))
            else {
                return Err(refuse(
                    400,
                    "invalid_scope",
                    1002012,
                    &format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            };
            if crate::cloud::of_another_cloud(cloud, resource) {
                return Err(not_in_tenant(resource, tenant_id));
            }
            resource_of(cloud, resource).ok_or_else(|| {
                refuse(
                    400,
                    "invalid_scope",
                    70011,
                    &format!(
                        "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                    ),
                )
            })?
        }
        Requested::V1Resource(resource) => match resource_of(cloud, resource) {
            Some(a) if !resource.contains(".default") => a,
            _ => return Err(not_in_tenant(resource, tenant_id)),
        },
    };
    Ok(audience)
}

/// Authenticates the client: its secret, or a client assertion signed with one of its
/// registered keys (propagated, unreplayed, within its time, for this tenant's token
/// URL), or an external token matching one of its federated identity credentials.
fn check_client(
    w: &mut World,
    login: &[&str; 2],
    tenant_id: &str,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<(), Refusal> {
    let Some(app) = w.visible_app_by_app_id(client_id).cloned() else {
        return Err(refuse(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                w.tenant_name
            ),
        ));
    };
    if let Some(secret) = form.get("client_secret") {
        return if app.secrets.iter().any(|x| x == secret) {
            Ok(())
        } else {
            Err(refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
            ))
        };
    }
    let Some(assertion) = form.get("client_assertion") else {
        return Err(refuse(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(refuse(
            400,
            "invalid_request",
            50027,
            "Invalid client_assertion_type.",
        ));
    }
    let Some(jwt) = crate::jwt::decode(assertion) else {
        return Err(refuse(
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        ));
    };
    if jwt.claim_str("iss").is_some_and(|iss| iss != client_id) {
        return check_federated(w, &app, &jwt);
    }
    check_assertion(w, &app, &jwt, login, tenant_id, client_id)
}

/// An external token (workload identity federation): matched against the
/// application's federated identity credentials, signed by the workload issuer, within
/// its time.
// An assertion the application did not issue itself is an external token:
// workload identity federation, matched against the application's federated
// identity credentials (Microsoft Learn, "Workload identity federation";
// AADSTS70021 names the issuer, subject and audience presented).
fn check_federated(w: &World, app: &App, jwt: &crate::jwt::Jwt) -> Result<(), Refusal> {
    let (iss, sub, aud) = (
        jwt.claim_str("iss").unwrap_or_default(),
        jwt.claim_str("sub").unwrap_or_default(),
        jwt.claim_str("aud").unwrap_or_default(),
    );
    if !app
        .federated
        .iter()
        .any(|f| f.issuer == iss && f.subject == sub && f.audiences.iter().any(|a| a == aud))
    {
        return Err(refuse(
            400,
            "invalid_request",
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'."
            ),
        ));
    }
    if !jwt.verify_with(&w.workload_issuer_der) {
        return Err(refuse(
            400,
            "invalid_request",
            50013,
            "Assertion failed signature validation. [Reason - The key was not found.]",
        ));
    }
    if !within_time(jwt, w.now_unix()) {
        return Err(refuse(
            400,
            "invalid_request",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// A client assertion: signed with a registered, propagated RSA key of the application,
/// for this tenant's token URL, issued by and for the client, within its time, its
/// `jti` never seen before.
fn check_assertion(
    w: &mut World,
    app: &App,
    jwt: &crate::jwt::Jwt,
    login: &[&str; 2],
    tenant_id: &str,
    client_id: &str,
) -> Result<(), Refusal> {
    // Find the registered key the assertion names. Entra accepts base64url with or
    // without `=` padding (MSAL for Python pads its x5t).
    let thumb = |name: &str| {
        jwt.header
            .get(name)
            .and_then(|v| v.as_str())
            .and_then(decode_thumbprint)
    };
    let by_sha1 = thumb("x5t");
    let by_sha256 = thumb("x5t#S256");
    // Entra signs client assertions only with RSA keys: an ECDSA assertion is refused
    // (AADSTS5002738; microsoft-identity-web #3467).
    if jwt
        .header
        .get("alg")
        .and_then(|v| v.as_str())
        .is_some_and(|a| a.starts_with("ES"))
    {
        return Err(refuse(
            400,
            "invalid_request",
            5002738,
            "Invalid JWT token. 'ES256' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, RS384, RS512'",
        ));
    }
    let key = app.key_credentials.iter().find(|k| {
        by_sha1.as_deref() == Some(crate::pki::sha1(&k.key_der).as_slice())
            || by_sha256.as_deref() == Some(crate::pki::sha256(&k.key_der).as_slice())
    });
    let shown = by_sha1
        .as_deref()
        .or(by_sha256.as_deref())
        .map(crate::pki::hex)
        .unwrap_or_default();
    // Listed by Graph but not yet propagated to the token service: refused as if
    // unknown, as Entra does for some time after a key is added.
    let key = key.filter(|k| k.usable_at <= w.now());
    let Some(key) = key else {
        return Err(refuse(
            401,
            "invalid_client",
            700027,
            &format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys on app Id '{client_id}'.]"
            ),
        ));
    };
    if !jwt.verify_with(&key.key_der) {
        return Err(refuse(
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    // The tenant's v1 or v2 token URL, under the canonical host or this simulator's,
    // on either endpoint (ISE's own flow posts to v1 with aud = the v1 URL).
    let accepted = accepted_assertion_audiences(login[0], login[1], tenant_id);
    if !jwt
        .claim_str("aud")
        .is_some_and(|aud| accepted.iter().any(|a| a == aud))
    {
        return Err(refuse(
            401,
            "invalid_client",
            700212,
            &format!(
                "No matching federated identity record found for presented assertion audience '{}'.",
                jwt.claim_str("aud").unwrap_or_default()
            ),
        ));
    }
    if jwt.claim_str("iss") != Some(client_id) || jwt.claim_str("sub") != Some(client_id) {
        return Err(refuse(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    if !within_time(jwt, w.now_unix()) {
        return Err(refuse(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let jti = jwt.claim_str("jti").unwrap_or_default().to_owned();
    if jti.is_empty() || !w.jtis.insert(jti) {
        return Err(refuse(
            401,
            "invalid_client",
            7000215,
            "Client assertion contains a replayed jti claim.",
        ));
    }
    Ok(())
}

/// Issues an access token for `audience` carrying the roles granted to `client_id`.
fn mint_token(
    w: &mut World,
    cloud: &CloudNames,
    audience: &Audience,
    client_id: &str,
) -> (String, u64) {
    let resource_app = match audience {
        Audience::Graph => GRAPH_APP_ID,
        Audience::Intune => INTUNE_API_APP_ID,
    };
    let roles = w.roles_of(client_id, resource_app);
    // Shaped like Entra's access tokens (a JWT whose `roles` claim lists the app
    // roles granted), so that a client may read what it holds. The signature is
    // random: only this simulator validates its tokens, by lookup.
    let now = w.now_unix();
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256"}"#);
    let claims = json!({
        "aud": match audience {
            Audience::Graph => cloud.graph,
            Audience::Intune => cloud.intune,
        },
        "iss": format!("https://sts.windows.net/{}/", w.tenant_id),
        "iat": now, "nbf": now, "exp": now + 3599,
        "appid": client_id, "tid": w.tenant_id, "roles": roles,
    });
    let token = format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        w.rng.token(43)
    );
    w.tokens.insert(
        token.clone(),
        Token {
            audience: audience.clone(),
            client_id: client_id.to_owned(),
            roles,
            expires: w.now() + Duration::from_secs(3599),
        },
    );
    (token, 3599u64)
}

/// Whether an assertion is within its valid time: not expired, and not valid only from
/// more than five minutes ahead (Entra's allowance for clock skew).
fn within_time(jwt: &crate::jwt::Jwt, now: u64) -> bool {
    let (nbf, exp) = (
        jwt.claim_u64("nbf").unwrap_or(0),
        jwt.claim_u64("exp").unwrap_or(0),
    );
    exp > now && nbf <= now + 300
}

/// Looks up a bearer token.
pub(crate) fn bearer(s: &Shared, headers: &HeaderMap) -> Option<Token> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    s.with_world(|w| w.tokens.get(token).filter(|t| t.expires > w.now()).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_exact() {
        let global = &crate::cloud::CLOUDS[0];
        assert!(resource_of(global, "https://api.manage.microsoft.com/") == Some(Audience::Intune));
        // The one-slash typo names another resource: no Intune token.
        assert!(resource_of(global, "https://api.manage.microsoft.com").is_none());
        assert!(resource_of(global, "https://graph.microsoft.com") == Some(Audience::Graph));
        assert!(resource_of(global, "https://graph.microsoft.com/") == Some(Audience::Graph));
        // Another cloud's Graph is not this tenant's.
        let usgov = crate::cloud::named("usgov").expect("usgov");
        assert!(resource_of(usgov, "https://graph.microsoft.com").is_none());
        assert!(crate::cloud::of_another_cloud(
            usgov,
            "https://graph.microsoft.com"
        ));
        assert!(resource_of(usgov, "https://graph.microsoft.us") == Some(Audience::Graph));
        assert!(resource_of(usgov, "https://api.manage.microsoft.us/") == Some(Audience::Intune));
        assert_eq!(
            default_scope(
                "openid https://api.manage.microsoft.com//.default profile offline_access"
            ),
            Some("https://api.manage.microsoft.com//.default")
        );
        assert_eq!(
            default_scope("https://graph.microsoft.com/.default"),
            Some("https://graph.microsoft.com/.default")
        );
        assert_eq!(
            default_scope(
                "https://graph.microsoft.com/.default https://api.manage.microsoft.com//.default"
            ),
            None
        );
        assert_eq!(default_scope("openid profile"), None);
    }

    #[test]
    fn both_assertion_audiences_on_both_hosts() {
        let got = accepted_assertion_audiences(
            "https://127.0.0.1:1",
            "https://login.microsoftonline.com",
            "t",
        );
        assert_eq!(
            got,
            [
                "https://127.0.0.1:1/t/oauth2/token",
                "https://127.0.0.1:1/t/oauth2/v2.0/token",
                "https://login.microsoftonline.com/t/oauth2/token",
                "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            ]
        );
    }

    #[test]
    fn padded_thumbprints_and_fractional_times_are_accepted() {
        // 20 bytes of SHA-1: base64url is 27 characters, 28 with MSAL's padding.
        let raw = [7u8; 20];
        let unpadded = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(decode_thumbprint(&unpadded).as_deref(), Some(&raw[..]));
        assert_eq!(
            decode_thumbprint(&format!("{unpadded}=")).as_deref(),
            Some(&raw[..])
        );
        let claims = serde_json::json!({"exp": 1_900_000_000.75, "nbf": 1_800_000_000u64});
        let jwt = crate::jwt::Jwt::for_claims(claims);
        assert_eq!(jwt.claim_u64("exp"), Some(1_900_000_000));
        assert_eq!(jwt.claim_u64("nbf"), Some(1_800_000_000));
    }
}
