//! `ise-intune-sim`: starts the simulator, writes where everything is to a JSON file,
//! and runs until interrupted.
//!
//! ```text
//! cargo run -p ise-intune-simulator -- --info-file PATH [--ise-version 3.3.0.430 --ise-patch 2] [--latency-ms N] [--seed N] [--replication-lag-ms N]
//! ```

use std::process::ExitCode;

use clap::Parser;
use ise_intune_simulator::launcher::{self, LaunchArgs};

/// Starts the simulator (ISE, Entra ID, Graph, Intune on loopback ports), writes where
/// everything is to a JSON file, and runs until interrupted. The same options as
/// `ise-intune sim` (one launcher: [`ise_intune_simulator::launcher`]).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    launch: LaunchArgs,
    /// More log lines on standard error: -v every request served, -vv more.
    /// `RUST_LOG` is used when neither -v nor -q is given.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

/// A `tracing` subscriber on standard error: `RUST_LOG`, or -v / -vv / -q. (Its own
/// rather than the testkit's: the simulator depends on no crate of the library.)
fn init_logging(verbose: u8, quiet: bool) {
    use std::io::IsTerminal as _;
    let spec = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        (false, 0) => std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        (false, 1) => "warn,ise_intune_simulator=info".into(),
        (false, _) => "warn,ise_intune_simulator=debug".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("ignoring the log filter `{spec}`: {e}");
        tracing_subscriber::EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose, args.quiet);
    match launcher::run(&args.launch).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ise-intune-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
