//! Steps 6 and 7: the External MDM server entry in ISE.
//!
//! Cisco publishes no API to create, edit, enable or test an External MDM server, so
//! the library computes the exact [`MdmServerSettings`] for the ISE release and hands
//! them to an [`MdmServerConfigurator`]:
//!
//! * [`ManualChecklist`] renders the GUI steps with every value and reports
//!   [`Outcome::ManualActionRequired`](crate::outcome::Outcome::ManualActionRequired);
//!   once an enabled MDM server shows in ISE's deployment info, a later run carries on
//!   from there;
//! * your own implementation (a ticket system, a browser automation), or the test kit's
//!   implementation that drives the simulator's stand-in for the admin GUI.

use std::fmt::Write as _;

use ise_client::IseClient;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::outcome::Step;
use crate::version::{INTUNE_RESOURCE, IntuneGates as _, IseVersion, TokenAudience};

/// The name [`MdmServerSettings::changed_since`] gives a change of ISE's certificates.
pub const ISE_CERTIFICATES_FIELD: &str = "ISE certificates";

/// The authentication type ISE shows for Microsoft Graph integrations.
pub const AUTH_TYPE: &str = "OAuth - Client Credentials";
/// The Auto Discovery URL for Microsoft Graph.
pub const GRAPH_AUTO_DISCOVERY_URL: &str = "https://graph.microsoft.com";

/// Everything ISE's "Add External MDM Server" form asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
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
    /// SHA-1 thumbprints (uppercase hex, sorted) of the ISE Admin certificates
    /// registered on the application. Not a form field: ISE reads its certificate when
    /// the entry is enabled, so a change needs the entry disabled, tested and enabled
    /// again (step 7), and the confirmed fingerprint covers it.
    #[serde(skip)]
    pub ise_certificates: Vec<String>,
}

impl MdmServerSettings {
    /// The settings for `version` in the commercial cloud, or
    /// [`Error::UnsupportedIseVersion`] for releases that cannot use Microsoft Graph.
    pub fn for_release(
        version: &IseVersion,
        name: impl Into<String>,
        client_id: impl Into<String>,
        token_issuing_url: impl Into<String>,
        auto_discovery_url: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::for_release_in(
            version,
            INTUNE_RESOURCE,
            name,
            client_id,
            token_issuing_url,
            auto_discovery_url,
        )
    }

    /// The settings for `version` with the Intune API resource of the tenant's cloud
    /// (`GraphClient::intune_resource`).
    pub fn for_release_in(
        version: &IseVersion,
        intune_resource: &str,
        name: impl Into<String>,
        client_id: impl Into<String>,
        token_issuing_url: impl Into<String>,
        auto_discovery_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let audience = version.check_release_for(intune_resource)?;
        Ok(Self {
            name: name.into(),
            authentication_type: AUTH_TYPE.into(),
            auto_discovery_url: auto_discovery_url.into(),
            client_id: client_id.into(),
            token_issuing_url: token_issuing_url.into(),
            token_audience: audience.as_str().into(),
            polling_interval_minutes: 240,
            compliance_reauth_query_minutes: 1,
            ise_certificates: Vec::new(),
        })
    }

    /// These settings for ISE Admin certificates with these SHA-1 thumbprints (any case;
    /// kept sorted, uppercase and without duplicates).
    pub fn with_ise_certificates<I, S>(mut self, thumbprints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut t: Vec<String> = thumbprints
            .into_iter()
            .map(|s| s.as_ref().to_ascii_uppercase())
            .collect();
        t.sort();
        t.dedup();
        self.ise_certificates = t;
        self
    }

    /// The audience as a typed value, if it has one of the two forms ISE uses for a
    /// cloud's Intune API: `<resource>/.default` (a scope) or the resource itself.
    pub fn audience(&self) -> Option<TokenAudience> {
        let a = self.token_audience.as_str();
        let resources = graph_client::Cloud::ALL.map(|c| c.endpoints().intune_resource);
        if let Some(resource) = a.strip_suffix("/.default")
            && resources.contains(&resource)
        {
            return Some(TokenAudience::Scope(a.into()));
        }
        resources
            .contains(&a)
            .then(|| TokenAudience::Resource(a.into()))
    }

    /// The fields an operator enters, by name, in the form's order, then the
    /// certificates ISE signs with.
    fn fields(&self) -> [(&'static str, String); 8] {
        [
            ("name", self.name.clone()),
            ("Auto Discovery URL", self.auto_discovery_url.clone()),
            ("Client ID", self.client_id.clone()),
            ("Token Issuing URL", self.token_issuing_url.clone()),
            ("Token Audience", self.token_audience.clone()),
            (
                "Polling Interval",
                self.polling_interval_minutes.to_string(),
            ),
            (
                "Compliance Device ReAuth Query interval",
                self.compliance_reauth_query_minutes.to_string(),
            ),
            (ISE_CERTIFICATES_FIELD, self.ise_certificates.join(",")),
        ]
    }

    /// A short fingerprint of the settings an operator enters: three hex digits per
    /// field, in groups, so that a confirmed fingerprint also tells which fields
    /// changed since (see [`Self::changed_since`]).
    ///
    /// ```
    /// use intune_integration::mdm::MdmServerSettings;
    /// use intune_integration::version::IseVersion;
    /// let s = MdmServerSettings::for_release(&IseVersion::new(3, 3, 0), "Intune", "client",
    ///     "https://login.microsoftonline.com/t/oauth2/v2.0/token", "https://graph.microsoft.com")?;
    /// assert_eq!(s.fingerprint().len(), 8 * 3 + 7);
    /// assert!(s.changed_since(&s.fingerprint()).is_empty());
    /// # Ok::<(), intune_integration::Error>(())
    /// ```
    pub fn fingerprint(&self) -> String {
        self.fields()
            .iter()
            .map(|(name, value)| {
                let d = ring::digest::digest(
                    &ring::digest::SHA256,
                    format!("{name}\u{0}{value}").as_bytes(),
                );
                hex::encode(&d.as_ref()[..2])[..3].to_owned()
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The fields whose value differs from when `confirmed` was this fingerprint (all
    /// of them when it is not a fingerprint of this form).
    pub fn changed_since(&self, confirmed: &str) -> Vec<&'static str> {
        let now = self.fingerprint();
        let (now, then): (Vec<&str>, Vec<&str>) = (
            now.split('-').collect(),
            confirmed.trim().split('-').collect(),
        );
        self.fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| then.len() != now.len() || now[*i] != then[*i])
            .map(|(_, (name, _))| *name)
            .collect()
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
        if !self.ise_certificates.is_empty() {
            let _ = writeln!(
                s,
                "(ISE signs with the Admin certificates registered on the application, \
                 SHA-1 {}.)",
                self.ise_certificates.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "Click Test Connection, then Save. Then confirm these settings by running again \
             with mdm_confirmed = \"{}\" (the fingerprint of exactly these values).",
            self.fingerprint()
        );
        s
    }
}

/// Something that can create and manage ISE's External MDM server entry. Every method
/// reports in the crate's one vocabulary ([`Step`]): `Created`, `Updated`,
/// `Unchanged`, or `ManualActionRequired` with the instructions for a person.
///
/// ```
/// use intune_integration::Error;
/// use intune_integration::mdm::{MdmServerConfigurator, MdmServerSettings};
/// use intune_integration::outcome::Step;
///
/// /// Records the settings in a change ticket and waits for its approval.
/// struct Ticket;
///
/// #[async_trait::async_trait]
/// impl MdmServerConfigurator for Ticket {
///     async fn inspect(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
///         Ok(Step::manual((), format!("approve ticket for `{}`", settings.name)))
///     }
///     async fn apply(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
///         self.inspect(settings).await
///     }
///     async fn cycle(&self, name: &str) -> Result<Step<()>, Error> {
///         Ok(Step::manual((), format!("cycle `{name}`")))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait MdmServerConfigurator: Send + Sync {
    /// What [`Self::apply`] would do, reading only: the plan's decision and the
    /// apply's are the same.
    async fn inspect(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error>;

    /// Makes the entry match `settings` and enabled.
    async fn apply(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error>;

    /// [`Self::apply`] after [`Self::inspect`] said, in the same run, what it would do
    /// (`inspected`): a configurator may act on it instead of reading the entry again
    /// (onboarding inspects while its other steps write, then applies). The default
    /// reads again.
    async fn apply_inspected(
        &self,
        settings: &MdmServerSettings,
        inspected: &Step<()>,
    ) -> Result<Step<()>, Error> {
        let _ = inspected;
        self.apply(settings).await
    }

    /// Disables, tests and re-enables the entry, as ISE needs after a certificate
    /// change.
    async fn cycle(&self, name: &str) -> Result<Step<()>, Error>;

    /// What [`Self::remove`] would do to the entry `name`, reading only:
    /// [`Outcome::Removed`](crate::outcome::Outcome::Removed) when it is there,
    /// `Unchanged` when it is gone, or a manual step. The default cannot see the entry:
    /// it asks a person ([`removal_checklist`]).
    async fn inspect_removal(&self, name: &str) -> Result<Step<()>, Error> {
        Ok(Step::manual((), removal_checklist(name)))
    }

    /// Disables and deletes the entry `name` (offboarding's first step, so that ISE
    /// stops asking Intune before anything the entry uses is removed). The default is
    /// [`Self::inspect_removal`]'s: a person does it.
    async fn remove(&self, name: &str) -> Result<Step<()>, Error> {
        self.inspect_removal(name).await
    }
}

/// The GUI steps that disable and delete the External MDM entry `name`, and how to
/// tell the command they are done.
pub fn removal_checklist(name: &str) -> String {
    format!(
        "ISE has no API for External MDM servers: remove the entry by hand. In ISE: \
         Administration > Network Resources > External MDM > {name}: set Status to \
         Disabled and Save; then select {name} and click Delete. When it is gone, run \
         offboarding again confirming it (`--mdm-removed`, or `mdm_removed = true` in the \
         configuration)."
    )
}

/// Renders the exact GUI steps and waits for a person. ISE has no API to read the
/// entry, so the operator confirms the settings' fingerprint
/// ([`MdmServerSettings::fingerprint`]) after entering them; until the confirmed
/// fingerprint matches the expected settings — and ISE reports an active MDM server —
/// the step stays `ManualActionRequired`, naming the fields that changed (after an
/// upgrade's new audience, a new client id, ...).
#[derive(Debug, Clone)]
pub struct ManualChecklist {
    ise: IseClient,
    confirmed: Option<String>,
    removed: bool,
}

impl ManualChecklist {
    /// A checklist configurator reading `mdmInfo` from this ISE, with nothing confirmed.
    pub fn new(ise: IseClient) -> Self {
        Self {
            ise,
            confirmed: None,
            removed: false,
        }
    }

    /// Whether the operator confirmed that the entry was deleted in ISE's GUI
    /// (offboarding's `--mdm-removed`): until then removal stays a manual step.
    pub fn removal_confirmed(mut self, removed: bool) -> Self {
        self.removed = removed;
        self
    }

    /// The fingerprint the operator confirmed (config `mdm_confirmed`).
    pub fn confirmed(mut self, fingerprint: Option<String>) -> Self {
        self.confirmed = fingerprint.filter(|f| !f.trim().is_empty());
        self
    }
}

#[async_trait::async_trait]
impl MdmServerConfigurator for ManualChecklist {
    async fn inspect(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        let mdm = self.ise.mdm_info().await?;
        let changed = self.confirmed.as_deref().map(|c| settings.changed_since(c));
        match changed {
            Some(fields) if fields.is_empty() && mdm.active_mdm_servers_count > 0 => {
                // Confirmed and active; the verification step checks the rest.
                Ok(Step::unchanged(()))
            }
            Some(fields) if fields.is_empty() => Ok(Step::manual(
                (),
                format!(
                    "The settings were confirmed, but ISE reports no active External MDM \
                     server: set `{}` to Enabled and Save.\n{}",
                    settings.name,
                    settings.checklist()
                ),
            )),
            Some(fields) => {
                let form: Vec<&str> = fields
                    .iter()
                    .copied()
                    .filter(|f| *f != ISE_CERTIFICATES_FIELD)
                    .collect();
                let mut todo = format!(
                    "The expected settings changed since they were confirmed: {}.",
                    fields.join(", ")
                );
                if fields.contains(&ISE_CERTIFICATES_FIELD) {
                    let _ = write!(
                        todo,
                        " ISE's Admin certificates changed: ISE uses a new certificate for \
                         the MDM server only after the entry is disabled and enabled again. \
                         In ISE: Administration > Network Resources > External MDM > {name}: \
                         set Status to Disabled and Save; open it again, click Test \
                         Connection, set Status to Enabled and Save.",
                        name = settings.name
                    );
                }
                if !form.is_empty() {
                    let _ = write!(todo, " Edit the entry in ISE:");
                }
                Ok(Step::manual(
                    (),
                    format!("{todo}\n{}", settings.checklist()),
                ))
            }
            None => Ok(Step::manual((), settings.checklist())),
        }
    }

    async fn apply(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        // A person writes; this configurator only observes.
        self.inspect(settings).await
    }

    async fn apply_inspected(
        &self,
        _settings: &MdmServerSettings,
        inspected: &Step<()>,
    ) -> Result<Step<()>, Error> {
        // What it observed in this run is what applying says.
        Ok(inspected.clone())
    }

    async fn inspect_removal(&self, name: &str) -> Result<Step<()>, Error> {
        if self.removed {
            // A person deleted it and said so; ISE offers nothing to read it back.
            Ok(Step::unchanged(()))
        } else {
            Ok(Step::manual((), removal_checklist(name)))
        }
    }

    async fn cycle(&self, name: &str) -> Result<Step<()>, Error> {
        Ok(Step::manual(
            (),
            format!(
                "ISE's certificate changed. In ISE: Administration > Network Resources > \
                 External MDM > {name}: set Status to Disabled and Save; open it again, \
                 click Test Connection, set Status to Enabled and Save."
            ),
        ))
    }
}
