//! `ise-intune attributes sync [--plan] [--full] [--create-endpoints]`.

use crate::commands::doctor::print_findings;
use crate::context::Context;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::attributes::sync::SyncOptions;
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;

use intune_integration::attributes::sync::{self, ChangeReason, SyncMode};

/// Changes printed as text (the JSON lists more).
const LISTED: usize = 5;

/// `attributes`' arguments: its subcommand.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: AttributesCommand,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum AttributesCommand {
    /// Write what changed in Intune since the last sync onto ISE's endpoints (all of it
    /// the first time, and once a day in a full pass). Only endpoints ISE already knows
    /// are written, unless --create-endpoints; only the attributes the tool defined
    /// are touched.
    Sync {
        /// Print what would be written; write nothing.
        #[arg(long)]
        plan: bool,
        /// Read every device and every endpoint now, not only what changed.
        #[arg(long)]
        full: bool,
        /// Also create the endpoints ISE has never seen, for devices Intune knows.
        #[arg(long)]
        create_endpoints: bool,
        /// Ask ISE to re-authenticate the active sessions of endpoints whose values
        /// changed (a CoA from the node that holds each session), at most
        /// [attributes] reauthenticate_per_minute a minute (default 60) and one
        /// minute's worth a run; without it, new values apply at each endpoint's next
        /// authentication.
        #[arg(long)]
        reauthenticate: bool,
    },
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let AttributesCommand::Sync {
        plan,
        full,
        create_endpoints,
        reauthenticate,
    } = &args.command;
    let mut options = SyncOptions::full(*full);
    if *reauthenticate {
        options = options.reauthenticating();
    }
    let ctx = context(cli).await?;
    sync_pair(cli, &ctx, *plan, options, *create_endpoints).await
}

async fn sync_pair(
    cli: &Global,
    ctx: &Context,
    plan: bool,
    options: SyncOptions,
    create_endpoints: bool,
) -> CliResult {
    let mut settings = ctx.attributes.clone();
    settings.create_endpoints |= create_endpoints;
    let run = async {
        if plan {
            sync::plan(&ctx.onboarding, &settings, &options).await
        } else {
            sync::apply(&ctx.onboarding, &settings, &options).await
        }
    };
    let report = spinning(cli, "reading Intune's devices and ISE's endpoints", run).await?;
    if cli.json {
        let mut out = serde_json::to_value(&report)?;
        out["findings"] = serde_json::to_value(report.findings())?;
        print_json(&out)?;
    } else {
        print_text(&report, plan);
    }
    Ok(0)
}

/// The report for people: what was read, what was (or would be) written, a few of the
/// changes, and when new values take effect.
fn print_text(report: &sync::SyncReport, plan: bool) {
    let mode = match report.mode {
        SyncMode::Full => "full pass (every device, every endpoint)".to_owned(),
        SyncMode::Incremental => format!(
            "devices checked in since {}",
            report.since.as_deref().unwrap_or("the last sync")
        ),
    };
    let verb = if plan { "would write" } else { "wrote" };
    say!(
        "{mode}: {} device(s) read in {} request(s)",
        report.devices_read,
        report.graph_requests
    );
    if !report.definitions_created.is_empty() {
        say!(
            "custom attributes {}: {}",
            if plan { "to define" } else { "defined" },
            report.definitions_created.join(", ")
        );
    }
    say!(
        "endpoints: {verb} {} changed, {} aged a day, {} set back after a hand edit, {} \
         cleared (device left Intune), {} created; {} already right",
        report.endpoints_written,
        report.endpoints_aged,
        report.drift_repaired,
        report.endpoints_cleared,
        report.endpoints_created,
        report.unchanged
    );
    if report.not_in_ise > 0 {
        say!(
            "{} device MAC(s) have no endpoint in ISE yet (written once ISE sees them; \
             --create-endpoints creates them now)",
            report.not_in_ise
        );
    }
    print_findings(&report.findings());
    if report.ambiguous_macs > 0 {
        say!(
            "{} MAC(s) are claimed by more than one Intune device: written for the first",
            report.ambiguous_macs
        );
    }
    for c in report.changes.iter().take(LISTED) {
        let reason = match c.reason {
            ChangeReason::Changed => "changed",
            ChangeReason::Aged => "aged",
            ChangeReason::Drift => "drift",
            ChangeReason::Departed => "cleared",
            ChangeReason::Created => "created",
        };
        let values: Vec<String> = c
            .values
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", printable(v, 48)))
            .collect();
        say!(
            "  {reason:<8} {}  {}",
            c.mac,
            printable(&values.join(" "), MAX_PRINTED_LINE)
        );
    }
    let listed = report.changes.len().min(LISTED) as u64;
    let total = report.endpoints_written
        + report.endpoints_aged
        + report.drift_repaired
        + report.endpoints_cleared
        + report.endpoints_created;
    if total > listed {
        say!("  … and {} more", total - listed);
    }
    if report.reauthenticated + report.reauthenticate_no_session + report.reauthenticate_deferred
        > 0
    {
        say!(
            "re-authentication: {} session(s) asked to re-authenticate, {} endpoint(s) with no \
             active session, {} past this run's budget (they take the new values at their \
             next authentication)",
            report.reauthenticated,
            report.reauthenticate_no_session,
            report.reauthenticate_deferred
        );
    } else if !plan && report.changed {
        say!(
            "ISE applies new values at each endpoint's next authorization (a session \
             already up keeps its result until it re-authenticates)"
        );
    }
    say!("store: {}", report.store);
}
