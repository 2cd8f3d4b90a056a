//! `ise-intune`: onboard, diagnose and maintain Cisco ISE's integration with Microsoft
//! Intune.
//!
//! Every subcommand runs against a real ISE and tenant with `--config FILE` (secrets
//! from the environment), against a running simulator with `--sim-info FILE`, or, with
//! neither, against an embedded simulator scenario that has something to show.
//!
//! Exit status: 0 healthy or complete; 1 failed, or an error finding; 2 usage; 3 a
//! person must act (manual step); 4 the run lacks rights (nothing was written); 5 a
//! guard does not hold (nothing was written); 6 the audit trail could not be written.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ise_intune_http::scrub::printable;
mod causes;

#[cfg(feature = "simulator")]
mod scenario;

mod watch;

use causes::Source;

/// `println!` through the one sanitiser ([`terminal`]): reports quote server text.
macro_rules! say {
    ($($arg:tt)*) => { println!("{}", $crate::terminal(&format!($($arg)*))) };
}

/// Text for the terminal: each line made printable (no control character, no escape
/// sequence, secrets replaced) and at most 2,000 characters long.
fn terminal(text: &str) -> String {
    text.split('\n')
        .map(|l| printable(l, 2000))
        .collect::<Vec<_>>()
        .join("\n")
}

mod args;
mod commands;
mod context;
mod error;
mod global;
mod output;

use args::Cli;
use args::Command;
use args::options_apply;
use args::{command_name, usage_error};
use error::{CliError, CliResult};
use output::report_failure;

/// Exit status when a person must act.
const EXIT_MANUAL: u8 = 3;

/// Exit status when the run lacks rights it needs: nothing was written.
const EXIT_RIGHTS: u8 = 4;

/// Exit status when a guard does not hold: nothing was written.
const EXIT_GUARD: u8 = 5;

/// Exit status when the audit trail could not be written: the run stopped.
const EXIT_AUDIT: u8 = 6;

async fn run(cli: Cli) -> CliResult {
    options_apply(&cli)?;
    let (global, command) = (&cli.global, &cli.command);
    match command {
        Command::Onboard(args) => commands::onboard::exec(global, args).await,
        Command::Doctor(args) => commands::doctor::exec(global, args).await,
        Command::Rotate(args) => commands::rotate::exec(global, args).await,
        Command::TrustSync(args) => commands::trust_sync::exec(global, args).await,
        Command::Enforce(args) => commands::enforce::exec(global, args).await,
        Command::Offboard(args) => commands::offboard::exec(global, args).await,
        Command::Attributes(args) => commands::attributes::exec(global, args).await,
        Command::Device(args) => commands::device::exec(global, args).await,
        Command::Noncompliant(args) => commands::noncompliant::exec(global, args).await,
        Command::Fleet(args) => commands::fleet::exec(global, args).await,
        Command::Watch(args) => commands::watch::exec(global, args).await,
        Command::Init(args) => commands::init::exec(global, args),
        Command::Completions(args) => {
            use clap::CommandFactory as _;
            commands::completions::exec(args, Cli::command())
        }
        #[cfg(feature = "simulator")]
        Command::Sim(args) => commands::sim::exec(args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    // What the run's context needs to know of the subcommand.
    cli.global.command = command_name(&cli.command);
    if let Command::Offboard(args) = &cli.command {
        cli.global.mdm_removed = args.mdm_removed;
    }
    intune_integration::logging::init(cli.global.verbose, cli.global.quiet);
    let (json, limit) = (cli.global.json, Duration::from_secs(cli.global.timeout));
    let detail = cli.global.verbose > 0;
    let started = std::time::Instant::now();
    let settings = if cli.global.config.is_some() {
        Source::Config
    } else if cli.global.sim_info.is_some() {
        Source::SimInfo
    } else {
        Source::Embedded
    };
    // The simulator and watch run until interrupted; a fleet applies the limit to each
    // pair, watch to each check.
    let limit = match cli.command {
        #[cfg(feature = "simulator")]
        Command::Sim(_) => Duration::MAX,
        Command::Fleet(_) | Command::Watch(_) => Duration::MAX,
        _ => limit,
    };
    let result = match tokio::time::timeout(limit, run(cli)).await {
        Ok(result) => result,
        Err(_) => Err(CliError::Timeout {
            secs: limit.as_secs(),
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(report_failure(
            &e,
            settings,
            json,
            started.elapsed(),
            detail,
        )),
    }
}
