//! Onboards Cisco ISE to Microsoft Intune: the whole seven-step procedure, then ISE's
//! Test Connection reproduced.
//!
//! ```text
//! cargo run --example onboard                         # against an in-process simulator
//! cargo run --example onboard -- --sim-info sim.json  # against a running ise-intune-sim
//! cargo run --example onboard -- --config ise-intune.toml   # real ISE and Entra ID
//!   [--plan]   print what would change, change nothing
//!   [--json]   print the report as one JSON object
//!   [--manual] use the manual checklist instead of the simulator's GUI surface
//! ```
//!
//! Exit status: 0 when every step completed and verification passed; 1 otherwise; 2 for
//! bad arguments.

mod common;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ise_intune::integration::Error;
use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::mdm::{ManualChecklist, MdmServerConfigurator};
use ise_intune::integration::pipeline::{Onboarding, Options, Report, StepReport};
use ise_intune::integration::verify::AdminKey;
use ise_intune_simulator::{SimInfo, Simulator};
use ise_intune_testkit::Configurator;

/// Onboards Cisco ISE to Microsoft Intune: the seven steps, then ISE's Test Connection
/// reproduced. Without --sim-info or --config it runs against an in-process simulator.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A running simulator's info file (from `ise-intune-sim --info-file`).
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    sim_info: Option<String>,
    /// A configuration file for a real ISE and Entra tenant (secrets from the
    /// environment).
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
    /// Print what would change; change nothing.
    #[arg(long)]
    plan: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Use the manual checklist instead of the simulator's GUI surface.
    #[arg(long)]
    manual: bool,
    /// Also verify as each ISE node (its private key exported from ISE, in memory
    /// only). The embedded simulator always does: its keys are throwaway.
    #[arg(long)]
    as_node: bool,
    /// Log lines on standard error: -v progress, -vv every request. Without -v or
    /// -q, `RUST_LOG` decides (`RUST_LOG=debug` shows every request).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

fn print_step(step: &StepReport) {
    println!("{}", step.render());
}

fn summary(report: &Report) {
    print!("{}", report.render_summary());
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    // Keeps an in-process simulator alive for the run.
    let mut _sim_holder = None;
    let onboarding: Onboarding = if let Some(path) = &args.config {
        let config = IntegrationConfig::load(std::path::Path::new(path))?;
        let confirmed = config.mdm_confirmed.clone();
        Onboarding::from_config(&config, |ise| {
            Arc::new(ManualChecklist::new(ise).confirmed(confirmed))
                as Arc<dyn MdmServerConfigurator>
        })?
    } else {
        let info: SimInfo = match &args.sim_info {
            Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
            None => {
                if !args.json {
                    println!(
                        "Starting the simulator (ISE, Entra ID, Graph, Intune on loopback)..."
                    );
                }
                let s = Simulator::builder().start().await?;
                let info = s.info().clone();
                _sim_holder = Some(s);
                info
            }
        };
        let configurator = if args.manual {
            Configurator::Manual
        } else {
            Configurator::Gui
        };
        let mut options = Options::default();
        if args.as_node || args.sim_info.is_none() {
            options.admin_key = AdminKey::ExportFromIse;
        }
        ise_intune_testkit::onboarding(&info, configurator, true, options)?
    };
    let onboarding = if args.as_node && !onboarding.options().admin_key.acts_as_node() {
        onboarding.with_admin_key(AdminKey::ExportFromIse)
    } else {
        onboarding
    };
    if args.plan {
        let plan = onboarding.plan().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            for p in &plan {
                println!("{:<22} {:<21} {}", p.step, p.outcome.planned(), p.detail);
            }
        }
        return Ok(true);
    }
    let onboarding = if args.json {
        onboarding
    } else {
        println!("Onboarding ISE {} to Intune:", onboarding.ise().base_url());
        onboarding.with_progress(Arc::new(print_step))
    };
    let report = match onboarding.apply().await {
        Ok(report) => report,
        // A failed run still says what it did and what was written.
        Err(Error::Apply(failure)) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&failure.report)?);
            } else {
                summary(&failure.report);
                for (step, e) in &failure.errors {
                    eprintln!("error in {step}: {e}");
                }
            }
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        summary(&report);
    }
    Ok(report.complete)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    ise_intune_testkit::logging::init(args.verbose, args.quiet);
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => common::report(e.as_ref()),
    }
}
