//! Checks of ISE's trusted store against the anchors Microsoft's endpoints need.

use super::Diagnosis;
use super::Severity;
use super::ids;
use crate::context::Integration;
use crate::decide;
use crate::decide::AnchorAction;
use ise_client::TrustedCertificate;

/// Each anchor: present, enabled and trusted for authentication within ISE.
pub(super) fn trust_findings(ctx: &Integration, d: &mut Diagnosis, store: &[TrustedCertificate]) {
    let actions = decide::anchor_actions(store, &ctx.anchors);
    let serving: Vec<&str> = actions
        .iter()
        .filter(|(_, action)| matches!(action, AnchorAction::Keep))
        .map(|(anchor, _)| anchor.name())
        .collect();
    let leaving_only = actions
        .iter()
        .filter(|(_, action)| matches!(action, AnchorAction::Keep))
        .all(|(anchor, _)| anchor.is_leaving());
    if !serving.is_empty() && leaving_only {
        d.push(
            ids::TRUST_ONLY_LEAVING_ROOTS,
            Severity::Error,
            None,
            "ISE trusts only roots Microsoft is leaving",
            format!(
                "trusted for authentication within ISE: {}; Entra ID chains to DigiCert \
                 Global Root G2 since 2025–January 2026",
                serving.join(", ")
            ),
            "run trust-sync or onboard (step 5 imports DigiCert Global Root G2 and \
             Microsoft's 2017 roots trusted for authentication within ISE)",
        );
    }
    for (anchor, action) in actions {
        match action {
            AnchorAction::Keep => {}
            AnchorAction::Import => d.push(
                ids::TRUST_ANCHOR_MISSING,
                Severity::Warning,
                None,
                format!("`{}` is not in ISE's trusted store", anchor.name()),
                anchor.purpose().to_owned(),
                "run trust-sync or onboard (step 5 imports it trusted for authentication \
                 within ISE)",
            ),
            AnchorAction::Fix { id, update } => {
                let entry = store.iter().find(|t| t.id == id);
                let (lacks, boxes) = entry.map_or_else(
                    || (vec!["not usable".to_owned()], Vec::new()),
                    |t| anchor_lacks(&ise_client::TrustedCertificateUpdate::keeping(t)),
                );
                d.push(
                    ids::TRUST_ANCHOR_NOT_TRUSTED,
                    Severity::Warning,
                    None,
                    format!(
                        "`{}` is in ISE's store but {}",
                        update.name,
                        lacks.join(" and ")
                    ),
                    format!(
                        "status {}, trusted for `{}`",
                        entry.and_then(|t| t.status.clone()).unwrap_or_default(),
                        entry
                            .and_then(|t| t.trusted_for.clone())
                            .unwrap_or_default()
                    ),
                    format!(
                        "in ISE: Administration > System > Certificates > Trusted \
                         Certificates > {}: {} (or run trust-sync / onboard)",
                        update.name,
                        if boxes.is_empty() {
                            "Enabled, tick every \"Trust for …\" box".to_owned()
                        } else {
                            boxes.join(", ")
                        }
                    ),
                );
            }
        }
    }
}

/// What a trusted certificate lacks for the integration (as the doctor says it), and
/// the boxes to set in ISE's GUI for each.
pub(super) fn anchor_lacks(
    was: &ise_client::TrustedCertificateUpdate,
) -> (Vec<String>, Vec<String>) {
    let mut lacks = Vec::new();
    let mut boxes = Vec::new();
    if !was.enabled {
        lacks.push("disabled".to_owned());
        boxes.push("set Status to Enabled".to_owned());
    }
    if !was.trust_for_ise_auth {
        lacks.push("not trusted for authentication within ISE".to_owned());
        boxes.push("tick \"Trust for authentication within ISE\"".to_owned());
    }
    if !was.trust_for_cisco_services_auth {
        lacks.push("not trusted for authentication of Cisco Services".to_owned());
        boxes.push("tick \"Trust for authentication of Cisco Services\"".to_owned());
    }
    (lacks, boxes)
}
