//! The command line: its options and subcommands (clap).

use crate::commands;
use clap::Parser;
use clap::Subcommand;
use intune_integration::Error;
use std::path::PathBuf;

/// Onboard, diagnose and maintain Cisco ISE's integration with Microsoft Intune.
///
/// With neither --config nor --sim-info, each subcommand runs against an embedded
/// simulator scenario. Exit status: 0 healthy/complete, 1 failed or an error finding,
/// 2 usage, 3 manual action required, 4 rights missing (nothing was written), 5 a
/// safety check (guard) does not hold (nothing was written), 6 the audit trail could
/// not be written (the run stopped).
#[derive(Parser, Debug)]
#[command(name = "ise-intune", version)]
pub(crate) struct Cli {
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
    /// Log lines on standard error: -v the library's progress, -vv every request
    /// (method, path, status, attempt, elapsed; never a secret). Without -v or -q,
    /// `RUST_LOG` decides (e.g. `RUST_LOG=ise_client=debug`).
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
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// The seven-step onboarding, then ISE's Test Connection reproduced.
    Onboard(commands::onboard::Args),
    /// Everything observable, with evidence and what to do.
    Doctor(commands::doctor::Args),
    /// Rotate the application's keys to the nodes' (renewed) Admin certificates.
    Rotate(commands::rotate::Args),
    /// Import the roots the Microsoft endpoints now chain to.
    TrustSync(commands::trust_sync::Args),
    /// Create or fix the authorization rules that act on Intune's answer (the
    /// configuration's [enforce] table); no other rule is touched. Rules that ISE
    /// applies are written only when ISE can reach Intune (else exit 5); roll out in
    /// monitor state first with --monitor, then --promote.
    Enforce(commands::enforce::Args),
    /// Take the integration out again: the authorization rules enforce made, then the
    /// External MDM entry (you delete it in ISE's GUI, then confirm with
    /// --mdm-removed), then — once ISE itself reports the entry gone — the Microsoft
    /// roots it imported that nothing else uses, and the Entra application with its
    /// consent. Only what carries ise-intune's marker is removed.
    Offboard(commands::offboard::Args),
    /// Intune's device properties (ownership, operating system, last check-in,
    /// staleness, encryption, …) onto ISE's endpoints as custom attributes that
    /// authorization rules can use (the configuration's [attributes] table).
    Attributes(commands::attributes::Args),
    /// One device as ISE sees it, by MAC address or Intune GUID.
    Device(commands::device::Args),
    /// Every non-compliant device, as ISE's poll sees them. This is an unfiltered query,
    /// which Intune throttles: it answers them only in the first hour of a four-hour
    /// window opened by the first, and 503 for the rest (reported, not retried). For one
    /// device, use `device` (never throttled).
    Noncompliant(commands::noncompliant::Args),
    /// Doctor or plan across an inventory of (ISE, tenant) pairs.
    Fleet(commands::fleet::Args),
    /// Check every pair on a schedule: Prometheus metrics, a status page, webhook
    /// alerts on change, and the safe repairs switched on with --auto.
    Watch(commands::watch::Args),
    /// Write a commented configuration template to fill in (for --config).
    Init(commands::init::Args),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions(commands::completions::Args),
    /// Run the simulator and write its info file; runs until interrupted.
    #[cfg(feature = "simulator")]
    Sim(commands::sim::Args),
}

/// Refuses the global options that a subcommand would silently ignore (a usage error).
pub(crate) fn options_apply(cli: &Cli) -> Result<(), Error> {
    let name = match cli.command {
        Command::Init(_) => "init",
        Command::Completions(_) => "completions",
        #[cfg(feature = "simulator")]
        Command::Sim(_) => "sim",
        _ => return Ok(()),
    };
    let given: Vec<&str> = [
        ("--config", cli.config.is_some()),
        ("--sim-info", cli.sim_info.is_some()),
        ("--anchor", !cli.anchors.is_empty()),
        ("--as-node", cli.as_node),
        ("--timeout", cli.timeout != 90),
        ("--audit-log", cli.audit_log.is_some()),
        ("--audit-syslog", cli.audit_syslog.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Config {
        what: format!(
            "{} do(es) not apply to `{name}`: remove {}",
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        ),
    })
}

/// The subcommand's name, as audit lines name the command.
pub(crate) fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Onboard(_) => "onboard",
        Command::Doctor(_) => "doctor",
        Command::Rotate(_) => "rotate",
        Command::TrustSync(_) => "trust-sync",
        Command::Enforce(_) => "enforce",
        Command::Offboard(_) => "offboard",
        Command::Attributes(_) => "attributes sync",
        Command::Device(_) => "device",
        Command::Noncompliant(_) => "noncompliant",
        Command::Fleet(_) => "fleet",
        Command::Watch(_) => "watch",
        Command::Init(_) => "init",
        Command::Completions(_) => "completions",
        #[cfg(feature = "simulator")]
        Command::Sim(_) => "sim",
    }
}
