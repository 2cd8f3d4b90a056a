//! One node's system certificates: list, get, export.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use ise_intune_http::BodyKind;

use super::listing::{Filter, One, segment};
use crate::client::{Api, Call, IseClient};
use crate::error::{Error, Result};
use crate::export::{ExportedCertificate, unpack_export};
use crate::model::SystemCertificate;

/// System certificates of one node.
#[derive(Debug, Clone)]
pub struct SystemCertificates {
    pub(super) client: IseClient,
    pub(super) host_name: String,
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
        if matches!(kind, ExportKind::WithPrivateKey(_)) {
            // A private key leaving ISE is in the audit trail, though nothing changes.
            call.audited_as = Some("export a private key");
        }
        let answer = self.client.send(call).await?;
        unpack_export(&answer.body)
    }
}
