//! Rights checked before the first write: a run that could not finish writes nothing.
//!
//! The automating identity's rights come from its Graph token's application roles (as
//! `doctor`'s `identity.profile` reads them); ISE's account is probed by the reads a
//! workflow makes before it writes, whose 401 or 403 stops it there. The decision is
//! pure ([`graph_blockers`]): the Graph writes a run is about to make, against the
//! roles that allow them.
//!
//! ```
//! use intune_integration::rights::graph_blockers;
//! let monitor = vec!["Application.Read.All".to_owned()];
//! let missing = graph_blockers(Some(&monitor), &["register the application"]);
//! assert_eq!(missing.len(), 1);
//! assert!(missing[0].grant.starts_with("Application.ReadWrite.OwnedBy"));
//! // Nothing to write: nothing missing.
//! assert!(graph_blockers(Some(&monitor), &[]).is_empty());
//! ```

pub use crate::error::MissingRight;

/// Who may grant the admin consent the integration needs: Entra ID lets only these
/// roles consent to Microsoft Graph's *application* permissions (Application.Read.All
/// is one); a Cloud Application Administrator or Application Administrator may consent
/// to other APIs' (Intune's get_device_compliance) but not to Graph's. Source:
/// Microsoft Entra documentation, "Grant tenant-wide admin consent to an application",
/// prerequisites.
pub const CONSENT_ROLES: &str = "a Privileged Role Administrator or Global Administrator (a \
     Cloud Application Administrator may not consent to Microsoft Graph's application \
     permissions)";

/// The Graph application roles that let the automating identity write the
/// integration's application (its keys and requested permissions included).
pub const APPLICATION_WRITE_ROLES: [&str; 2] =
    ["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"];

/// What is missing for `writes` — the Graph writes a run is about to make, described
/// ("register the application", "add ISE's key(s)") — given the automating identity's
/// token roles (`None` when the token carries none to read: nothing is assumed
/// missing). Admin consent is not a blocker: an identity that may not grant it gets the
/// admin-consent URL and the run resumes afterwards.
pub fn graph_blockers(roles: Option<&[String]>, writes: &[&str]) -> Vec<MissingRight> {
    let Some(roles) = roles else {
        return Vec::new();
    };
    if writes.is_empty()
        || roles
            .iter()
            .any(|r| APPLICATION_WRITE_ROLES.contains(&r.as_str()))
    {
        return Vec::new();
    }
    vec![MissingRight {
        side: "entra",
        needed_for: writes.join(", "),
        grant: format!(
            "Application.ReadWrite.OwnedBy (or Application.ReadWrite.All): a Microsoft Graph \
             application permission of the automating identity, with admin consent by \
             {CONSENT_ROLES}"
        ),
    }]
}

/// What ISE's account lacks, from ISE's answer to a request made before any write:
/// a 403 means the account is known and its admin group does not allow the request
/// (an ERS Operator reads but may not write, and exporting a node's certificate is a
/// write in ISE's API), so `needed_for` is blocked. Anything else is not a missing
/// right (a 401 is a wrong password as much as a missing group: it stays that error).
pub(crate) fn ise_blocker(error: &ise_client::Error, needed_for: &str) -> Option<MissingRight> {
    (error.status() == Some(403)).then(|| MissingRight {
        side: "ise",
        needed_for: needed_for.to_owned(),
        grant: ISE_WRITE_GROUP.to_owned(),
    })
}

/// `error` as the run's end: a refusal of ISE's account (403) before anything was
/// written becomes [`crate::Error::MissingRights`] for `needed_for`; any other error
/// stays as it is. For a workflow's first write, made to prove the rights (ISE has no
/// read that proves them).
pub(crate) fn refused_first_write(error: crate::Error, needed_for: &str) -> crate::Error {
    match error {
        crate::Error::Ise(e) => match ise_blocker(&e, needed_for) {
            Some(missing) => crate::Error::MissingRights {
                missing: vec![missing],
            },
            None => crate::Error::Ise(e),
        },
        other => other,
    }
}

/// What supplies every ISE right the tool needs.
pub const ISE_WRITE_GROUP: &str = "the ERS Admin (or Super Admin) admin group for ISE's \
    account, given by an ISE Super Admin (Administration > System > Admin Access > \
    Administrators > Admin Users); an ERS Operator may only read";

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_application_writes_without_a_write_role_are_blocked() {
        let monitor = roles(&["Application.Read.All"]);
        let missing = graph_blockers(Some(&monitor), &["register the application", "add key(s)"]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].side, "entra");
        assert_eq!(
            missing[0].needed_for,
            "register the application, add key(s)"
        );
        for writer in ["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"] {
            assert!(graph_blockers(Some(&roles(&[writer])), &["add key(s)"]).is_empty());
        }
        // Consent alone is no blocker, nor a token without roles to read.
        assert!(
            graph_blockers(
                Some(&roles(&["Application.ReadWrite.OwnedBy"])),
                &["add key(s)"]
            )
            .is_empty()
        );
        assert!(graph_blockers(None, &["add key(s)"]).is_empty());
    }
}
