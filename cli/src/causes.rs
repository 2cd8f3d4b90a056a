//! What went wrong, as an administrator reads it: each cause of failure the command
//! meets, named (`cause` under `--json`), with the one remediation that fits it — and
//! that names only settings of where this run's settings came from (a configuration
//! file and the environment, a simulator's info file, or the embedded simulator).

use intune_integration::{Error, ErrorKind};
use ise_intune_http::TransportErrorKind;

/// Where the run's settings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--config FILE` and the environment.
    Config,
    /// `--sim-info FILE`: a running simulator's info file.
    SimInfo,
    /// The embedded simulator.
    Embedded,
}

/// Words that mark a text as the program's rather than an administrator's: a type path,
/// the HTTP stack's error chain, a crate's name.
pub(crate) const RUST_WORDS: [&str; 12] = [
    "::",
    "caused by",
    "client error",
    "(Connect)",
    "dns error",
    "hyper",
    "reqwest",
    "rustls",
    "tokio",
    "Error {",
    "Some(",
    "unwrap",
];

/// Whether `text` speaks the program's language ([`RUST_WORDS`]).
pub(crate) fn in_rust(text: &str) -> bool {
    RUST_WORDS.iter().any(|w| text.contains(w))
}

/// A cause of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// ISE presented another certificate than the pinned one.
    PinMismatch,
    /// ISE's certificate is not trusted (no pin, unknown CA).
    UntrustedIseCertificate,
    /// A Microsoft endpoint's certificate is not trusted.
    UntrustedCertificate,
    /// A host name does not resolve.
    NameNotResolved,
    /// Nothing listens at the address.
    Refused,
    /// A host accepted the connection and did not answer in time.
    Silent,
    /// No connection could be made.
    Unreachable,
    /// ISE refused the username or password (401).
    IseCredentials,
    /// ISE's account may not use the API (403).
    IseRights,
    /// Entra ID refused the automating identity's sign-in.
    EntraSignIn,
    /// Graph refused the automating identity an operation (403).
    GraphRights,
    /// The run lacks rights and wrote nothing.
    MissingRights,
    /// A safety check (guard) of the workflow does not hold: nothing was written.
    Guard,
    /// The audit trail could not be written: the run stopped.
    AuditTrail,
    /// Intune throttled an unfiltered compliance query.
    IntuneThrottled,
    /// Nothing is onboarded yet.
    NotOnboarded,
    /// The command line or the configuration.
    Configuration,
    /// The remote side is not as expected.
    Remote,
    /// Anything else.
    Internal,
}

impl Cause {
    /// The cause of `e` (the first error of a failed run).
    pub(crate) fn of(e: &crate::CliError) -> Self {
        use crate::CliError;
        match e {
            CliError::Library(e) => Self::of_error(e),
            CliError::Timeout { .. } => Self::Silent,
            #[cfg(feature = "simulator")]
            CliError::Simulator { .. } => Self::Internal,
            CliError::Output(_) | CliError::Json(_) => Self::Internal,
        }
    }

    fn of_error(e: &Error) -> Self {
        match e {
            Error::Apply(failure) => failure
                .errors
                .first()
                .map_or(Self::Remote, |(_, e)| Self::of_error(e)),
            Error::MissingRights { .. } => Self::MissingRights,
            Error::GuardFailed { .. } | Error::SyncBusy { .. } => Self::Guard,
            other if other.kind() == ErrorKind::Audit => Self::AuditTrail,
            Error::IntuneThrottled { .. } => Self::IntuneThrottled,
            Error::TimedOut { .. } => Self::Silent,
            Error::Unreachable { .. } => Self::Unreachable,
            Error::Ise(ise_client::Error::PinMismatch { .. }) => Self::PinMismatch,
            Error::Ise(ise_client::Error::UntrustedCertificate { .. }) => {
                Self::UntrustedIseCertificate
            }
            Error::Ise(ise_client::Error::Transport(t)) => Self::of_transport(t, true),
            Error::Graph(graph_client::Error::Transport(t)) => Self::of_transport(t, false),
            Error::Ise(i) if i.status() == Some(401) => Self::IseCredentials,
            Error::Ise(i) if i.status() == Some(403) => Self::IseRights,
            Error::Graph(graph_client::Error::Token { .. }) => Self::EntraSignIn,
            Error::Graph(g) if g.status() == Some(401) => Self::EntraSignIn,
            Error::Graph(g) if g.status() == Some(403) => Self::GraphRights,
            other => match other.kind() {
                ErrorKind::Configuration => Self::Configuration,
                ErrorKind::NotOnboarded => Self::NotOnboarded,
                ErrorKind::Permission => Self::GraphRights,
                ErrorKind::Certificate => Self::UntrustedCertificate,
                ErrorKind::Transport => Self::Unreachable,
                ErrorKind::Remote => Self::Remote,
                _ => Self::Internal,
            },
        }
    }

    fn of_transport(t: &ise_intune_http::TransportError, ise: bool) -> Self {
        match t.kind {
            TransportErrorKind::UntrustedCertificate if ise => Self::UntrustedIseCertificate,
            TransportErrorKind::UntrustedCertificate => Self::UntrustedCertificate,
            TransportErrorKind::NameNotResolved => Self::NameNotResolved,
            TransportErrorKind::Refused => Self::Refused,
            TransportErrorKind::Timeout { .. } | TransportErrorKind::OverallTimeout { .. } => {
                Self::Silent
            }
            TransportErrorKind::BodyTooLarge { .. } => Self::Remote,
            _ => Self::Unreachable,
        }
    }

    /// Its name under `--json` (`cause`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PinMismatch => "pin_mismatch",
            Self::UntrustedIseCertificate => "untrusted_ise_certificate",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::NameNotResolved => "name_not_resolved",
            Self::Refused => "refused",
            Self::Silent => "silent",
            Self::Unreachable => "unreachable",
            Self::IseCredentials => "ise_credentials",
            Self::IseRights => "ise_rights",
            Self::EntraSignIn => "entra_sign_in",
            Self::GraphRights => "graph_rights",
            Self::MissingRights => "missing_rights",
            Self::Guard => "guard",
            Self::AuditTrail => "audit_trail",
            Self::IntuneThrottled => "intune_throttled",
            Self::NotOnboarded => "not_onboarded",
            Self::Configuration => "configuration",
            Self::Remote => "remote",
            Self::Internal => "internal",
        }
    }

    /// What happened, in an administrator's words (the troubleshooting guide's table).
    pub(crate) fn said(self) -> &'static str {
        match self {
            Self::PinMismatch => "ISE presented another certificate than the pinned one",
            Self::UntrustedIseCertificate => {
                "ISE's certificate is neither pinned nor from a trusted CA"
            }
            Self::UntrustedCertificate => {
                "a Microsoft endpoint's certificate is not trusted (a TLS-inspecting proxy?)"
            }
            Self::NameNotResolved => "a host name does not resolve",
            Self::Refused => "nothing listens at the address",
            Self::Silent => "a host took the connection but did not answer in time",
            Self::Unreachable => "no connection could be made",
            Self::IseCredentials => "ISE refused the username or password",
            Self::IseRights => "ISE's account may not make that request",
            Self::EntraSignIn => "Entra ID refused the automating identity's sign-in",
            Self::GraphRights => "Graph refused the automating identity an operation",
            Self::MissingRights => "the run lacks rights and wrote nothing",
            Self::Guard => "a safety check does not hold, so nothing was written",
            Self::AuditTrail => "the audit trail could not record a write",
            Self::IntuneThrottled => "Intune refused an unfiltered compliance query (throttled)",
            Self::NotOnboarded => "nothing is onboarded yet",
            Self::Configuration => "the command line or the configuration",
            Self::Remote => "the remote side is not as expected",
            Self::Internal => "an unexpected failure",
        }
    }

    /// What to do about it, naming only settings of `source`.
    pub(crate) fn remediation(self, source: Source) -> &'static str {
        use Source::{Config, Embedded, SimInfo};
        match (self, source) {
            (Self::PinMismatch, Config) => {
                "if the fingerprint ISE presented is your ISE's admin certificate (in ISE: \
                 Administration > System > Certificates), set ise.tls_pin_sha256 to it; if \
                 it is not, something else answers at ise.url: find out what first"
            }
            (Self::PinMismatch | Self::UntrustedIseCertificate, SimInfo | Embedded) => {
                "use the info file the running simulator wrote: its ise.admin_cert_sha256 pins \
                 the simulated ISE's certificate"
            }
            (Self::UntrustedIseCertificate, Config) => {
                "pin ISE's admin certificate with ise.tls_pin_sha256, or name the CA that \
                 issued it with ise.tls_ca_file"
            }
            (Self::UntrustedCertificate, Config) => {
                "if a TLS-inspecting proxy stands between, add its root with \
                 entra.extra_ca_file; otherwise check that entra.login_url and \
                 entra.graph_url name Microsoft's hosts"
            }
            (Self::UntrustedCertificate, SimInfo | Embedded) => {
                "use the info file the running simulator wrote: its ca_pem is the root of \
                 the simulated Microsoft hosts"
            }
            (Self::NameNotResolved, Config) => {
                "check the host name in the setting the message names, and this machine's \
                 DNS"
            }
            (Self::NameNotResolved | Self::Refused, SimInfo | Embedded) => {
                "check that the simulator is still running and that the info file is the one \
                 it wrote"
            }
            (Self::Refused, Config) => {
                "nothing listens there: check the port in the setting the message names, \
                 and that the service is up"
            }
            (Self::Silent, _) => {
                "the host took the connection but did not answer in time: check the \
                 firewalls and proxies on the way, or give more time with --timeout"
            }
            (Self::Unreachable, _) => {
                "check that the host named is reachable from here (proxy, firewall, \
                 NO_PROXY)"
            }
            (Self::IseCredentials, Config) => {
                "check ise.username and the password in ISE_INTUNE_ISE_PASSWORD, that the \
                 account is not locked or expired, and that it is in the ERS Admin or Super \
                 Admin admin group (ISE answers 401 to an account outside the API groups)"
            }
            (Self::IseCredentials, SimInfo | Embedded) => {
                "check ise.username and ise.password in the info file, and the simulated \
                 account's role (sim --ise-role)"
            }
            (Self::IseRights, _) => {
                "put ISE's account in the ERS Admin (or Super Admin) admin group \
                 (Administration > System > Admin Access > Administrators > Admin Users; an \
                 ERS Operator may only read), and enable ERS and Open API (Administration > \
                 System > Settings > API Settings)"
            }
            (Self::EntraSignIn, Config) => {
                "Entra ID refused the automating identity's sign-in for the reason the \
                 message gives: check entra.tenant_id, entra.client_id and its credential \
                 (ISE_INTUNE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or \
                 AZURE_FEDERATED_TOKEN_FILE; a secret may have expired)"
            }
            (Self::EntraSignIn, SimInfo | Embedded) => {
                "check tenant_id, automation.client_id and automation.client_secret in the \
                 info file"
            }
            (Self::GraphRights, _) => {
                "grant the automating identity the permission the message names, with admin \
                 consent (ise-intune doctor names its profile and what it lacks)"
            }
            (Self::MissingRights, _) => {
                "an administrator grants what the message lists — in Entra, to the \
                 automating identity (Entra admin center > App registrations > it > API \
                 permissions > Grant admin consent); in ISE, the account's admin group — \
                 then run again"
            }
            (Self::Guard, _) => {
                "the message names each safety check that does not hold, what was seen and \
                 what to do; --plan lists them all. Put that right, then run again"
            }
            (Self::AuditTrail, Config) => {
                "make the audit trail writable — [audit] file (or --audit-log) a regular \
                 file on a disk with room, [audit] syslog a reachable server — then run \
                 again; a write whose line could not be recorded was not made"
            }
            (Self::AuditTrail, SimInfo | Embedded) => {
                "make --audit-log a regular file on a disk with room (and --audit-syslog a \
                 reachable server), then run again; a write whose line could not be recorded \
                 was not made"
            }
            (Self::IntuneThrottled, _) => {
                "wait until Intune's window reopens (the message says when), or ask about one \
                 device with ise-intune device, which is never throttled"
            }
            (Self::NotOnboarded, _) => "run ise-intune onboard",
            (Self::Configuration, _) => {
                "correct the command line or the configuration as the message says \
                 (ise-intune --help)"
            }
            (Self::Remote, _) => "run ise-intune doctor: it names what is wrong and the fix",
            (Self::Internal, _) => "run again with -vv and report the output",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Cause; 19] = [
        Cause::Guard,
        Cause::AuditTrail,
        Cause::PinMismatch,
        Cause::UntrustedIseCertificate,
        Cause::UntrustedCertificate,
        Cause::NameNotResolved,
        Cause::Refused,
        Cause::Silent,
        Cause::Unreachable,
        Cause::IseCredentials,
        Cause::IseRights,
        Cause::EntraSignIn,
        Cause::GraphRights,
        Cause::MissingRights,
        Cause::IntuneThrottled,
        Cause::NotOnboarded,
        Cause::Configuration,
        Cause::Remote,
        Cause::Internal,
    ];

    /// What an administrator reads carries no Rust: no type path, no error-chain word
    /// of the HTTP stack, no crate name, no code span of a developer's.
    #[test]
    fn every_cause_is_said_in_an_administrators_words() {
        for cause in ALL {
            for source in [Source::Config, Source::SimInfo, Source::Embedded] {
                for text in [cause.said(), cause.remediation(source)] {
                    assert!(!in_rust(text), "{cause:?}: {text:?}");
                    for word in RUST_WORDS {
                        assert!(!text.contains(word), "{cause:?}: {word:?} in {text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_cause_is_in_the_troubleshooting_page_and_fits_its_source() {
        let page = include_str!("../../docs/troubleshooting.md");
        for cause in ALL {
            assert!(
                page.contains(&format!("| `{}` |", cause.as_str())),
                "{} is not in docs/troubleshooting.md",
                cause.as_str()
            );
            // An info file or the embedded simulator has no environment variable.
            for source in [Source::SimInfo, Source::Embedded] {
                assert!(
                    !cause.remediation(source).contains("ISE_INTUNE_"),
                    "{cause:?}"
                );
            }
        }
    }
}
