//! The deployment: nodes, version and patch, ERS deployment info, and the entry
//! points to the other handlers.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{Ers, SystemCertificates, TrustedCertificates};
use crate::client::{Api, Call, IseClient, decode};
use crate::error::{Error, Result};
use crate::model::{MdmInfo, Node};
use crate::version::IseVersion;

impl IseClient {
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

    /// Monitoring (MnT): endpoints' sessions, re-authentication.
    pub fn mnt(&self) -> super::Mnt {
        super::Mnt {
            client: self.clone(),
        }
    }

    /// Endpoints and their custom attributes.
    pub fn endpoints(&self) -> super::Endpoints {
        super::Endpoints {
            client: self.clone(),
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
