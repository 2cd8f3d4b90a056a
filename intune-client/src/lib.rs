//! Intune's Compliance Retrieval API (v3) called exactly as a Cisco ISE policy service
//! node calls it — with a Graph client signing in as the node (or as any identity
//! holding `get_device_compliance`), at the endpoint Graph's discovery publishes —
//! returning typed devices. Answers are bounded: XML shape checked before parsing,
//! pages and bytes capped, server text scrubbed; Intune's throttle of unfiltered
//! queries is reported as [`Error::Throttled`], never retried.
//!
//! Calls, as captured from ISE's traffic: `ciscoise/mdminfo/?ise_api_version=3`; one
//! device `cisco/devices/?paging=0&querycriteria=guid&value=…` (or `macaddress`); the
//! non-compliant poll `cisco/devices/?paging=N&querycriteria=compliance&value=false&
//! deviceidentifier=guid&filter=all`, paged by `paging_info` (0 after the last page).
//!
//! ```no_run
//! # async fn run(node: graph_client::GraphClient) -> Result<(), intune_client::Error> {
//! use graph_client::TokenAudience;
//! use intune_client::ComplianceClient;
//!
//! // `node` signs in with a node's Admin certificate; its discovery names the endpoint.
//! let endpoints = node.intune_endpoints().await?;
//! let intune = ComplianceClient::from_discovery(
//!     node,
//!     TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()),
//!     &endpoints,
//! )?;
//! let info = intune.mdm_info().await?;
//! println!("{} v{}", info.product_name, info.api_version);
//! for device in intune.probe().await? {
//!     println!("{} registered={} compliant={}", device.guid, device.registered, device.compliant);
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use graph_client::well_known::COMPLIANCE_RETRIEVAL_SERVICE;
use graph_client::{GraphClient, ServiceEndpoint, TokenAudience};
use serde::Serialize;

/// What can go wrong with Intune's compliance API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Intune's compliance API answered something this client cannot use.
    #[error("Intune's compliance API: {what}")]
    Compliance {
        /// What is wrong.
        what: String,
    },
    /// Intune throttled an unfiltered compliance query (503): such queries are answered
    /// only in the first hour of a four-hour window that the first of them opens. Not
    /// retried: a retry would only spend more of the window.
    #[error(
        "Intune throttled an unfiltered compliance query (503){}",
        match retry_after_secs {
            Some(s) => format!("; it asks to wait {s} s"),
            None => "; it reopens at most four hours after the window's first query".to_owned(),
        }
    )]
    Throttled {
        /// Intune's `Retry-After`, when it sent one.
        retry_after_secs: Option<u64>,
    },
    /// Intune's compliance API refused a request.
    #[error(
        "Intune answered {status}: {message} (401: the token's audience or the key; 403: \
         get_device_compliance and its admin consent)"
    )]
    Answer {
        /// HTTP status.
        status: u16,
        /// Intune's message, scrubbed.
        message: String,
    },
    /// Entra ID (the token) or the connection failed.
    #[error(transparent)]
    Graph(#[from] graph_client::Error),
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// At most this many pages are followed in one listing (100 devices each); a server
/// that keeps answering a next page beyond it is refused.
pub const MAX_PAGES: u32 = 10_000;

/// The MAC address [`ComplianceClient::probe`] asks Intune about: `00:00:5E:00:53:01`,
/// from the block RFC 7042 (section 2.1.2) reserves for documentation, which no device
/// has.
pub const PROBE_MAC: &str = "00005E005301";

/// At most this many bytes of answers are read in one listing, whatever the number of
/// pages: a bound on memory (about 600 pages of 100 devices as Intune writes them).
pub const MAX_LISTING_BYTES: usize = 64 * 1024 * 1024;

/// At most this many XML nodes are parsed in one answer.
const XML_NODES_LIMIT: u32 = 1_000_000;

/// The deepest element nesting read (Intune's answers nest five deep).
pub const MAX_XML_DEPTH: usize = 64;

/// The most attributes one element may carry (Intune's carry one or two).
pub const MAX_XML_ATTRIBUTES: usize = 64;

/// What `mdminfo` says about the service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MdmInfo {
    /// `api_version` (3 for the Compliance Retrieval API).
    pub api_version: u32,
    /// `api_path`: where the device queries go.
    pub api_path: String,
    /// `redirect_url`: where ISE sends unregistered users.
    pub redirect_url: String,
    /// `query_max_size`: devices per page.
    pub query_max_size: u32,
    /// `vendor`.
    pub vendor: String,
    /// `product_name`.
    pub product_name: String,
    /// `product_version`.
    pub product_version: String,
}

/// One device as Intune describes it to ISE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Device {
    /// Intune's device GUID.
    pub guid: String,
    /// The MAC address, 12 uppercase hex digits, when Intune gives one.
    pub mac: Option<String>,
    /// `register_status`: enrolled in Intune.
    pub registered: bool,
    /// `Compliance/status`.
    pub compliant: bool,
    /// Every attribute Intune returned, by element name (nested ones as
    /// `Compliance/status`), including the ones above.
    pub attributes: BTreeMap<String, String>,
}

/// A client of Intune's Compliance Retrieval API as one ISE node uses it.
#[derive(Debug, Clone)]
pub struct ComplianceClient {
    node: GraphClient,
    audience: TokenAudience,
    base: String,
}

impl ComplianceClient {
    /// A client for the Compliance Retrieval endpoint a discovery already read names;
    /// an error saying what it named instead when it names none.
    pub fn from_discovery(
        node: GraphClient,
        audience: TokenAudience,
        endpoints: &[ServiceEndpoint],
    ) -> Result<Self> {
        let uri = endpoints
            .iter()
            .find(|e| e.provider_name == COMPLIANCE_RETRIEVAL_SERVICE)
            .map(|e| e.uri.clone())
            .ok_or_else(|| Error::Compliance {
                what: format!(
                    "Graph publishes no {COMPLIANCE_RETRIEVAL_SERVICE} endpoint for Microsoft \
                     Intune (found: {}); check the tenant's Intune licence",
                    endpoints
                        .iter()
                        .map(|e| e.provider_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        Ok(Self::at(node, audience, uri))
    }

    /// A client for a known endpoint (`…/ComplianceRetrievalService`).
    pub fn at(node: GraphClient, audience: TokenAudience, base: impl Into<String>) -> Self {
        Self {
            node,
            audience,
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The endpoint in use.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `mdminfo`, version 3.
    pub async fn mdm_info(&self) -> Result<MdmInfo> {
        let doc = self
            .get("ciscoise/mdminfo/?ise_api_version=3", false)
            .await?;
        let parsed = parse(&doc)?;
        let root = parsed.root_element();
        let text = |name: &str| child_text(root, name).unwrap_or_default();
        let number = |name: &str| -> Result<u32> {
            let t = text(name);
            t.trim().parse().map_err(|_| Error::Compliance {
                what: format!("mdminfo's `{name}` is not a number: {t:?}"),
            })
        };
        Ok(MdmInfo {
            api_version: number("api_version")?,
            api_path: text("api_path"),
            redirect_url: text("redirect_url"),
            query_max_size: number("query_max_size")?,
            vendor: text("vendor"),
            product_name: text("product_name"),
            product_version: text("product_version"),
        })
    }

    /// One device by Intune GUID (`None` when Intune does not know it).
    pub async fn device_by_guid(&self, guid: &str) -> Result<Option<Device>> {
        let guid = uuid::Uuid::parse_str(guid.trim()).map_err(|_| Error::Compliance {
            what: format!("`{guid}` is not a device GUID (8-4-4-4-12 hex digits)"),
        })?;
        let page = self.page("guid", &guid.to_string(), 0).await?;
        Ok(page.devices.into_iter().next())
    }

    /// One device by MAC address (any of `00:50:56:AB:CD:EF`, `00-50-56-ab-cd-ef`,
    /// `0050.56ab.cdef`, `005056ABCDEF`).
    pub async fn device_by_mac(&self, mac: &str) -> Result<Option<Device>> {
        let mac = normalize_mac(mac)?;
        let page = self.page("macaddress", &mac, 0).await?;
        Ok(page.devices.into_iter().next())
    }

    /// A device-specific query that no device answers (the documentation MAC
    /// [`PROBE_MAC`]): it proves what a sample of ISE's poll would — the token, its
    /// audience and `get_device_compliance`, reachability, the answer's shape — without
    /// an unfiltered query, which Intune throttles (a four-hour window from the first,
    /// answered for an hour: Microsoft Learn, "503 errors that NAC partners receive
    /// from Intune"), and without reading any device. Returns the devices Intune listed
    /// (none is expected).
    pub async fn probe(&self) -> Result<Vec<Device>> {
        Ok(self.page("macaddress", PROBE_MAC, 0).await?.devices)
    }

    /// Every non-compliant device, following the pages as ISE's poll does.
    ///
    /// This is a broad, unfiltered query: Intune answers those only in the first hour
    /// of a four-hour window that the first opens, and answers 503 for the rest
    /// ([`Error::Throttled`]; not retried). Ask for it only when a person wants
    /// the list; to check the connection, use [`Self::probe`].
    ///
    /// Bounded: at most [`MAX_PAGES`] pages and [`MAX_LISTING_BYTES`] bytes in all;
    /// a page number that does not advance is refused.
    pub async fn noncompliant(&self) -> Result<Vec<Device>> {
        let mut out = Vec::new();
        let mut page_no = 0u32;
        let mut bytes = 0usize;
        for _ in 0..MAX_PAGES {
            let doc = self.page_text("compliance", "false", page_no).await?;
            bytes = bytes.saturating_add(doc.len());
            if bytes > MAX_LISTING_BYTES {
                return Err(Error::Compliance {
                    what: format!(
                        "the non-compliant listing passed {MAX_LISTING_BYTES} bytes at page \
                         {page_no}: refusing to read on"
                    ),
                });
            }
            let page = parse_devices(&doc)?;
            out.extend(page.devices);
            match page.next {
                0 => return Ok(out),
                n if n > page_no => page_no = n,
                n => {
                    return Err(Error::Compliance {
                        what: format!(
                            "Intune's paging_info went from page {page_no} to {n}: refusing to \
                             loop"
                        ),
                    });
                }
            }
        }
        Err(Error::Compliance {
            what: format!("more than {MAX_PAGES} pages of non-compliant devices"),
        })
    }

    async fn page(&self, criteria: &str, value: &str, page: u32) -> Result<Page> {
        parse_devices(&self.page_text(criteria, value, page).await?)
    }

    async fn page_text(&self, criteria: &str, value: &str, page: u32) -> Result<String> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("paging", &page.to_string())
            .append_pair("querycriteria", criteria)
            .append_pair("value", value)
            .append_pair("deviceidentifier", "guid")
            .append_pair("filter", "all")
            .finish();
        // A query for one device names it by one of its identifiers; the rest are broad.
        let unfiltered = !["macaddress", "guid"].contains(&criteria);
        self.get(&format!("cisco/devices/?{query}"), unfiltered)
            .await
    }

    /// `GET`s `path_and_query`; `unfiltered` when it is a broad query Intune throttles.
    async fn get(&self, path_and_query: &str, unfiltered: bool) -> Result<String> {
        let url = format!("{}/{path_and_query}", self.base);
        // Intune's 503 to an unfiltered query is its throttle: final, not transient.
        let final_on: &[u16] = if unfiltered { &[503] } else { &[] };
        let token = self.node.access_token(&self.audience).await?;
        let mut answer = self
            .node
            .get_with_token_final_on(&url, &token, "application/xml", final_on)
            .await?;
        if answer.status == 401 {
            // The token may have expired between the cache's check and Intune's (or the
            // clock moved): once, with a new one.
            self.node.clear_token_cache();
            let token = self.node.access_token(&self.audience).await?;
            answer = self
                .node
                .get_with_token_final_on(&url, &token, "application/xml", final_on)
                .await?;
        }
        let (status, body) = (answer.status, answer.body);
        if status == 503 && unfiltered {
            return Err(Error::Throttled {
                retry_after_secs: answer.retry_after.map(|d| d.as_secs()),
            });
        }
        if status != 200 {
            let message = parse(&body)
                .ok()
                .and_then(|d| {
                    d.descendants()
                        .find(|n| n.has_tag_name("message"))
                        .and_then(|n| n.text().map(str::to_owned))
                })
                // Without a <message>, the answer's texts (summarise), not its markup.
                .or_else(|| summarise(&body))
                .unwrap_or_else(|| body.chars().take(200).collect());
            let message = ise_intune_http::scrub::server_text(&message, &[]);
            return Err(Error::Answer { status, message });
        }
        Ok(body)
    }
}

/// A page of devices and the next page's number (0 after the last).
#[derive(Debug)]
struct Page {
    devices: Vec<Device>,
    next: u32,
}

/// Refuses, in one linear pass before parsing, XML nested deeper than
/// [`MAX_XML_DEPTH`] or with an element of more than [`MAX_XML_ATTRIBUTES`]
/// attributes: the parser checks attribute names pairwise and the reading of nested
/// attributes recurses, so either would let one answer hang the CPU or overflow the
/// stack.
fn check_shape(xml: &str) -> Result<()> {
    let refuse = |what: String| Error::Compliance {
        what: format!("Intune's answer is not XML this client reads: {what}"),
    };
    let b = xml.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    let skip_to = |from: usize, end: &[u8]| {
        b[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(b.len(), |p| from + p + end.len())
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            i = skip_to(i + 2, b">");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, b">");
        } else {
            // A start tag: count attributes (`=` outside quotes) up to its end.
            let mut j = i + 1;
            let mut attributes = 0usize;
            let mut quote = None;
            while j < b.len() {
                match (quote, b[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, c @ (b'"' | b'\'')) => quote = Some(c),
                    (None, b'=') => attributes += 1,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if attributes > MAX_XML_ATTRIBUTES {
                return Err(refuse(format!(
                    "an element with more than {MAX_XML_ATTRIBUTES} attributes"
                )));
            }
            let self_closing = j > 0 && j < b.len() && b[j - 1] == b'/';
            if !self_closing {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(refuse(format!(
                        "elements nested deeper than {MAX_XML_DEPTH}"
                    )));
                }
            }
            i = j.saturating_add(1);
        }
    }
    Ok(())
}

fn parse(xml: &str) -> Result<roxmltree::Document<'_>> {
    check_shape(xml)?;
    roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: XML_NODES_LIMIT,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .map_err(|e| Error::Compliance {
        what: format!("Intune's answer is not XML this client reads: {e}"),
    })
}

/// An answer of Intune's as a person reads it: for XML, each element that holds text as
/// `name: text`, joined with `; ` (at most eight, in document order), so that an error
/// answer reads `error_code: 403; error_description: …` rather than as markup; `None`
/// for text that is not XML this client reads. Bounded as every answer is (no DTD, a
/// node limit).
///
/// ```
/// let xml = "<?xml version=\"1.0\"?><ise_api><name>mdminfo</name>\
///            <error_code>403</error_code></ise_api>";
/// assert_eq!(
///     intune_client::summarise(xml).as_deref(),
///     Some("name: mdminfo; error_code: 403")
/// );
/// assert_eq!(intune_client::summarise("Forbidden"), None);
/// ```
pub fn summarise(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('<') {
        return None;
    }
    let doc = parse(text).ok()?;
    let parts: Vec<String> = doc
        .descendants()
        .filter(|n| n.is_element())
        .filter_map(|n| {
            let own: String = n
                .children()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (!own.is_empty()).then(|| format!("{}: {own}", n.tag_name().name()))
        })
        .take(8)
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .map(|c| c.text().unwrap_or_default().trim().to_owned())
}

fn parse_devices(xml: &str) -> Result<Page> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    let next_text = child_text(root, "paging_info").unwrap_or_else(|| "0".into());
    let next = next_text.parse::<u32>().map_err(|_| Error::Compliance {
        what: format!("Intune's paging_info is not a page number: {next_text:?}"),
    })?;
    let mut devices = Vec::new();
    for d in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "device")
    {
        let mut attributes = BTreeMap::new();
        // v3 writes `Attributes`/`Compliance`; v2 wrote them in lower case.
        if let Some(attrs) = d
            .children()
            .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case("attributes"))
        {
            collect(attrs, "", &mut attributes);
        }
        let guid = child_text(d, "guid")
            .or_else(|| attributes.get("guid").cloned())
            .unwrap_or_default();
        let flag = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"))
        };
        let mac = attributes
            .get("macaddress")
            .and_then(|m| normalize_mac(m).ok());
        devices.push(Device {
            guid,
            mac,
            registered: flag("register_status"),
            compliant: flag("Compliance/status"),
            attributes,
        });
    }
    Ok(Page { devices, next })
}

fn collect(node: roxmltree::Node<'_, '_>, prefix: &str, out: &mut BTreeMap<String, String>) {
    for c in node.children().filter(|c| c.is_element()) {
        let name = if prefix.is_empty() {
            c.tag_name().name().to_owned()
        } else {
            format!("{prefix}/{}", c.tag_name().name())
        };
        if c.children().any(|g| g.is_element()) {
            collect(c, &name, out);
        } else {
            out.insert(name, c.text().unwrap_or_default().trim().to_owned());
        }
    }
}

/// A MAC address as 12 uppercase hex digits.
pub fn normalize_mac(mac: &str) -> Result<String> {
    let hex: String = mac
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_uppercase())
    } else {
        Err(Error::Compliance {
            what: format!(
                "`{mac}` is not a MAC address (12 hex digits, optionally separated by `:`, `-` \
                 or `.`)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_in_every_notation() {
        for m in [
            "00:50:56:ab:cd:ef",
            "00-50-56-AB-CD-EF",
            "0050.56ab.cdef",
            "005056ABCDEF",
        ] {
            assert_eq!(normalize_mac(m).expect("mac"), "005056ABCDEF");
        }
        for bad in ["", "00:50:56", "zz:50:56:ab:cd:ef", "005056ABCDEF00"] {
            assert!(matches!(normalize_mac(bad), Err(Error::Compliance { .. })));
        }
    }

    #[test]
    fn v3_devices_and_paging() {
        let xml = r#"<ise_api xmlns="http://schemas.datacontract.org/2004/07/Microsoft.Intune.ResourceAccess.ComplianceRetrievalService.Model"><name>attributes</name><api_version>3</api_version><paging_info>2</paging_info><deviceList><device><guid>0c9f7e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6</guid><Attributes><guid>0c9f7e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6</guid><macaddress>005056ABCDEF</macaddress><register_status>true</register_status><Compliance><status>false</status></Compliance><model>Surface</model></Attributes></device></deviceList></ise_api>"#;
        let page = parse_devices(xml).expect("page");
        assert_eq!(page.next, 2);
        assert_eq!(
            page.devices,
            vec![Device {
                guid: "0c9f7e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6".into(),
                mac: Some("005056ABCDEF".into()),
                registered: true,
                compliant: false,
                attributes: [
                    ("Compliance/status", "false"),
                    ("guid", "0c9f7e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                    ("macaddress", "005056ABCDEF"),
                    ("model", "Surface"),
                    ("register_status", "true"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            }]
        );
    }

    #[test]
    fn deep_nesting_and_attribute_floods_are_refused_before_parsing() {
        let deep = format!(
            "<ise_api>{}{}</ise_api>",
            "<a>".repeat(200_000),
            "</a>".repeat(200_000)
        );
        let Err(Error::Compliance { what }) = parse_devices(&deep) else {
            panic!("deep nesting accepted");
        };
        assert!(what.contains("nested deeper than 64"), "{what}");
        let attrs: String = (0..300_000).map(|i| format!(" a{i}=\"x\"")).collect();
        let flood = format!("<ise_api><device{attrs}/></ise_api>");
        let Err(Error::Compliance { what }) = parse_devices(&flood) else {
            panic!("attribute flood accepted");
        };
        assert!(what.contains("more than 64 attributes"), "{what}");
        // Comments, CDATA and quoted `>` or `=` do not count.
        let fine = "<ise_api a=\"x>y=z\"><!-- <b> --><![CDATA[<c>]]><paging_info>0</paging_info></ise_api>";
        assert_eq!(parse_devices(fine).expect("fine").next, 0);
    }

    #[test]
    fn hostile_answers_are_typed_errors() {
        for xml in [
            "not xml",
            "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ise_api>&a;</ise_api>",
            "<ise_api><paging_info>-1</paging_info></ise_api>",
            "<ise_api><paging_info>99999999999</paging_info></ise_api>",
        ] {
            assert!(
                matches!(parse_devices(xml), Err(Error::Compliance { .. })),
                "{xml}"
            );
        }
    }
}
