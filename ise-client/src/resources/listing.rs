//! The OpenAPI listings: filters and paging.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Api, Call, IseClient};
use crate::error::{Error, Result};

/// Largest page size ISE accepts.
const PAGE_SIZE: u32 = 100;
/// Most pages followed before the listing is considered looping.
const MAX_PAGES: u32 = 1000;

pub(crate) fn segment(what: &str, value: &str) -> Result<String> {
    ise_intune_http::path_segment(value)
        .map(str::to_owned)
        .map_err(|why| Error::InvalidInput {
            what: format!("{what} `{value}` {why}"),
        })
}

/// A filter of the OpenAPI listings: `field.OPERATOR.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub(super) field: String,
    pub(super) operator: &'static str,
    pub(super) value: String,
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

    pub(crate) fn render(&self) -> String {
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
pub(crate) struct One<T> {
    pub(crate) response: T,
}

impl IseClient {
    /// Lists every item of an OpenAPI collection, page by page.
    pub(crate) async fn list_all<T: serde::de::DeserializeOwned>(
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
}
