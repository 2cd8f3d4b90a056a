//! The one vocabulary of the integration: what a step did ([`Outcome`]), a step's
//! result ([`Step`]), and the names of steps ([`StepName`]) and verification checks
//! ([`CheckName`]). Their JSON names are stable: `onboard --json` prints them.

use std::fmt;

use serde::Serialize;

/// What a step did — or, in a plan, what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Something new was made.
    Created,
    /// Something existing was changed.
    Updated,
    /// Everything was already as wanted; nothing was written.
    Unchanged,
    /// A person has to act before the step can complete.
    ManualActionRequired,
    /// The step ran but did not succeed (only in reports; a step function returns an
    /// error instead).
    Failed,
    /// Something the integration had made was removed (offboarding).
    Removed,
}

impl Outcome {
    /// Combines two outcomes of one step: a failure or a manual action wins, then any
    /// write wins over `Unchanged`.
    ///
    /// ```
    /// use intune_integration::outcome::Outcome;
    /// assert_eq!(Outcome::Unchanged.and(Outcome::Created), Outcome::Created);
    /// assert_eq!(Outcome::Updated.and(Outcome::ManualActionRequired), Outcome::ManualActionRequired);
    /// ```
    pub fn and(self, other: Outcome) -> Outcome {
        use Outcome::{Created, Failed, ManualActionRequired, Removed, Unchanged, Updated};
        match (self, other) {
            (Failed, _) | (_, Failed) => Failed,
            (ManualActionRequired, _) | (_, ManualActionRequired) => ManualActionRequired,
            (Created, _) | (_, Created) => Created,
            (Updated, _) | (_, Updated) => Updated,
            (Removed, _) | (_, Removed) => Removed,
            _ => Unchanged,
        }
    }

    /// Whether the outcome wrote something.
    pub fn is_write(self) -> bool {
        matches!(self, Self::Created | Self::Updated | Self::Removed)
    }

    /// `"created"`, `"updated"`, `"unchanged"`, `"manual_action_required"`, `"failed"`, `"removed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::ManualActionRequired => "manual_action_required",
            Self::Failed => "failed",
            Self::Removed => "removed",
        }
    }

    /// In a dry run, as a person reads it: `"would create"`, `"would update"`,
    /// `"nothing to do"`, `"needs a person"`, `"would fail"`, `"would remove"`.
    pub fn conditional(self) -> &'static str {
        match self {
            Self::Created => "would create",
            Self::Updated => "would update",
            Self::Unchanged => "nothing to do",
            Self::ManualActionRequired => "needs a person",
            Self::Failed => "would fail",
            Self::Removed => "would remove",
        }
    }

    /// The word a plan's JSON uses for it (its `change` key): `"create"`, `"update"`,
    /// `"none"`, `"manual action"`, `"fail"`, `"remove"`.
    pub fn planned(self) -> &'static str {
        match self {
            Self::Created => "create",
            Self::Updated => "update",
            Self::Unchanged => "none",
            Self::ManualActionRequired => "manual action",
            Self::Failed => "fail",
            Self::Removed => "remove",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<14}` aligns columns.
        f.pad(self.as_str())
    }
}

impl<T> From<&graph_client::Change<T>> for Outcome {
    fn from(c: &graph_client::Change<T>) -> Self {
        match c {
            graph_client::Change::Created(_) => Outcome::Created,
            graph_client::Change::Updated(_) => Outcome::Updated,
            graph_client::Change::Unchanged(_) => Outcome::Unchanged,
        }
    }
}

/// A step's outcome, the resource it produced, and — when a person has to act — what
/// exactly to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step<T> {
    /// What happened.
    pub outcome: Outcome,
    /// The resource.
    pub value: T,
    /// With [`Outcome::ManualActionRequired`]: the steps a person follows.
    pub instructions: Option<String>,
}

impl<T> Step<T> {
    /// A step that ended with `outcome`.
    pub fn new(outcome: Outcome, value: T) -> Self {
        Self {
            outcome,
            value,
            instructions: None,
        }
    }

    /// A step that wrote nothing.
    pub fn unchanged(value: T) -> Self {
        Self::new(Outcome::Unchanged, value)
    }

    /// A step waiting for a person who follows `instructions`.
    pub fn manual(value: T, instructions: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::ManualActionRequired,
            value,
            instructions: Some(instructions.into()),
        }
    }

    /// The same step with another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        Step {
            outcome: self.outcome,
            value: f(self.value),
            instructions: self.instructions,
        }
    }
}

/// Declares a name enum whose JSON and text forms are fixed strings.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every name, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name as printed and serialised.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad`, so that `{:<22}` aligns columns.
                f.pad(self.as_str())
            }
        }
    };
}

names! {
    /// The steps of the onboarding pipeline, named after their functions.
    StepName {
        /// Read ISE's release and check its gates.
        CheckIseVersion => "check_ise_version",
        /// The rights the run's writes need ([`crate::rights`]).
        CheckRights => "check_rights",
        /// Step 1.
        RegisterApp => "register_app",
        /// Step 2.
        ExportAdminCertificate => "export_admin_certificate",
        /// Step 3.
        UploadCertificate => "upload_certificate",
        /// Step 4.
        GrantPermissions => "grant_permissions",
        /// Step 4b.
        AppDetails => "app_details",
        /// Step 5.
        ImportTrustAnchors => "import_trust_anchors",
        /// Step 6.
        ConfigureMdmServer => "configure_mdm_server",
        /// Step 7.
        CycleMdmServer => "cycle_mdm_server",
        /// ISE's Test Connection, reproduced.
        VerifyConnection => "verify_connection",
        /// The authorization rules of [`crate::enforce`].
        Enforce => "enforce",
        /// The removals of [`crate::offboard`].
        Offboard => "offboard",
    }
}

names! {
    /// The checks of the reproduced Test Connection.
    CheckName {
        /// The login host's TLS chain ends in a root ISE trusts.
        TlsLogin => "tls:login",
        /// Graph's TLS chain ends in a root ISE trusts.
        TlsGraph => "tls:graph",
        /// Entra issues a Graph token to ISE's admin certificate.
        Token => "token",
        /// Graph discovery names the Intune compliance endpoint.
        Discovery => "discovery",
        /// The Intune host's TLS chain ends in a root ISE trusts.
        TlsIntune => "tls:intune",
        /// Entra issues an Intune token with the release's audience.
        IntuneToken => "intune_token",
        /// Intune answers `mdminfo`.
        Mdminfo => "mdminfo",
        /// A node's Admin certificate (exported without its key) is a key of the
        /// application: the public half of [`CheckName::Token`].
        Registered => "registered",
        /// The checks that act as a node (token, Intune token, `mdminfo` with the node's
        /// key): reported as not checked unless a key source was asked for.
        AsNode => "as_node",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_the_established_ones() {
        let steps: Vec<String> = StepName::ALL
            .iter()
            .map(|s| serde_json::to_string(s).expect("json"))
            .collect();
        assert_eq!(
            steps,
            [
                "\"check_ise_version\"",
                "\"check_rights\"",
                "\"register_app\"",
                "\"export_admin_certificate\"",
                "\"upload_certificate\"",
                "\"grant_permissions\"",
                "\"app_details\"",
                "\"import_trust_anchors\"",
                "\"configure_mdm_server\"",
                "\"cycle_mdm_server\"",
                "\"verify_connection\"",
                "\"enforce\"",
                "\"offboard\""
            ]
        );
        assert_eq!(
            serde_json::to_string(&CheckName::TlsIntune).expect("json"),
            "\"tls:intune\""
        );
        assert_eq!(
            serde_json::to_string(&Outcome::ManualActionRequired).expect("json"),
            "\"manual_action_required\""
        );
        assert_eq!(CheckName::IntuneToken.to_string(), "intune_token");
    }

    #[test]
    fn combining_outcomes() {
        use Outcome::*;
        assert_eq!(Unchanged.and(Unchanged), Unchanged);
        assert_eq!(Updated.and(Created), Created);
        assert_eq!(Created.and(Failed), Failed);
        assert!(Updated.is_write() && !ManualActionRequired.is_write());
        assert_eq!(Unchanged.planned(), "none");
    }
}
