//! The options every subcommand takes (`--config`, `--json`, `--timeout`, …), and
//! what the command line says of the subcommand that the run's context needs.

use std::path::PathBuf;

/// The global options, as each subcommand receives them.
#[derive(clap::Args, Debug)]
pub(crate) struct Global {
    /// Integration configuration for a real ISE and tenant (secrets from the
    /// environment).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "sim_info")]
    pub(crate) config: Option<PathBuf>,
    /// A running simulator's info file (`ise-intune sim --info-file FILE`).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) sim_info: Option<PathBuf>,
    /// An extra trust anchor (PEM root certificate), repeatable: a proxy's CA, a new
    /// Microsoft root.
    #[arg(long = "anchor", global = true, value_name = "PEM")]
    pub(crate) anchors: Vec<PathBuf>,
    /// Record every write this run makes (to ISE and to Entra ID / Graph), one JSON line
    /// each, appended to FILE and rotated by size; `[audit] file` in the configuration
    /// does the same. For `fleet` and `watch`, one file for every pair.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) audit_log: Option<PathBuf>,
    /// Also send each audit line to a syslog server as an RFC 5424 message:
    /// udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (`[audit] syslog` in the
    /// configuration does the same; its `syslog_ca_file` verifies a TLS server).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) audit_syslog: Option<String>,
    /// Print one JSON object instead of text (no progress output).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log lines on standard error: -v the progress of each step, -vv every request
    /// (method, path, status, attempt, elapsed; never a secret).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Also run the checks that act as an ISE node (Entra accepting the node's
    /// assertion, Intune answering as that node): each policy service node's private
    /// key is exported from ISE for them, kept in memory only. Without it no private
    /// key leaves ISE and those checks are reported as not checked.
    #[arg(long, global = true)]
    pub(crate) as_node: bool,
    /// Give up after this many seconds in all (every request, retry and wait
    /// included), naming what did not finish. For `fleet`, the limit of each pair; for
    /// `watch`, of each check; `sim` and `watch` run until interrupted.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) timeout: u64,
    /// The subcommand's name, as audit lines and the embedded scenarios name it (set
    /// from the command line, not an option).
    #[arg(skip)]
    pub(crate) command: &'static str,
    /// `offboard --mdm-removed` (set from the command line, not an option).
    #[arg(skip)]
    pub(crate) mdm_removed: bool,
}
