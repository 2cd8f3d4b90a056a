//! `ise-intune noncompliant`: every non-compliant device, as ISE's poll sees them.

use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::print_json;
use intune_integration::Error;
use intune_integration::compliance;

/// `noncompliant`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The ISE node whose key to use (default: the first policy service node).
    #[arg(long)]
    pub(crate) node: Option<String>,
    /// With --as-node: run the query as ISE's own application although it spends
    /// that application's throttle window, which ISE needs for its own poll.
    #[arg(long)]
    pub(crate) spend_ise_window: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let (node, spend_ise_window) = (args.node.as_deref(), args.spend_ise_window);
    let ctx = context(cli).await?;
    if ctx.onboarding.options().admin_key.acts_as_node() && !spend_ise_window {
        return Err(Error::Config {
            what: "with --as-node, noncompliant would ask Intune as ISE's own application, \
                   and an unfiltered query spends that application's throttle window (one \
                   hour of answers in four), which ISE needs for its own poll of \
                   non-compliant devices: run it without --as-node (as the automating \
                   identity, which needs get_device_compliance), or add --spend-ise-window"
                .into(),
        }
        .into());
    }
    if !cli.json {
        // On standard error: the list on standard output stays the list.
        eprintln!(
            "note: an unfiltered query — Intune answers these only in the first hour of a \
             four-hour window opened by the first of them"
        );
    }
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let devices = intune.noncompliant().await?;
    if cli.json {
        print_json(&serde_json::json!({
            "devices": devices,
            "unfiltered_query": true,
        }))?;
    } else {
        for d in &devices {
            say!(
                "{}  {:<12}  registered={}",
                d.guid,
                d.mac.as_deref().unwrap_or("-"),
                d.registered
            );
        }
        say!("{} non-compliant device(s)", devices.len());
    }
    Ok(0)
}
