//! ISE releases and what each can do with Intune: the capability gates of the
//! integration. [`IseVersion`] itself (parsing, ordering) comes from [`ise_client`];
//! the gates live here, as the [`IntuneGates`] extension trait.
//!
//! | ISE release | Microsoft Graph | Token audience |
//! |---|---|---|
//! | < 3.1 patch 3 | no | – |
//! | 3.1 patch 3 – 7 | yes | `https://api.manage.microsoft.com/` |
//! | 3.1 patch 8+ | yes | `https://api.manage.microsoft.com//.default` |
//! | 3.2 patch 0 – 2 | yes | `https://api.manage.microsoft.com/` |
//! | 3.2 patch 3+ | yes | `https://api.manage.microsoft.com//.default` |
//! | 3.3+ | yes | `https://api.manage.microsoft.com//.default` |
//!
//! Compliance retrieval (the v3 "NAC 2.0" API) needs 3.1 patch 8, 3.2 patch 4, or 3.3+.
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

    /// The token audience this release sends, or [`Error::UnsupportedIseVersion`] for
    /// releases that cannot use Microsoft Graph.
    fn token_audience(&self) -> Result<TokenAudience, Error>;

    /// Whether this release supports Intune's compliance retrieval (v3, "NAC 2.0") API:
    /// 3.1 patch 8+, 3.2 patch 4+, 3.3 and later.
    fn supports_compliance_v3(&self) -> bool;
}

impl IntuneGates for IseVersion {
    fn supports_microsoft_graph(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch() >= 3,
            (major, minor) => major > 3 || (major == 3 && minor >= 2),
        }
    }

    fn token_audience(&self) -> Result<TokenAudience, Error> {
        if !self.supports_microsoft_graph() {
            return Err(Error::UnsupportedIseVersion { version: *self });
        }
        Ok(match self.release() {
            (3, 1) if self.patch() < 8 => TokenAudience::Resource(INTUNE_RESOURCE.into()),
            (3, 2) if self.patch() < 3 => TokenAudience::Resource(INTUNE_RESOURCE.into()),
            _ => TokenAudience::Scope(INTUNE_DEFAULT_SCOPE.into()),
        })
    }

    fn supports_compliance_v3(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch() >= 8,
            (3, 2) => self.patch() >= 4,
            (major, minor) => major > 3 || (major == 3 && minor >= 3),
        }
    }
}
