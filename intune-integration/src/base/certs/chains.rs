//! Certificates ordered into chains.

use super::Certificate;

/// Orders certificates into chains, each from a leaf up to its root (or as far as the
/// set reaches).
///
/// A leaf is a certificate that issued no other certificate of the set. Parents are
/// matched by issuer/subject name and, where present, by authority/subject key
/// identifier; a certificate may appear in several chains when it issued several
/// leaves. Certificates that are only issuers all appear somewhere; a set where every
/// certificate issues another (a cross-signing loop) yields one chain per certificate.
/// Chains come out in the order of their leaves in the input; exact duplicates are
/// considered once.
pub fn order_chains(certs: &[Certificate]) -> Vec<Vec<Certificate>> {
    let mut unique: Vec<&Certificate> = Vec::with_capacity(certs.len());
    for cert in certs {
        if !unique.iter().any(|c| c.sha256 == cert.sha256) {
            unique.push(cert);
        }
    }
    let issues_another = |parent: &Certificate| {
        unique
            .iter()
            .any(|child| child.sha256 != parent.sha256 && child.issued_by(parent))
    };
    let mut leaves: Vec<&Certificate> = unique
        .iter()
        .copied()
        .filter(|c| !issues_another(c))
        .collect();
    if leaves.is_empty() {
        leaves = unique.clone();
    }
    leaves
        .into_iter()
        .map(|leaf| {
            let mut chain = vec![leaf.clone()];
            let mut current = leaf;
            while !current.is_self_issued() {
                let parent = unique
                    .iter()
                    .copied()
                    .find(|p| current.issued_by(p) && !chain.iter().any(|c| c.sha256 == p.sha256));
                match parent {
                    Some(p) => {
                        chain.push(p.clone());
                        current = p;
                    }
                    None => break,
                }
            }
            chain
        })
        .collect()
}
