//! The command's one error type: what can end a run, each reported with its kind,
//! cause and remediation (no foreign error is taken for a transport failure).

use intune_integration::{Error, ErrorKind};

/// Why a run of the command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The library's error (the clients' errors arrive as its `Ise` and `Graph`).
    #[error(transparent)]
    Library(#[from] Error),
    /// The run did not finish within `--timeout`.
    #[error(
        "not finished within --timeout {secs} s: a service did not answer in time (run with \
         -vv to see each request and which one was waiting)"
    )]
    Timeout {
        /// The limit, in seconds.
        secs: u64,
    },
    /// The embedded simulator could not start or be driven.
    #[cfg(feature = "simulator")]
    #[error("the embedded simulator: {what}")]
    Simulator {
        /// What failed.
        what: String,
    },
    /// Writing the output (standard output closed, a file) failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    /// A report could not be turned into JSON.
    #[error("encoding the JSON output: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(feature = "simulator")]
impl From<ise_intune_simulator::SimError> for CliError {
    fn from(e: ise_intune_simulator::SimError) -> Self {
        Self::Simulator {
            what: e.to_string(),
        }
    }
}

impl From<ise_client::Error> for CliError {
    fn from(e: ise_client::Error) -> Self {
        Self::Library(e.into())
    }
}

impl From<intune_integration::compliance::ClientError> for CliError {
    fn from(e: intune_integration::compliance::ClientError) -> Self {
        Self::Library(e.into())
    }
}

impl From<graph_client::Error> for CliError {
    fn from(e: graph_client::Error) -> Self {
        Self::Library(e.into())
    }
}

impl CliError {
    /// The coarse class `--json` reports as `kind`.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Self::Library(e) => e.kind(),
            Self::Timeout { .. } => ErrorKind::Transport,
            #[cfg(feature = "simulator")]
            Self::Simulator { .. } => ErrorKind::Internal,
            Self::Output(_) | Self::Json(_) => ErrorKind::Internal,
        }
    }

    /// The library's error, when it is one.
    pub(crate) fn library(&self) -> Option<&Error> {
        match self {
            Self::Library(e) => Some(e),
            _ => None,
        }
    }
}

/// What a subcommand returns: its exit status, or why it failed.
pub(crate) type CliResult = Result<u8, CliError>;
