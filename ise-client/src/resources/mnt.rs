//! ISE's monitoring (MnT) REST API, as far as re-authorization needs it: where an
//! endpoint's session is, and a Change of Authorization that has its network device
//! re-authenticate it.
//!
//! * `GET /admin/API/mnt/Session/MACAddress/{mac}` — the active session of an endpoint
//!   (XML `sessionParameters`, with `acs_server`: the policy service node that
//!   authorized it); 404 (or an answer without `acs_server`) when it has none;
//! * `GET /admin/API/mnt/CoA/Reauth/{server}/{mac}/{type}` — asks the node `server` to
//!   send a CoA re-authenticate for the session of `mac` (`type` 0: the network device's
//!   default); XML `remoteCoA` with `results` `true` or `false`.
//!
//! Evidence: Cisco's ISE MnT REST API reference (session directory by MAC address, CoA
//! re-authentication), and the ISE SDKs' `misc` module (`get_session_info_by_mac`,
//! `reauth`), which call these paths with `Accept: application/xml`.

use reqwest::Method;

use ise_intune_http::BodyKind;

use super::listing::segment;
use crate::client::{Api, Call, IseClient};
use crate::error::Result;

/// The MnT handlers (`client.mnt()`).
#[derive(Debug, Clone)]
pub struct Mnt {
    pub(crate) client: IseClient,
}

/// The text of the first `<tag>…</tag>` of `xml` (trimmed), when there is one.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim())
}

impl Mnt {
    async fn xml(&self, path: String) -> Result<Option<String>> {
        let mut call = Call::new(Method::GET, Api::OpenApi, path);
        call.accept = "application/xml";
        call.body_kind = BodyKind::Text;
        match self.client.send(call).await {
            Ok(answer) => Ok(Some(String::from_utf8_lossy(&answer.body).into_owned())),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The policy service node that holds `mac`'s active session, or `None` when the
    /// endpoint has none.
    pub async fn session_server(&self, mac: &str) -> Result<Option<String>> {
        let path = format!(
            "/admin/API/mnt/Session/MACAddress/{}",
            segment("MAC address", mac)?
        );
        let Some(xml) = self.xml(path).await? else {
            return Ok(None);
        };
        Ok(element(&xml, "acs_server")
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .map(str::to_owned))
    }

    /// Asks `server` to re-authenticate `mac`'s session (the network device's default
    /// CoA); whether ISE says it was sent.
    pub async fn reauthenticate(&self, server: &str, mac: &str) -> Result<bool> {
        let path = format!(
            "/admin/API/mnt/CoA/Reauth/{}/{}/0",
            segment("node", server)?,
            segment("MAC address", mac)?
        );
        Ok(self
            .xml(path)
            .await?
            .is_some_and(|xml| element(&xml, "results") == Some("true")))
    }
}
