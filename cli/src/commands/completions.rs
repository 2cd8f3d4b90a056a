//! `ise-intune completions SHELL`: shell completions.

use clap::CommandFactory as _;

use crate::args::Cli;
use crate::error::CliResult;

/// `completions`' arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}

pub(crate) fn exec(args: &Args) -> CliResult {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "ise-intune",
        &mut std::io::stdout(),
    );
    Ok(0)
}
