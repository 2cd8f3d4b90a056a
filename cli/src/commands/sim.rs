//! `ise-intune sim`: the simulator, until interrupted.

use crate::error::CliResult;

/// `sim`'s arguments: the simulator's launch settings.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) launch: ise_intune_simulator::launcher::LaunchArgs,
}

pub(crate) async fn exec(args: &Args) -> CliResult {
    ise_intune_simulator::launcher::run(&args.launch).await?;
    Ok(0)
}
