//! What the examples share: where they run, and logs on demand.
//!
//! Every example runs against an in-process simulator of ISE, Entra ID, Graph and
//! Intune by default, against a running simulator with `--sim-info FILE`
//! (`ise-intune sim --info-file FILE`), and against a real ISE and tenant with
//! `--config FILE` (see the workspace README; secrets come from the environment).
//! `-v` / `-vv` / `-q` or `RUST_LOG` choose the log lines on standard error.

#![allow(dead_code)] // each example uses its own part of this module

use std::path::PathBuf;

use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::{Integration, context::Options};
use ise_intune_simulator::{SimInfo, Simulator};
use ise_intune_testkit::Configurator;

/// The examples' common flags.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// Integration configuration for a real ISE and tenant.
    #[arg(long, value_name = "FILE", conflicts_with = "sim_info")]
    pub config: Option<PathBuf>,
    /// A running simulator's info file.
    #[arg(long, value_name = "FILE")]
    pub sim_info: Option<PathBuf>,
    /// Log lines on standard error: -v progress, -vv every request.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Where an example runs: the clients and settings of an [`Integration`] (which the
/// examples that do not onboard use only for its clients), and the simulator when it
/// runs in this process.
pub struct Connected {
    /// Clients, trust anchors and configurator.
    pub onboarding: Integration,
    /// The simulator's info (URLs, tenant, credentials) when running against one.
    pub sim: Option<SimInfo>,
    /// Keeps an in-process simulator alive.
    _holder: Option<Simulator>,
}

impl Target {
    /// Installs logging, then connects (starting a simulator when none is named).
    pub async fn connect(&self) -> Result<Connected, Box<dyn std::error::Error>> {
        ise_intune_testkit::logging::init(self.verbose, self.quiet);
        if let Some(path) = &self.config {
            // The manual configurator, confirmed by the configuration's mdm_confirmed.
            let onboarding = Integration::from_config(&IntegrationConfig::load(path)?)?;
            return Ok(Connected {
                onboarding,
                sim: None,
                _holder: None,
            });
        }
        let (info, holder) = match &self.sim_info {
            Some(path) => (serde_json::from_str(&std::fs::read_to_string(path)?)?, None),
            None => {
                let sim = Simulator::builder().start().await?;
                (sim.info().clone(), Some(sim))
            }
        };
        let onboarding =
            ise_intune_testkit::integration(&info, Configurator::Gui, true, Options::default())?;
        Ok(Connected {
            onboarding,
            sim: Some(info),
            _holder: holder,
        })
    }
}

/// Prints an error and its causes; the exit status for it.
pub fn report(e: &dyn std::error::Error) -> std::process::ExitCode {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    std::process::ExitCode::FAILURE
}
