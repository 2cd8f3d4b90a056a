//! Raw ERS requests.

use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Call, IseClient};
use crate::error::{Error, Result};

/// Raw ERS requests, with Basic auth, media types, CSRF and retries handled.
#[derive(Debug, Clone)]
pub struct Ers {
    pub(super) client: IseClient,
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
