//! A client of the control API ([`crate::control`]) for a simulator running anywhere:
//! what the info file names, over its CA.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};

use crate::{SimError, SimInfo};

/// The most a control API answer may hold (a snapshot of thousands of devices is well
/// under it).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Calls a running simulator's control API (`control_url` of its [`SimInfo`]), trusting
/// its CA only. Every call has a 20-second timeout and an answer of at most 32 MiB.
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    url: String,
}

impl ControlClient {
    /// A client of the simulator `info` describes.
    pub fn new(info: &SimInfo) -> Result<Self, SimError> {
        let mut roots = rustls::RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(info.ca_pem.as_bytes()) {
            let der = der.map_err(|e| SimError::Config(format!("the simulator's CA: {e}")))?;
            roots
                .add(der)
                .map_err(|e| SimError::Config(format!("the simulator's CA: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimError::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| SimError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            url: info.control_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, SimError> {
        let mut answer = request
            .send()
            .await
            .map_err(|e| SimError::Config(format!("the control API: {e}")))?;
        let status = answer.status();
        // Read under a cap: whatever answers at that address is not trusted to end.
        let mut bytes = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| SimError::Config(format!("the control API's answer: {e}")))?
        {
            if bytes.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                return Err(SimError::Config(format!(
                    "the control API's answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        // 204 answers carry no body.
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| SimError::Config(format!("the control API's answer: {e}")))?
        };
        if status.is_success() {
            Ok(body)
        } else {
            Err(SimError::Config(format!(
                "the control API answered {status}: {}",
                body["error"].as_str().unwrap_or("")
            )))
        }
    }

    /// `POST /devices/mutate`: `count` devices chosen from `seed` change in Intune at
    /// once; their GUIDs.
    pub async fn mutate_devices(&self, count: u64, seed: u64) -> Result<Vec<String>, SimError> {
        let answer = self
            .call(
                self.http
                    .post(format!("{}/devices/mutate", self.url))
                    .json(&json!({ "count": count, "seed": seed })),
            )
            .await?;
        Ok(answer["changed"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `PUT /intune/settings`: Intune's "Mark devices with no compliance policy
    /// assigned as" (`true`: Not compliant) and compliance status validity period.
    pub async fn set_compliance_settings(
        &self,
        secure_by_default: bool,
        validity_days: u32,
    ) -> Result<(), SimError> {
        self.call(
            self.http
                .put(format!("{}/intune/settings", self.url))
                .json(&json!({ "secureByDefault": secure_by_default,
                    "deviceComplianceCheckinThresholdDays": validity_days })),
        )
        .await
        .map(|_| ())
    }

    /// `PUT /intune/certificate-profiles`: adds a SCEP or PKCS profile, or replaces the
    /// one with its id; its id.
    pub async fn put_certificate_profile(
        &self,
        profile: &crate::CertificateProfile,
    ) -> Result<String, SimError> {
        let answer = self
            .call(
                self.http
                    .put(format!("{}/intune/certificate-profiles", self.url))
                    .json(profile),
            )
            .await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }

    /// `GET /snapshot`: the state.
    pub async fn snapshot(&self) -> Result<Value, SimError> {
        self.call(self.http.get(format!("{}/snapshot", self.url)))
            .await
    }

    /// `POST /authorize`: ISE's authorization of the endpoint `mac`, with `without`
    /// (`{"rules": [ids], "mdm_server": name}`) taken away when given.
    pub async fn authorize(&self, mac: &str, without: Option<Value>) -> Result<Value, SimError> {
        let mut body = json!({ "mac": mac });
        if let Some(w) = without {
            body["without"] = w;
        }
        self.call(
            self.http
                .post(format!("{}/authorize", self.url))
                .json(&body),
        )
        .await
    }
}
