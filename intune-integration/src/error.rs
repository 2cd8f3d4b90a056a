//! The crate's error type, its certificate errors, and the failure every workflow's
//! `apply` reports after writing something.

use serde::Serialize;

use crate::outcome::StepName;
use crate::report::{Report, Rotation, TrustSync};

/// A right a run needs and the automating identity (or ISE's account) lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MissingRight {
    /// `entra` or `ise`.
    pub side: &'static str,
    /// What the run would have done with it.
    pub needed_for: String,
    /// Exactly what supplies it, and who grants it.
    pub grant: String,
}

impl std::fmt::Display for MissingRight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (to {})", self.grant, self.needed_for)
    }
}

/// An application that could be the integration's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppCandidate {
    /// Its client id.
    pub client_id: String,
    /// SHA-1 thumbprints of its keys: the one holding ISE's is the integration's.
    pub key_thumbprints: Vec<String>,
    /// Whether it holds ISE's Admin certificate, when that is known (the pipeline
    /// fills it in from the export that ran beside the registration).
    pub holds_ise_key: Option<bool>,
}

impl std::fmt::Display for AppCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (keys: ", self.client_id)?;
        if self.key_thumbprints.is_empty() {
            f.write_str("none")?;
        } else {
            f.write_str(&self.key_thumbprints.join(", "))?;
        }
        f.write_str(")")?;
        if self.holds_ise_key == Some(true) {
            f.write_str(" — holds ISE's key")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in this crate. Each variant says what was wrong and,
/// where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate or anchor is unusable: the input, its encoding, its fields.
    #[error(transparent)]
    Certificate(#[from] CertificateError),

    /// The ISE release cannot integrate with Intune: no Microsoft Graph, or no
    /// Compliance Retrieval API.
    #[error("ISE {version} cannot integrate with Intune: {reason}; install {install}")]
    UnsupportedIseVersion {
        /// The release found.
        version: ise_client::version::IseVersion,
        /// What to install.
        install: &'static str,
        /// Why.
        reason: &'static str,
    },

    /// An error from the ISE client (including ISE version parsing).
    #[error(transparent)]
    Ise(#[from] ise_client::Error),

    /// An error from the Entra ID / Graph client.
    #[error(transparent)]
    Graph(#[from] graph_client::Error),

    /// Several hand-made applications carry the display name, so the one to adopt is
    /// unclear.
    #[error(
        "{count} applications are named `{name}` in Entra ID and none carries the \
         integration's uniqueName: set app_client_id to the one to adopt (the one holding \
         ISE's key), or rename or delete the others. Candidates: {}",
        candidates.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    AmbiguousApplication {
        /// The display name.
        name: String,
        /// How many carry it.
        count: usize,
        /// Each candidate with its key thumbprints.
        candidates: Vec<AppCandidate>,
    },

    /// ISE has no certificate usable as its admin certificate.
    #[error(
        "ISE node `{node}` has no system certificate used for Admin and no default self-signed \
         certificate: assign the Admin role to a certificate (Administration > System > Certificates)"
    )]
    NoAdminCertificate {
        /// The primary admin node.
        node: String,
    },

    /// The Admin certificate's key is not RSA: Entra ID refuses client assertions signed
    /// with anything else (AADSTS5002738), so ISE could never get a token with it.
    #[error(
        "ISE node `{node}` uses an {algorithm} Admin certificate, but Entra ID accepts only RSA \
         keys for client assertions: generate an RSA (2048-bit or larger) certificate for the \
         Admin role (Administration > System > Certificates > Certificate Signing Requests, \
         key type RSA) and run again"
    )]
    NonRsaAdminCertificate {
        /// The node.
        node: String,
        /// The key algorithm found.
        algorithm: String,
    },

    /// After the upload, Entra ID holds no key with ISE's thumbprint.
    #[error(
        "the application's keys do not include ISE's admin certificate: ISE's SHA-1 thumbprint is \
         {ise}, Entra ID holds {}; upload the certificate ISE exports now",
        listed(.entra)
    )]
    ThumbprintMismatch {
        /// ISE's SHA-1 fingerprint (uppercase hex).
        ise: String,
        /// The thumbprints Entra ID holds.
        entra: Vec<String>,
    },

    /// The key has ISE's thumbprint but another name than the certificate's CN.
    #[error(
        "the key with ISE's thumbprint is named `{found}`, not `{expected}`: the portal check \
         compares both; remove the key and run again to upload it with the certificate's name"
    )]
    KeyNameMismatch {
        /// The expected name (`CN=<common name>`).
        expected: String,
        /// The name found.
        found: String,
    },

    /// A file named in the configuration could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Every name tried for a trust anchor is held by another certificate.
    #[error(
        "trust anchor `{anchor}` could not be imported: the names {} are held by other \
         certificates in ISE's trusted store; rename one (Administration > System > Certificates \
         > Trusted Certificates) and run again",
        listed(.names)
    )]
    AnchorNameTaken {
        /// The anchor.
        anchor: String,
        /// The names tried.
        names: Vec<String>,
    },

    /// Admin consent did not become visible in time.
    #[error(
        "admin consent is still not visible after {} s: missing {}; Entra ID \
         replication can take minutes — run again later, or check the grants in the portal \
         (Enterprise applications > the integration > Permissions)",
        .waited.as_secs(),
        listed(.missing)
    )]
    ConsentNotVisible {
        /// How long was waited.
        waited: std::time::Duration,
        /// The grants not yet visible (`resource id / role id`).
        missing: Vec<String>,
    },

    /// A workflow's `apply` failed after something ran: the partial report (onboard,
    /// rotate or trust sync), what was written, and every error.
    #[error("{} failed: {}", .0.report.workflow(), .0)]
    Apply(Box<ApplyFailure>),

    /// The integration is not there yet: its application, service principal or a node
    /// it names is missing. Run `ise-intune onboard` (the library's
    /// [`crate::onboard::apply`]) first.
    #[error("not onboarded: {what}")]
    NotOnboarded {
        /// What is missing.
        what: String,
    },

    /// A service's state is not what the integration can work with: the tenant lacks
    /// a service principal (no Intune licence), ISE lists no node, an object written
    /// cannot be read back.
    #[error("{what}")]
    RemoteState {
        /// What, and what to do.
        what: String,
    },

    /// An Entra app-management policy restricts key lifetimes below ISE's certificate's
    /// validity: Entra would refuse the upload. Nothing was written.
    #[error(
        "Entra's app-management policy {policy} allows certificates valid for at most \
         {max_lifetime}, and ISE's certificate {certificate} is valid for {lifetime_days} days: \
         Entra would refuse it, so nothing was written. Give the nodes an Admin certificate \
         within the limit (ISE: Administration > System > Certificates), or have an \
         administrator exempt the application (assign it an app-management policy without \
         this restriction)"
    )]
    KeyRefusedByPolicy {
        /// The policy.
        policy: String,
        /// Its longest lifetime (ISO 8601).
        max_lifetime: String,
        /// The certificate refused.
        certificate: String,
        /// Its lifetime in days.
        lifetime_days: i64,
    },

    /// An Entra app-management policy accepts only certificates issued by a CA the
    /// tenant trusts for applications (`trustedCertificateAuthority`), and ISE's
    /// certificate is self-signed: Entra would refuse the upload. Nothing was written.
    #[error(
        "Entra's app-management policy {policy} accepts only application certificates \
         issued by a certificate authority the tenant trusts, and ISE's certificate \
         {certificate} is self-signed: Entra would refuse it, so nothing was written. Give \
         the nodes Admin certificates issued by a trusted CA (ISE: Administration > System > \
         Certificates), or have an administrator exempt the application (assign it an \
         app-management policy without this restriction)"
    )]
    KeyRefusedByTrustedCaPolicy {
        /// The policy.
        policy: String,
        /// The certificate refused.
        certificate: String,
    },

    /// A device certificate names no Intune device.
    #[error(
        "the certificate `{subject}` names no Intune device: its SAN has no URI \
         `ID:Microsoft Endpoint Manager:GUID:<guid>` (or `ID:Intune:GUID:<guid>`); add it to \
         the Intune certificate profile's subject alternative name"
    )]
    NoDeviceIdentity {
        /// The certificate's subject.
        subject: String,
    },

    /// A node named on the command line or in code is not one of ISE's.
    #[error("ISE has no node `{node}` (its nodes: {known})")]
    UnknownNode {
        /// The node asked for.
        node: String,
        /// The deployment's nodes.
        known: String,
    },

    /// ISE's Test Connection, reproduced, failed: rotation removes no key then.
    #[error("verification failed: {}", failed.join("; "))]
    VerificationFailed {
        /// Each failed check, `name: detail`.
        failed: Vec<String>,
    },

    /// A Microsoft host's chain could not be probed or ends at a root no anchor is.
    #[error("{host}: {detail}")]
    HostNotTrusted {
        /// The host.
        host: String,
        /// Why, and what to do.
        detail: String,
    },

    /// A task the library spawned panicked or was cancelled.
    #[error("an internal task did not finish: {0}")]
    Task(#[source] tokio::task::JoinError),

    /// The configuration is incomplete or wrong.
    #[error("configuration: {what}")]
    Config {
        /// What is wrong and how to fix it.
        what: String,
    },

    /// The attribute bridge's store could not be used (it is not written then).
    #[error("the attribute store {path}: {what}")]
    AttributeStore {
        /// The store's file.
        path: String,
        /// What went wrong and what to do.
        what: String,
    },

    /// Another attribute sync of this pair holds the store: this one wrote nothing.
    #[error(
        "another attribute sync of this pair is running (it holds {path}); nothing was \
         written: let it finish, or stop it, and run again"
    )]
    SyncBusy {
        /// The store's file.
        path: String,
    },

    /// ISE already defines an endpoint custom attribute of a bridged name with another
    /// type; the bridge never changes a definition it did not make.
    #[error(
        "ISE defines the custom attribute `{name}` as {existing}, the bridge writes it as \
         {wanted}; nothing was written: name the bridge's attribute otherwise \
         (`[attributes] prefix` or `names`)"
    )]
    AttributeTypeConflict {
        /// The attribute's name.
        name: String,
        /// ISE's type.
        existing: String,
        /// The bridge's type.
        wanted: String,
    },

    /// The External MDM server could not be configured.
    #[error("configuring the External MDM server failed: {message}")]
    MdmConfiguration {
        /// What the configurator (or ISE) said.
        message: String,
    },

    /// A renewed certificate given for rotation cannot be the node's Admin certificate;
    /// nothing was written.
    #[error(
        "the renewed certificate for `{node}` is refused, nothing was written: {why}; give \
         the node's own renewed Admin certificate (end-entity, valid now, naming its FQDN, RSA)"
    )]
    RenewedCertificateRefused {
        /// The node named.
        node: String,
        /// Why.
        why: String,
    },

    /// A node does not present, in a TLS handshake on its own address, the Admin
    /// certificate ISE's API names for it (or presents one that does not chain as its
    /// registered one did): rotation registered and removed nothing, since only what
    /// the node itself presents is trusted.
    #[error(
        "`{node}` does not present at {address} the Admin certificate ISE's API names for it \
         ({why}); nothing was written. If the certificate was renewed just now, wait for the \
         node's application server to restart and run again; if the node answers elsewhere, \
         set [ise] node_urls.{node} in the configuration; otherwise ISE's API answer may \
         have been altered on its way here: check the path to ISE before trusting it"
    )]
    CertificateNotPresented {
        /// The node (short host name).
        node: String,
        /// Where it was asked (scheme, host, port).
        address: String,
        /// What the API names and what the node presented, or why nothing was seen.
        why: String,
    },

    /// The run would stop half-way for want of rights, so it wrote nothing: each
    /// missing right with what supplies it.
    #[error(
        "nothing was written: the run needs rights it does not have, and would otherwise stop half-way: {}. Grant them, then run again",
        missing.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    MissingRights {
        /// What is missing.
        missing: Vec<MissingRight>,
    },

    /// A condition the workflow's writes need does not hold on the wire
    /// ([`crate::guard`]): the run stopped before its first write.
    #[error(
        "{workflow} stopped before writing anything: a condition its writes need does not hold: {}",
        failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    GuardFailed {
        /// The workflow (`enforce`, `offboard`, …).
        workflow: &'static str,
        /// Each guard that does not hold, with its evidence and remedy.
        failed: Vec<crate::guard::Guard>,
    },

    /// The audit trail could not record a write, so the write was not made (or, when
    /// only its result could not be recorded, nothing after it was).
    #[error(
        "the audit trail could not be written, so the run stopped{}: {reason}. Fix the \
         trail ([audit] file: a regular file on a disk with room; syslog: a reachable \
         server) and run again",
        if *written { " after the write it was recording" } else { " before the write it was recording" }
    )]
    AuditFailed {
        /// Why the line could not be written.
        reason: String,
        /// Whether the write was made (its intent line was written, its result line
        /// was not).
        written: bool,
    },

    /// An operation did not finish within the time it was given.
    #[error("{what}: not finished within {seconds} s")]
    TimedOut {
        /// What did not finish, and what to do.
        what: String,
        /// The limit, in seconds.
        seconds: u64,
    },

    /// An operation needs an ISE node's private key and no key source was asked for
    /// ([`crate::keys::AdminKey::None`], the default).
    #[error(
        "{what} needs an ISE node's private key, which is used only when asked: pass \
         --as-node (config `verify_as_node = true`; library `AdminKey::ExportFromIse`) or \
         supply the node's key from a file"
    )]
    NodeKeyNotRequested {
        /// What needed the key.
        what: String,
    },

    /// ISE's exported private key could not be decrypted or used.
    #[error("ISE's admin private key is unusable: {what}")]
    AdminKey {
        /// What is wrong.
        what: String,
    },

    /// Intune's compliance API answered something this client cannot use.
    #[error("Intune's compliance API: {what}")]
    Compliance {
        /// What is wrong.
        what: String,
    },

    /// Intune throttled an unfiltered compliance query (503): such queries are answered
    /// only in the first hour of a four-hour window that the first of them opens. Not
    /// retried: a retry would only spend more of the window.
    #[error(
        "Intune throttles unfiltered compliance queries and refused this one (503): they are \
         answered only in the first hour of a four-hour window opened by the first of them, \
         and this window's hour has passed{}. Not retried. A device-specific query is never \
         throttled: ise-intune device MAC-or-GUID",
        match retry_after_secs {
            Some(s) => format!("; Intune says to wait {s} s"),
            None => "; it reopens at most four hours after the window's first query".to_owned(),
        }
    )]
    IntuneThrottled {
        /// Intune's `Retry-After`, when it sent one.
        retry_after_secs: Option<u64>,
    },

    /// Intune's compliance API refused a request.
    #[error(
        "Intune answered {status}: {message} (401: the token's audience or the key; 403: \
         get_device_compliance and its admin consent)"
    )]
    IntuneAnswer {
        /// HTTP status.
        status: u16,
        /// Intune's message.
        message: String,
    },

    /// A TLS or HTTP problem during verification.
    #[error("verification could not reach {host}: {what}")]
    Unreachable {
        /// The host.
        host: String,
        /// What went wrong.
        what: String,
    },

    /// Enforcement names a policy set or authorization profile ISE does not have.
    /// Nothing was written.
    #[error(
        "ISE has no {kind} named `{name}` (it has: {}): create it in ISE, or name one of \
         these in the configuration's [enforce] table",
        list_names(available)
    )]
    PolicyTargetMissing {
        /// `policy set` or `authorization profile`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names ISE has.
        available: Vec<String>,
    },
}

/// A certificate or anchor that cannot be used: what was wrong with the input, its
/// encoding or its fields, and where (the PEM block, 1-based).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The input held no bytes (or only white space).
    #[error("the input is empty: expected a PEM or DER certificate")]
    EmptyInput,

    /// The input is larger than any certificate file could reasonably be.
    #[error(
        "the input is {size} bytes, more than the {limit}-byte limit for certificate data: \
         check that the right file was given"
    )]
    InputTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit ([`crate::certs::MAX_INPUT_BYTES`]).
        limit: usize,
    },

    /// The input is neither PEM (no `-----BEGIN` line) nor DER.
    #[error("no certificate found: the input has no PEM block and is not DER")]
    NoCertificate,

    /// A PEM block starts but never ends.
    #[error("PEM block {block} (`{label}`) has no matching END line: the file is truncated")]
    PemUnterminated {
        /// 1-based index of the block.
        block: usize,
        /// The label of its BEGIN line.
        label: String,
    },

    /// A PEM block's END label differs from its BEGIN label.
    #[error("PEM block {block} begins as `{begin}` but ends as `{end}`")]
    PemLabelMismatch {
        /// 1-based index of the block.
        block: usize,
        /// Label of the BEGIN line.
        begin: String,
        /// Label of the END line.
        end: String,
    },

    /// A PEM block holds no data.
    #[error("PEM block {block} is empty")]
    EmptyPemBlock {
        /// 1-based index of the block.
        block: usize,
    },

    /// A PEM block's body is not valid base64.
    #[error("PEM block {block} is not valid base64")]
    InvalidBase64 {
        /// 1-based index of the block.
        block: usize,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },

    /// A PEM block is malformed in another way (a bad RFC 1421 header, text that is
    /// not UTF-8).
    #[error("PEM block {block} is malformed: {source}")]
    MalformedPem {
        /// 1-based index of the block.
        block: usize,
        /// The PEM reader's error.
        #[source]
        source: pem::PemError,
    },

    /// A private key was given where a certificate was expected.
    #[error(
        "PEM block {block} is a private key (`{label}`), not a certificate: give the \
         certificate file instead (and never share the key)"
    )]
    PrivateKeyNotCertificate {
        /// 1-based index of the block.
        block: usize,
        /// The block's label, e.g. `PRIVATE KEY`.
        label: String,
    },

    /// A PEM block with a label other than `CERTIFICATE`.
    #[error("PEM block {block} is a `{label}`, not a CERTIFICATE")]
    UnexpectedPemLabel {
        /// 1-based index of the block.
        block: usize,
        /// The block's label.
        label: String,
    },

    /// Bytes that should be a DER certificate are not (truncated, garbage, trailing data).
    #[error("{}not a valid X.509 certificate (DER)", block.map(|b| format!("PEM block {b}: ")).unwrap_or_default())]
    InvalidDer {
        /// 1-based index of the PEM block, or `None` for raw DER input.
        block: Option<usize>,
        /// The DER decoder's error, which names the position.
        #[source]
        source: der::Error,
    },

    /// The certificate's validity dates cannot be represented.
    #[error("the validity period of `{subject}` is out of the representable range")]
    InvalidValidity {
        /// Subject of the certificate.
        subject: String,
    },

    /// Exactly one certificate was expected.
    #[error("expected exactly one certificate, found {found}")]
    ExpectedOneCertificate {
        /// How many were found.
        found: usize,
    },

    /// A fingerprint given as text could not be read.
    #[error(
        "`{input}` is not a {kind} fingerprint: expected hex digits, optionally separated by ':'"
    )]
    InvalidFingerprint {
        /// `SHA-1` or `SHA-256`.
        kind: &'static str,
        /// The text given (cut to 120 characters).
        input: String,
    },

    /// A trust anchor added by a caller is not a CA certificate.
    #[error(
        "trust anchor `{name}` ({subject}) is not a CA certificate: ISE trusts roots and \
         intermediates, not leaf certificates"
    )]
    AnchorNotCa {
        /// The name given to the anchor.
        name: String,
        /// Subject of the certificate.
        subject: String,
    },
}

/// At most 20 names, for a message.
fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let mut shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
    if names.len() > 20 {
        shown.push("…");
    }
    shown.join(", ")
}
/// The partial report of a workflow whose `apply` failed; serialised as the report
/// itself (the same keys as the workflow's report on success).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum PartialReport {
    /// Onboarding's report so far ([`crate::onboard::apply`]).
    Onboard(Report),
    /// The rotation so far ([`crate::rotate::apply`]): keys added, none removed.
    Rotate(Rotation),
    /// The trust sync so far ([`crate::trust_sync::apply`]).
    TrustSync(TrustSync),
    /// The enforcement so far ([`crate::enforce::apply`]).
    Enforce(crate::report::Enforcement),
    /// The offboarding so far ([`crate::offboard::apply`]): what was removed.
    Offboard(crate::report::Offboarding),
}

impl PartialReport {
    /// The workflow's name: `onboarding`, `rotation`, `trust sync`.
    pub fn workflow(&self) -> &'static str {
        match self {
            Self::Onboard(_) => "onboarding",
            Self::Rotate(_) => "rotation",
            Self::TrustSync(_) => "trust sync",
            Self::Enforce(_) => "enforcement",
            Self::Offboard(_) => "offboarding",
        }
    }
}

/// The one failure convention of the workflows: an `apply` that failed after anything
/// ran returns [`Error::Apply`] with this — the partial report, what was written
/// (empty when nothing was), and every error with the step it ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct ApplyFailure {
    /// The workflow's report until the failure.
    pub report: PartialReport,
    /// What was written before the failure, one line each.
    pub written: Vec<String>,
    /// Every error, with the step it ended.
    pub errors: Vec<(StepName, Error)>,
}

impl From<crate::guard::Failed> for Error {
    fn from(f: crate::guard::Failed) -> Self {
        Self::GuardFailed {
            workflow: f.workflow,
            failed: f.failed,
        }
    }
}

impl ApplyFailure {
    /// A failure with its partial report, what was written, and its errors.
    pub fn new(
        report: PartialReport,
        written: Vec<String>,
        errors: Vec<(StepName, Error)>,
    ) -> Self {
        Self {
            report,
            written,
            errors,
        }
    }

    /// Onboarding's partial report, when this is onboarding's failure.
    pub fn onboard_report(&self) -> Option<&Report> {
        match &self.report {
            PartialReport::Onboard(r) => Some(r),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed: Vec<String> = self
            .errors
            .iter()
            .map(|(step, e)| format!("{step}: {e}"))
            .collect();
        write!(f, "{}", failed.join("; "))?;
        if self.written.is_empty() {
            write!(f, " (nothing was written)")
        } else {
            write!(f, " (already written: {})", self.written.join("; "))
        }
    }
}

/// What kind of failure an [`Error`] is, coarsely, for a caller to switch on (and for
/// the command's exit code and JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something given is wrong: the configuration, a file, an argument.
    Configuration,
    /// The integration is not there yet (run onboard).
    NotOnboarded,
    /// A service refused the identity: credentials, roles, consent.
    Permission,
    /// A service answered something else that cannot be used.
    Remote,
    /// A service could not be reached or did not answer in time.
    Transport,
    /// A certificate or key is unusable.
    Certificate,
    /// A fault of this library (a task that panicked).
    Internal,
    /// A guard of the workflow does not hold: writing would be unsafe, so nothing
    /// was written ([`crate::guard`]).
    Guard,
    /// The audit trail could not record a write, so the run stopped.
    Audit,
}

impl ErrorKind {
    /// The name as printed and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::NotOnboarded => "not_onboarded",
            Self::Permission => "permission",
            Self::Remote => "remote",
            Self::Transport => "transport",
            Self::Certificate => "certificate",
            Self::Internal => "internal",
            Self::Guard => "guard",
            Self::Audit => "audit",
        }
    }
}

/// A certificate not trusted is a certificate problem; any other failure to get an
/// answer is transport.
fn transport_kind(t: &ise_intune_http::TransportError) -> ErrorKind {
    if t.kind == ise_intune_http::TransportErrorKind::UntrustedCertificate {
        ErrorKind::Certificate
    } else if matches!(
        t.kind,
        ise_intune_http::TransportErrorKind::AuditRefused { .. }
    ) {
        ErrorKind::Audit
    } else {
        ErrorKind::Transport
    }
}

/// The kind of an HTTP status a service answered.
fn status_kind(status: Option<u16>) -> ErrorKind {
    match status {
        Some(401 | 403) => ErrorKind::Permission,
        _ => ErrorKind::Remote,
    }
}

/// Intune's compliance client's errors, as the integration's: the same variants the
/// command's causes and remediations know.
impl From<intune_client::Error> for Error {
    fn from(e: intune_client::Error) -> Self {
        match e {
            intune_client::Error::Compliance { what } => Self::Compliance { what },
            intune_client::Error::Throttled { retry_after_secs } => {
                Self::IntuneThrottled { retry_after_secs }
            }
            intune_client::Error::Answer { status, message } => {
                Self::IntuneAnswer { status, message }
            }
            intune_client::Error::Graph(g) => Self::Graph(g),
            other => Self::Compliance {
                what: other.to_string(),
            },
        }
    }
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Self::Ise(e) => match e {
                ise_client::Error::Transport(t) => transport_kind(t),
                ise_client::Error::PinMismatch { .. }
                | ise_client::Error::UntrustedCertificate { .. } => K::Certificate,
                ise_client::Error::InvalidConfig { .. }
                | ise_client::Error::InvalidInput { .. } => K::Configuration,
                other => status_kind(other.status()),
            },
            Self::Graph(e) => match e {
                graph_client::Error::Transport(t) => transport_kind(t),
                graph_client::Error::InvalidConfig { .. }
                | graph_client::Error::Credentials { .. } => K::Configuration,
                graph_client::Error::Token { body, .. } if body.is_configuration() => {
                    K::Configuration
                }
                graph_client::Error::Token { .. } => K::Permission,
                other => status_kind(other.status()),
            },
            Self::Config { .. }
            | Self::ReadFile { .. }
            | Self::NodeKeyNotRequested { .. }
            | Self::RenewedCertificateRefused { .. }
            | Self::AnchorNameTaken { .. }
            | Self::AmbiguousApplication { .. }
            | Self::AttributeStore { .. }
            | Self::AttributeTypeConflict { .. } => K::Configuration,
            Self::SyncBusy { .. } => K::Guard,
            Self::Compliance { .. } => K::Remote,
            Self::MissingRights { .. } => K::Permission,
            Self::GuardFailed { .. } => K::Guard,
            Self::AuditFailed { .. } => K::Audit,
            Self::IntuneAnswer { status, .. } => status_kind(Some(*status)),
            Self::IntuneThrottled { .. } => K::Remote,
            Self::Unreachable { .. } | Self::TimedOut { .. } => K::Transport,
            Self::UnsupportedIseVersion { .. }
            | Self::MdmConfiguration { .. }
            | Self::ConsentNotVisible { .. }
            | Self::NoAdminCertificate { .. } => K::Remote,
            Self::PolicyTargetMissing { .. } => K::Configuration,
            Self::Apply(f) => f.errors.first().map_or(K::Remote, |(_, e)| e.kind()),
            Self::NotOnboarded { .. } => K::NotOnboarded,
            Self::VerificationFailed { .. }
            | Self::HostNotTrusted { .. }
            | Self::RemoteState { .. } => K::Remote,
            Self::UnknownNode { .. } => K::Configuration,
            Self::Task(_) => K::Internal,
            Self::Certificate(_)
            | Self::ThumbprintMismatch { .. }
            | Self::KeyNameMismatch { .. }
            | Self::NonRsaAdminCertificate { .. }
            | Self::CertificateNotPresented { .. }
            | Self::AdminKey { .. }
            | Self::KeyRefusedByPolicy { .. }
            | Self::KeyRefusedByTrustedCaPolicy { .. }
            | Self::NoDeviceIdentity { .. } => K::Certificate,
        }
    }
}

/// Names as a person lists them: `A, B and C`, or `none`.
fn listed(names: &[String]) -> String {
    match names {
        [] => "none".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn lists_in_messages_read_as_a_person_writes_them() {
        let e = Error::ConsentNotVisible {
            waited: std::time::Duration::from_secs(60),
            missing: vec![
                "Intune / get_device_compliance".into(),
                "Graph / Application.Read.All".into(),
            ],
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "admin consent is still not visible after 60 s: missing Intune / \
                 get_device_compliance and Graph / Application.Read.All; "
            ),
            "{text}"
        );
        assert!(!text.contains('['), "{text}");
    }
}
