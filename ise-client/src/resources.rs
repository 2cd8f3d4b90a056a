//! Resource handlers: nodes, version, system and trusted certificates, deployment info,
//! and raw ERS access.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use ise_intune_http::BodyKind;

use crate::client::{Api, Call, IseClient, decode};
use crate::error::{Error, Result};
use crate::export::{ExportedCertificate, unpack_export};
use crate::model::{MdmInfo, Node, SystemCertificate, TrustedCertificate};
use crate::version::IseVersion;

/// Largest page size ISE accepts.
const PAGE_SIZE: u32 = 100;
/// Most pages followed before the listing is considered looping.
const MAX_PAGES: u32 = 1000;

fn segment(what: &str, value: &str) -> Result<String> {
    ise_intune_http::path_segment(value)
        .map(str::to_owned)
        .map_err(|why| Error::InvalidInput {
            what: format!("{what} `{value}` {why}"),
        })
}

/// A filter of the OpenAPI listings: `field.OPERATOR.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    field: String,
    operator: &'static str,
    value: String,
}

impl Filter {
    /// `field` equals `value`.
    pub fn eq(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator: "EQ",
            value: value.into(),
        }
    }

    /// `field` contains `value`.
    pub fn contains(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator: "CONTAINS",
            value: value.into(),
        }
    }

    /// `field` starts with `value`.
    pub fn starts_with(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator: "STARTSW",
            value: value.into(),
        }
    }

    fn render(&self) -> String {
        format!("{}.{}.{}", self.field, self.operator, self.value)
    }
}

#[derive(Deserialize)]
struct ListEnvelope<T> {
    #[serde(default = "Vec::new")]
    response: Vec<T>,
    #[serde(rename = "nextPage", default)]
    next_page: Option<Value>,
}

#[derive(Deserialize)]
struct One<T> {
    response: T,
}

impl IseClient {
    /// Lists every item of an OpenAPI collection, page by page.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
        filters: &[Filter],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut call = Call::new(Method::GET, Api::OpenApi, path.clone())
                .query("page", page.to_string())
                .query("size", PAGE_SIZE.to_string());
            for f in filters {
                call = call.query("filter", f.render());
            }
            let env: ListEnvelope<T> = self.send_json(call).await?;
            let empty = env.response.is_empty();
            out.extend(env.response);
            if empty || env.next_page.is_none_or(|n| n.is_null()) {
                return Ok(out);
            }
        }
        Err(Error::InvalidInput {
            what: format!("{path}: more than {MAX_PAGES} pages; the listing does not end"),
        })
    }

    /// The deployment's nodes.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        #[derive(Deserialize)]
        struct Env {
            #[serde(default)]
            response: Vec<Node>,
        }
        let env: Env = self
            .send_json(Call::new(
                Method::GET,
                Api::OpenApi,
                "/api/v1/deployment/node",
            ))
            .await?;
        Ok(env.response)
    }

    /// The primary admin node (role `PrimaryAdmin`, or `Standalone`).
    pub async fn primary_admin_node(&self) -> Result<Node> {
        let nodes = self.nodes().await?;
        let count = nodes.len();
        nodes
            .into_iter()
            .find(Node::is_primary_admin)
            .ok_or(Error::NoPrimaryAdmin { nodes: count })
    }

    /// ISE's version and highest patch: ERS `iseversion`, falling back to OpenAPI
    /// `/api/v1/patch` when ERS is unavailable (disabled, refused or not authorised).
    pub async fn version(&self) -> Result<IseVersion> {
        match self.version_from_ers().await {
            Ok(v) => Ok(v),
            Err(e) if ers_unavailable(&e) => {
                tracing::info!(error = %e, "ERS iseversion unavailable; using /api/v1/patch");
                self.version_from_patch_api().await
            }
            Err(e) => Err(e),
        }
    }

    /// ISE's version from ERS `op/systemconfig/iseversion`.
    pub async fn version_from_ers(&self) -> Result<IseVersion> {
        #[derive(Deserialize)]
        struct Item {
            #[serde(default)]
            name: String,
            #[serde(default)]
            value: Value,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Result_ {
            #[serde(default)]
            result_value: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Env {
            #[serde(rename = "OperationResult")]
            operation_result: Result_,
        }
        let env: Env = self
            .send_json(Call::new(
                Method::GET,
                Api::Ers,
                "/ers/config/op/systemconfig/iseversion",
            ))
            .await?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let find = |name: &str| {
            env.operation_result
                .result_value
                .iter()
                .find(|i| i.name.eq_ignore_ascii_case(name))
                .map(|i| text(&i.value))
        };
        let version = find("version").ok_or(Error::MissingVersion)?;
        let patch = find("patch information").unwrap_or_default();
        IseVersion::from_ers(&version, &patch)
    }

    /// ISE's version from OpenAPI `/api/v1/patch`.
    pub async fn version_from_patch_api(&self) -> Result<IseVersion> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Patch {
            #[serde(default)]
            patch_number: u16,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Env {
            #[serde(default)]
            ise_version: String,
            #[serde(default)]
            patch_version: Vec<Patch>,
        }
        let answer = self
            .send(Call::new(Method::GET, Api::OpenApi, "/api/v1/patch"))
            .await?;
        // Some releases wrap the answer in {"response": {...}}.
        let value: Value = decode("GET /api/v1/patch", &answer.body)?;
        let inner = value.get("response").cloned().unwrap_or(value);
        let env: Env = decode("GET /api/v1/patch", inner.to_string().as_bytes())?;
        if env.ise_version.is_empty() {
            return Err(Error::MissingVersion);
        }
        IseVersion::from_patch_api(
            &env.ise_version,
            env.patch_version.iter().map(|p| p.patch_number),
        )
    }

    /// System certificates of one node (by its short host name).
    pub fn system_certificates(&self, host_name: impl Into<String>) -> SystemCertificates {
        SystemCertificates {
            client: self.clone(),
            host_name: host_name.into(),
        }
    }

    /// The trusted certificate store.
    pub fn trusted_certificates(&self) -> TrustedCertificates {
        TrustedCertificates {
            client: self.clone(),
        }
    }

    /// ERS `deploymentinfo/getAllInfo` → `mdmInfo`: the only read-only trace of
    /// External MDM servers.
    pub async fn mdm_info(&self) -> Result<MdmInfo> {
        let v: Value = self
            .send_json(Call::new(
                Method::GET,
                Api::Ers,
                "/ers/config/deploymentinfo/getAllInfo",
            ))
            .await?;
        let mdm = v
            .get("ERSDeploymentInfo")
            .and_then(|d| d.get("mdmInfo"))
            .cloned()
            .unwrap_or(Value::Null);
        if mdm.is_null() {
            return Ok(MdmInfo::default());
        }
        decode(
            "GET /ers/config/deploymentinfo/getAllInfo (mdmInfo)",
            mdm.to_string().as_bytes(),
        )
    }

    /// Raw access to ERS for what this crate does not type (custom automation).
    pub fn ers(&self) -> Ers {
        Ers {
            client: self.clone(),
        }
    }
}

fn ers_unavailable(e: &Error) -> bool {
    match e {
        Error::Api { status, .. } => matches!(status, 401 | 403 | 404 | 405 | 415 | 502 | 503),
        Error::Transport(_) => true,
        _ => false,
    }
}

/// System certificates of one node.
#[derive(Debug, Clone)]
pub struct SystemCertificates {
    client: IseClient,
    host_name: String,
}

/// What to export.
#[derive(Clone)]
#[non_exhaustive]
pub enum ExportKind {
    /// The certificate only.
    CertificateOnly,
    /// The certificate and its private key, encrypted with this password (8–100
    /// letters and digits, as ISE requires).
    WithPrivateKey(SecretString),
}

impl std::fmt::Debug for ExportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CertificateOnly => f.write_str("CertificateOnly"),
            Self::WithPrivateKey(_) => f.write_str("WithPrivateKey([REDACTED])"),
        }
    }
}

impl SystemCertificates {
    /// Lists the node's system certificates.
    pub async fn list(&self, filters: &[Filter]) -> Result<Vec<SystemCertificate>> {
        let host = segment("host name", &self.host_name)?;
        self.client
            .list_all(format!("/api/v1/certs/system-certificate/{host}"), filters)
            .await
    }

    /// Reads one system certificate.
    pub async fn get(&self, id: &str) -> Result<SystemCertificate> {
        let path = format!(
            "/api/v1/certs/system-certificate/{}/{}",
            segment("host name", &self.host_name)?,
            segment("certificate id", id)?
        );
        let one: One<SystemCertificate> = self
            .client
            .send_json(Call::new(Method::GET, Api::OpenApi, path))
            .await?;
        Ok(one.response)
    }

    /// Exports a system certificate (`hostName` is always sent: ISE 3.2+ refuses the
    /// export without it).
    pub async fn export(&self, id: &str, kind: &ExportKind) -> Result<ExportedCertificate> {
        let host = segment("host name", &self.host_name)?;
        let mut body = json!({"id": segment("certificate id", id)?, "hostName": host});
        match kind {
            ExportKind::CertificateOnly => body["export"] = json!("CERTIFICATE"),
            ExportKind::WithPrivateKey(password) => {
                let p = password.expose_secret();
                if !(8..=100).contains(&p.len()) || !p.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(Error::InvalidInput {
                        what: "the export password must be 8 to 100 letters and digits".into(),
                    });
                }
                body["export"] = json!("CERTIFICATE_WITH_PRIVATE_KEY");
                body["password"] = json!(p);
            }
        }
        let mut call = Call::new(
            Method::POST,
            Api::OpenApi,
            "/api/v1/certs/system-certificate/export",
        )
        .json(body);
        call.accept = "application/octet-stream, application/json";
        call.read_only = true;
        call.body_kind = BodyKind::Archive;
        let answer = self.client.send(call).await?;
        unpack_export(&answer.body)
    }
}

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
        }
    }

    /// The exact body to send.
    pub fn to_body(&self) -> Value {
        json!({
            "name": self.name,
            "status": if self.enabled { "Enabled" } else { "Disabled" },
            "trustForIseAuth": self.trust_for_ise_auth,
            "trustForClientAuth": self.trust_for_client_auth,
            "trustForCertificateBasedAdminAuth": self.trust_for_certificate_based_admin_auth,
            "trustForCiscoServicesAuth": self.trust_for_cisco_services_auth,
        })
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
    client: IseClient,
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

/// Raw ERS requests, with Basic auth, media types, CSRF and retries handled.
#[derive(Debug, Clone)]
pub struct Ers {
    client: IseClient,
}

impl Ers {
    fn check(path: &str) -> Result<()> {
        if !path.starts_with("/ers/") {
            return Err(Error::InvalidInput {
                what: format!("ERS paths start with /ers/: `{path}`"),
            });
        }
        Ok(())
    }

    /// `GET` an ERS path, e.g. `/ers/config/networkdevice`.
    pub async fn get(&self, path: &str) -> Result<Value> {
        Self::check(path)?;
        self.client
            .send_json(Call::new(Method::GET, Api::Ers, path))
            .await
    }

    /// Sends a write (`POST`, `PUT` or `DELETE`) to an ERS path; returns the JSON answer,
    /// or `Value::Null` for an empty one.
    pub async fn write(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        Self::check(path)?;
        self.client.request(method, path, body).await
    }
}
