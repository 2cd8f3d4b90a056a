//! The command line: its options and subcommands (clap).

use crate::causes::{Cause, Source};
use crate::commands;
use crate::global::Global;
use crate::output::{print_json, scrubbed};
use clap::Parser;
use clap::Subcommand;
use intune_integration::Error;
use intune_integration::ErrorKind;

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
    /// The options every subcommand takes.
    #[command(flatten)]
    pub(crate) global: Global,
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
        ("--config", cli.global.config.is_some()),
        ("--sim-info", cli.global.sim_info.is_some()),
        ("--anchor", !cli.global.anchors.is_empty()),
        ("--as-node", cli.global.as_node),
        ("--timeout", cli.global.timeout != 90),
        ("--audit-log", cli.global.audit_log.is_some()),
        ("--audit-syslog", cli.global.audit_syslog.is_some()),
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

/// The edit distance between `a` and `b` where swapping two neighbouring letters
/// counts as one edit (optimal string alignment): `onbaord` is one from `onboard` and
/// three from `offboard`.
fn typo_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// An unknown subcommand's error with the closest subcommand (by [`typo_distance`])
/// as its one suggestion; any other error as it is.
fn closest_subcommand_first(e: clap::Error) -> clap::Error {
    use clap::CommandFactory as _;
    use clap::error::{ContextKind, ContextValue, ErrorKind as Clap};
    if e.kind() != Clap::InvalidSubcommand {
        return e;
    }
    let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidSubcommand) else {
        return e;
    };
    let given = given.clone();
    let command = Cli::command();
    let closest = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .map(|name| (typo_distance(&given, &name), name))
        .min();
    match closest {
        Some((distance, name)) if distance <= 2 => {
            let mut better = clap::Error::new(Clap::InvalidSubcommand).with_cmd(&command);
            better.insert(ContextKind::InvalidSubcommand, ContextValue::String(given));
            better.insert(ContextKind::SuggestedSubcommand, ContextValue::String(name));
            better
        }
        _ => e,
    }
}

/// A command line clap refused: under `--json` one JSON object too; then clap's own
/// message and exit status 2.
pub(crate) fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind as Clap;
    let e = closest_subcommand_first(e);
    if !matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
        && std::env::args().any(|a| a == "--json")
    {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default();
        let _ = print_json(&serde_json::json!({
            "error": {
                "kind": ErrorKind::Configuration.as_str(),
                "cause": Cause::Configuration.as_str(),
                "message": scrubbed(first.trim_start_matches("error: ")),
                "remediation": Cause::Configuration.remediation(Source::Config),
                "causes": [],
            }
        }));
    }
    e.exit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_pair_of_letters_is_one_edit_and_suggests_its_subcommand() {
        assert_eq!(typo_distance("onbaord", "onboard"), 1);
        assert_eq!(typo_distance("onbaord", "offboard"), 3);
        assert_eq!(typo_distance("", "doctor"), 6);
        let e = Cli::try_parse_from(["ise-intune", "onbaord"]).expect_err("unknown");
        let e = closest_subcommand_first(e);
        assert_eq!(
            e.get(clap::error::ContextKind::SuggestedSubcommand)
                .map(ToString::to_string),
            Some("onboard".to_owned())
        );
        assert_eq!(e.exit_code(), 2);
    }
}
