//! What the workflows report: the data their results carry, in one place so that the
//! crate's error (which carries a partial report) and the workflows that fill the
//! reports depend on it and not on each other. Each type is re-exported by its
//! workflow. Every field is part of the `--json` output: add, never rename.

use serde::{Deserialize, Serialize};

use crate::outcome::{CheckName, Outcome, StepName};

/// One step of a run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// The step, named after its function, e.g. `register_app`.
    pub name: StepName,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What it found or did.
    pub detail: String,
}

/// HTTP requests a run sent (every attempt counts; token requests are neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Requests {
    /// Reads (GET, and ISE's certificate export).
    pub reads: u64,
    /// Writes (anything that may change state).
    pub writes: u64,
}

/// The result of [`crate::onboard::apply`].
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// ISE's release.
    pub ise_version: String,
    /// Every step, in order.
    pub steps: Vec<StepReport>,
    /// Requests sent by this run.
    pub requests: Requests,
    /// The reproduced Test Connection (empty and not ok when it did not run).
    pub verification: VerificationReport,
    /// What a person has to do, when a step needs it.
    pub manual_action: Option<String>,
    /// Whether every step completed and verification passed.
    pub complete: bool,
    /// What this run wrote, step by step (`register_app (created): …`).
    pub written: Vec<String>,
    /// The errors that ended the run, with their steps (empty when it ran through).
    pub errors: Vec<StepError>,
    /// A plan ([`crate::onboard::plan`]): each step's outcome is the one a run would
    /// have, nothing was written. Serialised only when set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub planned: bool,
}

/// An error that ended a step, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StepError {
    /// The step.
    pub step: StepName,
    /// The error, as text.
    pub message: String,
}

/// One change [`crate::onboard::plan`] expects: the outcome [`crate::onboard::apply`] would
/// report for the step, decided by the same functions on the same reads.
///
/// Serialised as `{"step", "change", "outcome", "detail"}`, where `change` is the plan's
/// word for the outcome (`create`, `update`, `none`, `manual action`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedChange {
    /// The step.
    pub step: StepName,
    /// The outcome the step would have.
    pub outcome: Outcome,
    /// What exactly.
    pub detail: String,
}

impl From<&StepReport> for PlannedChange {
    fn from(step: &StepReport) -> Self {
        Self {
            step: step.name,
            outcome: step.outcome,
            detail: step.detail.clone(),
        }
    }
}

impl Serialize for PlannedChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = serializer.serialize_struct("PlannedChange", 4)?;
        st.serialize_field("step", &self.step)?;
        st.serialize_field("change", self.outcome.planned())?;
        st.serialize_field("outcome", &self.outcome)?;
        st.serialize_field("detail", &self.detail)?;
        st.end()
    }
}

impl StepReport {
    /// One line: outcome, step, elapsed time, detail.
    pub fn render(&self) -> String {
        let symbol = match self.outcome {
            Outcome::Created => "+ created  ",
            Outcome::Updated => "~ updated  ",
            Outcome::Unchanged => "= unchanged",
            Outcome::ManualActionRequired => "! manual   ",
            _ => "x FAILED   ",
        };
        format!(
            "{symbol} {:<26} {:>6} ms  {}",
            self.name, self.elapsed_ms, self.detail
        )
    }
}

impl Report {
    /// A plan's rows ([`Report::planned`]): each step as a [`PlannedChange`], in order.
    pub fn changes(&self) -> Vec<PlannedChange> {
        self.steps.iter().map(PlannedChange::from).collect()
    }

    /// The report after the steps, for a person: version, requests, each check, what
    /// was written, what to do by hand, and the verdict.
    pub fn render_summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "\nISE {}", self.ise_version);
        let _ = writeln!(
            s,
            "Requests: {} reads, {} writes{}",
            self.requests.reads,
            self.requests.writes,
            if self.requests.writes == 0 {
                " (nothing changed)"
            } else {
                ""
            }
        );
        for c in &self.verification.checks {
            let _ = writeln!(
                s,
                "  [{}] {:<13} {}{}",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.node
                    .as_deref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default(),
                c.detail
            );
        }
        if !self.written.is_empty() {
            let _ = writeln!(s, "Written by this run:");
            for w in &self.written {
                let _ = writeln!(s, "  {w}");
            }
        }
        if let Some(m) = &self.manual_action {
            let _ = writeln!(s, "\nAction required:\n{m}");
        }
        let _ = writeln!(
            s,
            "\n{}",
            if self.complete && self.verification.checks.iter().any(|c| c.skipped) {
                "Onboarding complete: ISE reaches Intune through Microsoft Graph, as far as \
                 can be checked without a node's key (run again with --as-node to check as \
                 each policy service node)."
            } else if self.complete {
                "Onboarding complete: ISE reaches Intune through Microsoft Graph."
            } else if self.manual_action.is_some() {
                "Onboarding paused: do the steps above, then run again."
            } else if !self.errors.is_empty() {
                "Onboarding failed: run again to carry on from here."
            } else {
                "Onboarding incomplete: see the failed checks above."
            }
        );
        s
    }
}

/// One check of the verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// Which check (`tls:login`, `token`, `discovery`, ...).
    pub name: CheckName,
    /// The ISE node whose key the check used (`None` for the TLS checks, which are the
    /// deployment's trusted store).
    pub node: Option<String>,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
    /// The check did not run (it needs a node's key and none was asked for); `ok` is
    /// then `true`, since nothing was found wrong.
    pub skipped: bool,
}

/// The result of [`crate::verify::verify_connection`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerificationReport {
    /// Whether every check passed.
    pub ok: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl VerificationReport {
    pub(crate) fn push(&mut self, name: CheckName, ok: bool, detail: impl Into<String>) {
        self.push_for(None, name, ok, detail);
    }

    pub(crate) fn push_for(
        &mut self,
        node: Option<&str>,
        name: CheckName,
        ok: bool,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            node: node.map(str::to_owned),
            name,
            ok,
            detail: detail.into(),
            skipped: false,
        });
        self.ok = self.checks.iter().all(|c| c.ok);
    }

    /// Records a check that did not run.
    pub(crate) fn skip(&mut self, name: CheckName, detail: impl Into<String>) {
        self.push(name, true, detail);
        if let Some(c) = self.checks.last_mut() {
            c.skipped = true;
        }
    }

    /// Each failed check, `name: detail`.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    /// The checks that did not run.
    pub fn skipped(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.skipped)
    }
}

/// The result of [`crate::rotate::plan`] and [`crate::rotate::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rotation {
    /// SHA-1s of keys added beside the old ones.
    pub added: Vec<String>,
    /// SHA-1s of ISE keys removed (after the new ones verified).
    pub removed: Vec<String>,
    /// SHA-1s of old ISE keys no node uses that were kept: removing one needs the
    /// verification as each node (`--as-node`), which this run did not do.
    pub kept: Vec<String>,
    /// `Unchanged` (nothing to rotate), `Updated` (done), `ManualActionRequired` (a
    /// person must bind a supplied certificate in ISE, or cycle the MDM server), or
    /// `Failed` (verification failed; nothing was removed).
    pub outcome: Outcome,
    /// What to do next, when a person must act.
    pub instructions: Option<String>,
    /// The verification run before removing anything.
    pub verification: Option<VerificationReport>,
    /// What a dry run would do, or what was done, step by step.
    pub steps: Vec<String>,
}

/// What one Microsoft host presents and what ISE's store does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostChain {
    /// The host (`login.microsoftonline.com`, ...), with its port when not 443.
    pub host: String,
    /// Subjects of the presented chain, leaf first.
    pub chain: Vec<String>,
    /// The anchor the chain verifies to, if any anchor of the set does.
    pub root: Option<String>,
    /// `Unchanged` (already trusted), `Created` (imported), `Updated` (enabled and
    /// trusted in place), `Failed` (no anchor of the set verifies it, or the host could
    /// not be reached) — or, in a dry run, what would happen.
    pub outcome: Outcome,
    /// What was done or what to do.
    pub detail: String,
}

/// The result of [`crate::trust_sync::plan`] and [`crate::trust_sync::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TrustSync {
    /// Each host probed.
    pub hosts: Vec<HostChain>,
    /// Whether ISE's store was (or, in a dry run, would be) changed.
    pub changed: bool,
}

impl TrustSync {
    /// Whether every host's chain ends at a root ISE trusts (or will).
    pub fn ok(&self) -> bool {
        self.hosts.iter().all(|h| h.outcome != Outcome::Failed)
    }
}

/// ISE's MDM dictionary.
pub const MDM_DICTIONARY: &str = "MDM";

/// A state a device can be in, as ISE's MDM dictionary says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceState {
    /// ISE could not reach the MDM server.
    Unreachable,
    /// Intune does not know the device.
    Unregistered,
    /// Enrolled, not compliant.
    NonCompliant,
    /// Enrolled and compliant.
    Compliant,
    /// Enrolled, with no check-in for the configured number of days (the bridged
    /// endpoint attribute `IntuneStale`, written by the attribute sync).
    Stale,
    /// Enrolled, compliant and personally owned (the bridged endpoint attribute
    /// `IntuneOwnership`, written by the attribute sync).
    Personal,
}

/// ISE's dictionary of endpoint attributes, custom ones included.
pub const ENDPOINTS_DICTIONARY: &str = "EndPoints";

/// The endpoint attribute a condition names (`EndPoints:<name>`), if any: the
/// attribute a bridged rule depends on.
pub fn bridged_attribute(c: &ise_client::Condition) -> Option<String> {
    c.attributes()
        .find(|a| a.dictionary_name.as_deref() == Some(ENDPOINTS_DICTIONARY))
        .and_then(|a| a.attribute_name.clone())
}

impl DeviceState {
    /// Every state, in the order the rules are created.
    pub const ALL: [DeviceState; 4] = [
        DeviceState::Unreachable,
        DeviceState::Unregistered,
        DeviceState::NonCompliant,
        DeviceState::Compliant,
    ];

    /// The condition that matches this state (and no other).
    pub fn condition(self) -> ise_client::Condition {
        let mdm = |attribute: &str, value: &str| {
            ise_client::Condition::attribute(MDM_DICTIONARY, attribute, "equals", value)
        };
        match self {
            Self::Unreachable => mdm("MDMServerReachable", "UnReachable"),
            Self::Unregistered => ise_client::Condition::and(vec![
                mdm("MDMServerReachable", "Reachable"),
                mdm("DeviceRegisterStatus", "UnRegistered"),
            ]),
            Self::NonCompliant => ise_client::Condition::and(vec![
                mdm("DeviceRegisterStatus", "Registered"),
                mdm("DeviceCompliantStatus", "NonCompliant"),
            ]),
            Self::Compliant => ise_client::Condition::and(vec![
                mdm("DeviceRegisterStatus", "Registered"),
                mdm("DeviceCompliantStatus", "Compliant"),
            ]),
            Self::Stale => self.bridged_condition("IntuneStale"),
            Self::Personal => self.bridged_condition("IntuneOwnership"),
        }
    }

    /// The condition of a bridged state ([`DeviceState::Stale`],
    /// [`DeviceState::Personal`]) on the endpoint attribute named `attribute`; for the
    /// other states, their [`DeviceState::condition`].
    pub fn bridged_condition(self, attribute: &str) -> ise_client::Condition {
        let mdm = |attribute: &str, value: &str| {
            ise_client::Condition::attribute(MDM_DICTIONARY, attribute, "equals", value)
        };
        let endpoint = |value: &str| {
            ise_client::Condition::attribute(ENDPOINTS_DICTIONARY, attribute, "equals", value)
        };
        match self {
            Self::Stale => ise_client::Condition::and(vec![
                mdm("DeviceRegisterStatus", "Registered"),
                endpoint("true"),
            ]),
            Self::Personal => ise_client::Condition::and(vec![
                mdm("DeviceRegisterStatus", "Registered"),
                mdm("DeviceCompliantStatus", "Compliant"),
                endpoint("personal"),
            ]),
            other => other.condition(),
        }
    }
}

impl std::fmt::Display for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "unreachable",
            Self::Unregistered => "unregistered",
            Self::NonCompliant => "non_compliant",
            Self::Compliant => "compliant",
            Self::Stale => "stale",
            Self::Personal => "personal",
        })
    }
}

/// How enforcement rolls its rules out, as network teams roll out access policy: in
/// ISE's monitor state first (each rule evaluated and its hits counted, its result not
/// applied), then promoted after a look at the hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rollout {
    /// Rules created enabled, disabled ones enabled; rules in monitor state stay so
    /// until promoted. Needs a working connection (guard `enforce.connection`).
    #[default]
    Enforce,
    /// Rules created in monitor state, disabled ones monitored; enabled rules stay
    /// enabled. Changes no device's access, so it needs no working connection.
    Monitor,
    /// Every owned rule enabled, monitored ones included (after their hit counts were
    /// shown). Needs a working connection.
    Promote,
}

impl Rollout {
    /// The state a rule in `current` state should have (`None`: a new rule).
    pub fn wanted_state(self, current: Option<ise_client::RuleState>) -> ise_client::RuleState {
        use ise_client::RuleState as S;
        match (self, current) {
            (Self::Enforce, Some(S::Monitor)) => S::Monitor,
            (Self::Monitor, Some(S::Enabled)) => S::Enabled,
            (Self::Monitor, _) => S::Monitor,
            (Self::Enforce | Self::Promote, _) => S::Enabled,
        }
    }
}

/// One owned rule in a plan or an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuleChange {
    /// The device state it handles.
    pub state: DeviceState,
    /// The rule's name.
    pub rule: String,
    /// The profile it grants.
    pub profile: String,
    /// Its condition, as ISE shows it.
    pub condition: String,
    /// Created, updated, unchanged (planned, in a plan), or failed.
    pub outcome: Outcome,
    /// What differs in an existing rule (`condition`, `profile`, `state`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Its rank in the set, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<i64>,
    /// Its state in ISE once written (`enabled`, `monitor`, `disabled`); as it is
    /// when left unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_state: Option<ise_client::RuleState>,
    /// How many times ISE matched it so far (an existing rule's `hitCounts`): what a
    /// promotion from monitor state is judged by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_counts: Option<u64>,
}

/// The result of [`crate::enforce::plan`] and [`crate::enforce::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Enforcement {
    /// The policy set.
    pub policy_set: String,
    /// Each owned rule, in the order of [`DeviceState::ALL`].
    pub rules: Vec<RuleChange>,
    /// Whether ISE's policy was (or, in a plan, would be) changed.
    pub changed: bool,
    /// How the rules are rolled out.
    pub rollout: Rollout,
    /// The conditions the writes need, each with whether it holds
    /// ([`crate::guard`]).
    pub guards: Vec<crate::guard::Guard>,
}

impl Enforcement {
    /// How many rules were (or would be) written.
    pub fn writes(&self) -> usize {
        self.rules.iter().filter(|r| r.outcome.is_write()).count()
    }
}

// Offboarding's report (`crate::offboard`).

/// The kind of an object offboarding removes or keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ObjectKind {
    /// ISE's External MDM server entry.
    MdmServer,
    /// An authorization rule of the enforced policy set.
    AuthorizationRule,
    /// A certificate in ISE's trusted store.
    TrustedCertificate,
    /// An app role assignment the application holds (admin consent).
    Consent,
    /// The application's service principal.
    ServicePrincipal,
    /// The application registration.
    Application,
}

impl ObjectKind {
    /// The system the object lives in: `ise` or `entra`.
    pub fn system(self) -> &'static str {
        match self {
            Self::MdmServer | Self::AuthorizationRule | Self::TrustedCertificate => "ise",
            Self::Consent | Self::ServicePrincipal | Self::Application => "entra",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::MdmServer => "External MDM server",
            Self::AuthorizationRule => "authorization rule",
            Self::TrustedCertificate => "trusted certificate",
            Self::Consent => "admin consent",
            Self::ServicePrincipal => "service principal",
            Self::Application => "application",
        })
    }
}

/// One object offboarding removes (or, in a plan, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Removal {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// Its id, where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `removed` (or, in a plan, would be), `unchanged` (already gone) or
    /// `manual_action_required`.
    pub outcome: Outcome,
    /// With a manual action: what a person does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

impl Removal {
    pub(crate) fn new(kind: ObjectKind, name: impl Into<String>, id: Option<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            id,
            outcome: Outcome::Removed,
            instructions: None,
        }
    }
}

/// An object that looks like the integration's but stays, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Kept {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// Its id, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it is not removed (and how to remove it when it should be).
    pub reason: String,
}

/// The deleted application, which Entra keeps restorable for 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Restorable {
    /// The application's object id (the deleted item's id).
    pub object_id: String,
    /// Its client id.
    pub client_id: String,
    /// Its display name.
    pub display_name: String,
    /// What to tell a person.
    pub message: String,
}

/// A device offboarding's preview authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SampleDevice {
    /// Enrolled in Intune and compliant.
    Compliant,
    /// Enrolled in Intune and not compliant.
    NonCompliant,
    /// Not known to Intune.
    Unknown,
}

impl SampleDevice {
    /// The three, in the order a plan shows them.
    pub const ALL: [SampleDevice; 3] = [Self::Compliant, Self::NonCompliant, Self::Unknown];
}

impl std::fmt::Display for SampleDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Compliant => "compliant device",
            Self::NonCompliant => "non-compliant device",
            Self::Unknown => "unknown device",
        })
    }
}

/// ISE's authorization of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Authorized {
    /// The policy set that matched.
    pub policy_set: Option<String>,
    /// The rule that matched.
    pub rule: Option<String>,
    /// The authorization profiles granted.
    pub profiles: Vec<String>,
}

/// What ISE authorizes for one device now and once offboarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DevicePreview {
    /// The device.
    pub device: SampleDevice,
    /// Today.
    pub now: Authorized,
    /// Once the plan's removals are done.
    pub after: Authorized,
}

/// What offboarding did (or, from [`crate::offboard::plan`], would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Offboarding {
    /// The objects removed (or to remove), in order; the External MDM entry first.
    pub removals: Vec<Removal>,
    /// Removals not reached because a person must act first (the entry).
    pub remaining: Vec<Removal>,
    /// Objects that look like the integration's and stay, with why.
    pub kept: Vec<Kept>,
    /// The deleted application, restorable for 30 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restorable: Option<Restorable>,
    /// What ISE authorizes for sample devices now and after (a plan with an
    /// [`crate::offboard::AuthorizationPreview`] only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<DevicePreview>,
    /// Whether everything was removed (in a plan: whether nothing waits for a
    /// person).
    pub complete: bool,
    /// The conditions the removals need, each with whether it holds (in a plan, as
    /// read now: the entry's guard fails until the entry is deleted).
    pub guards: Vec<crate::guard::Guard>,
    /// Requests this run sent (a plan's are reads only).
    pub requests: Requests,
    /// Whether anything was removed (in a plan: whether anything would be).
    pub changed: bool,
}

impl Offboarding {
    /// How many objects were (or would be) removed.
    pub fn writes(&self) -> usize {
        self.removals
            .iter()
            .filter(|r| r.outcome.is_write())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_without_the_as_node_checks_says_so() {
        let mut report = Report {
            complete: true,
            ..Report::default()
        };
        report
            .verification
            .push(CheckName::TlsLogin, true, "chain ends at a trusted root");
        assert!(
            report
                .render_summary()
                .ends_with("Onboarding complete: ISE reaches Intune through Microsoft Graph.\n")
        );
        report
            .verification
            .skip(CheckName::AsNode, crate::verify::NOT_CHECKED_AS_NODE);
        let summary = report.render_summary();
        assert!(
            summary.contains("as far as can be checked without a node's key"),
            "{summary}"
        );
    }
}
