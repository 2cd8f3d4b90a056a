//! The trusted certificate store.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use ise_intune_http::BodyKind;

use super::listing::{Filter, One, segment};
use crate::client::{Api, Call, IseClient};
use crate::error::{Error, Result};
use crate::export::unpack_export;
use crate::model::TrustedCertificate;

/// An import request for the trusted store, checked against ISE's rules before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCertificateImport {
    /// Friendly name.
    pub name: String,
    /// Description (no commas or apostrophes: ISE's security filter refuses them).
    pub description: Option<String>,
    /// The certificate PEM (text around the block is dropped before sending).
    pub data: String,
    /// Allow a certificate whose basicConstraints says cA=false.
    pub allow_basic_constraint_ca_false: bool,
    /// Allow an expired or not-yet-valid certificate.
    pub allow_out_of_date_cert: bool,
    /// Allow SHA-1 signed certificates.
    pub allow_sha1_certificates: bool,
    /// Trust for authentication within ISE (TLS to external servers, e.g. Intune).
    pub trust_for_ise_auth: bool,
    /// Trust for client authentication and syslog (needs `trust_for_ise_auth`).
    pub trust_for_client_auth: bool,
    /// Trust for certificate-based admin authentication (needs both above).
    pub trust_for_certificate_based_admin_auth: bool,
    /// Trust for authentication of Cisco services.
    pub trust_for_cisco_services_auth: bool,
    /// Validate certificate extensions.
    pub validate_certificate_extensions: bool,
}

impl TrustedCertificateImport {
    /// A request with every option off.
    pub fn new(name: impl Into<String>, pem: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            data: pem.into(),
            allow_basic_constraint_ca_false: false,
            allow_out_of_date_cert: false,
            allow_sha1_certificates: false,
            trust_for_ise_auth: false,
            trust_for_client_auth: false,
            trust_for_certificate_based_admin_auth: false,
            trust_for_cisco_services_auth: false,
            validate_certificate_extensions: false,
        }
    }

    /// The one certificate of `data`: its DER and its PEM block (LF line ends).
    fn certificate(&self) -> Result<(Vec<u8>, String)> {
        let blocks =
            crate::export::certificate_blocks(&self.data).map_err(|e| Error::InvalidInput {
                what: format!("the data is not PEM: {e}"),
            })?;
        match <[_; 1]>::try_from(blocks) {
            Ok([one]) => Ok(one),
            Err(blocks) if blocks.is_empty() => Err(Error::InvalidInput {
                what: "the data holds no PEM CERTIFICATE block".into(),
            }),
            Err(blocks) => Err(Error::InvalidInput {
                what: format!(
                    "the data holds {} certificates; ISE imports one per request",
                    blocks.len()
                ),
            }),
        }
    }

    /// The SHA-256 fingerprint of the certificate to import (uppercase hex), as ISE
    /// reports it in `sha256Fingerprint`.
    pub fn sha256_hex(&self) -> Result<String> {
        let (der, _) = self.certificate()?;
        Ok(hex::encode_upper(ring::digest::digest(
            &ring::digest::SHA256,
            &der,
        )))
    }

    /// Checks ISE's rules and returns the exact body to send.
    pub fn to_body(&self) -> Result<Value> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidInput {
                what: "the trusted certificate needs a name".into(),
            });
        }
        if self.name.contains('\'') {
            return Err(Error::SecurityFilter {
                field: "name",
                character: '\'',
            });
        }
        if let Some(d) = &self.description
            && let Some(c) = d.chars().find(|c| matches!(c, '\'' | ','))
        {
            return Err(Error::SecurityFilter {
                field: "description",
                character: c,
            });
        }
        if self.trust_for_client_auth && !self.trust_for_ise_auth {
            return Err(Error::InvalidInput {
                what: "trust for client authentication needs trust for authentication within ISE"
                    .into(),
            });
        }
        if self.trust_for_certificate_based_admin_auth
            && !(self.trust_for_ise_auth && self.trust_for_client_auth)
        {
            return Err(Error::InvalidInput {
                what: "trust for certificate-based admin authentication needs trust for \
                       authentication within ISE and for client authentication"
                    .into(),
            });
        }
        let (_, block) = self.certificate()?;
        let mut body = json!({
            "name": self.name,
            "data": block,
            "allowBasicConstraintCAFalse": self.allow_basic_constraint_ca_false,
            "allowOutOfDateCert": self.allow_out_of_date_cert,
            "allowSHA1Certificates": self.allow_sha1_certificates,
            "trustForIseAuth": self.trust_for_ise_auth,
            "trustForClientAuth": self.trust_for_client_auth,
            "trustForCertificateBasedAdminAuth": self.trust_for_certificate_based_admin_auth,
            "trustForCiscoServicesAuth": self.trust_for_cisco_services_auth,
            "validateCertificateExtensions": self.validate_certificate_extensions,
        });
        if let Some(d) = &self.description {
            body["description"] = json!(d);
        }
        Ok(body)
    }
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportOutcome {
    /// Added to the trusted store.
    Imported {
        /// The new certificate's id, when ISE returned it.
        id: Option<String>,
        /// ISE's message.
        message: String,
    },
    /// ISE already holds this certificate (409, or "binary equal ... skipping the
    /// replace"): nothing changed.
    AlreadyPresent {
        /// ISE's message.
        message: String,
    },
    /// Another certificate holds the friendly name: nothing was imported; import under
    /// another name.
    NameTaken {
        /// ISE's message.
        message: String,
    },
}

/// A change to a certificate of the trusted store (`PUT …/trusted-certificate/{id}`):
/// the friendly name (required by ISE), the status and the trust flags.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustedCertificateUpdate {
    /// Friendly name (ISE requires it; send the current one to keep it).
    pub name: String,
    /// Enabled or disabled.
    pub enabled: bool,
    /// Trust for authentication within ISE.
    pub trust_for_ise_auth: bool,
    /// Trust for client authentication and syslog (needs `trust_for_ise_auth`).
    pub trust_for_client_auth: bool,
    /// Trust for certificate-based admin authentication (needs both above).
    pub trust_for_certificate_based_admin_auth: bool,
    /// Trust for authentication of Cisco services.
    pub trust_for_cisco_services_auth: bool,
    /// A new description (`None`: not sent, kept).
    pub description: Option<String>,
}

impl TrustedCertificateUpdate {
    /// The update that keeps `current` as ISE reports it (name, status, and the trust
    /// flags read from `trustedFor`), to be changed field by field.
    pub fn keeping(current: &TrustedCertificate) -> Self {
        let purposes = current.trusted_for.as_deref().unwrap_or_default();
        let has = |p: &str| {
            purposes
                .split(',')
                .any(|x| x.trim().eq_ignore_ascii_case(p))
        };
        Self {
            name: current.friendly_name.clone(),
            enabled: current
                .status
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("enabled")),
            trust_for_ise_auth: has("Infrastructure"),
            trust_for_client_auth: has("Endpoints"),
            trust_for_certificate_based_admin_auth: has("AdminAuth"),
            trust_for_cisco_services_auth: has("Cisco Services"),
            description: None,
        }
    }

    /// The exact body to send.
    pub fn to_body(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "status": if self.enabled { "Enabled" } else { "Disabled" },
            "trustForIseAuth": self.trust_for_ise_auth,
            "trustForClientAuth": self.trust_for_client_auth,
            "trustForCertificateBasedAdminAuth": self.trust_for_certificate_based_admin_auth,
            "trustForCiscoServicesAuth": self.trust_for_cisco_services_auth,
        });
        if let Some(d) = &self.description {
            body["description"] = json!(d);
        }
        body
    }
}

/// ISE's refusal of an import whose certificate it holds already (409, or "binary
/// equal ... skipping the replace").
fn is_duplicate(e: &Error) -> Option<String> {
    match e {
        Error::Api { status, body, .. } => {
            let m = body.message.to_ascii_lowercase();
            let dup =
                *status == 409 || m.contains("binary equal") || m.contains("skipping the replace");
            dup.then(|| body.message.clone())
        }
        _ => None,
    }
}

/// ISE's refusal of an import whose friendly name another certificate holds ("Trust
/// certificate with the friendly name … already exists").
fn is_name_taken(e: &Error) -> Option<String> {
    match e {
        Error::Api {
            status: 400, body, ..
        } => {
            let m = body.message.to_ascii_lowercase();
            (m.contains("friendly name") && m.contains("already exist"))
                .then(|| body.message.clone())
        }
        _ => None,
    }
}

/// How often a trusted import is sent at most (each further try only after the store
/// was checked and found without the certificate).
const IMPORT_TRIES: u32 = 3;

/// The trusted certificate store.
#[derive(Debug, Clone)]
pub struct TrustedCertificates {
    pub(super) client: IseClient,
}

impl TrustedCertificates {
    /// Lists every trusted certificate (all pages).
    pub async fn list(&self, filters: &[Filter]) -> Result<Vec<TrustedCertificate>> {
        self.client
            .list_all("/api/v1/certs/trusted-certificate".into(), filters)
            .await
    }

    /// Reads one trusted certificate.
    pub async fn get(&self, id: &str) -> Result<TrustedCertificate> {
        let path = format!(
            "/api/v1/certs/trusted-certificate/{}",
            segment("certificate id", id)?
        );
        let one: One<TrustedCertificate> = self
            .client
            .send_json(Call::new(Method::GET, Api::OpenApi, path))
            .await?;
        Ok(one.response)
    }

    /// Imports a certificate. A duplicate is reported as
    /// [`ImportOutcome::AlreadyPresent`], not as an error.
    ///
    /// An import is not idempotent, so it is never replayed blindly: after a transient
    /// failure (a gateway error, a timeout, a lost connection) the store is read and the
    /// certificate looked up by SHA-256; it is sent again only when it is not there.
    pub async fn import(&self, request: &TrustedCertificateImport) -> Result<ImportOutcome> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Resp {
            id: Option<String>,
            message: String,
        }
        let body = request.to_body()?;
        let sha256 = request.sha256_hex()?;
        let call = Call::new(
            Method::POST,
            Api::OpenApi,
            "/api/v1/certs/trusted-certificate/import",
        )
        .json(body);
        let mut tries = 0u32;
        loop {
            tries += 1;
            let err = match self
                .client
                .send_json::<Option<One<Resp>>>(call.clone())
                .await
            {
                Ok(r) => {
                    let r = r.map(|o| o.response).unwrap_or_default();
                    return Ok(ImportOutcome::Imported {
                        id: r.id,
                        message: r.message,
                    });
                }
                Err(e) => e,
            };
            if let Some(message) = is_duplicate(&err) {
                return Ok(ImportOutcome::AlreadyPresent { message });
            }
            if let Some(message) = is_name_taken(&err) {
                // Another run may have imported this very certificate under the name.
                if let Some(found) = self.find_by_sha256(&sha256).await? {
                    return Ok(ImportOutcome::AlreadyPresent {
                        message: format!("{message} (it is this certificate: id {})", found.id),
                    });
                }
                return Ok(ImportOutcome::NameTaken { message });
            }
            if !err.is_transient() || tries >= IMPORT_TRIES {
                return Err(err);
            }
            tracing::info!(tries, error = %err, "import failed transiently: checking the trusted store");
            if let Some(found) = self.find_by_sha256(&sha256).await? {
                return Ok(ImportOutcome::Imported {
                    id: Some(found.id),
                    message: "imported (confirmed in the trusted store after the answer was lost)"
                        .into(),
                });
            }
        }
    }

    /// The trusted certificate with this SHA-256 fingerprint (hex, any case or
    /// separators), if ISE holds it.
    pub async fn find_by_sha256(&self, sha256: &str) -> Result<Option<TrustedCertificate>> {
        let want: String = sha256
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect::<String>()
            .to_ascii_uppercase();
        Ok(self
            .list(&[])
            .await?
            .into_iter()
            .find(|c| c.sha256_hex().as_deref() == Some(want.as_str())))
    }

    /// Updates a trusted certificate in place (status, trust flags, name). PUT replaces
    /// the same fields with the same values, so it is retried like a read.
    pub async fn update(&self, id: &str, update: &TrustedCertificateUpdate) -> Result<()> {
        let path = format!(
            "/api/v1/certs/trusted-certificate/{}",
            segment("certificate id", id)?
        );
        self.client
            .send(Call::new(Method::PUT, Api::OpenApi, path).json(update.to_body()))
            .await
            .map(drop)
    }

    /// Deletes a trusted certificate.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!(
            "/api/v1/certs/trusted-certificate/{}",
            segment("certificate id", id)?
        );
        self.client
            .send(Call::new(Method::DELETE, Api::OpenApi, path))
            .await
            .map(drop)
    }

    /// Exports a trusted certificate as PEM (the answer may be the PEM itself, a ZIP,
    /// or JSON holding it).
    pub async fn export(&self, id: &str) -> Result<String> {
        let path = format!(
            "/api/v1/certs/trusted-certificate/export/{}",
            segment("certificate id", id)?
        );
        let mut call = Call::new(Method::GET, Api::OpenApi, path);
        call.accept = "application/octet-stream, application/json, text/plain";
        call.body_kind = BodyKind::Archive;
        let answer = self.client.send(call).await?;
        if answer.body.starts_with(b"PK") {
            return unpack_export(&answer.body).map(|e| e.certificates_pem.join(""));
        }
        let text = String::from_utf8_lossy(&answer.body);
        let text = match serde_json::from_str::<Value>(&text) {
            Ok(v) => find_pem(&v).unwrap_or_default(),
            Err(_) => text.into_owned(),
        };
        let blocks = crate::export::certificate_blocks(&text)?;
        if blocks.is_empty() {
            return Err(Error::Export {
                what: "the trusted certificate export holds no CERTIFICATE".into(),
                source: None,
            });
        }
        Ok(blocks.into_iter().map(|(_, pem)| pem).collect())
    }
}

fn find_pem(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.contains("-----BEGIN CERTIFICATE-----") => Some(s.clone()),
        Value::Object(m) => m.values().find_map(find_pem),
        Value::Array(a) => a.iter().find_map(find_pem),
        _ => None,
    }
}
