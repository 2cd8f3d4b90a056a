//! ISE's certificate API: system certificates and their export, the trusted store.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn system_json(s: &Shared, c: &crate::state::SystemCert) -> Value {
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

pub(super) async fn list_system(
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

pub(super) async fn get_system(
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

pub(super) fn zip_of(entries: &[(String, String)]) -> Option<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .ok()?;
        w.write_all(text.as_bytes()).ok()?;
    }
    Some(w.finish().ok()?.into_inner())
}

pub(super) async fn export_system(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
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

pub(super) fn trusted_json(s: &Shared, t: &TrustedCert) -> Value {
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

pub(super) async fn list_trusted(
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

pub(super) async fn get_trusted(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
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
pub(super) async fn update_trusted(
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

pub(super) async fn delete_trusted(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
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

pub(super) async fn export_trusted(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
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

/// ISE's rules between the trust flags: client authentication needs authentication
/// within ISE, certificate-based admin authentication needs both.
fn trust_flags_consistent(
    ise_auth: bool,
    client_auth: bool,
    admin_auth: bool,
) -> Result<(), Response> {
    if client_auth && !ise_auth {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Trust for client authentication and Syslog requires Trust for authentication within ISE",
        ));
    }
    if admin_auth && !(ise_auth && client_auth) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Trust for certificate based admin authentication requires Trust for authentication within ISE and Trust for client authentication and Syslog",
        ));
    }
    Ok(())
}

/// An import's certificate, parsed, past ISE's "Security Check" (a quote in the name,
/// the subject or the description, or a comma in the description, is refused).
fn checked_certificate(
    name: &str,
    description: &str,
    data: &str,
) -> Result<(Vec<u8>, crate::der::CertSummary), Response> {
    let security = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Security Check Failed", "status": "400"})),
        )
            .into_response()
    };
    if name.contains('\'') || description.contains('\'') || description.contains(',') {
        return Err(security());
    }
    let unparsable = || {
        fail(
            StatusCode::BAD_REQUEST,
            "Invalid certificate data: unable to parse the certificate",
        )
    };
    let der = pem_to_der(data).ok_or_else(unparsable)?;
    let summary = crate::der::summary(&der).ok_or_else(unparsable)?;
    if summary.subject.contains('\'') {
        return Err(security());
    }
    Ok((der, summary))
}

pub(super) async fn import_trusted(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    let (der, summary) = match checked_certificate(&name, &description, &data) {
        Ok(both) => both,
        Err(refused) => return refused,
    };
    let ise_auth = flag("trustForIseAuth").unwrap_or(false);
    let client_auth = flag("trustForClientAuth").unwrap_or(false);
    let admin_auth = flag("trustForCertificateBasedAdminAuth").unwrap_or(false);
    if let Err(refused) = trust_flags_consistent(ise_auth, client_auth, admin_auth) {
        return refused;
    }
    // ISE judges validity by its own clock: the simulated one.
    let now = s.with_world(|w| w.now_utc());
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
