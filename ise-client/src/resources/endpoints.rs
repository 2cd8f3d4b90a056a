//! Endpoints and their custom attributes (OpenAPI, ISE 3.2 and later).
//!
//! * `GET|POST /api/v1/endpoint-custom-attribute`, `DELETE …/{name}`: the custom
//!   attribute definitions, flat JSON `{"attributeName", "attributeType"}`; types
//!   `Boolean`, `Date`, `Float`, `IP`, `Int`, `Long`, `String`.
//! * `GET /api/v1/endpoint?page&size&filter`: endpoints, each with `mac` and
//!   `customAttributes` (a flat map of name to text), answered as a bare JSON array;
//!   `filterType=or` joins filters.
//! * `PUT|POST /api/v1/endpoint/bulk`: many endpoints updated or created in one
//!   request, at most [`MAX_BULK`] a request and one bulk job at a time (ISE answers
//!   `503` while another runs; the request is refused before anything is written, so
//!   the update is sent again after the retry policy's wait), answered `{"id": task}`.
//!
//! Evidence: Cisco's OpenAPI endpoint definitions as the ISE SDKs carry them
//! (CiscoISE/ciscoisesdk, CiscoISE/ciscoise-go-sdk `EndpointsService`: list, get by
//! id or MAC, bulk create/update/delete answering `{"id"}`; custom attributes as a
//! `map[string]interface{}`), and Cisco's ERS bulk page for the 500-resource limit and
//! the one-job-at-a-time rule, which this crate applies to the OpenAPI bulk as well.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::listing::{Filter, segment};
use crate::client::{Api, Call, IseClient};
use crate::error::{Error, Result};

/// Most endpoints one bulk request carries.
pub const MAX_BULK: usize = 500;

/// Largest page of the endpoint listing.
pub const ENDPOINT_PAGE: u32 = 100;

/// Most MAC filters joined with `filterType=or` in one listing request (the URL
/// stays under 4 KB).
pub const MAX_MAC_FILTERS: usize = 100;

/// A custom attribute definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttributeDefinition {
    /// Its name, as rules and endpoints use it.
    #[serde(rename = "attributeName")]
    pub name: String,
    /// ISE's type: `Boolean`, `Date`, `Float`, `IP`, `Int`, `Long` or `String`.
    #[serde(rename = "attributeType")]
    pub kind: String,
}

/// An endpoint as the bridge reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoint {
    /// ISE's id.
    #[serde(default)]
    pub id: String,
    /// Its MAC address (`AA:BB:CC:DD:EE:FF`).
    pub mac: String,
    /// Its custom attributes, by name (values as ISE returns them, as text).
    #[serde(
        rename = "customAttributes",
        default,
        deserialize_with = "attributes_as_text"
    )]
    pub custom_attributes: BTreeMap<String, String>,
}

fn attributes_as_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect())
}

/// One endpoint of a bulk request: its MAC and the custom attributes to set (an empty
/// text clears one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAttributes {
    /// The endpoint's MAC address.
    pub mac: String,
    /// The attributes to set, by name.
    pub custom_attributes: BTreeMap<String, String>,
}

/// A bulk request's body, checked and serialised once (1 to [`MAX_BULK`] endpoints).
#[derive(Debug, Clone)]
pub struct BulkBody(std::sync::Arc<str>);

#[derive(Serialize)]
struct BulkItem<'a> {
    mac: &'a str,
    #[serde(rename = "customAttributes")]
    custom_attributes: &'a BTreeMap<String, String>,
}

impl BulkBody {
    /// The body for `items`.
    pub fn new(items: &[EndpointAttributes]) -> Result<Self> {
        if items.is_empty() || items.len() > MAX_BULK {
            return Err(Error::InvalidInput {
                what: format!(
                    "a bulk request carries 1 to {MAX_BULK} endpoints, not {}",
                    items.len()
                ),
            });
        }
        let list: Vec<BulkItem<'_>> = items
            .iter()
            .map(|i| BulkItem {
                mac: &i.mac,
                custom_attributes: &i.custom_attributes,
            })
            .collect();
        let text = serde_json::to_string(&list).map_err(|e| Error::InvalidInput {
            what: format!("a bulk request: {e}"),
        })?;
        Ok(Self(text.into()))
    }
}

/// The endpoint handlers (`client.endpoints()`).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub(crate) client: IseClient,
}

#[derive(Deserialize)]
struct Task {
    #[serde(default)]
    id: String,
}

impl Endpoints {
    /// Every custom attribute definition.
    pub async fn custom_attributes(&self) -> Result<Vec<CustomAttributeDefinition>> {
        self.client
            .send_json(Call::new(
                Method::GET,
                Api::OpenApi,
                "/api/v1/endpoint-custom-attribute",
            ))
            .await
    }

    /// Defines a custom attribute.
    pub async fn define_custom_attribute(&self, def: &CustomAttributeDefinition) -> Result<()> {
        if def.name.is_empty()
            || !def
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::InvalidInput {
                what: format!(
                    "custom attribute name `{}`: ISE accepts letters, digits and `_`",
                    def.name
                ),
            });
        }
        let body = serde_json::to_value(def).map_err(|e| Error::InvalidInput {
            what: format!("custom attribute `{}`: {e}", def.name),
        })?;
        // Sent again after a lost answer or a refusal before processing (503): a
        // second create of a definition the first made is answered "already exists",
        // which is success when ISE lists the definition as asked.
        let mut call = Call::new(
            Method::POST,
            Api::OpenApi,
            "/api/v1/endpoint-custom-attribute",
        )
        .json(body);
        call.idempotent = true;
        match self.client.send(call).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(400) => {
                let listed = self.custom_attributes().await?;
                if listed.iter().any(|d| d == def) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a custom attribute definition.
    pub async fn delete_custom_attribute(&self, name: &str) -> Result<()> {
        let path = format!(
            "/api/v1/endpoint-custom-attribute/{}",
            segment("custom attribute", name)?
        );
        self.client
            .send(Call::new(Method::DELETE, Api::OpenApi, path))
            .await
            .map(drop)
    }

    /// One page of the endpoint listing (`page` from 1, [`ENDPOINT_PAGE`] a page);
    /// fewer than a page means the last one.
    pub async fn page(&self, page: u32) -> Result<Vec<Endpoint>> {
        let call = Call::new(Method::GET, Api::OpenApi, "/api/v1/endpoint")
            .query("page", page.max(1).to_string())
            .query("size", ENDPOINT_PAGE.to_string());
        self.client.send_json(call).await
    }

    /// The endpoints among `macs` that ISE knows (at most [`MAX_MAC_FILTERS`] MACs a
    /// call: one request).
    pub async fn with_macs(&self, macs: &[String]) -> Result<Vec<Endpoint>> {
        if macs.is_empty() {
            return Ok(Vec::new());
        }
        if macs.len() > MAX_MAC_FILTERS {
            return Err(Error::InvalidInput {
                what: format!(
                    "{} MACs in one listing; at most {MAX_MAC_FILTERS}",
                    macs.len()
                ),
            });
        }
        let mut call = Call::new(Method::GET, Api::OpenApi, "/api/v1/endpoint")
            .query("page", "1")
            .query("size", ENDPOINT_PAGE.to_string())
            .query("filterType", "or");
        for mac in macs {
            call = call.query("filter", Filter::eq("mac", mac.as_str()).render());
        }
        self.client.send_json(call).await
    }

    /// Sets custom attributes of existing endpoints, at most [`MAX_BULK`] a call: one
    /// bulk job; returns ISE's task id.
    pub async fn bulk_update(&self, items: &[EndpointAttributes]) -> Result<String> {
        self.send_bulk(Method::PUT, &BulkBody::new(items)?).await
    }

    /// Creates endpoints with custom attributes, at most [`MAX_BULK`] a call. ISE keys
    /// endpoints by MAC, so a request sent again after a lost answer creates nothing
    /// twice.
    pub async fn bulk_create(&self, items: &[EndpointAttributes]) -> Result<String> {
        self.send_bulk(Method::POST, &BulkBody::new(items)?).await
    }

    /// Sends a bulk request prepared with [`BulkBody::new`] (while the one before it
    /// was in flight): `create` for `POST` (new endpoints), else `PUT` (updates).
    pub async fn send_prepared(&self, body: &BulkBody, create: bool) -> Result<String> {
        let method = if create { Method::POST } else { Method::PUT };
        self.send_bulk(method, body).await
    }

    async fn send_bulk(&self, method: Method, body: &BulkBody) -> Result<String> {
        let mut call = Call::new(method, Api::OpenApi, "/api/v1/endpoint/bulk");
        call.raw_body = Some(body.0.clone());
        call.idempotent = true;
        let task: Task = self.client.send_json(call).await?;
        Ok(task.id)
    }
}
