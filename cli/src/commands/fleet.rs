//! `ise-intune fleet doctor|plan --inventory FILE`, and an inventory's pairs.

use crate::context::audit_trail;
use crate::context::audited;
use crate::context::from_sim_info;
use crate::context::onboarding_for;
use crate::context::with_key_choice;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::print_json;
use crate::terminal;
use intune_integration::Error;
use intune_integration::Integration;
use intune_integration::config::IntegrationConfig;
use intune_integration::doctor;
use intune_integration::doctor::Diagnosis;
use intune_integration::fleet;
use intune_integration::fleet::Inventory;
use intune_integration::fleet::Pair;
use intune_integration::fleet::PairOutcome;
use intune_integration::fleet::Target;
use intune_integration::onboard;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) fn pair_onboarding(pair: &Pair, anchors: &[PathBuf]) -> Result<Integration, Error> {
    match &pair.target {
        // Only the pair's own secrets come from the environment.
        Target::Config(p) => {
            onboarding_for(IntegrationConfig::load_for_pair(p, &pair.secrets)?, anchors)
        }
        Target::SimInfo(p) => from_sim_info(p, anchors),
        _ => Err(Error::Config {
            what: format!("pair `{}`: unsupported target", pair.name),
        }),
    }
}

/// Runs `op` on every pair of `inventory`; prints JSON or `table`; returns whether any
/// pair failed or `bad` says its result is bad.
pub(crate) async fn over_fleet<T, Op, Fut>(
    cli: &Global,
    plan: bool,
    inventory: &Path,
    concurrency: usize,
    op: Op,
    table: fn(&[fleet::PairResult<T>]) -> String,
    bad: fn(&T) -> bool,
) -> CliResult
where
    T: serde::Serialize + Send + 'static,
    Op: Fn(Integration) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let anchors = cli.anchors.clone();
    let inv = Inventory::load(inventory)?;
    let trail = audit_trail(cli, None)?;
    let (per_pair, as_node) = (Duration::from_secs(cli.timeout), cli.as_node);
    // Pairs on one tenant share one budget of Graph requests in flight.
    let budgets = fleet::TenantBudgets::default();
    let results = fleet::run_all(&inv.pairs, concurrency, |pair| {
        let (anchors, op, budgets) = (anchors.clone(), op.clone(), budgets.clone());
        let trail = trail.clone();
        async move {
            let onboarding = audited(
                pair_onboarding(&pair, &anchors)?,
                trail.as_ref(),
                Some(&pair.name),
            );
            let onboarding = budgets.apply(with_key_choice(onboarding, as_node));
            match tokio::time::timeout(per_pair, op(onboarding)).await {
                Ok(result) => result,
                Err(_) => Err(Error::TimedOut {
                    what: "the pair (--timeout; run it alone with -vv to see which request \
                           waited)"
                        .into(),
                    seconds: per_pair.as_secs(),
                }),
            }
        }
    })
    .await;
    if cli.json {
        let value = serde_json::json!({ "pairs": results });
        // `fleet plan` is a dry run across the pairs.
        print_json(&if plan { dry_run_json(value) } else { value })?;
    } else {
        print!("{}", terminal(&table(&results)));
    }
    let any_bad = results.iter().any(|r| match &r.result {
        PairOutcome::Ok(t) => bad(t),
        _ => true,
    });
    Ok(u8::from(any_bad))
}

/// `fleet`'s arguments: its subcommand.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: FleetCommand,
}

/// `fleet`'s default concurrency (the library's, [`fleet::DEFAULT_CONCURRENCY`]).
pub(crate) const DEFAULT_FLEET_CONCURRENCY: u16 = 128;
const _: () = assert!(DEFAULT_FLEET_CONCURRENCY as usize == fleet::DEFAULT_CONCURRENCY);

#[derive(clap::Subcommand, Debug)]
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

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    match &args.command {
        FleetCommand::Doctor {
            inventory,
            concurrency,
        } => {
            over_fleet(
                cli,
                false,
                inventory,
                usize::from(*concurrency),
                |o: Integration| async move { doctor::diagnose(&o).await },
                fleet::doctor_table,
                Diagnosis::has_errors,
            )
            .await
        }
        FleetCommand::Plan {
            inventory,
            concurrency,
        } => {
            over_fleet(
                cli,
                true,
                inventory,
                usize::from(*concurrency),
                // The plan's rows, as `onboard --plan --json` prints them.
                |o: Integration| async move { onboard::plan(&o).await.map(|r| r.changes()) },
                fleet::plan_table,
                |_| false,
            )
            .await
        }
    }
}
