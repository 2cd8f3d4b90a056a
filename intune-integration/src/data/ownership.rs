//! How the integration recognises what it made, with no local state: a marker on each
//! object, where the object lives.
//!
//! | object | marker |
//! |---|---|
//! | the Entra application | the tag [`APP_TAG`] (Graph copies an application's tags to its service principal), and [`APP_NOTES`] for people |
//! | a trusted certificate imported into ISE | the description [`TRUST_DESCRIPTION`] |
//! | an authorization rule | its configured name and exactly the condition enforcement writes for its state (Cisco's `RuleCommon` has no description field: name, state, condition, rank, default, hit counts and id are all a rule has) |
//! | the External MDM entry | its configured name (`mdm_server_name`) |
//!
//! An application found as the configuration describes it (its uniqueName, the
//! configured client id, or the one hand-made application with the display name) is
//! marked by the next onboarding run: that is how applications made before markers
//! existed are adopted. Trusted certificates that were in ISE's store before the
//! integration imported them are never marked: they are someone else's.

use graph_client::Application;
use ise_client::TrustedCertificate;

/// The tag on the integration's application.
pub const APP_TAG: &str = "ise-intune-managed";

/// The notes on the integration's application, for the people who manage Entra ID.
pub const APP_NOTES: &str = "Created and managed by ise-intune for Cisco ISE's External MDM \
     connection to Microsoft Intune. `ise-intune offboard` removes it; ISE stops working with \
     Intune if it is deleted by hand first.";

/// The description of the trusted certificates the integration imports into ISE.
pub const TRUST_DESCRIPTION: &str = "Microsoft Intune trust anchor imported by ise-intune";

/// Whether the application carries the integration's tag.
pub fn app_is_marked(app: &Application) -> bool {
    app.tags.iter().any(|t| t == APP_TAG)
}

/// The application's tags with the integration's added (every other tag kept, in
/// order).
pub fn tags_with_marker(app: &Application) -> Vec<String> {
    let mut tags = app.tags.clone();
    if !app_is_marked(app) {
        tags.push(APP_TAG.to_owned());
    }
    tags
}

/// The prefix of the tag offboarding records on the application before ISE's External
/// MDM entry is removed: how many External MDM servers ISE reported active then
/// (`ise-intune-offboarding:active-mdm-servers=N`). A later run deletes the
/// application only once ISE reports fewer ([`crate::offboard`]'s guard
/// `offboard.entry_gone`): a person's `--mdm-removed` confirms, ISE's count proves.
pub const OFFBOARDING_TAG_PREFIX: &str = "ise-intune-offboarding:active-mdm-servers=";

/// The count of active External MDM servers offboarding recorded on `app`, if any.
pub fn recorded_active_servers(app: &Application) -> Option<u32> {
    app.tags
        .iter()
        .find_map(|t| t.strip_prefix(OFFBOARDING_TAG_PREFIX))
        .and_then(|n| n.parse().ok())
}

/// The application's tags with offboarding's record set to `active` (a previous
/// record replaced, every other tag kept in order).
pub fn tags_recording(app: &Application, active: u32) -> Vec<String> {
    let mut tags: Vec<String> = app
        .tags
        .iter()
        .filter(|t| !t.starts_with(OFFBOARDING_TAG_PREFIX))
        .cloned()
        .collect();
    tags.push(format!("{OFFBOARDING_TAG_PREFIX}{active}"));
    tags
}

/// Whether ISE's trusted certificate carries the integration's description.
pub fn trusted_is_marked(cert: &TrustedCertificate) -> bool {
    cert.description.as_deref() == Some(TRUST_DESCRIPTION)
}

/// What onboarding turned on in a trusted certificate that was already in ISE's store
/// (step 5 fixes such a root in place rather than importing it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnabledFlag {
    /// Its status (it was disabled).
    Status,
    /// Trust for authentication within ISE.
    IseAuth,
    /// Trust for authentication of Cisco services.
    CiscoServices,
}

impl EnabledFlag {
    fn word(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::IseAuth => "ise-auth",
            Self::CiscoServices => "cisco-services",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        [Self::Status, Self::IseAuth, Self::CiscoServices]
            .into_iter()
            .find(|f| f.word() == w)
    }
}

/// Where a fixed certificate's description records what onboarding turned on.
const ENABLED_MARK: &str = "ise-intune enabled:";

/// The description of a trusted certificate that was in the store before, once
/// onboarding turned `flags` on: its own description kept, then what was turned on
/// (letters, digits, spaces, hyphens and a colon: ISE refuses some punctuation in
/// descriptions), so that offboarding can turn exactly that off again.
pub fn enabled_description(original: Option<&str>, flags: &[EnabledFlag]) -> String {
    let words: Vec<&str> = flags.iter().map(|f| f.word()).collect();
    let mark = format!("{ENABLED_MARK} {}", words.join(" "));
    match original.map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => format!("{o} -- {mark}"),
        None => mark,
    }
}

/// What [`enabled_description`] recorded: the original description and the flags
/// onboarding turned on; `None` for a description without the record.
pub fn enabled_by_onboarding(description: Option<&str>) -> Option<(String, Vec<EnabledFlag>)> {
    let description = description?;
    let at = description.rfind(ENABLED_MARK)?;
    let flags = description[at + ENABLED_MARK.len()..]
        .split_whitespace()
        .map(EnabledFlag::from_word)
        .collect::<Option<Vec<_>>>()?;
    let original = description[..at].trim_end();
    let original = original.strip_suffix("--").unwrap_or(original).trim_end();
    Some((original.to_owned(), flags))
}
