//! ISE's Test Connection for an External MDM server, reproduced: what real ISE does
//! for the configured release, with ISE's own admin key and its own trusted store, and
//! ISE's messages when a step fails.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::Shared;

const TRUST_STORE: &str = "Connection Failed to the MDM server: There is a problem with the server Certificates or Cisco ISE trust store";

/// (major, minor, patch) of the configured release.
pub(crate) fn release(s: &Shared) -> (u32, u32, u32) {
    s.with_world(|w| {
        let mut parts = w
            .ise_version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            u32::from(w.ise_patch),
        )
    })
}

fn graph_supported((major, minor, patch): (u32, u32, u32)) -> bool {
    major > 3 || (major == 3 && (minor >= 2 || (minor == 1 && patch >= 3)))
}

/// Releases that request the Intune token from the v1 endpoint with `resource=`.
fn uses_v1_resource((major, minor, patch): (u32, u32, u32)) -> bool {
    (major, minor) == (3, 1) && patch < 8 || (major, minor) == (3, 2) && patch < 3
}

fn compliance_v3((major, minor, patch): (u32, u32, u32)) -> bool {
    match (major, minor) {
        (3, 1) => patch >= 8,
        (3, 2) => patch >= 4,
        _ => major > 3 || (major == 3 && minor >= 3),
    }
}

/// An HTTP client that trusts exactly what ISE's trusted store trusts for
/// "authentication within ISE".
pub(crate) fn ise_http(s: &Shared) -> Result<reqwest::Client, String> {
    let ders: Vec<Vec<u8>> = s.with_world(|w| {
        w.trusted
            .iter()
            .filter(|t| t.trust_ise_auth && t.enabled)
            .map(|t| t.der.clone())
            .collect()
    });
    let mut roots = rustls::RootCertStore::empty();
    for der in ders {
        // Certificates rustls cannot use as anchors are simply not anchors.
        let _ = roots.add(CertificateDer::from(der));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("Connection Failed to the MDM server: TLS setup failed ({e})"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        crate::server::ISE_ORIGIN_HEADER,
        reqwest::header::HeaderValue::from_static("test-connection"),
    );
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| format!("Connection Failed to the MDM server: {e}"))
}

fn transport_message(e: &reqwest::Error, what: &str) -> String {
    let detail = format!("{e:?}");
    if detail.contains("Certificate")
        || detail.contains("UnknownIssuer")
        || detail.contains("certificate")
    {
        TRUST_STORE.to_owned()
    } else {
        format!("Connection Failed to the MDM server: {what} could not be reached")
    }
}

async fn token(
    s: &Shared,
    host: &str,
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    audience_field: (&str, &str),
) -> Result<String, String> {
    let (key, cert) = s
        .with_world(|w| {
            w.system_certs
                .iter()
                .filter(|c| c.host == host)
                .find(|c| c.used_by.split(',').any(|u| u.trim() == "Admin"))
                .map(|c| (c.issued.key_pkcs8.clone(), c.issued.cert_der.to_vec()))
        })
        .ok_or_else(|| {
            "Connection Failed to the MDM server: no Admin certificate on this node".to_owned()
        })?;
    let (jti, now) = s.with_world(|w| (w.rng.uuid(), w.now_unix()));
    let assertion =
        crate::jwt::sign_assertion(&key, &cert, client_id, url, &jti, now).ok_or_else(|| {
            "Connection Failed to the MDM server: signing the client assertion failed".to_owned()
        })?;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        audience_field,
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let resp = http
        .post(url)
        .form(&form)
        .send()
        .await
        .map_err(|e| transport_message(&e, "the token issuing URL"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("no description");
        return Err(format!(
            "Connection Failed to the MDM server: Failed to acquire the access token ({}): {description}",
            status.as_u16()
        ));
    }
    body.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            "Connection Failed to the MDM server: the token answer had no access token".to_owned()
        })
}

/// Runs Test Connection; `Ok` carries ISE's success message, `Err` its failure message.
pub(crate) async fn test_connection(s: &Shared, name: &str) -> Result<String, String> {
    let result = run(s, name).await;
    let note = match &result {
        Ok(m) | Err(m) => m.clone(),
    };
    s.with_world(|w| {
        if let Some(m) = w.mdm_servers.get_mut(name) {
            m.last_test = Some(note);
        }
    });
    result
}

async fn run(s: &Shared, name: &str) -> Result<String, String> {
    let Some(server) = s.with_world(|w| w.mdm_servers.get(name).cloned()) else {
        return Err(format!("External MDM server {name} does not exist"));
    };
    let rel = release(s);
    if server
        .auto_discovery_url
        .starts_with("https://graph.windows.net")
    {
        return Err(format!(
            "Connection Failed to the MDM server: Auto Discovery URL {} uses Azure AD Graph, which Microsoft has retired; change it to https://graph.microsoft.com",
            server.auto_discovery_url
        ));
    }
    if !graph_supported(rel) {
        return Err("Connection Failed to the MDM server: this Cisco ISE release does not support Microsoft Graph auto discovery; upgrade to 3.1 patch 3 or later".into());
    }
    let http = ise_http(s)?;
    // Every policy service node queries Intune at authorization time, each with its
    // own Admin key: the test passes only when all of them can.
    let nodes: Vec<String> = s.with_world(|w| {
        w.nodes
            .iter()
            .filter(|n| n.is_policy_service())
            .map(|n| n.hostname.clone())
            .collect()
    });
    // The nodes test at the same time; the first failure in node order is reported.
    let results = futures_util::future::join_all(
        nodes
            .iter()
            .map(|host| run_from(s, &server, rel, &http, host)),
    )
    .await;
    let mut message = String::new();
    for r in results {
        message = r?;
    }
    Ok(message)
}

/// What a policy service node holds after connecting to Intune: the compliance
/// service's base (from auto discovery), an Intune token, and whether the release
/// speaks the v3 Compliance Retrieval API.
pub(crate) struct Session {
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) v3: bool,
}

/// An Intune token with the configured audience, asked for the way release `rel` asks:
/// a v1 `resource`, OpenID Connect scopes around the audience (3.3 and later), or the
/// audience as the scope.
async fn intune_token(
    s: &Shared,
    server: &crate::state::MdmServer,
    rel: (u32, u32, u32),
    http: &reqwest::Client,
    host: &str,
    token_url: &str,
) -> Result<String, String> {
    let v1 = token_url.replace("/oauth2/v2.0/token", "/oauth2/token");
    let oidc = format!("openid {} profile offline_access", server.token_audience);
    let (url, field) = if uses_v1_resource(rel) {
        (v1.as_str(), ("resource", server.token_audience.as_str()))
    } else if rel.0 > 3 || (rel.0 == 3 && rel.1 >= 3) {
        (token_url, ("scope", oidc.as_str()))
    } else {
        (token_url, ("scope", server.token_audience.as_str()))
    };
    token(s, host, http, url, &server.client_id, field).await
}

/// What ISE does before it can ask Intune anything, from one policy service node with
/// that node's key: a Graph token, auto discovery, an Intune token.
pub(crate) async fn connect(
    s: &Shared,
    server: &crate::state::MdmServer,
    rel: (u32, u32, u32),
    http: &reqwest::Client,
    host: &str,
) -> Result<Session, String> {
    let http = http.clone();
    let token_url = s.map_url(&server.token_issuing_url);
    // ISE asks for the Auto Discovery URL's own scope.
    let graph_scope = format!("{}/.default", s.real_origin(&server.auto_discovery_url));
    let graph_token = token(
        s,
        host,
        &http,
        &token_url,
        &server.client_id,
        ("scope", &graph_scope),
    )
    .await?;

    // Discovery.
    let discovery = format!(
        "{}/v1.0/servicePrincipals/appId={}/endpoints",
        s.map_url(server.auto_discovery_url.trim_end_matches('/')),
        crate::INTUNE_DISCOVERY_APP_ID
    );
    let resp = http
        .get(&discovery)
        .bearer_auth(&graph_token)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| transport_message(&e, "the Auto Discovery URL"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(format!(
            "Connection Failed to the MDM server: Unable to discover the Intune endpoint ({}): {message} Check that the application has the Application.Read.All permission with admin consent",
            status.as_u16()
        ));
    }
    let v3 = compliance_v3(rel);
    let provider = if v3 {
        "ComplianceRetrievalService"
    } else {
        "NACAPIService"
    };
    let Some(base) = body
        .get("value")
        .and_then(Value::as_array)
        .and_then(|v| {
            v.iter()
                .find(|e| e.get("providerName").and_then(Value::as_str) == Some(provider))
        })
        .and_then(|e| e.get("uri").and_then(Value::as_str))
        .map(str::to_owned)
    else {
        return Err(format!(
            "Connection Failed to the MDM server: the {provider} endpoint was not found by auto discovery"
        ));
    };

    let intune_token = intune_token(s, server, rel, &http, host, &token_url).await?;
    Ok(Session {
        base,
        token: intune_token,
        v3,
    })
}

/// Test Connection from one policy service node, with that node's key.
async fn run_from(
    s: &Shared,
    server: &crate::state::MdmServer,
    rel: (u32, u32, u32),
    http: &reqwest::Client,
    host: &str,
) -> Result<String, String> {
    let Session {
        base,
        token: intune_token,
        v3,
    } = connect(s, server, rel, http, host).await?;
    let mdminfo = format!(
        "{base}/ciscoise/mdminfo/?ise_api_version={}",
        if v3 { 3 } else { 2 }
    );
    let resp = http
        .get(&mdminfo)
        .bearer_auth(&intune_token)
        .header("Accept", "application/xml")
        .send()
        .await
        .map_err(|e| transport_message(&e, "the MDM server"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() || !text.contains("<name>mdminfo</name>") {
        return Err(format!(
            "Connection Failed to the MDM server: the MDM server answered {} to the mdminfo query: {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        ));
    }
    Ok("Test Connection succeeded: connected to Microsoft Intune".into())
}
