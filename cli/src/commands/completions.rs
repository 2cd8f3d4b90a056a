//! `ise-intune completions SHELL`: shell completions.

use crate::error::CliResult;

/// `completions`' arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}

/// Completions for `cli`, the whole command line.
pub(crate) fn exec(args: &Args, mut cli: clap::Command) -> CliResult {
    clap_complete::generate(args.shell, &mut cli, "ise-intune", &mut std::io::stdout());
    Ok(0)
}
