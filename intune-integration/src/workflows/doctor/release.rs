//! Checks of the ISE release and the cloud: version gates, Field Notice FN74227.

use super::Diagnosis;
use super::Severity;
use super::ids;
use crate::Error;
use crate::context::Integration;
use crate::version::IntuneGates;

/// What cannot be confirmed about the tenant's cloud.
pub(super) fn cloud_findings(ctx: &Integration, d: &mut Diagnosis) {
    for warning in ctx.graph.cloud_warnings() {
        d.push(
            ids::CLOUD_UNCONFIRMED,
            Severity::Warning,
            None,
            format!(
                "the {} cloud's endpoints are not all confirmed",
                ctx.graph.cloud()
            ),
            warning,
            "confirm the value with Microsoft for your tenant and set it in the \
             configuration ([entra] intune_resource); until then the library uses the \
             table's value",
        );
    }
}

/// What FN74227 says, for the finding's evidence and the plan's warning.
pub const STRONG_MAPPING_EVIDENCE: &str = "Cisco Field Notice FN74227 (CSCwk73785): Intune adds \
     security identifiers to certificates' SAN URI for Windows strong mapping; ISE 3.1 patch \
     9 and earlier, 3.2 patch 6 and earlier, 3.3 patch 3 and earlier and 3.4 unpatched then \
     fail certificate authentication and the Intune MDM integration";

/// The release's gates: an info finding naming the audience, or an error finding
/// when the release cannot integrate. Whether it is supported.
pub(super) fn release_findings(
    d: &mut Diagnosis,
    version: &ise_client::version::IseVersion,
) -> Result<bool, Error> {
    match version.check_release() {
        Ok(audience) => {
            d.push(
                ids::ISE_RELEASE,
                Severity::Info,
                None,
                format!("ISE {version}"),
                format!("token audience {audience}"),
                "nothing to do",
            );
            if let Some(install) = version.strong_mapping_fix() {
                d.push(
                    ids::ISE_RELEASE_STRONG_MAPPING,
                    Severity::Warning,
                    None,
                    format!(
                        "ISE {version} fails certificate authentication and the Intune \
                         integration once Intune puts security identifiers into certificates"
                    ),
                    STRONG_MAPPING_EVIDENCE,
                    format!("install {install} on every node (Cisco Field Notice FN74227)"),
                );
            }
            Ok(true)
        }
        Err(Error::UnsupportedIseVersion {
            version: v,
            install,
            reason,
        }) => {
            d.push(
                ids::ISE_RELEASE_UNSUPPORTED,
                Severity::Error,
                None,
                format!("ISE {v} cannot integrate with Intune"),
                reason,
                format!("install {install} on every node, then run onboard"),
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
