//! Checks of ISE's External MDM entry and what ISE reports of it.

use super::Diagnosis;
use super::Severity;
use super::ids;
use super::unavailable;
use crate::Error;
use crate::context::Integration;

/// Whether ISE reports an active External MDM server.
pub(super) fn mdm_findings(
    ctx: &Integration,
    d: &mut Diagnosis,
    mdm: &Result<ise_client::MdmInfo, Error>,
) {
    let mdm = match mdm {
        Ok(m) => Some(m),
        Err(e) => {
            unavailable(d, e);
            None
        }
    };
    if mdm.is_some_and(|m| m.active_mdm_servers_count == 0) {
        d.push(
            ids::MDM_NOT_ACTIVE,
            Severity::Error,
            None,
            "ISE reports no active External MDM server",
            "ERS deploymentinfo: mdmInfo.activeMdmServersCount = 0",
            format!(
                "in ISE: Administration > Network Resources > External MDM > {}: set Status \
                 to Enabled and Save (or run onboard)",
                ctx.options.mdm_server_name
            ),
        );
    }
}
