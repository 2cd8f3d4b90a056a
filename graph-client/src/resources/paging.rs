//! OData `$filter` quoting, list options and the bounded pager.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{Call, GraphClient, Target};
use crate::error::{Error, Result};
use crate::model::PageBody;

/// Quotes a string for an OData `$filter` literal (`'` doubled).
pub fn odata_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Escapes a value placed in a URL path segment.
pub(crate) fn segment(value: &str) -> Result<String> {
    ise_intune_http::path_segment(value)
        .map(str::to_owned)
        .map_err(|why| Error::InvalidInput {
            what: format!("object id `{value}` {why}"),
        })
}

/// Options of a collection listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// `$filter` expression (quote literals with [`odata_quote`]).
    pub filter: Option<String>,
    /// `$select` properties.
    pub select: Vec<String>,
    /// `$top` page size.
    pub top: Option<u32>,
}

impl ListOptions {
    /// These options with a `$filter` expression.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// These options selecting these properties.
    pub fn select<S: Into<String>>(mut self, properties: impl IntoIterator<Item = S>) -> Self {
        self.select = properties.into_iter().map(Into::into).collect();
        self
    }

    /// These options with a `$top` page size.
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }
}

/// Iterates over the pages of a collection by following `@odata.nextLink`.
#[derive(Debug)]
pub struct Pager<T> {
    client: GraphClient,
    state: PagerState,
    pages: usize,
    /// Every nextLink followed, to refuse one that comes back.
    seen: std::collections::HashSet<String>,
    replication_lag: bool,
    /// The first page is read from Graph's beta endpoint.
    beta: bool,
    _item: PhantomData<fn() -> T>,
}

#[derive(Debug)]
enum PagerState {
    First {
        path: String,
        query: Vec<(&'static str, String)>,
    },
    Next(Url),
    Done,
}

/// Most pages a pager follows before it reports a loop.
pub const MAX_PAGES: usize = 1_000;

/// Most items [`Pager::all`] collects from one listing: a bound on memory whatever the
/// server answers (each page's bytes are capped by the client's body limits).
pub const MAX_ITEMS: usize = 200_000;

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(client: GraphClient, path: String, options: &ListOptions) -> Self {
        let mut query = Vec::new();
        if let Some(f) = &options.filter {
            query.push(("$filter", f.clone()));
        }
        if !options.select.is_empty() {
            query.push(("$select", options.select.join(",")));
        }
        if let Some(top) = options.top {
            query.push(("$top", top.to_string()));
        }
        Self {
            client,
            state: PagerState::First { path, query },
            pages: 0,
            seen: std::collections::HashSet::new(),
            replication_lag: false,
            beta: false,
            _item: PhantomData,
        }
    }

    /// Reads the listing from Graph's beta endpoint (for resources v1.0 lacks); its
    /// nextLinks stay on beta.
    pub(crate) fn on_beta(mut self) -> Self {
        self.beta = true;
        self
    }

    /// Retries Graph's replication-lag 404 on the first page (collections of an object
    /// that was just created).
    pub(crate) fn after_create(mut self) -> Self {
        self.replication_lag = true;
        self
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
        let call = match std::mem::replace(&mut self.state, PagerState::Done) {
            PagerState::Done => return Ok(None),
            PagerState::First { path, query } => {
                let mut call = Call::new(Method::GET, String::new());
                call.target = if self.beta {
                    Target::Beta(path)
                } else {
                    Target::Path(path)
                };
                call.query = query;
                if self.replication_lag {
                    call = call.replication_lag();
                }
                call
            }
            PagerState::Next(url) => {
                let mut call = Call::new(Method::GET, String::new());
                call.target = Target::Absolute(url);
                call
            }
        };
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(Error::InvalidInput {
                what: format!("more than {MAX_PAGES} pages: the server's nextLinks loop"),
            });
        }
        let page: PageBody<T> = self.client.send_json(call).await?;
        if let Some(link) = page.next_link {
            let url = Url::parse(&link).map_err(|_| Error::ForeignNextLink {
                link: link.split('?').next().unwrap_or_default().to_owned(),
            })?;
            if !self.seen.insert(url.as_str().to_owned()) {
                return Err(Error::InvalidInput {
                    what: format!(
                        "the server's nextLink repeats an earlier page after {} page(s): \
                         refusing to loop",
                        self.pages
                    ),
                });
            }
            self.state = PagerState::Next(url);
        }
        Ok(Some(page.value))
    }

    /// Every item of every page.
    /// At most [`MAX_ITEMS`] are collected: a listing larger than that is an error.
    pub async fn all(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page().await? {
            if out.len().saturating_add(page.len()) > MAX_ITEMS {
                return Err(Error::InvalidInput {
                    what: format!(
                        "the listing holds more than {MAX_ITEMS} items after {} page(s): \
                         refusing to read on",
                        self.pages
                    ),
                });
            }
            out.extend(page);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(odata_quote("Let's go"), "'Let''s go'");
    }

    #[test]
    fn ids_with_path_characters_are_refused() {
        for bad in ["", "a/b", "a?b", "..", "a#"] {
            assert!(
                matches!(segment(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }
}
