//! Checks of each node's Admin certificate.

use super::Diagnosis;
use super::Expiry;
use super::ExpiryKind;
use super::Finding;
use super::Severity;
use super::days;
use super::expiry_stage;
use super::ids;
use crate::Error;
use crate::keys::AdminCertificate;
use crate::keys::AdminKeyMaterial;
use time::OffsetDateTime;

/// Every node's Admin certificate, with expiry findings.
pub(super) fn node_certificates<'o>(
    d: &mut Diagnosis,
    exported: &'o Result<Vec<AdminKeyMaterial>, Error>,
    now: OffsetDateTime,
    thresholds: &[u32],
) -> Result<Vec<AdminCertificate>, &'o Error> {
    let admins: Vec<AdminCertificate> = match exported {
        Ok(m) => m.iter().map(|m| m.admin.clone()).collect(),
        Err(Error::NonRsaAdminCertificate { node, algorithm }) => {
            d.push(
                ids::NODE_CERTIFICATE_NOT_RSA,
                Severity::Error,
                Some(node),
                format!("{node}'s Admin certificate is {algorithm}, not RSA"),
                "Entra ID refuses client assertions not signed with RSA (AADSTS5002738)",
                "generate an RSA (2048-bit or larger) certificate for the Admin role \
                 (Administration > System > Certificates > Certificate Signing Requests, \
                 key type RSA), then run onboard",
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    for a in &admins {
        let host = a.node.hostname.as_str();
        d.expiries.push(Expiry {
            subject: host.to_owned(),
            kind: ExpiryKind::AdminCertificate,
            not_after: a.certificate.not_after(),
            node: Some(host.to_owned()),
        });
        let left = a.certificate.not_after() - now;
        let evidence = format!(
            "`{}` (SHA-1 {}) valid until {}",
            a.system_certificate.friendly_name,
            a.certificate.sha1(),
            a.certificate.not_after().date()
        );
        let renew = format!(
            "renew {host}'s Admin certificate in ISE (Administration > System > \
             Certificates > System Certificates), then run rotate"
        );
        if left.is_negative() {
            d.push(
                ids::NODE_CERTIFICATE_EXPIRED,
                Severity::Error,
                Some(host),
                format!("{host}'s Admin certificate has expired"),
                evidence,
                renew,
            );
        } else if let Some((threshold, severity)) = expiry_stage(left, thresholds) {
            d.findings.push(
                Finding::new(
                    ids::NODE_CERTIFICATE_EXPIRING,
                    severity,
                    Some(host),
                    format!("{host}'s Admin certificate expires in {} days", days(left)),
                    format!("{evidence}; within the {threshold}-day threshold"),
                    renew,
                )
                .at_threshold(threshold),
            );
        }
    }
    Ok(admins)
}
