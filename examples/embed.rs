//! Embedding the library, as the README and the crate docs show it: onboarding the pair
//! a configuration describes, from your own program. `tests/docs.rs` checks that those
//! docs show exactly this function and runs it against the simulator to completion.
//!
//! ```text
//! ISE_INTUNE_ISE_PASSWORD=… ISE_INTUNE_CLIENT_SECRET=… cargo run --example embed -- ise-intune.toml
//! ```
//!
//! Exit status: 0 complete, 3 a person must act (the printed checklist), 1 failed.

use std::process::ExitCode;

use ise_intune::integration::config::IntegrationConfig;
use ise_intune::integration::{Error, Integration, onboard};

// embed:begin
/// Onboards the pair a configuration describes. The configuration holds no secret:
/// `ISE_INTUNE_ISE_PASSWORD` and `ISE_INTUNE_CLIENT_SECRET` come from the environment.
/// Step 6 has no ISE API: the first run prints the External MDM form's values; once
/// they are entered in ISE, `mdm_confirmed` in the configuration confirms them and the
/// next run completes. Returns whether onboarding is complete.
async fn onboard_pair(path: &std::path::Path) -> Result<bool, Error> {
    let config = IntegrationConfig::load(path)?;
    // Both clients, the anchors, and the manual configurator confirmed by the
    // configuration's `mdm_confirmed`.
    let integration = Integration::from_config(&config)?;
    for step in onboard::plan(&integration).await?.steps {
        println!(
            "{:<22} {:<8} {}",
            step.name,
            step.outcome.planned(),
            step.detail
        );
    }
    let report = onboard::apply(&integration).await?;
    if let Some(todo) = &report.manual_action {
        println!("In ISE, then run again:\n{todo}");
    }
    Ok(report.complete)
}
// embed:end

#[tokio::main]
async fn main() -> ExitCode {
    // Log lines on standard error as RUST_LOG says (requests at debug, never a secret).
    ise_intune_testkit::logging::init(0, false);
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: embed CONFIG.toml");
        return ExitCode::from(2);
    };
    match onboard_pair(std::path::Path::new(&path)).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
