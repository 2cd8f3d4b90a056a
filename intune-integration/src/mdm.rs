//! Steps 6 and 7: the External MDM server entry in ISE.
//!
//! Cisco publishes no API to create, edit, enable or test an External MDM server, so
//! the library computes the exact [`MdmServerSettings`] for the ISE release and hands
//! them to an [`MdmServerConfigurator`]:
//!
//! * [`ManualChecklist`] renders the GUI steps with every value and reports
//!   [`ConfiguratorOutcome::ManualActionRequired`]; once an enabled MDM server shows in
//!   ISE's deployment info, a later run carries on from there;
//! * [`GuiConfigurator`] drives an HTTP control surface standing for the admin GUI
//!   (the simulator's `/sim-gui/external-mdm`).

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;

use ise_client::{IseClient, Method};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Error;
use crate::version::{
    INTUNE_DEFAULT_SCOPE, INTUNE_RESOURCE, IntuneGates as _, IseVersion, TokenAudience,
};

/// The authentication type ISE shows for Microsoft Graph integrations.
pub const AUTH_TYPE: &str = "OAuth - Client Credentials";
/// The Auto Discovery URL for Microsoft Graph.
pub const GRAPH_AUTO_DISCOVERY_URL: &str = "https://graph.microsoft.com";

/// Everything ISE's "Add External MDM Server" form asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MdmServerSettings {
    /// Name of the entry.
    pub name: String,
    /// Always "OAuth - Client Credentials" for Microsoft Graph.
    pub authentication_type: String,
    /// `https://graph.microsoft.com` (or a sovereign cloud's Graph).
    pub auto_discovery_url: String,
    /// The Entra application (client) id.
    pub client_id: String,
    /// The v2 token endpoint of the tenant.
    pub token_issuing_url: String,
    /// The audience for this ISE release.
    pub token_audience: String,
    /// Polling interval, minutes.
    pub polling_interval_minutes: u32,
    /// Time interval for compliance device re-auth query, minutes.
    #[serde(rename = "complianceReauthQueryMinutes")]
    pub compliance_reauth_query_minutes: u32,
}

impl MdmServerSettings {
    /// The settings for `version`, or [`Error::UnsupportedIseVersion`] for releases
    /// that cannot use Microsoft Graph.
    pub fn for_release(
        version: &IseVersion,
        name: impl Into<String>,
        client_id: impl Into<String>,
        token_issuing_url: impl Into<String>,
        auto_discovery_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let audience = version.token_audience()?;
        Ok(Self {
            name: name.into(),
            authentication_type: AUTH_TYPE.into(),
            auto_discovery_url: auto_discovery_url.into(),
            client_id: client_id.into(),
            token_issuing_url: token_issuing_url.into(),
            token_audience: audience.as_str().into(),
            polling_interval_minutes: 240,
            compliance_reauth_query_minutes: 1,
        })
    }

    /// The audience as a typed value, if it is one of the two ISE uses.
    pub fn audience(&self) -> Option<TokenAudience> {
        match self.token_audience.as_str() {
            INTUNE_RESOURCE => Some(TokenAudience::Resource(INTUNE_RESOURCE.into())),
            INTUNE_DEFAULT_SCOPE => Some(TokenAudience::Scope(INTUNE_DEFAULT_SCOPE.into())),
            _ => None,
        }
    }

    /// The GUI steps with every value, for a person to follow.
    pub fn checklist(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "In ISE: Administration > Network Resources > External MDM > Add"
        );
        let _ = writeln!(s, "  Name:                      {}", self.name);
        let _ = writeln!(s, "  Server Type:               Mobile Device Manager");
        let _ = writeln!(
            s,
            "  Authentication Type:       {}",
            self.authentication_type
        );
        let _ = writeln!(
            s,
            "  Auto Discovery URL:        {}",
            self.auto_discovery_url
        );
        let _ = writeln!(s, "  Client ID:                 {}", self.client_id);
        let _ = writeln!(s, "  Token Issuing URL:         {}", self.token_issuing_url);
        let _ = writeln!(s, "  Token Audience:            {}", self.token_audience);
        let _ = writeln!(
            s,
            "  Polling Interval:          {} minutes",
            self.polling_interval_minutes
        );
        let _ = writeln!(
            s,
            "  Time Interval For Compliance Device ReAuth Query: {} minutes",
            self.compliance_reauth_query_minutes
        );
        let _ = writeln!(s, "  Status:                    Enabled");
        let _ = writeln!(
            s,
            "Click Test Connection, then Save. Run onboarding again afterwards."
        );
        s
    }
}

/// What a configurator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfiguratorOutcome {
    /// The entry was created (and enabled).
    Created,
    /// The entry was changed.
    Updated,
    /// The entry was already as wanted.
    Unchanged,
    /// A person has to act; the text says exactly what.
    ManualActionRequired {
        /// The steps to follow.
        instructions: String,
    },
}

/// A boxed future returned by [`MdmServerConfigurator`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that can create and manage ISE's External MDM server entry.
pub trait MdmServerConfigurator: Send + Sync {
    /// Makes the entry match `settings` and enabled.
    fn apply<'a>(
        &'a self,
        settings: &'a MdmServerSettings,
    ) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>>;

    /// Disables, tests and re-enables the entry, as ISE needs after a certificate
    /// change.
    fn cycle<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>>;
}

/// Renders the exact GUI steps and waits for a person; observes ISE's deployment info to
/// know when it is done.
#[derive(Debug, Clone)]
pub struct ManualChecklist {
    ise: IseClient,
}

impl ManualChecklist {
    /// A checklist configurator reading `mdmInfo` from this ISE.
    pub fn new(ise: IseClient) -> Self {
        Self { ise }
    }
}

impl MdmServerConfigurator for ManualChecklist {
    fn apply<'a>(
        &'a self,
        settings: &'a MdmServerSettings,
    ) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>> {
        Box::pin(async move {
            let mdm = self.ise.mdm_info().await?;
            if mdm.active_mdm_servers_count > 0 {
                // The only observable trace; the verification step checks the rest.
                return Ok(ConfiguratorOutcome::Unchanged);
            }
            Ok(ConfiguratorOutcome::ManualActionRequired {
                instructions: settings.checklist(),
            })
        })
    }

    fn cycle<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>> {
        Box::pin(async move {
            Ok(ConfiguratorOutcome::ManualActionRequired {
                instructions: format!(
                    "ISE's certificate changed. In ISE: Administration > Network Resources > \
                     External MDM > {name}: set Status to Disabled and Save; open it again, \
                     click Test Connection, set Status to Enabled and Save."
                ),
            })
        })
    }
}

/// Drives an HTTP control surface standing for ISE's admin GUI (the simulator's
/// `/sim-gui/external-mdm`), through the ISE client's TLS and credentials.
#[derive(Debug, Clone)]
pub struct GuiConfigurator {
    ise: IseClient,
    base_path: String,
}

impl GuiConfigurator {
    /// A configurator for the control surface at `/sim-gui/external-mdm` of this ISE.
    pub fn new(ise: IseClient) -> Self {
        Self {
            ise,
            base_path: "/sim-gui/external-mdm".into(),
        }
    }

    fn path(&self, name: &str, action: &str) -> Result<String, Error> {
        if name.is_empty() || name.contains(['/', '?', '#', '\'', '"']) {
            return Err(Error::MdmConfiguration {
                message: format!("`{name}` is not a valid External MDM server name"),
            });
        }
        Ok(format!("{}/{name}{action}", self.base_path))
    }

    async fn action(&self, name: &str, action: &str) -> Result<(), Error> {
        let path = self.path(name, action)?;
        let answer = self
            .ise
            .request(Method::POST, &path, Some(json!({})))
            .await
            .map_err(gui_error)?;
        if answer.get("success").and_then(serde_json::Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(Error::MdmConfiguration {
                message: answer
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            })
        }
    }
}

/// The GUI answers refusals with `{"success":false,"message":...}` and an error status.
fn gui_error(e: ise_client::Error) -> Error {
    match e {
        ise_client::Error::Api { ref body, .. } if !body.message.is_empty() => {
            Error::MdmConfiguration {
                message: body.message.clone(),
            }
        }
        other => Error::Ise(other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GuiEntry {
    #[serde(flatten)]
    settings: MdmServerSettings,
    status: String,
}

impl MdmServerConfigurator for GuiConfigurator {
    fn apply<'a>(
        &'a self,
        settings: &'a MdmServerSettings,
    ) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>> {
        Box::pin(async move {
            let path = self.path(&settings.name, "")?;
            let current = match self.ise.request(Method::GET, &path, None).await {
                Ok(v) => Some(serde_json::from_value::<GuiEntry>(v).map_err(|e| {
                    Error::MdmConfiguration {
                        message: format!("unreadable External MDM entry: {e}"),
                    }
                })?),
                Err(ise_client::Error::Api { status: 404, .. }) => None,
                Err(e) => return Err(gui_error(e)),
            };
            let mut body = serde_json::to_value(settings).map_err(|e| Error::MdmConfiguration {
                message: e.to_string(),
            })?;
            body["status"] = json!("Enabled");
            match current {
                None => {
                    self.ise
                        .request(Method::POST, &self.base_path, Some(body))
                        .await
                        .map_err(gui_error)?;
                    Ok(ConfiguratorOutcome::Created)
                }
                Some(c) if c.settings == *settings && c.status == "Enabled" => {
                    Ok(ConfiguratorOutcome::Unchanged)
                }
                Some(_) => {
                    self.ise
                        .request(Method::PUT, &path, Some(body))
                        .await
                        .map_err(gui_error)?;
                    Ok(ConfiguratorOutcome::Updated)
                }
            }
        })
    }

    fn cycle<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<ConfiguratorOutcome, Error>> {
        Box::pin(async move {
            self.action(name, "/disable").await?;
            self.action(name, "/test").await?;
            self.action(name, "/enable").await?;
            Ok(ConfiguratorOutcome::Updated)
        })
    }
}
