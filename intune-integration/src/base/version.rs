//! ISE releases and what each can do with Intune: the capability gates of the
//! integration. [`IseVersion`] itself (parsing, ordering) comes from [`ise_client`];
//! the gates live here, as the [`IntuneGates`] extension trait.
//!
//! | ISE release | Microsoft Graph | Compliance Retrieval API | Token audience | Onboarding | Strong mapping (FN74227) |
//! |---|---|---|---|---|---|
//! | < 3.1 patch 3 | no | no | – | refused: upgrade | – |
//! | 3.1 patch 3 – 7 | yes | no | `https://api.manage.microsoft.com/` | refused: install 3.1 patch 8 | – |
//! | 3.1 patch 8 – 9 | yes | yes | `https://api.manage.microsoft.com//.default` | yes | warned: install 3.1 patch 10 |
//! | 3.1 patch 10+ | yes | yes | `https://api.manage.microsoft.com//.default` | yes | fixed |
//! | 3.2 patch 0 – 2 | yes | no | `https://api.manage.microsoft.com/` | refused: install 3.2 patch 4 | – |
//! | 3.2 patch 3 | yes | no | `https://api.manage.microsoft.com//.default` | refused: install 3.2 patch 4 | – |
//! | 3.2 patch 4 – 6 | yes | yes | `https://api.manage.microsoft.com//.default` | yes | warned: install 3.2 patch 7 |
//! | 3.2 patch 7+ | yes | yes | `https://api.manage.microsoft.com//.default` | yes | fixed |
//! | 3.3 patch 0 – 3 | yes | yes | `https://api.manage.microsoft.com//.default` | yes | warned: install 3.3 patch 4 |
//! | 3.3 patch 4+ | yes | yes | `https://api.manage.microsoft.com//.default` | yes | fixed |
//! | 3.4 patch 0 | yes | yes | `https://api.manage.microsoft.com//.default` | yes | warned: install 3.4 patch 1 |
//! | 3.4 patch 1+, later | yes | yes | `https://api.manage.microsoft.com//.default` | yes | fixed |
//!
//! Strong mapping: Cisco Field Notice FN74227 (defect CSCwk73785, "Certificate Based
//! Authentication with SID") lists ISE 3.1 patch 9 and earlier, 3.2 patch 6 and earlier,
//! 3.3 patch 3 and earlier and 3.4 unpatched as failing certificate authentication *and
//! the Intune MDM integration* once Intune adds security identifiers to certificates'
//! SAN URI (`tag:microsoft.com,2022-09-14:sid:…`) for Windows strong mapping. These
//! releases still onboard (the integration itself connects); plan and doctor warn
//! ([`IntuneGates::strong_mapping_fix`], finding `ise.release_strong_mapping`).
//!
//! The Compliance Retrieval API (v3) is mandatory: since 2024-03-24 Intune answers only
//! it (Cisco ISE admin guide, "Integrate Microsoft Endpoint Manager Intune"; Microsoft
//! ended the NAC service on 2024-03-31), so releases without it "cannot retrieve device
//! registration and compliance information" and [`IntuneGates::check_release`] refuses
//! them before anything is written or sent to Microsoft.
//!
//! The audience is a [`TokenAudience`] — the same type the Graph client asks Entra ID
//! for tokens with: the releases in the `/` rows ask the v1 endpoint for a `resource`,
//! the others the v2 endpoint for a `scope`. Its text is what ISE's "Token Audience"
//! field must hold, to the character.
//!
//! ```
//! use intune_integration::version::{IntuneGates as _, IseVersion, TokenAudience};
//!
//! let v = IseVersion::from_ers("3.1.0.518", "1,3,8")?;
//! assert_eq!(v.token_audience()?, TokenAudience::Scope("https://api.manage.microsoft.com//.default".into()));
//! assert!(v.supports_compliance_v3());
//! assert!("3.0.0.458 patch 8".parse::<IseVersion>()?.token_audience().is_err());
//! // 3.2 patch 3 reaches Graph but not the compliance API: refused, naming the patch.
//! let err = "3.2 patch 3".parse::<IseVersion>()?.check_release().unwrap_err();
//! assert!(err.to_string().contains("install ISE 3.2 patch 4"));
//! # Ok::<(), intune_integration::Error>(())
//! ```

pub use graph_client::TokenAudience;
pub use ise_client::version::IseVersion;

use crate::Error;

/// Intune's resource as ISE releases of the `/` rows name it (a v1 `resource`).
pub const INTUNE_RESOURCE: &str = "https://api.manage.microsoft.com/";
/// Intune's scope as later releases name it (a v2 `scope`, with its double slash:
/// Entra takes everything before the last `/` as the resource).
pub const INTUNE_DEFAULT_SCOPE: &str = "https://api.manage.microsoft.com//.default";

/// What an ISE release can do with Intune.
pub trait IntuneGates {
    /// Whether this release can reach Intune through Microsoft Graph (3.1 patch 3+).
    fn supports_microsoft_graph(&self) -> bool;

    /// The token audience this release sends in the commercial cloud, or
    /// [`Error::UnsupportedIseVersion`] for releases that cannot use Microsoft Graph.
    fn token_audience(&self) -> Result<TokenAudience, Error> {
        self.token_audience_for(INTUNE_RESOURCE)
    }

    /// The token audience this release sends for the Intune API resource `resource`
    /// (a cloud's, see [`graph_client::cloud`]): the resource itself for the early
    /// releases, else `<resource>/.default`.
    fn token_audience_for(&self, resource: &str) -> Result<TokenAudience, Error>;

    /// Whether this release supports Intune's compliance retrieval (v3, "NAC 2.0") API:
    /// 3.1 patch 8+, 3.2 patch 4+, 3.3 and later.
    fn supports_compliance_v3(&self) -> bool;

    /// The Intune endpoint this release asks Graph's discovery for:
    /// `ComplianceRetrievalService` with the compliance API, else `NACAPIService`.
    fn compliance_provider(&self) -> &'static str {
        if self.supports_compliance_v3() {
            graph_client::well_known::COMPLIANCE_RETRIEVAL_SERVICE
        } else {
            graph_client::well_known::NAC_API_SERVICE
        }
    }

    /// The patch to install when this release is affected by Field Notice FN74227
    /// (certificates with security identifiers in their SAN URI break certificate
    /// authentication and the Intune MDM integration), or `None` when it is not: 3.1
    /// patch 9 and earlier, 3.2 patch 6 and earlier, 3.3 patch 3 and earlier, 3.4
    /// unpatched. Releases before 3.1 are refused by [`Self::check_release`] anyway.
    fn strong_mapping_fix(&self) -> Option<&'static str>;

    /// Whether onboarding can proceed: the release reaches Graph *and* the mandatory
    /// Compliance Retrieval API. Returns the token audience (commercial cloud), or
    /// [`Error::UnsupportedIseVersion`] naming the release or patch to install.
    fn check_release(&self) -> Result<TokenAudience, Error> {
        self.check_release_for(INTUNE_RESOURCE)
    }

    /// [`Self::check_release`] for the Intune API resource `resource`.
    fn check_release_for(&self, resource: &str) -> Result<TokenAudience, Error>;
}

impl IntuneGates for IseVersion {
    fn supports_microsoft_graph(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch() >= 3,
            (major, minor) => major > 3 || (major == 3 && minor >= 2),
        }
    }

    fn token_audience_for(&self, resource: &str) -> Result<TokenAudience, Error> {
        if !self.supports_microsoft_graph() {
            return Err(Error::UnsupportedIseVersion {
                version: *self,
                install: "ISE 3.1 patch 8, 3.2 patch 4 or 3.3",
                reason: "it cannot reach Intune through Microsoft Graph",
            });
        }
        Ok(match self.release() {
            (3, 1) if self.patch() < 8 => TokenAudience::Resource(resource.into()),
            (3, 2) if self.patch() < 3 => TokenAudience::Resource(resource.into()),
            _ => TokenAudience::Scope(format!("{resource}/.default")),
        })
    }

    fn check_release_for(&self, resource: &str) -> Result<TokenAudience, Error> {
        let audience = self.token_audience_for(resource)?;
        if self.supports_compliance_v3() {
            return Ok(audience);
        }
        let install = match self.release() {
            (3, 1) => "ISE 3.1 patch 8",
            (3, 2) => "ISE 3.2 patch 4",
            _ => "ISE 3.1 patch 8, 3.2 patch 4 or 3.3",
        };
        Err(Error::UnsupportedIseVersion {
            version: *self,
            install,
            reason: "it reaches Microsoft Graph but not Intune's Compliance Retrieval API, the \
                     only one Intune answers since 2024-03-24, so it cannot retrieve device \
                     registration and compliance",
        })
    }

    fn strong_mapping_fix(&self) -> Option<&'static str> {
        match self.release() {
            (3, 1) if self.patch() <= 9 => Some("ISE 3.1 patch 10"),
            (3, 2) if self.patch() <= 6 => Some("ISE 3.2 patch 7"),
            (3, 3) if self.patch() <= 3 => Some("ISE 3.3 patch 4"),
            (3, 4) if self.patch() == 0 => Some("ISE 3.4 patch 1"),
            _ => None,
        }
    }

    fn supports_compliance_v3(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch() >= 8,
            (3, 2) => self.patch() >= 4,
            (major, minor) => major > 3 || (major == 3 && minor >= 3),
        }
    }
}
