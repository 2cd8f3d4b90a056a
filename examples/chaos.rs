//! Runs the chaos harness over many seeds and prints the table: onboarding under
//! seeded faults (errors, dropped connections, lost responses), replication lag and
//! concurrent applies; then one clean re-run must complete and the next write nothing,
//! with every invariant held in the simulator's state.
//!
//! ```text
//! cargo run --release --example chaos -- --seeds 200 [--first 0] [--max-lag-ms 300]
//! ```
//!
//! Exit status 1 when any seed broke a promise.

use std::process::ExitCode;

use clap::Parser;
use ise_intune_testkit::chaos::{ChaosSettings, run_seed, table};

/// Onboarding under seeded chaos, checked against the simulator's state.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// How many seeds.
    #[arg(long, default_value_t = 30)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Most replication lag of a seed, in milliseconds.
    #[arg(long, default_value_t = 300)]
    max_lag_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = ChaosSettings {
        max_lag_ms: args.max_lag_ms,
        ..ChaosSettings::default()
    };
    let mut results = Vec::new();
    for seed in args.first..args.first.saturating_add(args.seeds) {
        match run_seed(seed, settings).await {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("seed {seed}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", table(&results));
    let broken = results
        .iter()
        .filter(|r| r.reruns != 1 || r.writes_after != 0 || !r.violations.is_empty())
        .count();
    if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
