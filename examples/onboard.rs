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

#[path = "support/sim.rs"]
mod sim;

use std::process::ExitCode;
use std::sync::Arc;

use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::mdm::{ManualChecklist, MdmServerConfigurator};
use ise_intune::integration::pipeline::{Onboarding, Options, Report, StepReport, StepStatus};
use ise_intune_simulator::{SimInfo, Simulator};

struct Args {
    sim_info: Option<String>,
    config: Option<String>,
    plan: bool,
    json: bool,
    manual: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sim_info: None,
        config: None,
        plan: false,
        json: false,
        manual: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sim-info" => a.sim_info = Some(it.next().ok_or("--sim-info needs a path")?),
            "--config" => a.config = Some(it.next().ok_or("--config needs a path")?),
            "--plan" => a.plan = true,
            "--json" => a.json = true,
            "--manual" => a.manual = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.sim_info.is_some() && a.config.is_some() {
        return Err("--sim-info and --config exclude each other".into());
    }
    Ok(a)
}

fn symbol(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Created => "+ created  ",
        StepStatus::Updated => "~ updated  ",
        StepStatus::Unchanged => "= unchanged",
        StepStatus::ManualActionRequired => "! manual   ",
        StepStatus::Failed => "x FAILED   ",
    }
}

fn print_step(step: &StepReport) {
    println!(
        "{} {:<26} {:>6} ms  {}",
        symbol(step.outcome),
        step.name,
        step.elapsed_ms,
        step.detail
    );
}

fn summary(report: &Report) {
    println!();
    println!("ISE {}", report.ise_version);
    println!(
        "Requests: {} reads, {} writes{}",
        report.requests.reads,
        report.requests.writes,
        if report.requests.writes == 0 {
            " (nothing changed)"
        } else {
            ""
        }
    );
    for c in &report.verification.checks {
        println!(
            "  [{}] {:<13} {}",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    if let Some(m) = &report.manual_action {
        println!("\nAction required:\n{m}");
    }
    println!(
        "\n{}",
        if report.complete {
            "Onboarding complete: ISE reaches Intune through Microsoft Graph."
        } else if report.manual_action.is_some() {
            "Onboarding paused: do the steps above, then run again."
        } else {
            "Onboarding incomplete: see the failed checks above."
        }
    );
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    // Keeps an in-process simulator alive for the run.
    let mut _sim_holder = None;
    let onboarding: Onboarding = if let Some(path) = &args.config {
        let config = IntegrationConfig::load(std::path::Path::new(path))?;
        Onboarding::from_config(&config, |ise| {
            Arc::new(ManualChecklist::new(ise)) as Arc<dyn MdmServerConfigurator>
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
            sim::Configurator::Manual
        } else {
            sim::Configurator::Gui
        };
        sim::onboarding(&info, configurator, true, Options::default())?
    };
    if args.plan {
        let plan = onboarding.plan().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            for p in &plan {
                println!("{:<22} {:<21} {}", p.step, p.change, p.detail);
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
    let report = onboarding.apply().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        summary(&report);
    }
    Ok(report.complete)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!(
                "usage: onboard [--sim-info PATH | --config FILE] [--plan] [--json] [--manual]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
