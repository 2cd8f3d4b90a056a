//! ISE releases as ISE reports them: `major.minor.maintenance.build` plus the highest
//! installed patch. This crate only parses and orders versions; what each release can
//! do with Intune is the integration crate's knowledge (`intune_integration::version`).
//!
//! ```
//! use ise_client::version::IseVersion;
//!
//! // As ERS `op/systemconfig/iseversion` reports it:
//! let v = IseVersion::from_ers("3.1.0.518", "1,3,8")?;
//! assert_eq!(v.patch(), 8);
//! assert_eq!(v.release(), (3, 1));
//! assert!("3.1p8".parse::<IseVersion>()? > "3.1 patch 7".parse()?);
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

    /// `(major, minor)`, e.g. `(3, 1)`.
    pub const fn release(&self) -> (u16, u16) {
        (self.major, self.minor)
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
