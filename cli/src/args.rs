//! The command line: its options and subcommands (clap).

#[allow(clippy::wildcard_imports)]
use crate::*;

/// `--adopt KIND=NAME`, as clap parses it.
fn adoption(s: &str) -> Result<intune_integration::offboard::Adopt, String> {
    s.parse()
        .map_err(|e: intune_integration::Error| e.to_string())
}

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
    Onboard {
        /// Print what would change; change nothing.
        #[arg(long)]
        plan: bool,
    },
    /// Everything observable, with evidence and what to do.
    Doctor,
    /// Rotate the application's keys to the nodes' (renewed) Admin certificates.
    Rotate {
        /// A renewed certificate supplied ahead of time: NODE=PEM_FILE, repeatable.
        #[arg(long = "renewed", value_name = "NODE=PEM")]
        renewed: Vec<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import the roots the Microsoft endpoints now chain to.
    TrustSync {
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create or fix the authorization rules that act on Intune's answer (the
    /// configuration's [enforce] table); no other rule is touched. Rules that ISE
    /// applies are written only when ISE can reach Intune (else exit 5); roll out in
    /// monitor state first with --monitor, then --promote.
    Enforce {
        /// Print what would change, with each safety check and whether it holds;
        /// change nothing.
        #[arg(long)]
        plan: bool,
        /// Create the rules in ISE's monitor state: ISE evaluates them and counts their
        /// hits but does not apply them, so no device's access changes.
        #[arg(long, conflicts_with = "promote")]
        monitor: bool,
        /// Turn rules in monitor state on (after a look at their hit counts with
        /// --plan --promote).
        #[arg(long)]
        promote: bool,
    },
    /// Take the integration out again: the authorization rules enforce made, then the
    /// External MDM entry (you delete it in ISE's GUI, then confirm with
    /// --mdm-removed), then — once ISE itself reports the entry gone — the Microsoft
    /// roots it imported that nothing else uses, and the Entra application with its
    /// consent. Only what carries ise-intune's marker is removed.
    Offboard {
        /// Print what would be removed and kept, and what ISE would then authorize;
        /// change nothing.
        #[arg(long)]
        plan: bool,
        /// Also remove this object that does not carry the marker, named exactly with
        /// its kind: application=CLIENT_ID, rule=NAME or certificate=FRIENDLY_NAME.
        /// Repeat for several; one that matches nothing stops the run.
        #[arg(long, value_name = "KIND=NAME", value_parser = adoption)]
        adopt: Vec<intune_integration::offboard::Adopt>,
        /// Confirm that the External MDM entry was deleted in ISE's GUI (ISE has no API
        /// for it); until then nothing else is removed.
        #[arg(long)]
        mdm_removed: bool,
    },
    /// Intune's device properties (ownership, operating system, last check-in,
    /// staleness, encryption, …) onto ISE's endpoints as custom attributes that
    /// authorization rules can use (the configuration's [attributes] table).
    Attributes {
        #[command(subcommand)]
        command: AttributesCommand,
    },
    /// One device as ISE sees it, by MAC address or Intune GUID.
    Device {
        /// A MAC address (any notation) or a device GUID.
        #[arg(value_parser = device_id, required_unless_present = "cert", conflicts_with = "cert")]
        id: Option<String>,
        /// A device certificate Intune issued (PEM or DER): the device its SAN URI names
        /// (`ID:Microsoft Endpoint Manager:GUID:…` or `ID:Intune:GUID:…`).
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// The ISE node whose key to use (default: the first policy service node).
        #[arg(long)]
        node: Option<String>,
    },
    /// Every non-compliant device, as ISE's poll sees them. This is an unfiltered query,
    /// which Intune throttles: it answers them only in the first hour of a four-hour
    /// window opened by the first, and 503 for the rest (reported, not retried). For one
    /// device, use `device` (never throttled).
    Noncompliant {
        /// The ISE node whose key to use (default: the first policy service node).
        #[arg(long)]
        node: Option<String>,
        /// With --as-node: run the query as ISE's own application although it spends
        /// that application's throttle window, which ISE needs for its own poll.
        #[arg(long)]
        spend_ise_window: bool,
    },
    /// Doctor or plan across an inventory of (ISE, tenant) pairs.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Check every pair on a schedule: Prometheus metrics, a status page, webhook
    /// alerts on change, and the safe repairs switched on with --auto.
    Watch(watch::WatchArgs),
    /// Write a commented configuration template to fill in (for --config).
    Init {
        /// Where to write it (refused if it exists, unless --force).
        #[arg(long, value_name = "FILE", default_value = "ise-intune.toml")]
        output: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the simulator and write its info file; runs until interrupted.
    #[cfg(feature = "simulator")]
    Sim {
        #[command(flatten)]
        launch: ise_intune_simulator::launcher::LaunchArgs,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AttributesCommand {
    /// Write what changed in Intune since the last sync onto ISE's endpoints (all of it
    /// the first time, and once a day in a full pass). Only endpoints ISE already knows
    /// are written, unless --create-endpoints; only the attributes the tool defined
    /// are touched.
    Sync {
        /// Print what would be written; write nothing.
        #[arg(long)]
        plan: bool,
        /// Read every device and every endpoint now, not only what changed.
        #[arg(long)]
        full: bool,
        /// Also create the endpoints ISE has never seen, for devices Intune knows.
        #[arg(long)]
        create_endpoints: bool,
        /// Ask ISE to re-authenticate the active sessions of endpoints whose values
        /// changed (a CoA from the node that holds each session), at most
        /// [attributes] reauthenticate_per_minute a minute (default 60) and one
        /// minute's worth a run; without it, new values apply at each endpoint's next
        /// authentication.
        #[arg(long)]
        reauthenticate: bool,
    },
}

/// `fleet`'s default concurrency (the library's, [`fleet::DEFAULT_CONCURRENCY`]).
pub(crate) const DEFAULT_FLEET_CONCURRENCY: u16 = 128;
const _: () = assert!(DEFAULT_FLEET_CONCURRENCY as usize == fleet::DEFAULT_CONCURRENCY);

#[derive(Subcommand, Debug)]
pub(crate) enum FleetCommand {
    /// Doctor every pair.
    Doctor {
        /// The inventory file.
        inventory: PathBuf,
        /// Pairs examined at once (1 to 256; default 128).
        #[arg(long, default_value_t = DEFAULT_FLEET_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Plan every pair.
    Plan {
        /// The inventory file.
        inventory: PathBuf,
        /// Pairs examined at once (1 to 256; default 128).
        #[arg(long, default_value_t = DEFAULT_FLEET_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
}

/// A device GUID (8-4-4-4-12 hex digits) or a MAC address in any notation; anything
/// else is a usage error.
pub(crate) fn device_id(value: &str) -> Result<String, String> {
    let groups: Vec<&str> = value.split('-').collect();
    let guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if guid {
        return Ok(value.to_owned());
    }
    intune_integration::compliance::normalize_mac(value)
        .map(|_| value.to_owned())
        .map_err(|_| {
            "expected a device GUID (8-4-4-4-12 hex digits) or a MAC address (12 hex digits, \
             optionally separated by `:`, `-` or `.`)"
                .to_owned()
        })
}

/// Refuses the global options that a subcommand would silently ignore (a usage error).
pub(crate) fn options_apply(cli: &Cli) -> Result<(), Error> {
    let name = match cli.command {
        Command::Init { .. } => "init",
        Command::Completions { .. } => "completions",
        #[cfg(feature = "simulator")]
        Command::Sim { .. } => "sim",
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
        Command::Onboard { .. } => "onboard",
        Command::Doctor => "doctor",
        Command::Rotate { .. } => "rotate",
        Command::TrustSync { .. } => "trust-sync",
        Command::Enforce { .. } => "enforce",
        Command::Offboard { .. } => "offboard",
        Command::Attributes { .. } => "attributes sync",
        Command::Device { .. } => "device",
        Command::Noncompliant { .. } => "noncompliant",
        Command::Fleet { .. } => "fleet",
        Command::Watch(_) => "watch",
        Command::Init { .. } => "init",
        Command::Completions { .. } => "completions",
        #[cfg(feature = "simulator")]
        Command::Sim { .. } => "sim",
    }
}
