//! ISE releases and the Intune integration features each one supports.
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
//! ```
//! use ise_client::version::{IseVersion, TokenAudience};
//!
//! // As ERS `op/systemconfig/iseversion` reports it:
//! let v = IseVersion::from_ers("3.1.0.518", "1,3,8")?;
//! assert_eq!(v.patch(), 8);
//! assert_eq!(v.token_audience()?, TokenAudience::DefaultScope);
//! assert!(v.supports_compliance_v3());
//! assert!("3.0.0.458 patch 8".parse::<IseVersion>()?.token_audience().is_err());
//! # Ok::<(), ise_client::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// An ISE release: `major.minor.maintenance.build` plus the highest installed patch.
///
/// Ordered by release, then patch, then build number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IseVersion {
    major: u16,
    minor: u16,
    maintenance: u16,
    patch: u16,
    build: Option<u32>,
}

/// The token audience ISE's External MDM server entry must carry for Intune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAudience {
    /// `https://api.manage.microsoft.com/` (v1-style resource), for 3.1 p3–p7 and 3.2 p0–p2.
    Resource,
    /// `https://api.manage.microsoft.com//.default` (v2 scope), for 3.1 p8+, 3.2 p3+ and 3.3+.
    DefaultScope,
}

impl TokenAudience {
    /// The exact text to enter in ISE's Token Audience field.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "https://api.manage.microsoft.com/",
            Self::DefaultScope => "https://api.manage.microsoft.com//.default",
        }
    }
}

impl fmt::Display for TokenAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn invalid(input: &str, reason: &'static str) -> Error {
    Error::InvalidIseVersion {
        input: input.chars().take(80).collect(),
        reason,
    }
}

fn number<T: FromStr>(input: &str, part: &str, reason: &'static str) -> Result<T, Error> {
    let part = part.trim();
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(input, reason));
    }
    part.parse().map_err(|_| invalid(input, reason))
}

/// Reads a patch list as ISE reports it: `""`, `"0"`, `"3"`, `"1,3,8"`; the highest wins.
fn highest_patch(input: &str, list: &str) -> Result<u16, Error> {
    let list = list.trim();
    if list.is_empty() || list.eq_ignore_ascii_case("n/a") || list.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    list.split(',')
        .map(|p| number::<u16>(input, p, "patch list must be numbers separated by commas"))
        .try_fold(0u16, |max, p| p.map(|p| max.max(p)))
}

impl IseVersion {
    /// A release given by numbers (maintenance 0, no build number).
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            maintenance: 0,
            patch,
            build: None,
        }
    }

    /// Parses ERS `iseversion`'s two values: `version` (`"3.1.0.518"`) and
    /// `patch information` (`"1,3,8"`, `"0"` or empty).
    pub fn from_ers(version: &str, patch_information: &str) -> Result<Self, Error> {
        let mut v = Self::parse_release(version)?;
        v.patch = highest_patch(patch_information, patch_information)?;
        Ok(v)
    }

    /// Parses OpenAPI `/api/v1/patch`'s `iseVersion` with its installed patch numbers.
    pub fn from_patch_api(
        ise_version: &str,
        patch_numbers: impl IntoIterator<Item = u16>,
    ) -> Result<Self, Error> {
        let mut v = Self::parse_release(ise_version)?;
        v.patch = patch_numbers.into_iter().max().unwrap_or(0);
        Ok(v)
    }

    /// Parses `major.minor[.maintenance[.build]]`.
    fn parse_release(input: &str) -> Result<Self, Error> {
        let text = input.trim();
        if text.is_empty() {
            return Err(invalid(input, "it is empty"));
        }
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err(invalid(
                input,
                "expected major.minor[.maintenance[.build]], e.g. 3.1.0.518",
            ));
        }
        let reason = "version parts must be numbers";
        Ok(Self {
            major: number(input, parts[0], reason)?,
            minor: number(input, parts[1], reason)?,
            maintenance: parts
                .get(2)
                .map(|p| number(input, p, reason))
                .transpose()?
                .unwrap_or(0),
            patch: 0,
            build: parts.get(3).map(|p| number(input, p, reason)).transpose()?,
        })
    }

    /// Sets the patch level.
    pub const fn with_patch(mut self, patch: u16) -> Self {
        self.patch = patch;
        self
    }

    /// Major release number (the 3 of 3.1).
    pub const fn major(&self) -> u16 {
        self.major
    }

    /// Minor release number (the 1 of 3.1).
    pub const fn minor(&self) -> u16 {
        self.minor
    }

    /// Maintenance number (the third component, 0 on every current release).
    pub const fn maintenance(&self) -> u16 {
        self.maintenance
    }

    /// Build number, when known (the 518 of 3.1.0.518).
    pub const fn build(&self) -> Option<u32> {
        self.build
    }

    /// Highest installed patch (0 when none).
    pub const fn patch(&self) -> u16 {
        self.patch
    }

    const fn release(&self) -> (u16, u16) {
        (self.major, self.minor)
    }

    /// Whether this release can reach Intune through Microsoft Graph (3.1 patch 3+).
    pub const fn supports_microsoft_graph(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch >= 3,
            (major, minor) => major > 3 || (major == 3 && minor >= 2),
        }
    }

    /// The token audience this release needs, or [`Error::UnsupportedIseVersion`] for
    /// releases that cannot use Microsoft Graph.
    pub fn token_audience(&self) -> Result<TokenAudience, Error> {
        if !self.supports_microsoft_graph() {
            return Err(Error::UnsupportedIseVersion { version: *self });
        }
        Ok(match self.release() {
            (3, 1) if self.patch < 8 => TokenAudience::Resource,
            (3, 2) if self.patch < 3 => TokenAudience::Resource,
            _ => TokenAudience::DefaultScope,
        })
    }

    /// Whether this release supports Intune's compliance retrieval (v3, "NAC 2.0") API:
    /// 3.1 patch 8+, 3.2 patch 4+, 3.3 and later.
    pub const fn supports_compliance_v3(&self) -> bool {
        match self.release() {
            (3, 1) => self.patch >= 8,
            (3, 2) => self.patch >= 4,
            (major, minor) => major > 3 || (major == 3 && minor >= 3),
        }
    }
}

impl fmt::Display for IseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.maintenance)?;
        if let Some(build) = self.build {
            write!(f, ".{build}")?;
        }
        if self.patch > 0 {
            write!(f, " patch {}", self.patch)?;
        }
        Ok(())
    }
}

impl FromStr for IseVersion {
    type Err = Error;

    /// Accepts `3.1.0.518`, `3.1.0.518 patch 8`, `3.1 patch 8`, `3.1p8` and
    /// `3.1.0.518 patch 1,3,8` (the highest patch wins).
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let (release, patch) = match lower.split_once("patch") {
            Some((r, p)) => (r, Some(p)),
            None => match lower.split_once('p') {
                Some((r, p)) => (r, Some(p)),
                None => (lower.as_str(), None),
            },
        };
        let mut v = Self::parse_release(release).map_err(|_| {
            invalid(
                s,
                "expected e.g. `3.1.0.518`, `3.1.0.518 patch 8` or `3.1p8`",
            )
        })?;
        if let Some(p) = patch {
            let p = p.trim();
            if p.is_empty() {
                return Err(invalid(s, "`patch` must be followed by a number"));
            }
            v.patch = highest_patch(s, p)?;
        }
        Ok(v)
    }
}
